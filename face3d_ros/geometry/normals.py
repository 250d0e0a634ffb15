# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face and vertex normals of triangle meshes (torch, batched, differentiable; and numpy).

Triangles are counter-clockwise seen from outside, so ``(v1 - v0) x (v2 - v0)`` points outwards.
Vertex normals are the area-weighted sum of the incident face normals (the unnormalised cross
products), normalised; vertices without a (non-degenerate) incident triangle get a zero normal.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["face_normals", "vertex_normals", "vertex_normals_np"]


def _check(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Validate mesh inputs and return the triangles as a long tensor on the vertices' device.

    Args:
        vertices: [B, N, 3].
        triangles: [F, 3] integer indices.

    Returns:
        [F, 3] int64 triangles.

    Raises:
        ValueError: On bad shapes or out-of-range indices.
    """
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must have shape [B, N, 3], got {list(vertices.shape)}")
    triangles = torch.as_tensor(triangles)
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must have shape [F, 3], got {list(triangles.shape)}")
    if triangles.dtype.is_floating_point:
        raise ValueError("triangles must be an integer tensor")
    triangles = triangles.to(device=vertices.device, dtype=torch.long)
    if triangles.numel() and (triangles.min() < 0 or triangles.max() >= vertices.shape[1]):
        raise ValueError(f"triangle indices out of range for {vertices.shape[1]} vertices")
    return triangles


def face_normals(
    vertices: torch.Tensor, triangles: torch.Tensor, *, normalize: bool = True
) -> torch.Tensor:
    """Per-triangle normals.

    Args:
        vertices: [B, N, 3] positions (any units).
        triangles: [F, 3] vertex indices, counter-clockwise seen from outside.
        normalize: Return unit normals (zero for degenerate triangles); if False, return the
            cross products, whose length is twice the triangle area.

    Returns:
        [B, F, 3] normals, same dtype/device as ``vertices``.
    """
    tri = _check(vertices, triangles)
    b, f = vertices.shape[0], tri.shape[0]
    p = vertices.index_select(1, tri.reshape(-1)).view(b, f, 3, 3)
    e1 = p[:, :, 1] - p[:, :, 0]
    e2 = p[:, :, 2] - p[:, :, 0]
    n = torch.stack(
        [
            e1[..., 1] * e2[..., 2] - e1[..., 2] * e2[..., 1],
            e1[..., 2] * e2[..., 0] - e1[..., 0] * e2[..., 2],
            e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0],
        ],
        -1,
    )
    if normalize:
        n = _safe_normalize(n)
    return n


def _safe_normalize(n: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalise vectors along the last dim; zero vectors stay zero (finite gradients).

    Args:
        n: [..., 3] vectors.
        eps: Squared-length floor.

    Returns:
        [..., 3] unit (or zero) vectors.
    """
    sq = (n * n).sum(-1, keepdim=True)
    return n * torch.rsqrt(torch.clamp(sq, min=eps)) * (sq > eps).to(n.dtype)


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals (area-weighted average of incident face normals).

    Args:
        vertices: [B, N, 3] positions (mm in model space, or rotated camera-frame points).
        triangles: [F, 3] vertex indices (int32 or int64), counter-clockwise from outside.

    Returns:
        [B, N, 3] unit normals (zero for isolated vertices), same dtype/device as ``vertices``;
        differentiable w.r.t. ``vertices``.

    Raises:
        ValueError: On bad shapes or indices.
    """
    tri = _check(vertices, triangles)
    fn = face_normals(vertices, tri, normalize=False)  # [B, F, 3], length = 2 * area
    b, n, f = vertices.shape[0], vertices.shape[1], tri.shape[0]
    # One scatter-add of each face normal onto its three vertices (much faster than index_add).
    index = tri.reshape(1, 3 * f, 1).expand(b, 3 * f, 3)
    src = fn.unsqueeze(2).expand(b, f, 3, 3).reshape(b, 3 * f, 3)
    acc = torch.scatter_add(vertices.new_zeros(b, n, 3), 1, index, src)
    return _safe_normalize(acc)


def vertex_normals_np(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`vertex_normals` for one mesh (no autograd; same convention).

    Args:
        vertices: [N, 3] positions.
        triangles: [F, 3] vertex indices, counter-clockwise from outside.

    Returns:
        [N, 3] float64 unit normals (zero for isolated vertices).

    Raises:
        ValueError: On bad shapes or indices.
    """
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape [N, 3], got {list(v.shape)}")
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.dtype.kind not in "iu":
        raise ValueError(f"triangles must be integer [F, 3], got {tri.dtype} {list(tri.shape)}")
    if tri.size and (tri.min() < 0 or tri.max() >= len(v)):
        raise ValueError(f"triangle indices out of range for {len(v)} vertices")
    fn = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])  # length = 2 area
    idx = tri.reshape(-1)
    fn3 = np.repeat(fn, 3, axis=0)
    acc = np.stack([np.bincount(idx, fn3[:, c], minlength=len(v)) for c in range(3)], axis=1)
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    return np.where(norm > 1e-12, acc / np.maximum(norm, 1e-300), 0.0)
