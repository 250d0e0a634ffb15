# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Throttle for log lines caused by what others send (rejected frames, bad CameraInfo).

A sender can make every frame bad; the node must not then write a log line per frame. Each
*kind* of problem (the leading words of its reason, e.g. ``wrong step`` or ``unsupported image
encoding``) is logged at once the first time and then at most once per ``period`` seconds, with
the number of similar messages held back since. Distinct kinds are kept in a bounded table.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["LogThrottle", "kind_of"]

_WORDS = re.compile(r"[A-Za-z][A-Za-z _-]*")


def kind_of(reason: str) -> str:
    """The kind of a reason: its leading words, at most 40 characters (``'wrong step'``)."""
    match = _WORDS.match(reason)
    return (match.group().strip() if match else "other")[:40]


class LogThrottle:
    """Decides which messages of each kind are logged.

    Args:
        period: seconds between two logged messages of one kind.
        max_kinds: kinds remembered (least recently seen forgotten first).
        clock: monotonic time source (tests pass a fake one).
    """

    def __init__(
        self, period: float = 5.0, max_kinds: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.period = float(period)
        self.max_kinds = int(max_kinds)
        self._clock = clock
        self._kinds: OrderedDict[str, list[float | int]] = OrderedDict()

    def check(self, reason: str) -> int | None:
        """Whether to log ``reason`` now.

        Returns:
            None: hold it back (counted). Otherwise the number of messages of its kind held
            back since the last one logged (0 the first time).
        """
        kind = kind_of(reason)
        now = self._clock()
        entry = self._kinds.get(kind)
        if entry is None:
            self._kinds[kind] = [now, 0]
            while len(self._kinds) > self.max_kinds:
                self._kinds.popitem(last=False)
            return 0
        self._kinds.move_to_end(kind)
        if now - entry[0] >= self.period:
            held, entry[0], entry[1] = int(entry[1]), now, 0
            return held
        entry[1] += 1
        return None
