# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for face and vertex normals (orientation, sphere, gradients, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from face3d_ros.geometry.normals import face_normals, vertex_normals
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
