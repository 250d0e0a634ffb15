# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Differentiable per-pixel interpolation of vertex attributes with fixed fragments.

The rasterizer (:mod:`face3d_ros.render.rasterizer`, numba, not differentiable) fixes which
triangle covers each pixel and its barycentrics; these functions gather the three vertex
attributes of each covered pixel in torch and blend them, so gradients flow to the attributes
(vertex colours, albedo, SH lighting through shading, normals, depth, and through them to the
model coefficients and the pose). As in the paper, visibility itself is piecewise constant and
carries no gradient. :func:`pixel_barycentrics` optionally recomputes the barycentrics from the
(differentiable) screen vertices for the fixed triangle ids, which adds the gradient of the
pixels' position inside their triangles (e.g. of the depth map w.r.t. pose translation).
"""

from __future__ import annotations

import numpy as np
import torch

from face3d_ros.render._jit import lazy_njit
from face3d_ros.render.fragments import Fragments

__all__ = ["interpolate", "interpolate_np", "pixel_barycentrics"]


def _fragment_tensors(
    fragments: Fragments, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Triangle ids as a long tensor, the coverage mask, and whether they are batched.

    Args:
        fragments: [H, W] or [B, H, W] fragments.
        device: Target device.

    Returns:
        ``(triangle_id long [B?, H, W], mask bool [B?, H, W], batched)``.

    Raises:
        ValueError: On malformed fragments.
    """
    tid = np.asarray(fragments.triangle_id)
    if tid.ndim not in (2, 3):
        raise ValueError(f"fragments.triangle_id must be [H, W] or [B, H, W], got {tid.shape}")
    t = torch.from_numpy(tid.astype(np.int64, copy=False)).to(device)
    return t, t >= 0, tid.ndim == 3


def _pixel_vertex_ids(
    tid: torch.Tensor, mask: torch.Tensor, triangles: torch.Tensor, n_vertices: int, batched: bool
) -> torch.Tensor:
    """Flat vertex indices [P, 3] of the covered pixels (offset by b * N when batched).

    Args:
        tid: [B?, H, W] triangle ids.
        mask: [B?, H, W] coverage.
        triangles: [F, 3] long.
        n_vertices: N.
        batched: Whether ``tid`` has a batch dimension.

    Returns:
        [P, 3] long indices into the (flattened) vertex arrays.
    """
    vids = triangles[tid[mask]]
    if batched:
        b = torch.arange(tid.shape[0], device=tid.device).view(-1, 1, 1).expand_as(tid)[mask]
        vids = vids + (b * n_vertices).unsqueeze(-1)
    return vids


def _check_triangles(
    triangles: torch.Tensor | np.ndarray, n: int, device: torch.device
) -> torch.Tensor:
    """Validate triangles and return them as long on ``device``.

    Args:
        triangles: [F, 3] integer indices.
        n: Number of vertices.
        device: Target device.

    Returns:
        [F, 3] long tensor.

    Raises:
        ValueError: Bad shape, dtype or range.
    """
    tri = torch.as_tensor(np.asarray(triangles) if isinstance(triangles, np.ndarray) else triangles)
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.dtype.is_floating_point:
        raise ValueError(f"triangles must be an integer [F, 3] array, got {list(tri.shape)}")
    tri = tri.to(device=device, dtype=torch.long)
    if tri.numel() and (tri.min() < 0 or tri.max() >= n):
        raise ValueError(f"triangle indices out of range for {n} vertices")
    return tri


def _check_batch(values: torch.Tensor, tid: torch.Tensor, batched: bool, name: str) -> None:
    """Check that ``values`` is [N, C] for unbatched or [B, N, C] for batched fragments.

    Args:
        values: Vertex values.
        tid: Triangle ids.
        batched: Whether the fragments are batched.
        name: Argument name for the message.

    Raises:
        ValueError: On mismatch.
    """
    if batched:
        if values.ndim != 3 or values.shape[0] != tid.shape[0]:
            raise ValueError(
                f"{name} must be [B, N, C] with B = {tid.shape[0]} for batched fragments, got "
                f"{list(values.shape)}"
            )
    elif values.ndim != 2:
        raise ValueError(f"{name} must be [N, C] for unbatched fragments, got {list(values.shape)}")


def interpolate(
    attributes: torch.Tensor,
    triangles: torch.Tensor | np.ndarray,
    fragments: Fragments,
    *,
    barycentric: torch.Tensor | None = None,
    background: float = 0.0,
) -> torch.Tensor:
    """Blend vertex attributes at every covered pixel (differentiable in ``attributes``).

    Args:
        attributes: [N, C] with unbatched fragments, or [B, N, C] with batched fragments; any
            float dtype (the output has the same dtype/device).
        triangles: [F, 3] integer vertex indices (the ones that were rasterized).
        fragments: [H, W] (or [B, H, W]) fragments from the rasterizer.
        barycentric: Optional [H, W, 3] (or [B, H, W, 3]) tensor replacing
            ``fragments.barycentric``, e.g. from :func:`pixel_barycentrics` (differentiable).
        background: Value written to uncovered pixels.

    Returns:
        [H, W, C] (or [B, H, W, C]) interpolated attributes.

    Raises:
        ValueError: On shape mismatch.
    """
    attributes = torch.as_tensor(attributes)
    tid, mask, batched = _fragment_tensors(fragments, attributes.device)
    _check_batch(attributes, tid, batched, "attributes")
    n, c = attributes.shape[-2], attributes.shape[-1]
    tri = _check_triangles(triangles, n, attributes.device)
    if tid.numel() and tid.max() >= tri.shape[0]:
        raise ValueError("fragments reference triangles beyond the given triangle list")
    if barycentric is None:
        bary_all = torch.from_numpy(np.asarray(fragments.barycentric)).to(attributes.device)
    else:
        bary_all = barycentric
    if tuple(bary_all.shape) != (*tid.shape, 3):
        raise ValueError(
            f"barycentric must have shape {[*tid.shape, 3]}, got {list(bary_all.shape)}"
        )
    vids = _pixel_vertex_ids(tid, mask, tri, n, batched)
    bary = bary_all[mask].to(attributes.dtype)  # [P, 3]
    flat = attributes.reshape(-1, c)
    # Three index_selects + multiply-add: faster forward and backward than flat[vids] ([P, 3, C]).
    vals = (
        flat.index_select(0, vids[:, 0]) * bary[:, 0:1]
        + flat.index_select(0, vids[:, 1]) * bary[:, 1:2]
        + flat.index_select(0, vids[:, 2]) * bary[:, 2:3]
    )  # [P, C]
    out = attributes.new_full((*tid.shape, c), float(background))
    return out.index_put((mask,), vals)


def pixel_barycentrics(
    screen_vertices: torch.Tensor, triangles: torch.Tensor | np.ndarray, fragments: Fragments
) -> torch.Tensor:
    """Screen-space barycentrics of pixel centres for the fixed triangle ids (differentiable).

    Equal (up to rounding) to ``fragments.barycentric`` when ``screen_vertices`` are the
    vertices that were rasterized, but differentiable w.r.t. them (hence w.r.t. pose and shape).

    Args:
        screen_vertices: [N, 3] (or [B, N, 3] for batched fragments) ``(u, v, depth)`` pixels.
        triangles: [F, 3] integer vertex indices.
        fragments: [H, W] (or [B, H, W]) fragments.

    Returns:
        [H, W, 3] (or [B, H, W, 3]) barycentrics, 0 on background, dtype of ``screen_vertices``.

    Raises:
        ValueError: On shape mismatch.
    """
    tid, mask, batched = _fragment_tensors(fragments, screen_vertices.device)
    _check_batch(screen_vertices, tid, batched, "screen_vertices")
    n = screen_vertices.shape[-2]
    if screen_vertices.shape[-1] != 3:
        raise ValueError(f"screen_vertices must end in 3, got {list(screen_vertices.shape)}")
    tri = _check_triangles(triangles, n, screen_vertices.device)
    vids = _pixel_vertex_ids(tid, mask, tri, n, batched)
    flat = screen_vertices.reshape(-1, 3)
    p0, p1, p2 = flat[vids[:, 0], :2], flat[vids[:, 1], :2], flat[vids[:, 2], :2]
    grid = torch.nonzero(mask)  # [P, 2 or 3]: (b?, row, col)
    px = grid[:, -1].to(screen_vertices.dtype)
    py = grid[:, -2].to(screen_vertices.dtype)

    def edge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a[:, 0] - px) * (b[:, 1] - py) - (b[:, 0] - px) * (a[:, 1] - py)

    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (
        p1[:, 1] - p0[:, 1]
    )
    w = torch.stack([edge(p1, p2), edge(p2, p0), edge(p0, p1)], -1) / area.unsqueeze(-1)
    out = screen_vertices.new_zeros((*tid.shape, 3))
    return out.index_put((mask,), w)


def interpolate_np(
    attributes: np.ndarray,
    triangles: np.ndarray,
    fragments: Fragments,
    *,
    background: float = 0.0,
) -> np.ndarray:
    """Numpy (non-differentiable, faster) version of :func:`interpolate`.

    Args:
        attributes: [N, C] (unbatched fragments) or [B, N, C] (batched fragments).
        triangles: [F, 3] integer vertex indices.
        fragments: [H, W] or [B, H, W] fragments.
        background: Value for uncovered pixels.

    Returns:
        [H, W, C] or [B, H, W, C] float32.

    Raises:
        ValueError: On shape mismatch.
    """
    attr = np.asarray(attributes, np.float32)
    tid = np.asarray(fragments.triangle_id)
    tri = np.asarray(triangles)
    if tri.ndim != 2 or tri.shape[1] != 3 or not np.issubdtype(tri.dtype, np.integer):
        raise ValueError(f"triangles must be an integer [F, 3] array, got {list(tri.shape)}")
    if tid.ndim == 3:
        if attr.ndim != 3 or attr.shape[0] != tid.shape[0]:
            raise ValueError(
                f"attributes must be [B, N, C] with B = {tid.shape[0]}, got {list(attr.shape)}"
            )
        return np.stack(
            [
                interpolate_np(a, tri, Fragments(t, b, d), background=background)
                for a, t, b, d in zip(
                    attr, tid, fragments.barycentric, fragments.depth, strict=True
                )
            ]
        )
    if tid.ndim != 2 or attr.ndim != 2:
        raise ValueError(
            f"expected attributes [N, C] with fragments [H, W], got {list(attr.shape)} and "
            f"{list(tid.shape)}"
        )
    if np.shape(fragments.barycentric) != (*tid.shape, 3):
        raise ValueError(f"fragments.barycentric must be {[*tid.shape, 3]}")
    n_tri = tri.shape[0]
    if tid.size and tid.max() >= n_tri:
        raise ValueError("fragments reference triangles beyond the given triangle list")
    if tri.size and (tri.min() < 0 or tri.max() >= attr.shape[0]):
        raise ValueError(f"triangle indices out of range for {attr.shape[0]} vertices")
    out = np.full((*tid.shape, attr.shape[1]), background, np.float32)
    lazy_njit(_interp_kernel)(
        np.ascontiguousarray(attr),
        np.ascontiguousarray(tri, dtype=np.int64),
        np.ascontiguousarray(tid, dtype=np.int32),
        np.ascontiguousarray(fragments.barycentric, dtype=np.float32),
        out,
    )
    return out


def _interp_kernel(
    attr: np.ndarray, tris: np.ndarray, tid: np.ndarray, bary: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled by numba (tested through interpolate_np)
    """Blend ``attr`` [N, C] into ``out`` [H, W, C] at covered pixels (numba kernel).

    Args:
        attr: [N, C] float32 vertex attributes.
        tris: [F, 3] int64 triangles.
        tid: [H, W] int32 triangle ids (-1 = background; all < F, checked by the caller).
        bary: [H, W, 3] float32 barycentrics.
        out: [H, W, C] float32 output, pre-filled with the background value.
    """
    h, w = tid.shape
    n_ch = attr.shape[1]
    for i in range(h):
        for j in range(w):
            f = tid[i, j]
            if f < 0:
                continue
            a = tris[f, 0]
            b = tris[f, 1]
            c = tris[f, 2]
            w0 = bary[i, j, 0]
            w1 = bary[i, j, 1]
            w2 = bary[i, j, 2]
            for k in range(n_ch):
                out[i, j, k] = w0 * attr[a, k] + w1 * attr[b, k] + w2 * attr[c, k]
