# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Small numba kernels of the per-frame tracker path (compiled lazily, never at import).

``pncc_into`` writes the PNCC image straight into the tracking net's channels-first input
buffer from the rasterizer's fragments and precomputed per-triangle-corner colours, in one pass
over the pixels (about 0.1 ms at 256x256 instead of about 1.2 ms for the numpy gather + einsum).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["pncc_into"]

_LOCK = threading.Lock()
_JITTED: dict[str, Callable[..., Any]] = {}


def _pncc_kernel(
    triangle_id: np.ndarray, barycentric: np.ndarray, corner_colors: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba
    height, width = triangle_id.shape
    for i in range(height):
        for j in range(width):
            t = triangle_id[i, j]
            if t < 0:
                for c in range(3):
                    out[c, i, j] = 0.0
            else:
                b0 = barycentric[i, j, 0]
                b1 = barycentric[i, j, 1]
                b2 = barycentric[i, j, 2]
                for c in range(3):
                    out[c, i, j] = (
                        b0 * corner_colors[t, 0, c]
                        + b1 * corner_colors[t, 1, c]
                        + b2 * corner_colors[t, 2, c]
                    )


def _compiled(func: Callable[..., Any]) -> Callable[..., Any]:
    key = func.__qualname__
    jitted = _JITTED.get(key)
    if jitted is None:
        with _LOCK:
            jitted = _JITTED.get(key)
            if jitted is None:
                import numba

                try:
                    jitted = numba.njit(cache=True, nogil=True)(func)
                except RuntimeError as exc:  # no writable cache location
                    warnings.warn(
                        f"numba cannot cache {key} on disk ({exc}); compiling without a cache",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    jitted = numba.njit(cache=False, nogil=True)(func)
                _JITTED[key] = jitted
    return jitted


def pncc_into(
    triangle_id: np.ndarray, barycentric: np.ndarray, corner_colors: np.ndarray, out: np.ndarray
) -> None:
    """Interpolate per-corner colours over rasterized fragments into a CHW buffer.

    Args:
        triangle_id: ``[H, W]`` int32 visible triangle (-1 = background).
        barycentric: ``[H, W, 3]`` float32 barycentrics.
        corner_colors: ``[F, 3, 3]`` float32 colour of each triangle corner.
        out: ``[3, H, W]`` float32 destination (e.g. a view into the net input), written fully
            (0 on background).
    """
    _compiled(_pncc_kernel)(triangle_id, barycentric, corner_colors, out)
