# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's output topics, declared once (the node's publishers, the bag replay and the demo).

Names are relative (remappable); types are ROS 2 interface names. :func:`message_class` imports
the Python class of a type (``sensor_msgs/msg/Image`` -> ``sensor_msgs.msg.Image``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["OUTPUT_TOPICS", "OUTPUT_TYPES", "TF_TOPIC", "message_class"]

#: ``(name, type)`` of every output topic, in publishing order.
OUTPUT_TYPES: tuple[tuple[str, str], ...] = (
    ("face_params", "face3d_ros/msg/FaceParams"),
    ("faces", "face3d_ros/msg/FaceArray"),
    ("displacement", "sensor_msgs/msg/Image"),
    ("coarse_depth", "sensor_msgs/msg/Image"),
    ("face_mesh", "visualization_msgs/msg/Marker"),
    ("overlay", "sensor_msgs/msg/Image"),
    ("face_poses", "geometry_msgs/msg/PoseArray"),
)
#: Head poses on TF (absolute name, tf2's; see docs/node.md "Frames"), besides the outputs.
TF_TOPIC = ("/tf", "tf2_msgs/msg/TFMessage")
#: Output topic names.
OUTPUT_TOPICS: tuple[str, ...] = tuple(name for name, _ in OUTPUT_TYPES)


def message_class(type_name: str) -> Any:
    """The Python message class of a ROS 2 interface name.

    Args:
        type_name: ``<package>/msg/<Name>``.

    Returns:
        The class.

    Raises:
        ValueError: Not a ``<package>/msg/<Name>`` name.
        ImportError: The message package is not importable.
    """
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ValueError(f"not a ROS 2 message type name: {type_name!r}")
    return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
