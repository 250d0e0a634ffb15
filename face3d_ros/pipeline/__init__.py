# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free real-time tracker (INITIALISING / TRACKING / LOST) and its per-frame result."""

from face3d_ros.pipeline.tracker import (
    STAGES,
    Tracker,
    TrackerConfig,
    TrackResult,
    TrackState,
    validate_image,
)

__all__ = ["STAGES", "TrackResult", "TrackState", "Tracker", "TrackerConfig", "validate_image"]
