# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rendered image, normal map, depth map, PNCC and visibility from a morphable face.

Two entry points:

* :func:`render_tensors` - batched and differentiable (torch): per-vertex SH shading
  (``colour = albedo * sh_shading(R n)``, Gouraud-interpolated as in the paper), with fixed
  fragments from the numba rasterizer, so gradients reach vertices, albedo, gamma and pose.
* :func:`render_face` - one face from a :class:`~face3d_ros.model.morphable.MorphableModel`
  and :class:`~face3d_ros.params.FaceParams`, numpy out (synthesis, figures, pipeline).

Maps (all [H, W, ...], 0 outside the face): ``image`` RGB (albedo x shading), ``normals`` unit
camera-frame normals (x image right, y up, z towards the camera), ``depth`` screen depth in
pixels (``s * c_z``, larger = closer; the coarse depth FineNet reads), ``mask`` coverage,
``pncc`` the Projected Normalized Coordinate Code of Zhu et al. (3DDFA, the paper's ref. [60]):
each vertex is coloured with its normalised mean-face coordinates
``(mean_shape - min) / (max - min)`` per axis, in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from face3d_ros.geometry.camera import project, rotate
from face3d_ros.geometry.normals import vertex_normals
from face3d_ros.geometry.sh import sh_shading
from face3d_ros.render.interpolate import interpolate, interpolate_np, pixel_barycentrics
from face3d_ros.render.rasterizer import Fragments, rasterize, rasterize_batch

__all__ = [
    "RenderOutput",
    "RenderTensors",
    "pncc_colors",
    "render_depth",
    "render_face",
    "render_pncc",
    "render_tensors",
    "shade_vertices",
    "vertex_visibility",
]


class RenderTensors(NamedTuple):
    """Batched differentiable render result (torch, dtype of the inputs).

    Attributes:
        image: [B, H, W, 3] albedo x shading (not clamped), 0 outside.
        mask: [B, H, W] bool coverage.
        depth: [B, H, W] screen depth in pixels, 0 outside.
        normals: [B, H, W, 3] unit camera-frame normals, 0 outside.
        fragments: Batched :class:`~face3d_ros.render.rasterizer.Fragments` used.
        screen_vertices: [B, N, 3] projected vertices ``(u, v, depth)``.
        vertex_colors: [B, N, 3] shaded per-vertex colours.
        vertex_normals: [B, N, 3] unit camera-frame vertex normals.
    """

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    normals: torch.Tensor
    fragments: Fragments
    screen_vertices: torch.Tensor
    vertex_colors: torch.Tensor
    vertex_normals: torch.Tensor


@dataclass
class RenderOutput:
    """One rendered face (numpy float32 unless noted).

    Attributes:
        image: [H, W, 3] RGB in [0, 1] (albedo x shading, clipped), 0 outside.
        mask: [H, W] bool coverage.
        depth: [H, W] screen depth in pixels (larger = closer), 0 outside.
        normals: [H, W, 3] unit camera-frame normals, 0 outside.
        fragments: The [H, W] fragments.
        screen_vertices: [N, 3] projected vertices ``(u, v, depth)`` in pixels.
        pncc: [H, W, 3] PNCC in [0, 1] (0 outside) when requested, else None.
    """

    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    fragments: Fragments
    screen_vertices: np.ndarray
    pncc: np.ndarray | None = None


def _safe_unit(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalise along the last dim; zero vectors stay zero.

    Args:
        x: [..., 3].
        eps: Squared-norm floor.

    Returns:
        [..., 3].
    """
    sq = (x * x).sum(-1, keepdim=True)
    return x * torch.rsqrt(torch.clamp(sq, min=eps)) * (sq > eps).to(x.dtype)


def shade_vertices(
    vertices: torch.Tensor,
    albedo: torch.Tensor,
    gamma: torch.Tensor,
    pose: torch.Tensor,
    triangles: torch.Tensor | np.ndarray,
    *,
    return_normals: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex colours ``albedo * sh_shading(R n)`` (differentiable).

    Args:
        vertices: [B, N, 3] model-space vertices (mm).
        albedo: [B, N, 3] linear RGB albedo.
        gamma: [B, 27] SH lighting in the camera frame.
        pose: [B, 6] poses (only the angles are used).
        triangles: [F, 3] integer vertex indices.
        return_normals: Also return the camera-frame unit vertex normals.

    Returns:
        [B, N, 3] colours (and [B, N, 3] normals when ``return_normals``).
    """
    tri = torch.as_tensor(np.asarray(triangles) if isinstance(triangles, np.ndarray) else triangles)
    tri = tri.to(device=vertices.device, dtype=torch.long)
    normals_cam = rotate(vertex_normals(vertices, tri), pose[:, :3].to(vertices.dtype))
    colors = albedo.to(vertices.dtype) * sh_shading(normals_cam, gamma.to(vertices.dtype))
    return (colors, normals_cam) if return_normals else colors


def render_tensors(
    vertices: torch.Tensor,
    albedo: torch.Tensor,
    gamma: torch.Tensor,
    pose: torch.Tensor,
    triangles: torch.Tensor | np.ndarray,
    height: int,
    width: int,
    *,
    fragments: Fragments | None = None,
    differentiable_barycentrics: bool = False,
    cull_backfaces: bool = False,
) -> RenderTensors:
    """Render a batch of faces differentiably (rasterization itself is not differentiable).

    Args:
        vertices: [B, N, 3] model-space vertices (mm).
        albedo: [B, N, 3] per-vertex linear RGB albedo.
        gamma: [B, 27] SH lighting (camera frame).
        pose: [B, 6] ``(pitch, yaw, roll, tx, ty, s)``.
        triangles: [F, 3] integer vertex indices.
        height: Output height H.
        width: Output width W.
        fragments: Reuse these batched fragments instead of rasterizing (e.g. fixed during an
            optimisation step); must match ``B, H, W``.
        differentiable_barycentrics: Recompute the barycentrics from the screen vertices in
            torch (adds gradients of the pixel positions inside their triangles).
        cull_backfaces: Passed to the rasterizer.

    Returns:
        :class:`RenderTensors`.

    Raises:
        ValueError: On shape mismatch.
    """
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be [B, N, 3], got {list(vertices.shape)}")
    b = vertices.shape[0]
    if albedo.shape != vertices.shape:
        raise ValueError(f"albedo must be {list(vertices.shape)}, got {list(albedo.shape)}")
    if gamma.shape != (b, 27) or pose.shape != (b, 6):
        raise ValueError(
            f"gamma must be [B, 27] and pose [B, 6] with B = {b}, got {list(gamma.shape)} and "
            f"{list(pose.shape)}"
        )
    tri = torch.as_tensor(np.asarray(triangles) if isinstance(triangles, np.ndarray) else triangles)
    tri = tri.to(device=vertices.device, dtype=torch.long)
    pose = pose.to(vertices.dtype)
    screen = project(vertices, pose)
    colors, normals_cam = shade_vertices(vertices, albedo, gamma, pose, tri, return_normals=True)
    if fragments is None:
        fragments = rasterize_batch(
            screen.detach(), tri.cpu().numpy(), height, width, cull_backfaces=cull_backfaces
        )
    elif tuple(np.shape(fragments.triangle_id)) != (b, height, width):
        raise ValueError(
            f"fragments must be [B, H, W] = {[b, height, width]}, got "
            f"{list(np.shape(fragments.triangle_id))}"
        )
    bary = pixel_barycentrics(screen, tri, fragments) if differentiable_barycentrics else None
    # One gather for all three maps: [colour 3 | normal 3 | depth 1].
    attrs = torch.cat([colors, normals_cam, screen[..., 2:3]], -1)
    maps = interpolate(attrs, tri, fragments, barycentric=bary)
    image = maps[..., 0:3]
    normal_map = _safe_unit(maps[..., 3:6])
    depth = maps[..., 6]
    mask = torch.from_numpy(np.asarray(fragments.triangle_id) >= 0).to(vertices.device)
    return RenderTensors(image, mask, depth, normal_map, fragments, screen, colors, normals_cam)


def _mean_shape(model: Any) -> np.ndarray:
    """Mean shape [N, 3] of a MorphableModel or FaceModelData.

    Args:
        model: The model.

    Returns:
        [N, 3] float64.

    Raises:
        ValueError: Unsupported object.
    """
    mean = getattr(model, "mean_shape", None)
    if mean is None:
        raise ValueError(f"expected a MorphableModel or FaceModelData, got {type(model)!r}")
    if isinstance(mean, torch.Tensor):
        mean = mean.detach().cpu().numpy()
    return np.asarray(mean, np.float64)


def pncc_colors(model: Any) -> np.ndarray:
    """PNCC vertex colours: normalised mean-face coordinates, per axis, in [0, 1].

    Args:
        model: MorphableModel or FaceModelData.

    Returns:
        [N, 3] float32 ``(mean_shape - min) / (max - min)`` (x, y, z -> R, G, B).

    Raises:
        ValueError: An axis with zero extent.
    """
    mean = _mean_shape(model)
    lo, hi = mean.min(0), mean.max(0)
    if (hi - lo <= 0).any():
        raise ValueError("mean shape has zero extent along an axis; PNCC undefined")
    return ((mean - lo) / (hi - lo)).astype(np.float32)


def _triangles_np(model: Any) -> np.ndarray:
    """Triangles [F, 3] int64 of a MorphableModel or FaceModelData.

    Args:
        model: The model.

    Returns:
        [F, 3] int64.
    """
    tri = model.triangles
    if isinstance(tri, torch.Tensor):
        tri = tri.detach().cpu().numpy()
    return np.asarray(tri, np.int64)


def render_pncc(
    model: Any,
    vertices_screen: np.ndarray,
    height: int,
    width: int,
    *,
    fragments: Fragments | None = None,
) -> np.ndarray:
    """Render the PNCC image of a face (the tracking net's second input).

    Args:
        model: MorphableModel or FaceModelData (for the mean shape and triangles).
        vertices_screen: [N, 3] projected vertices ``(u, v, depth)`` in pixels (numpy or torch).
        height: Output height.
        width: Output width.
        fragments: Reuse fragments already rasterized from these vertices.

    Returns:
        [H, W, 3] float32 in [0, 1], 0 outside the face.
    """
    tri = _triangles_np(model)
    if fragments is None:
        fragments = rasterize(vertices_screen, tri, height, width)
    return interpolate_np(pncc_colors(model), tri, fragments)


def render_depth(
    vertices_screen: np.ndarray, triangles: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Depth map in pixels with 0 outside, and the coverage mask.

    Args:
        vertices_screen: [N, 3] projected vertices.
        triangles: [F, 3] triangles.
        height: Output height.
        width: Output width.

    Returns:
        ``(depth [H, W] float32, mask [H, W] bool)``.
    """
    frag = rasterize(vertices_screen, triangles, height, width)
    mask = frag.triangle_id >= 0
    return np.where(mask, frag.depth, 0.0).astype(np.float32), mask


def vertex_visibility(triangles: np.ndarray, fragments: Fragments, n_vertices: int) -> np.ndarray:
    """Vertices of the triangles that cover at least one pixel centre.

    A cheap visibility estimate for per-vertex photometric terms: a vertex counts as visible
    when some triangle using it won the z-test somewhere. Near occlusion boundaries a hidden
    vertex of a partly visible triangle is counted as visible.

    Args:
        triangles: [F, 3] triangles that were rasterized.
        fragments: [H, W] fragments.
        n_vertices: N.

    Returns:
        [N] bool.
    """
    tid = np.asarray(fragments.triangle_id)
    if tid.ndim != 2:
        raise ValueError(f"vertex_visibility expects [H, W] fragments, got {list(tid.shape)}")
    vis = np.zeros(int(n_vertices), bool)
    used = np.unique(tid[tid >= 0])
    vis[np.asarray(triangles)[used].ravel()] = True
    return vis


def render_face(
    model: Any,
    params: Any,
    height: int,
    width: int,
    *,
    with_pncc: bool = False,
    cull_backfaces: bool = False,
) -> RenderOutput:
    """Render one face (mean + coefficients, SH lighting, weak perspective) to numpy maps.

    Args:
        model: :class:`~face3d_ros.model.morphable.MorphableModel` (preferred; a
            FaceModelData is wrapped on every call, which is slower).
        params: :class:`~face3d_ros.params.FaceParams` matching the model's (truncated) dims;
            pose in the pixel coordinates of the output image.
        height: Output height.
        width: Output width.
        with_pncc: Also render the PNCC map.
        cull_backfaces: Passed to the rasterizer.

    Returns:
        :class:`RenderOutput`.

    Raises:
        ValueError: Params do not match the model.
    """
    from face3d_ros.model.morphable import MorphableModel

    if not isinstance(model, MorphableModel):
        model = MorphableModel(model)
    params.check_dims(model.dims)
    dev = model.mean_shape.device
    with torch.no_grad():
        verts = model.shape(
            torch.from_numpy(params.alpha_id[None]).to(dev),
            torch.from_numpy(params.alpha_exp[None]).to(dev),
        )
        alb = model.albedo(torch.from_numpy(params.alpha_alb[None]).to(dev))
        pose = torch.from_numpy(params.pose[None]).to(dev)
        screen_t = project(verts, pose)
        colors, normals = shade_vertices(
            verts,
            alb,
            torch.from_numpy(params.gamma[None]).to(dev),
            pose,
            model.triangles,
            return_normals=True,
        )
        attrs = torch.cat([colors[0], normals[0], screen_t[0, :, 2:3]], 1).cpu().numpy()
    screen = screen_t[0].cpu().numpy()
    tri = _triangles_np(model)
    frag = rasterize(screen, tri, height, width, cull_backfaces=cull_backfaces)
    maps = interpolate_np(attrs, tri, frag)  # [H, W, 7]: colour, normal, depth
    nrm = maps[..., 3:6]
    norm = np.linalg.norm(nrm, axis=-1, keepdims=True)
    nrm = np.where(norm > 1e-12, nrm / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
    pncc = None
    if with_pncc:
        pncc = render_pncc(model, screen, height, width, fragments=frag)
    return RenderOutput(
        image=np.clip(maps[..., :3], 0.0, 1.0),
        mask=frag.triangle_id >= 0,
        depth=np.ascontiguousarray(maps[..., 6]),
        normals=nrm,
        fragments=frag,
        screen_vertices=screen,
        pncc=pncc,
    )
