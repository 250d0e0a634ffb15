# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame counters and rolling latency / rate figures for the node's diagnostics."""

from __future__ import annotations

import threading
import time
from collections import deque

from face3d_ros.pipeline.states import STATE_NAMES

__all__ = ["FrameStats"]

_STATE_NAMES = {**STATE_NAMES, -1: "NONE"}


class FrameStats:
    """Thread-safe-enough counters (ints updated under the GIL) plus a rolling window.

    Attributes:
        received: images received by the subscription callback.
        dropped: images replaced by a newer one before inference got to them.
        bad: images rejected by the conversion (ValueError).
        failed: images on which the tracker raised.
        published: images fully processed and published.
    """

    def __init__(self, window: int = 50) -> None:
        """Keep the last ``window`` latencies / completion times."""
        self._window = window
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.received = 0
        self.dropped = 0
        self.bad = 0
        self.failed = 0
        self.published = 0
        self.state = -1
        self._latencies: deque[float] = deque(maxlen=self._window)
        self._done: deque[float] = deque(maxlen=self._window)
        self._stages: dict[str, deque[float]] = {}

    def set_state(self, state: int) -> None:
        """Remember the tracker state of the last processed frame."""
        self.state = state

    def add_latency(self, seconds: float) -> None:
        """Record the processing time of one published frame."""
        with self._lock:
            self._latencies.append(seconds)
            self._done.append(time.monotonic())

    def add_stages(self, seconds: dict[str, float]) -> None:
        """Record the per-stage processing times (seconds) of one published frame."""
        with self._lock:
            for name, value in seconds.items():
                self._stages.setdefault(name, deque(maxlen=self._window)).append(value)

    def snapshot(self) -> dict[str, object]:
        """Current figures: counts, output rate (Hz), mean/max latency and mean stage times (ms).

        Stage keys are ``stage_<name>_ms`` (mean over the window) for every stage recorded
        with :meth:`add_stages`.
        """
        with self._lock:
            lat = list(self._latencies)
            done = list(self._done)
            stages = {name: sum(v) / len(v) for name, v in self._stages.items() if v}
        span = done[-1] - done[0] if len(done) > 1 else 0.0
        rate = (len(done) - 1) / span if span > 0 else 0.0
        return {
            "tracker_state": _STATE_NAMES.get(self.state, str(self.state)),
            "frames_received": self.received,
            "frames_published": self.published,
            "frames_dropped_busy": self.dropped,
            "bad_frames": self.bad,
            "failed_frames": self.failed,
            "output_rate_hz": float(rate),
            "latency_mean_ms": float(1000.0 * sum(lat) / len(lat)) if lat else 0.0,
            "latency_max_ms": float(1000.0 * max(lat)) if lat else 0.0,
            **{f"stage_{name}_ms": float(1000.0 * v) for name, v in stages.items()},
        }
