# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker's states and their names, declared once (light: no numpy, no nets).

The values are also those of ``face3d_ros/msg/FaceParams`` ``STATE_*`` (a test checks it).
"""

from __future__ import annotations

import enum

__all__ = ["STATE_NAMES", "TrackState"]


class TrackState(enum.IntEnum):
    """Tracker state after a frame (see :mod:`face3d_ros.pipeline.tracker`)."""

    INITIALISING = 0
    TRACKING = 1
    LOST = 2


#: State value -> name (``{0: "INITIALISING", 1: "TRACKING", 2: "LOST"}``).
STATE_NAMES: dict[int, str] = {int(s): s.name for s in TrackState}
