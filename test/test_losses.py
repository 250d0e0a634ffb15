# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Losses of Eq. 11-17: zero at the ground truth, positive otherwise, gradients, balancing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.geometry.camera import rotate
from face3d_ros.geometry.normals import vertex_normals
from face3d_ros.geometry.sh import default_gamma, sh_shading
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from training.train.losses import (
    PixelRows,
    color_loss,
    fine_loss,
    gt_pixel_rows,
    param_mse_loss,
    pose_geo_losses,
    self_balanced,
)

SIZE = 48


@pytest.fixture(scope="module")
def setup():
    """Synthetic model, two GT faces, their poses and GT pixel rows."""
    model = MorphableModel(make_synthetic_model())
    g = torch.Generator().manual_seed(0)
    alpha_id = 0.5 * torch.randn(2, model.n_id, generator=g)
    alpha_exp = 0.5 * torch.randn(2, model.n_exp, generator=g)
    pose = torch.tensor([[0.1, -0.2, 0.05, 24.0, 23.0, 0.2], [-0.05, 0.3, 0.0, 25.0, 24.5, 0.22]])
    verts = model.shape(alpha_id, alpha_exp)
    tris = model.triangles.numpy()
    rows = [
        gt_pixel_rows(verts[b].numpy(), tris, pose[b].numpy(), SIZE, SIZE, 300, None)
        for b in range(2)
    ]
    batch = {k: torch.from_numpy(np.stack([r[k] for r in rows])) for k in rows[0]}
    return model, alpha_id, alpha_exp, pose, verts, PixelRows.from_batch(batch)


def test_rows_cover_the_face(setup):
    *_, rows = setup
    assert rows.valid.sum(1).min() > 100
    assert torch.allclose(rows.bary[rows.valid].sum(-1), torch.ones(1), atol=1e-4)
    assert rows.pixel.max() < SIZE


def test_pose_geo_zero_at_gt_and_positive_otherwise(setup):
    model, alpha_id, alpha_exp, pose, verts, rows = setup
    tri = model.triangles
    l_pose, l_geo = pose_geo_losses(verts, pose, verts, pose, tri, rows)
    assert float(l_pose) == 0.0 and float(l_geo) == 0.0

    moved = pose + torch.tensor([0.05, 0.0, 0.0, 1.0, 0.0, 0.0])
    l_pose, l_geo = pose_geo_losses(verts, moved, verts, pose, tri, rows)
    assert float(l_pose) > 0.0 and float(l_geo) == 0.0

    other = model.shape(alpha_id + 0.3, alpha_exp)
    l_pose, l_geo = pose_geo_losses(other, pose, verts, pose, tri, rows)
    assert float(l_pose) == 0.0 and float(l_geo) > 0.0


def test_gradients_flow_to_pose_and_coefficients(setup):
    model, alpha_id, alpha_exp, pose, verts, rows = setup
    pred_pose = (pose + 0.01).clone().requires_grad_(True)
    pred_id = (alpha_id + 0.1).clone().requires_grad_(True)
    pred_exp = alpha_exp.clone().requires_grad_(True)
    pred_verts = model.shape(pred_id, pred_exp)
    l_pose, l_geo = pose_geo_losses(pred_verts, pred_pose, verts, pose, model.triangles, rows)
    total, weights = self_balanced({"pose": l_pose, "geo": l_geo})
    total.backward()
    assert pred_pose.grad.abs().sum() > 0
    assert pred_id.grad.abs().sum() > 0
    assert pred_exp.grad is not None
    assert abs(sum(weights.values()) - 1.0) < 1e-6


def test_color_loss_zero_at_gt_and_differentiable(setup):
    model, alpha_id, alpha_exp, pose, verts, rows = setup
    alpha_alb = torch.zeros(2, model.n_alb)
    gamma = torch.from_numpy(np.tile(default_gamma(), (2, 1))).float()
    gamma[:, 2] += 0.3  # some directional light
    # Ground-truth image: the shaded GT face written at the sampled pixels.
    normals = rotate(vertex_normals(verts, model.triangles), pose[:, :3])
    colors = model.albedo(alpha_alb) * sh_shading(normals, gamma)
    image = torch.zeros(2, 3, SIZE, SIZE)
    for b in range(2):
        v = rows.valid[b]
        corner = colors[b][model.triangles[rows.triangle[b][v]]]  # [P, 3, 3]
        pix = (rows.bary[b][v].unsqueeze(-1) * corner).sum(1)
        image[b, :, rows.pixel[b][v][:, 0], rows.pixel[b][v][:, 1]] = pix.T
    args = (model.triangles, rows, image)
    zero = color_loss(verts, model.albedo(alpha_alb), gamma, pose[:, :3], *args)
    assert float(zero) < 1e-10
    pred_alb = torch.full_like(alpha_alb, 0.5).requires_grad_(True)
    pred_gamma = (gamma * 0.8).requires_grad_(True)
    loss = color_loss(verts, model.albedo(pred_alb), pred_gamma, pose[:, :3], *args)
    assert float(loss.detach()) > 0
    loss.backward()
    assert pred_alb.grad.abs().sum() > 0 and pred_gamma.grad.abs().sum() > 0


def test_self_balancing_weights():
    a = torch.tensor(4.0, requires_grad=True)
    b = torch.tensor(0.01, requires_grad=True)
    c = torch.tensor(1.0, requires_grad=True)
    total, w = self_balanced({"pose": a, "geo": b, "col": c})
    assert abs(sum(w.values()) - 1.0) < 1e-6
    # every weighted term contributes the same value
    contrib = [w["pose"] * 4.0, w["geo"] * 0.01, w["col"] * 1.0]
    assert max(contrib) - min(contrib) < 1e-6
    total.backward()
    assert abs(float(a.grad) - w["pose"]) < 1e-6 and abs(float(b.grad) - w["geo"]) < 1e-6
    # Eq. 15 for two terms: w_pose = l_geo / (l_pose + l_geo)
    _, w2 = self_balanced({"pose": torch.tensor(3.0), "geo": torch.tensor(1.0)})
    assert abs(w2["pose"] - 0.25) < 1e-6
    zero, wz = self_balanced({"pose": torch.tensor(0.0), "geo": torch.tensor(0.0)})
    assert float(zero) == 0.0 and abs(wz["pose"] - 0.5) < 1e-6
    with pytest.raises(ValueError):
        self_balanced({})


def test_param_mse_and_fine_loss():
    x = torch.randn(3, 10)
    assert float(param_mse_loss(x, x)) == 0.0 and float(param_mse_loss(x + 1, x)) == 1.0
    target = torch.randn(2, 1, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    pred = target.clone()
    pred[mask == 0] += 100.0  # outside the mask: ignored
    assert float(fine_loss(pred, target, mask)) == 0.0
    pred = pred.requires_grad_(True)
    loss = fine_loss(pred + 0.5 * mask, target, mask)
    assert abs(float(loss.detach()) - 0.25) < 1e-6
    loss.backward()
    assert pred.grad[mask == 0].abs().sum() == 0 and pred.grad[mask > 0].abs().sum() > 0
