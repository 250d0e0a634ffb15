# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Z-buffer triangle rasterizer (numba) producing per-pixel fragments.

Input vertices are in screen space as produced by :func:`face3d_ros.geometry.camera.project`:
``(u, v, depth)`` in pixels, ``u`` right, ``v`` down, LARGER depth = CLOSER. Pixel (row i,
col j) is centred at ``(u, v) = (j, i)`` and is covered by a triangle when its centre has all
three screen-space barycentrics ``>= -1e-7`` (a tiny tolerance so that no pixel on a shared edge
falls through the crack; pixels exactly on a shared edge may be claimed by either triangle).
Among covering triangles the one with the largest interpolated depth wins (strict ``>``, so on
exact ties the lower triangle index wins).

Design notes:

* Weak perspective is affine, so screen-space barycentrics are the exact surface
  barycentrics; no perspective correction is needed.
* Degenerate triangles (twice the screen area below 1e-10 px^2) and triangles with a non-finite
  vertex are skipped; triangles partly off-screen are clipped to the image by their bounding box.
* Back faces are kept by default: for a face mesh the z-buffer alone resolves visibility (a back
  face is only ever the nearest surface where the inside of the open mesh is seen, e.g. beyond
  90 degrees of yaw). ``cull_backfaces=True`` drops triangles that are clockwise in the model's
  front view, i.e. whose screen-space signed area ``(u1-u0)(v2-v0) - (u2-u0)(v1-v0)`` is positive
  (the image ``v`` axis points down, so front faces have a negative area).
* The kernel is a numba ``@njit`` function compiled on the FIRST call, never at import: the
  first call pays the JIT cost (about 1-3 s; see :func:`face3d_ros.render.warmup.warmup`).
  Compiled code is cached on disk (``cache=True``): numba writes ``__pycache__`` next to this
  file, or, when that folder is read-only (an install space), into its user-wide cache
  directory; set ``NUMBA_CACHE_DIR`` to choose a writable folder. If numba finds no writable
  cache location at all, the kernel is compiled without a disk cache and a ``RuntimeWarning``
  says so (every process then pays the JIT cost once). The kernel is single-threaded; batches
  loop over it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from face3d_ros.render._jit import lazy_njit
from face3d_ros.render.fragments import Fragments

__all__ = ["Fragments", "rasterize", "rasterize_batch"]

#: Barycentric tolerance for the coverage test (see module docstring).
COVERAGE_EPS = 1e-7
#: Twice-area threshold (px^2) below which a triangle is degenerate and skipped.
DEGENERATE_AREA = 1e-10


def _raster_kernel(
    verts: np.ndarray,
    tris: np.ndarray,
    height: int,
    width: int,
    cull: bool,
    tri_out: np.ndarray,
    bary_out: np.ndarray,
    depth_out: np.ndarray,
) -> None:  # pragma: no cover - compiled by numba (tested through rasterize)
    """Rasterize all triangles into pre-filled output buffers (numba nopython kernel).

    Args:
        verts: [N, 3] float64 screen vertices (u, v, depth).
        tris: [F, 3] int64 triangles.
        height: Image height H.
        width: Image width W.
        cull: Drop triangles with positive screen-space signed area.
        tri_out: [H, W] int32, pre-filled with -1.
        bary_out: [H, W, 3] float32, pre-filled with 0.
        depth_out: [H, W] float64, pre-filled with -inf (the z-buffer).
    """
    n_tri = tris.shape[0]
    for f in range(n_tri):
        i0 = tris[f, 0]
        i1 = tris[f, 1]
        i2 = tris[f, 2]
        x0 = verts[i0, 0]
        y0 = verts[i0, 1]
        z0 = verts[i0, 2]
        x1 = verts[i1, 0]
        y1 = verts[i1, 1]
        z1 = verts[i1, 2]
        x2 = verts[i2, 0]
        y2 = verts[i2, 1]
        z2 = verts[i2, 2]
        if not (
            np.isfinite(x0)
            and np.isfinite(y0)
            and np.isfinite(z0)
            and np.isfinite(x1)
            and np.isfinite(y1)
            and np.isfinite(z1)
            and np.isfinite(x2)
            and np.isfinite(y2)
            and np.isfinite(z2)
        ):
            continue
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < DEGENERATE_AREA:
            continue
        if cull and area > 0.0:
            continue
        xmin = max(int(np.ceil(min(x0, x1, x2))), 0)
        xmax = min(int(np.floor(max(x0, x1, x2))), width - 1)
        if xmin > xmax:
            continue
        ymin = max(int(np.ceil(min(y0, y1, y2))), 0)
        ymax = min(int(np.floor(max(y0, y1, y2))), height - 1)
        if ymin > ymax:
            continue
        inv = 1.0 / area
        for py in range(ymin, ymax + 1):
            fy = float(py)
            for px in range(xmin, xmax + 1):
                fx = float(px)
                w0 = ((x1 - fx) * (y2 - fy) - (x2 - fx) * (y1 - fy)) * inv
                if w0 < -COVERAGE_EPS:
                    continue
                w1 = ((x2 - fx) * (y0 - fy) - (x0 - fx) * (y2 - fy)) * inv
                if w1 < -COVERAGE_EPS:
                    continue
                w2 = ((x0 - fx) * (y1 - fy) - (x1 - fx) * (y0 - fy)) * inv
                if w2 < -COVERAGE_EPS:
                    continue
                z = w0 * z0 + w1 * z1 + w2 * z2
                if z > depth_out[py, px]:
                    depth_out[py, px] = z
                    tri_out[py, px] = f
                    bary_out[py, px, 0] = w0
                    bary_out[py, px, 1] = w1
                    bary_out[py, px, 2] = w2


def _kernel() -> Callable[..., None]:
    """Return the numba kernel (compiled lazily on first use, see :mod:`._jit`).

    Returns:
        The jitted kernel.
    """
    return lazy_njit(_raster_kernel)


def _as_numpy(x: Any) -> np.ndarray:
    """Convert a torch tensor (detached, CPU) or array-like to numpy.

    Args:
        x: Array-like or torch tensor.

    Returns:
        A numpy array.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check_inputs(
    screen_vertices: Any, triangles: Any, height: int, width: int, batched: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert rasterizer inputs.

    Args:
        screen_vertices: [N, 3] (or [B, N, 3] when ``batched``) screen vertices.
        triangles: [F, 3] integer triangles.
        height: Image height.
        width: Image width.
        batched: Whether a leading batch dimension is expected.

    Returns:
        ``(vertices float64 C-contiguous, triangles int64 C-contiguous)``.

    Raises:
        ValueError: On bad shapes, sizes or indices.
    """
    verts = _as_numpy(screen_vertices)
    tris = _as_numpy(triangles)
    want = 3 if batched else 2
    if verts.ndim != want or verts.shape[-1] != 3:
        shape = "[B, N, 3]" if batched else "[N, 3]"
        raise ValueError(f"screen_vertices must have shape {shape}, got {list(verts.shape)}")
    if tris.ndim != 2 or tris.shape[1] != 3 or not np.issubdtype(tris.dtype, np.integer):
        raise ValueError(
            f"triangles must be an integer array [F, 3], got {tris.dtype} {list(tris.shape)}"
        )
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"height and width must be positive, got {height} x {width}")
    n = verts.shape[-2]
    if tris.size and (tris.min() < 0 or tris.max() >= n):
        raise ValueError(f"triangle indices out of range for {n} vertices")
    return (
        np.ascontiguousarray(verts, dtype=np.float64),
        np.ascontiguousarray(tris, dtype=np.int64),
    )


def _run(verts: np.ndarray, tris: np.ndarray, height: int, width: int, cull: bool) -> Fragments:
    """Rasterize one validated mesh.

    Args:
        verts: [N, 3] float64.
        tris: [F, 3] int64.
        height: H.
        width: W.
        cull: Back-face culling flag.

    Returns:
        The fragments.
    """
    tri_out = np.full((height, width), -1, np.int32)
    bary_out = np.zeros((height, width, 3), np.float32)
    zbuf = np.full((height, width), -np.inf, np.float64)
    _kernel()(verts, tris, int(height), int(width), bool(cull), tri_out, bary_out, zbuf)
    return Fragments(tri_out, bary_out, zbuf.astype(np.float32))


def rasterize(
    screen_vertices: np.ndarray,
    triangles: np.ndarray,
    height: int,
    width: int,
    *,
    cull_backfaces: bool = False,
) -> Fragments:
    """Rasterize one mesh with a z-buffer.

    Args:
        screen_vertices: [N, 3] ``(u, v, depth)`` pixels (numpy, or a torch tensor, which is
            detached and copied).
        triangles: [F, 3] integer vertex indices.
        height: Output height H in pixels.
        width: Output width W in pixels.
        cull_backfaces: Drop triangles facing away from the camera (see module docstring).

    Returns:
        :class:`Fragments` with [H, W] arrays.

    Raises:
        ValueError: On bad shapes, sizes or indices.
    """
    verts, tris = _check_inputs(screen_vertices, triangles, height, width, batched=False)
    return _run(verts, tris, int(height), int(width), cull_backfaces)


def rasterize_batch(
    screen_vertices: np.ndarray,
    triangles: np.ndarray,
    height: int,
    width: int,
    *,
    cull_backfaces: bool = False,
) -> Fragments:
    """Rasterize a batch of meshes sharing one triangle list (a loop over :func:`rasterize`).

    Args:
        screen_vertices: [B, N, 3] screen vertices (numpy or torch).
        triangles: [F, 3] integer vertex indices.
        height: Output height H.
        width: Output width W.
        cull_backfaces: Drop back-facing triangles.

    Returns:
        :class:`Fragments` with [B, H, W] / [B, H, W, 3] arrays.

    Raises:
        ValueError: On bad shapes, sizes or indices.
    """
    verts, tris = _check_inputs(screen_vertices, triangles, height, width, batched=True)
    parts = [_run(v, tris, int(height), int(width), cull_backfaces) for v in verts]
    if not parts:
        return Fragments(
            np.zeros((0, height, width), np.int32),
            np.zeros((0, height, width, 3), np.float32),
            np.zeros((0, height, width), np.float32),
        )
    return Fragments(*(np.stack(x) for x in zip(*parts, strict=True)))
