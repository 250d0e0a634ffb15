# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CameraInfo lookup by image stamp, with message_filters.Cache when it is installed.

The image subscription is never synchronised (that would stall every frame when a camera
publishes no CameraInfo, and defeat the newest-frame-only QoS). Instead, CameraInfo messages
go into a small cache and each image looks up the one with the closest stamp:

1. the CameraInfo whose stamp is closest to the image stamp if ``|dt| <= slop``;
2. otherwise the newest CameraInfo stamped at or before the image;
3. otherwise the newest one received (stamps in the future, e.g. clock jumps);
4. none yet: the caller uses ``assumed_focal_px`` and warns once.

With ``message_filters`` installed the messages are held in ``message_filters.Cache`` (its
``getInterval``/``getLast`` feed the same rule); without it, in :class:`StampCache`. The rule,
and so the result, is the same in both cases; the node logs which one is used.
"""

from __future__ import annotations

import importlib
from collections import deque
from typing import Any

__all__ = ["CameraInfoSource", "StampCache", "stamp_ns"]


def stamp_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def select(candidates: list[Any], image_ns: int, slop_ns: int) -> Any | None:
    """Apply the lookup rule of the module docstring to a list of CameraInfo messages."""
    if not candidates:
        return None
    closest = min(candidates, key=lambda m: abs(stamp_ns(m.header.stamp) - image_ns))
    if abs(stamp_ns(closest.header.stamp) - image_ns) <= slop_ns:
        return closest
    older = [m for m in candidates if stamp_ns(m.header.stamp) <= image_ns]
    if older:
        return max(older, key=lambda m: stamp_ns(m.header.stamp))
    return max(candidates, key=lambda m: stamp_ns(m.header.stamp))


class StampCache:
    """A bounded cache of the most recent messages (the message_filters-free path)."""

    def __init__(self, size: int = 30) -> None:
        """Keep at most ``size`` messages."""
        self._items: deque[Any] = deque(maxlen=size)

    def add(self, msg: Any) -> None:
        """Store a message."""
        self._items.append(msg)

    def messages(self) -> list[Any]:
        """All cached messages, oldest first."""
        return list(self._items)


class CameraInfoSource:
    """Subscribes to CameraInfo and answers ``lookup(image_header)``.

    Args:
        node: the rclpy node.
        topic: CameraInfo topic (relative, remappable).
        qos: QoS profile for the subscription.
        callback_group: group for the subscription callback.
        prefer_message_filters: use ``message_filters.Cache`` when importable.
    """

    def __init__(
        self,
        node: Any,
        topic: str,
        qos: Any,
        callback_group: Any = None,
        *,
        prefer_message_filters: bool = True,
    ) -> None:
        from sensor_msgs.msg import CameraInfo

        self._mf_cache = None
        self._own = StampCache()
        self._sub = None
        self._mf_sub = None
        mf = None
        if prefer_message_filters:
            try:
                mf = importlib.import_module("message_filters")
            except ImportError:
                mf = None
        if mf is not None:
            self._mf_sub = mf.Subscriber(
                node, CameraInfo, topic, qos_profile=qos, callback_group=callback_group
            )
            self._mf_cache = mf.Cache(self._mf_sub, 30, allow_headerless=False)
            self.backend = "message_filters.Cache"
        else:
            self._sub = node.create_subscription(
                CameraInfo, topic, self._own.add, qos, callback_group=callback_group
            )
            self.backend = "built-in stamp cache"
        self._node = node

    def _messages(self) -> list[Any]:
        if self._mf_cache is not None:
            last = self._mf_cache.getLastestTime()
            oldest = self._mf_cache.getOldestTime()
            if last is None or oldest is None:
                return []
            return list(self._mf_cache.getInterval(oldest, last))
        return self._own.messages()

    def lookup(self, header: Any, slop_s: float) -> Any | None:
        """The CameraInfo for an image header per the module rule, or None."""
        return select(self._messages(), stamp_ns(header.stamp), int(slop_s * 1e9))

    def destroy(self) -> None:
        """Destroy the subscription."""
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None
        if self._mf_sub is not None:
            self._node.destroy_subscription(self._mf_sub.sub)
            self._mf_sub = None
