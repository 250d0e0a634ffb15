# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free real-time tracker (INITIALISING / TRACKING / LOST) and its per-frame result.

Names are imported on first use (PEP 562), so that ``face3d_ros.pipeline.states`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "MultiFaceConfig",
    "MultiFaceTracker",
    "MultiTrackResult",
    "STAGES",
    "STATE_NAMES",
    "TrackResult",
    "TrackState",
    "TrackedFace",
    "Tracker",
    "TrackerConfig",
    "validate_image",
]

_WHERE = {name: "face3d_ros.pipeline.tracker" for name in __all__}
_WHERE.update(
    {name: "face3d_ros.pipeline.multi"
     for name in ("MultiFaceConfig", "MultiFaceTracker", "MultiTrackResult", "TrackedFace")}
)
_WHERE.update(STATE_NAMES="face3d_ros.pipeline.states", TrackState="face3d_ros.pipeline.states")


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first access."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Exported names."""
    return sorted(__all__)
