# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""On-disk cache of the net-independent work: reference detections and stage-1 fits.

The dlib reference landmarks and the stage-1 inverse-rendering baseline do not depend on the
nets under test, and they are most of a run's time. They are stored as small ``.npz`` files
under ``<root>/<kind>/<key>.npz``, where the key is a BLAKE2 digest of everything the result
depends on: the image's pixels, the detector's settings and predictor file (size and mtime),
and for the fit the landmarks, the face model's id and dims, the fit settings and the source
of ``training/inverse_render/fit.py`` (any change there invalidates every fit). A cache
entry is only ever read back for an identical key, so a stale result cannot be returned for
changed inputs; delete the folder to start afresh.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any

import numpy as np

__all__ = ["DiskCache", "default_cache_dir", "digest"]


def default_cache_dir() -> pathlib.Path:
    """``~/.cache/face3d_ros/benchmark/cache`` (outside the work tree)."""
    return pathlib.Path.home() / ".cache" / "face3d_ros" / "benchmark" / "cache"


def digest(*parts: Any) -> str:
    """Hex BLAKE2 digest of arrays (shape, dtype, bytes), bytes and the ``repr`` of the rest."""
    h = hashlib.blake2b(digest_size=20)
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(repr((a.shape, str(a.dtype))).encode())
            h.update(a.tobytes())
        elif isinstance(p, bytes):
            h.update(p)
        else:
            h.update(repr(p).encode())
        h.update(b"|")
    return h.hexdigest()


class DiskCache:
    """``get`` / ``put`` of dicts of arrays by (kind, key); ``root=None`` disables it."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        """Use ``root`` (created on the first write)."""
        self.root = None if root is None else pathlib.Path(root)
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> pathlib.Path:
        assert self.root is not None
        return self.root / kind / f"{key}.npz"

    def get(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None (disabled, absent, or unreadable: then it is recomputed)."""
        if self.root is None:
            return None
        path = self._path(kind, key)
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError):  # a truncated file from an interrupted run
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` atomically (write to a temporary name, then rename)."""
        if self.root is None:
            return
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
