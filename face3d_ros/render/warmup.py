# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Compile the render kernels ahead of a timing-critical loop.

Above both the rasterizer and the interpolation, which do not import each other.
"""

from __future__ import annotations

import time

import numpy as np

from face3d_ros.render.interpolate import interpolate_np
from face3d_ros.render.rasterizer import rasterize

__all__ = ["warmup"]


def warmup() -> float:
    """Compile (or load from the disk cache) the render kernels now.

    Call it before a timing-critical loop: it runs the rasterizer and the numpy interpolation
    kernel once on a tiny mesh.

    Returns:
        Seconds spent (the JIT cost, about 1-3 s, on a cold cache; well under a second when
        the compiled code is loaded from numba's disk cache).
    """
    t0 = time.perf_counter()
    verts = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    tris = np.array([[0, 1, 2]])
    frag = rasterize(verts, tris, 4, 4)
    interpolate_np(verts.astype(np.float32), tris, frag)
    return time.perf_counter() - t0
