# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for render_face and the maps: image under white ambient, depth, normals, PNCC, masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.sh import directional_gamma
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.params import FaceParams
from face3d_ros.render.interpolate import interpolate_np
from face3d_ros.render.maps import (
    pncc_colors,
    render_depth,
    render_face,
    render_pncc,
    render_tensors,
    vertex_visibility,
)


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return MorphableModel(make_synthetic_model())


def _params(model: MorphableModel, pose: list[float]) -> FaceParams:
    return FaceParams.neutral(model, pose=np.array(pose, np.float32))


def test_white_ambient_image_is_albedo(model: MorphableModel) -> None:
    p = _params(model, [0.1, 0.2, 0.0, 60.0, 64.0, 0.5])
    out = render_face(model, p, 128, 120)
    assert out.image.shape == (128, 120, 3) and out.image.dtype == np.float32
    assert out.mask.dtype == bool and 3000 < out.mask.sum() < 128 * 120
    albedo = interpolate_np(model.mean_albedo.numpy(), model.triangles.numpy(), out.fragments)
    np.testing.assert_allclose(out.image, albedo, atol=1e-5)
    assert (out.image[~out.mask] == 0).all()


def test_depth_normals_and_mask(model: MorphableModel) -> None:
    pose = [0.0, 0.0, 0.0, 64.0, 64.0, 0.5]
    out = render_face(model, _params(model, pose), 128, 128)
    screen = project_np(model.mean_shape.numpy(), np.array(pose))
    np.testing.assert_allclose(out.screen_vertices, screen, atol=1e-4)
    assert (out.depth[~out.mask] == 0).all()
    # Frontal: the nose tip region is the closest; depth in pixels = s * z.
    assert out.depth.max() == pytest.approx(0.5 * model.mean_shape[:, 2].max().item(), rel=0.02)
    depth2, mask2 = render_depth(screen, model.triangles.numpy(), 128, 128)
    np.testing.assert_array_equal(mask2, out.mask)
    np.testing.assert_allclose(depth2, out.depth, atol=1e-3)
    n = out.normals[out.mask]
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
    assert (n[:, 2] > 0).mean() > 0.95  # frontal face: normals towards the camera


def test_lighting_from_the_right_brightens_the_right(model: MorphableModel) -> None:
    p = _params(model, [0.0, 0.0, 0.0, 64.0, 64.0, 0.5])
    p = p.copy(gamma=directional_gamma([1.0, 0.0, 0.3]))
    img = render_face(model, p, 128, 128).image[..., 0]
    assert img[40:90, 75:100].mean() > img[40:90, 28:53].mean() + 0.1


def test_pncc(model: MorphableModel) -> None:
    colors = pncc_colors(model)
    assert colors.shape == (model.n_vertices, 3)
    np.testing.assert_allclose(colors.min(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(colors.max(0), 1.0, atol=1e-6)
    mean = model.mean_shape.numpy()
    i = int(np.argmax(mean[:, 0]))
    assert colors[i, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(pncc_colors(model.data), colors)  # FaceModelData works too
    p = _params(model, [0.0, 0.3, 0.1, 64.0, 64.0, 0.5])
    out = render_face(model, p, 128, 128, with_pncc=True)
    assert out.pncc is not None and out.pncc.shape == (128, 128, 3)
    assert (out.pncc[~out.mask] == 0).all() and out.pncc.min() >= 0 and out.pncc.max() <= 1
    np.testing.assert_allclose(
        render_pncc(model, out.screen_vertices, 128, 128), out.pncc, atol=1e-6
    )
    # Image left is the subject's right (small x): red grows from left to right.
    rows = out.pncc[60:70]
    m = out.mask[60:70]
    cols = np.nonzero(m.any(0))[0]
    left, right = cols[:5], cols[-5:]
    assert rows[:, left, 0][m[:, left]].mean() < rows[:, right, 0][m[:, right]].mean() - 0.5


def test_vertex_visibility_under_yaw(model: MorphableModel) -> None:
    out = render_face(model, _params(model, [0.0, 1.2, 0.0, 64.0, 64.0, 0.5]), 128, 128)
    vis = vertex_visibility(model.triangles.numpy(), out.fragments, model.n_vertices)
    x = model.mean_shape[:, 0].numpy()
    # Yaw +1.2 rad turns the nose to +x (image right): the subject's left (+x) cheek turns
    # away from the camera and the right (-x) cheek faces it.
    assert vis[x < -40].mean() > 0.8
    assert vis[x > 40].mean() < 0.5


def test_render_tensors_batch_and_errors(model: MorphableModel) -> None:
    verts = model.shape(torch.zeros(2, model.n_id), torch.zeros(2, model.n_exp))
    alb = model.albedo(torch.zeros(2, model.n_alb))
    gamma = torch.from_numpy(np.stack([directional_gamma([0, 0, 1])] * 2))
    pose = torch.tensor([[0, 0, 0, 32, 32, 0.25], [0, 0.5, 0, 32, 32, 0.25]])
    out = render_tensors(verts, alb, gamma, pose, model.triangles, 64, 64)
    assert out.image.shape == (2, 64, 64, 3) and out.mask.shape == (2, 64, 64)
    assert not torch.equal(out.mask[0], out.mask[1])
    with pytest.raises(ValueError, match="gamma"):
        render_tensors(verts, alb, gamma[:1], pose, model.triangles, 64, 64)
    with pytest.raises(ValueError, match="match"):
        render_face(model, FaceParams.neutral((1, 1, 1)), 64, 64)
