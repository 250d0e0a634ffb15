# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training losses of 3DFaceNet (Guo et al., Eq. 11-17) and the parameter-MSE baseline.

Pixel-level projection (Eq. 11). For the ground-truth render of a sample, every foreground pixel
``q`` is covered by a triangle ``t(q)`` with barycentric weights ``b(q)``. For any vertex set ``V``
and pose ``P`` we map the pixel to the screen point

    F_q(P, V) = sum_k b_k(q) * proj(P, V[t_k(q)])        (u, v, depth) in pixels,

using the same rows (triangle id + barycentrics) for prediction and ground truth. Weak perspective
is affine, so this equals projecting the barycentric surface point. The losses are mean squared
3D screen distances over the sampled foreground pixels:

    L_pose = mean_q |F_q(P_pred, V_gt) - F_q(P_gt, V_gt)|^2        (Eq. 13, only pose varies)
    L_geo  = mean_q |F_q(P_gt, V_pred) - F_q(P_gt, V_gt)|^2        (Eq. 14, only shape varies)
    L_col  = mean_q |sum_k b_k(q) c_pred[t_k(q)] - I(q)|^2         (Eq. 16, albedo * SH shading)

Self-balancing (Eq. 15 and 17): each term is weighted by ``w_i = (1 / l_i) / sum_j (1 / l_j)``
with the *detached* magnitudes ``l_i``, so every weighted term ``w_i * l_i`` has the same value and
the gradients of all terms contribute equally regardless of their units.

The ground-truth rows are computed in numpy with the numba rasterizer
(:func:`gt_pixel_rows`, typically inside the dataset so DataLoader workers do it); everything
applied to predictions is differentiable torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from face3d_ros.geometry.camera import project, project_np, rotate
from face3d_ros.geometry.normals import vertex_normals
from face3d_ros.geometry.sh import sh_shading
from face3d_ros.render.rasterizer import rasterize

__all__ = [
    "PixelRows",
    "color_loss",
    "fine_loss",
    "gt_pixel_rows",
    "mean_vertex_distance",
    "geometric_output_weights",
    "param_mse_loss",
    "pose_geo_losses",
    "project_rows",
    "self_balanced",
]

BALANCE_EPS = 1e-8


@dataclass
class PixelRows:
    """Sampled foreground pixels of ground-truth renders (padded to a common count).

    Attributes:
        triangle: [B, P] long triangle ids (0 where padded).
        bary: [B, P, 3] float32 barycentric weights (0 where padded).
        pixel: [B, P, 2] long (row, col) of each pixel.
        valid: [B, P] bool, False for padding.
    """

    triangle: torch.Tensor
    bary: torch.Tensor
    pixel: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def from_batch(cls, batch: Mapping[str, torch.Tensor]) -> PixelRows:
        """Read ``rows_triangle``, ``rows_bary``, ``rows_pixel``, ``rows_valid`` from a batch.

        Args:
            batch: Collated batch.

        Returns:
            The rows.
        """
        return cls(
            batch["rows_triangle"].long(),
            batch["rows_bary"].float(),
            batch["rows_pixel"].long(),
            batch["rows_valid"].bool(),
        )

    def to(self, device: torch.device | str) -> PixelRows:
        """Move to a device.

        Args:
            device: Target device.

        Returns:
            A moved copy.
        """
        return PixelRows(
            self.triangle.to(device),
            self.bary.to(device),
            self.pixel.to(device),
            self.valid.to(device),
        )


def gt_pixel_rows(
    vertices: np.ndarray,
    triangles: np.ndarray,
    pose: np.ndarray,
    height: int,
    width: int,
    max_pixels: int,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Rasterize a ground-truth face and sample up to ``max_pixels`` foreground pixels.

    Args:
        vertices: [N, 3] ground-truth vertices (mm, model space).
        triangles: [F, 3] int triangles.
        pose: [6] ground-truth pose in the image's pixels.
        height: Image height.
        width: Image width.
        max_pixels: Number of rows returned (padded with ``valid = False``).
        rng: Random generator for the subsampling; None takes an evenly strided subset.

    Returns:
        ``rows_triangle`` [P] int64, ``rows_bary`` [P, 3] float32, ``rows_pixel`` [P, 2] int64,
        ``rows_valid`` [P] bool with P = ``max_pixels``.
    """
    screen = project_np(np.asarray(vertices, np.float32), np.asarray(pose, np.float32))
    frags = rasterize(
        screen.astype(np.float32), np.asarray(triangles, np.int32), int(height), int(width)
    )
    rows, cols = np.nonzero(frags.triangle_id >= 0)
    count = rows.size
    if count > max_pixels:
        if rng is None:
            pick = np.linspace(0, count - 1, max_pixels).round().astype(np.int64)
        else:
            pick = np.sort(rng.choice(count, size=max_pixels, replace=False))
        rows, cols = rows[pick], cols[pick]
    n = rows.size
    tri = np.zeros(max_pixels, np.int64)
    bary = np.zeros((max_pixels, 3), np.float32)
    pix = np.zeros((max_pixels, 2), np.int64)
    valid = np.zeros(max_pixels, bool)
    tri[:n] = frags.triangle_id[rows, cols]
    bary[:n] = frags.barycentric[rows, cols]
    pix[:n, 0], pix[:n, 1] = rows, cols
    valid[:n] = True
    return {"rows_triangle": tri, "rows_bary": bary, "rows_pixel": pix, "rows_valid": valid}


def _interpolate_rows(
    values: torch.Tensor, triangles: torch.Tensor, rows: PixelRows
) -> torch.Tensor:
    """Barycentric interpolation of per-vertex values at the sampled pixels.

    Args:
        values: [B, N, C] per-vertex values.
        triangles: [F, 3] long.
        rows: Pixel rows with B samples.

    Returns:
        [B, P, C].
    """
    corner_ids = triangles[rows.triangle]  # [B, P, 3]
    b, p, _ = corner_ids.shape
    c = values.shape[-1]
    flat = corner_ids.reshape(b, p * 3, 1).expand(b, p * 3, c)
    corners = torch.gather(values, 1, flat).reshape(b, p, 3, c)
    return (rows.bary.unsqueeze(-1) * corners).sum(dim=2)


def project_rows(
    vertices: torch.Tensor, pose: torch.Tensor, triangles: torch.Tensor, rows: PixelRows
) -> torch.Tensor:
    """Pixel-level projection F(pose, vertices) of Eq. 11.

    Args:
        vertices: [B, N, 3] mm.
        pose: [B, 6].
        triangles: [F, 3] long.
        rows: Ground-truth pixel rows.

    Returns:
        [B, P, 3] screen points (u, v, depth) in pixels.
    """
    return _interpolate_rows(project(vertices, pose), triangles, rows)


def _masked_mean(sq: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of per-row values over valid rows, averaged over the batch.

    Args:
        sq: [B, P] values.
        valid: [B, P] bool.

    Returns:
        Scalar.
    """
    w = valid.to(sq.dtype)
    per_sample = (sq * w).sum(dim=1) / torch.clamp(w.sum(dim=1), min=1.0)
    return per_sample.mean()


def pose_geo_losses(
    pred_vertices: torch.Tensor,
    pred_pose: torch.Tensor,
    gt_vertices: torch.Tensor,
    gt_pose: torch.Tensor,
    triangles: torch.Tensor,
    rows: PixelRows,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_pose and L_geo (Eq. 13-14) through the pixel-level projection.

    Args:
        pred_vertices: [B, N, 3] predicted shape (mm).
        pred_pose: [B, 6] predicted pose.
        gt_vertices: [B, N, 3] ground-truth shape.
        gt_pose: [B, 6] ground-truth pose.
        triangles: [F, 3] long.
        rows: Ground-truth pixel rows.

    Returns:
        ``(l_pose, l_geo)`` scalars in pixels^2.
    """
    with torch.no_grad():
        target = project_rows(gt_vertices, gt_pose, triangles, rows)
    by_pose = project_rows(gt_vertices.detach(), pred_pose, triangles, rows)
    by_geo = project_rows(pred_vertices, gt_pose.detach(), triangles, rows)
    l_pose = _masked_mean((by_pose - target).square().sum(-1), rows.valid)
    l_geo = _masked_mean((by_geo - target).square().sum(-1), rows.valid)
    return l_pose, l_geo


def color_loss(
    pred_vertices: torch.Tensor,
    pred_albedo: torch.Tensor,
    pred_gamma: torch.Tensor,
    angles: torch.Tensor,
    triangles: torch.Tensor,
    rows: PixelRows,
    image: torch.Tensor,
) -> torch.Tensor:
    """L_col (Eq. 16): re-rendered colour with predicted albedo and SH vs the input image.

    The predicted face is shaded per vertex (albedo * SH irradiance of the predicted normals) and
    sampled at the ground-truth render's pixels with the ground-truth rows (the GT mask).

    Args:
        pred_vertices: [B, N, 3] predicted shape (for the normals).
        pred_albedo: [B, N, 3] predicted albedo in [0, 1].
        pred_gamma: [B, 27] predicted SH coefficients (lighting in the camera frame).
        angles: [B, 3] rotation (pitch, yaw, roll) that takes the normals to the camera frame
            (the ground-truth pose's, so L_col does not move the pose).
        triangles: [F, 3] long.
        rows: Ground-truth pixel rows.
        image: [B, 3, H, W] input image in [0, 1].

    Returns:
        Scalar mean squared RGB error.
    """
    normals = rotate(vertex_normals(pred_vertices, triangles), angles)
    colors = pred_albedo * sh_shading(normals, pred_gamma)
    rendered = _interpolate_rows(colors, triangles, rows)  # [B, P, 3]
    b = image.shape[0]
    batch_idx = torch.arange(b, device=image.device).unsqueeze(1)
    target = image[batch_idx, :, rows.pixel[..., 0], rows.pixel[..., 1]]  # [B, P, 3]
    return _masked_mean((rendered - target).square().sum(-1), rows.valid)


def self_balanced(
    terms: Mapping[str, torch.Tensor], eps: float = BALANCE_EPS
) -> tuple[torch.Tensor, dict[str, float]]:
    """Combine loss terms with self-balancing weights (Eq. 15 for two terms, Eq. 17 for three).

    ``w_i = (1 / (l_i + eps)) / sum_j (1 / (l_j + eps))`` from the detached magnitudes, so all
    weighted terms ``w_i * l_i`` are (up to eps) equal and the weights sum to 1.

    Args:
        terms: Name -> scalar loss.
        eps: Guards against division by zero (all terms zero gives equal weights).

    Returns:
        ``(total, weights)``; total is differentiable, weights are floats.

    Raises:
        ValueError: On no terms.
    """
    if not terms:
        raise ValueError("self_balanced needs at least one term")
    names = list(terms)
    mags = torch.stack([terms[n].detach().float() for n in names])
    inv = 1.0 / (mags + eps)
    weights = inv / inv.sum()
    total = sum(w * terms[n] for w, n in zip(weights, names, strict=True))
    return total, {n: float(w) for n, w in zip(names, weights, strict=True)}


def param_mse_loss(
    pred_norm: torch.Tensor, target_norm: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Baseline: MSE of the normalised parameter vectors (Table II "MSE").

    Args:
        pred_norm: [B, P] normalised predictions.
        target_norm: [B, P] normalised targets.
        weights: Optional [P] per-output weights (e.g. :func:`geometric_output_weights`);
            None = all 1 (the paper's baseline).

    Returns:
        Scalar: ``mean_b mean_p w_p (pred - target)^2``.
    """
    sq = (pred_norm - target_norm).square()
    if weights is not None:
        sq = sq * weights
    return sq.mean()


def geometric_output_weights(
    model: torch.nn.Module,
    groups: tuple[tuple[str, int], ...],
    output_std: torch.Tensor,
) -> torch.Tensor:
    """Weights of the normalised parameter MSE that follow each coefficient's effect on the face.

    In the normalised MSE every output counts the same, but one normalised unit of the default
    model's ``jaw_open`` moves the face region by 3.3 mm RMS and one of a residual expression
    mode by under 0.1 mm: the few coefficients that shape a smile or an open mouth get a tiny
    share of the gradient. Here an identity or expression output's weight is the RMS (over the
    face-region vertices, ``face_mask``) of the vertex displacement in mm that one normalised
    unit of it causes (basis row x sigma x output std), divided by the mean of these over all
    identity and expression outputs, so the id + exp weights average 1. Every other output
    (albedo, SH, pose, pose deltas) keeps weight 1.

    Args:
        model: The :class:`~face3d_ros.model.morphable.MorphableModel` (``id_basis`` /
            ``exp_basis`` [K, 3N], sigma-scaled; ``face_mask`` [N]).
        groups: The net's output groups ``(name, size)`` in output order.
        output_std: [P] the net's output std (normalised unit -> coefficient units).

    Returns:
        [P] float32 weights on ``output_std``'s device.

    Raises:
        ValueError: Groups and output_std disagree in size, or no id / exp group.
    """
    total = sum(size for _, size in groups)
    if int(output_std.numel()) != total:
        raise ValueError(f"output groups have {total} outputs, output_std has {output_std.numel()}")
    mask = model.face_mask.to(output_std.device, torch.float32)
    mask = mask / mask.sum().clamp_min(1e-12)
    bases = {"id": model.id_basis, "exp": model.exp_basis}
    weights = torch.ones(total, dtype=torch.float32, device=output_std.device)
    shaped: list[slice] = []
    start = 0
    for name, size in groups:
        sl = slice(start, start + size)
        start += size
        if name not in bases:
            continue
        basis = bases[name][:size].to(output_std.device, torch.float32)
        per_vertex = basis.reshape(size, -1, 3).square().sum(-1)  # [K, N] mm^2 per unit
        weights[sl] = (per_vertex * mask).sum(-1).sqrt() * output_std[sl].float().abs()
        shaped.append(sl)
    if not shaped:
        raise ValueError("no id or exp output group to weight")
    mean = torch.cat([weights[sl] for sl in shaped]).mean().clamp_min(1e-12)
    for sl in shaped:
        weights[sl] = weights[sl] / mean
    return weights


def fine_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked Euclidean (squared) loss of FineNet's displacement map.

    Args:
        pred: [B, 1, H, W] prediction.
        target: [B, 1, H, W] target.
        mask: [B, 1, H, W] (bool or {0, 1}); only these pixels count.

    Returns:
        Scalar mean over the masked pixels of each sample, averaged over the batch.
    """
    w = mask.to(pred.dtype)
    per = ((pred - target).square() * w).flatten(1).sum(1) / torch.clamp(w.flatten(1).sum(1), 1.0)
    return per.mean()


def mean_vertex_distance(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean vertex distance (mm), averaged over vertices and batch.

    Args:
        pred_vertices: [B, N, 3].
        gt_vertices: [B, N, 3].

    Returns:
        Scalar.
    """
    return (pred_vertices - gt_vertices).norm(dim=-1).mean()
