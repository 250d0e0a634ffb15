# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Piecewise-affine background warp: move the photo so it fits a re-posed face (paper Sec. 5.1).

Control points are face points (projected model landmarks and mesh-border vertices) at their
original image positions (``src``) and at their positions under the new pose (``dst``), plus a
ring of fixed points around the face and four far corners. A Delaunay triangulation of the
destination points defines, per triangle, the affine map back to the source triangle; every
output pixel takes the photo colour at its mapped source position (``cv2.remap``, bilinear).
Outside the fixed ring the warp is exactly the identity, so only the ring's bounding box is
computed. :func:`warp_crop` evaluates the same warp directly for the pixels of a crop (one
resampling, cost independent of the photo size).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

__all__ = ["add_fixed_ring", "piecewise_affine_map", "warp_background", "warp_crop"]


def add_fixed_ring(
    src: np.ndarray,
    dst: np.ndarray,
    image_shape: tuple[int, int],
    ring_scale: float = 1.4,
    ring_points: int = 24,
) -> tuple[np.ndarray, np.ndarray]:
    """Append fixed control points: a ring around both point sets and four far corners.

    Args:
        src: [M, 2] source positions (u, v) pixels.
        dst: [M, 2] destination positions.
        image_shape: ``(H, W)`` of the photo.
        ring_scale: Ring radius as a multiple of the largest distance of any control point from
            the common centre.
        ring_points: Number of ring points.

    Returns:
        ``(src_all [M + ring_points + 4, 2], dst_all)`` with the new points equal in both.
    """
    pts = np.concatenate([src, dst])
    centre = pts.mean(0)
    radius = ring_scale * max(float(np.linalg.norm(pts - centre, axis=1).max()), 4.0)
    ang = np.linspace(0.0, 2 * np.pi, ring_points, endpoint=False)
    ring = centre + radius * np.stack([np.cos(ang), np.sin(ang)], 1)
    h, w = image_shape
    far = 2.0 * (radius + h + w)
    corners = centre + np.array([[-far, -far], [far, -far], [far, far], [-far, far]])
    fixed = np.concatenate([ring, corners])
    return np.concatenate([src, fixed]), np.concatenate([dst, fixed])


def piecewise_affine_map(src: np.ndarray, dst: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Map query points through the piecewise-affine warp defined by ``dst -> src``.

    Args:
        src: [M, 2] control points in the source (photo) image.
        dst: [M, 2] the same control points in the destination image.
        query: [Q, 2] destination positions.

    Returns:
        [Q, 2] float32 source positions; points outside the triangulated hull map to themselves.
    """
    tri = Delaunay(dst, qhull_options="QJ")
    # Brute force over the ~300 triangles (the same simplices as the directed walk, which took
    # seconds here). Each simplex's barycentric transform is a small LAPACK solve: with
    # OpenBLAS threads on shared cores that alone took 5 s, so synthesis processes run with
    # one BLAS thread (training.data_engine sets OPENBLAS_NUM_THREADS=1): 2 ms.
    simplex = tri.find_simplex(query, bruteforce=True)
    out = np.asarray(query, dtype=np.float64).copy()
    inside = simplex >= 0
    t = tri.transform[simplex[inside]]  # [P, 3, 2]: barycentric transform per simplex
    delta = query[inside] - t[:, 2]
    b01 = np.einsum("pij,pj->pi", t[:, :2], delta)
    bary = np.concatenate([b01, 1.0 - b01.sum(1, keepdims=True)], 1)  # [P, 3]
    corners = src[tri.simplices[simplex[inside]]]  # [P, 3, 2]
    out[inside] = np.einsum("pk,pkc->pc", bary, corners)
    return out.astype(np.float32)


def warp_background(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    ring_scale: float = 1.4,
) -> np.ndarray:
    """Warp ``image`` so that the points ``src`` move to ``dst`` (fixed ring around them).

    Args:
        image: [H, W, C] float32 photo.
        src: [M, 2] face control points in the photo (u, v) pixels.
        dst: [M, 2] their new positions.
        ring_scale: See :func:`add_fixed_ring`.

    Returns:
        [H, W, C] float32 warped photo (same size; border pixels replicate the edge).

    Raises:
        ValueError: ``src`` and ``dst`` differ in shape or are not [M, 2].
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"src and dst must both be [M, 2], got {src.shape} and {dst.shape}")
    h, w = image.shape[:2]
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    src_all, dst_all = add_fixed_ring(src[ok], dst[ok], (h, w), ring_scale)
    ring = dst_all[len(src[ok]) : -4]
    x0, y0 = np.floor(ring.min(0)).astype(int)
    x1, y1 = np.ceil(ring.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = np.array(image, dtype=np.float32, copy=True)
    if x1 <= x0 or y1 <= y0:
        return out
    gy, gx = np.mgrid[y0:y1, x0:x1]
    query = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
    mapped = piecewise_affine_map(src_all, dst_all, query).reshape(y1 - y0, x1 - x0, 2)
    patch = cv2.remap(
        np.ascontiguousarray(image, dtype=np.float32),
        np.ascontiguousarray(mapped[..., 0]),
        np.ascontiguousarray(mapped[..., 1]),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if patch.ndim == 2 and out.ndim == 3:
        patch = patch[..., None]
    out[y0:y1, x0:x1] = patch
    return out


def warp_crop(
    image: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    box: object,
    out_size: int,
    ring_scale: float = 1.4,
    map_step: int = 4,
) -> np.ndarray:
    """The crop ``box`` of :func:`warp_background`'s result, computed directly.

    Equivalent to ``crop_image(warp_background(image, src, dst), box, out_size)`` up to
    interpolation (one bilinear resampling instead of two); zeros outside the photo, as
    :func:`~face3d_ros.geometry.crop.crop_image`. The piecewise-affine map is evaluated on a
    grid of every ``map_step``-th pixel and interpolated bilinearly in between (the map is
    continuous; locating 50,000 points in the triangulation costs 0.5 s, a 16th of them 30 ms).

    Args:
        image: [H, W, C] float32 photo.
        src: [M, 2] face control points in the photo.
        dst: [M, 2] their new positions.
        box: :class:`~face3d_ros.geometry.crop.CropBox` in photo pixels.
        out_size: Crop side S.
        ring_scale: See :func:`add_fixed_ring`.
        map_step: Spacing (crop pixels) of the grid on which the map is evaluated exactly.

    Returns:
        [S, S, C] float32.
    """
    from face3d_ros.geometry.crop import points_from_crop

    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"src and dst must both be [M, 2], got {src.shape} and {dst.shape}")
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    src_all, dst_all = add_fixed_ring(src[ok], dst[ok], image.shape[:2], ring_scale)
    n = max(2, int(np.ceil((out_size - 1) / max(int(map_step), 1))) + 1)
    coords = np.linspace(0.0, out_size - 1.0, n)
    gy, gx = np.meshgrid(coords, coords, indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
    query = points_from_crop(grid, box, out_size)
    coarse = piecewise_affine_map(src_all, dst_all, query).reshape(n, n, 2)
    if n == out_size:
        mapped = coarse
    else:
        fine = np.arange(out_size, dtype=np.float32) * np.float32((n - 1) / (out_size - 1.0))
        fx, fy = np.meshgrid(fine, fine)
        mapped = cv2.remap(coarse, fx, fy, interpolation=cv2.INTER_LINEAR)
    out = cv2.remap(
        np.ascontiguousarray(image, dtype=np.float32),
        np.ascontiguousarray(mapped[..., 0]),
        np.ascontiguousarray(mapped[..., 1]),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if out.ndim == 2 and image.ndim == 3:
        out = out[..., None]
    return out.astype(np.float32)
