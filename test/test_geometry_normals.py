# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for face and vertex normals (orientation, sphere, gradients, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from face3d_ros.geometry.normals import face_normals, vertex_normals, vertex_normals_np
from face3d_ros.model.synthetic import make_synthetic_model


def test_single_triangle_ccw_points_to_plus_z() -> None:
    v = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]])
    tri = torch.tensor([[0, 1, 2]])
    np.testing.assert_allclose(face_normals(v, tri)[0, 0].numpy(), [0, 0, 1])
    np.testing.assert_allclose(vertex_normals(v, tri)[0].numpy(), [[0, 0, 1]] * 3)
    assert face_normals(v, tri, normalize=False)[0, 0, 2] == pytest.approx(1.0)  # 2 * area


def test_sphere_vertex_normals_are_radial() -> None:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(400, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    tri = ConvexHull(p).simplices
    v0, v1, v2 = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    flip = (np.cross(v1 - v0, v2 - v0) * v0).sum(1) < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    n = vertex_normals(torch.from_numpy(p * 30.0)[None], torch.from_numpy(tri))[0].numpy()
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-9)
    cos = (n * p).sum(1)
    assert cos.min() > 0.95 and cos.mean() > 0.99


def test_synthetic_face_normals_face_the_camera() -> None:
    m = make_synthetic_model()
    n = vertex_normals(torch.from_numpy(m.mean_shape)[None], torch.from_numpy(m.triangles))[0]
    assert n.shape == (m.n_vertices, 3)
    assert (n[:, 2] > 0).float().mean() > 0.95  # counter-clockwise from outside -> +z front


def test_isolated_and_degenerate_give_zero_not_nan() -> None:
    v = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [5, 5, 5]]], requires_grad=True)
    tri = torch.tensor([[0, 1, 2]])  # collinear
    n = vertex_normals(v, tri)
    assert torch.isfinite(n).all() and (n == 0).all()
    n.sum().backward()
    assert torch.isfinite(v.grad).all()


def test_gradcheck_and_errors() -> None:
    rng = np.random.default_rng(1)
    v = torch.tensor(rng.normal(size=(2, 5, 3)), requires_grad=True)
    tri = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 4], [1, 4, 3]])
    assert torch.autograd.gradcheck(lambda x: vertex_normals(x, tri), (v,))
    with pytest.raises(ValueError, match="vertices"):
        vertex_normals(torch.zeros(5, 3), tri)
    with pytest.raises(ValueError, match="out of range"):
        vertex_normals(torch.zeros(1, 3, 3), tri)


def test_numpy_vertex_normals_match_torch():
    data = make_synthetic_model()
    v = data.mean_shape + np.random.default_rng(0).normal(0, 0.5, data.mean_shape.shape)
    ref = vertex_normals(torch.from_numpy(v.astype(np.float32))[None], data.triangles)[0]
    got = vertex_normals_np(v, data.triangles)
    assert got.shape == v.shape and np.abs(got - ref.numpy()).max() < 1e-5
    lonely = np.vstack([v, [[0.0, 0.0, 0.0]]])  # an isolated vertex gets a zero normal
    assert np.all(vertex_normals_np(lonely, data.triangles)[-1] == 0)
    with pytest.raises(ValueError, match="out of range"):
        vertex_normals_np(v[:3], data.triangles)


def test_numpy_morphable_matches_torch():
    from face3d_ros.model.morphable import MorphableModel

    model = MorphableModel(make_synthetic_model())
    rng = np.random.default_rng(1)
    a_id = rng.normal(size=model.n_id).astype(np.float32)
    a_exp = rng.normal(size=model.n_exp).astype(np.float32)
    a_alb = rng.normal(size=model.n_alb).astype(np.float32)
    with torch.no_grad():
        shape = model.shape(torch.from_numpy(a_id[None]), torch.from_numpy(a_exp[None]))[0]
        albedo = model.albedo(torch.from_numpy(a_alb[None]))[0]
    assert np.abs(model.shape_np(a_id, a_exp) - shape.numpy()).max() < 1e-4
    assert np.abs(model.albedo_np(a_alb) - albedo.numpy()).max() < 1e-5
    assert model.numpy() is model.numpy()  # cached
    with pytest.raises(ValueError, match="alpha_exp"):
        model.shape_np(a_id, a_exp[:-1])

