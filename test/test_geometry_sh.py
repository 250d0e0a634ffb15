# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for SH irradiance: Ramamoorthi-Hanrahan constants, closed forms, a rendered sphere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from face3d_ros.geometry.sh import (
    default_gamma,
    directional_gamma,
    sh_basis,
    sh_basis_np,
    sh_shading,
)
from face3d_ros.render.maps import render_tensors


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _rh_irradiance(L: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Ramamoorthi & Hanrahan (2001) Eq. 13 with their constants c1..c5, L[k] in our order."""
    c1, c2, c3, c4, c5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    l00, l1m1, l10, l11, l2m2, l2m1, l20, l21, l22 = L
    return (
        c1 * l22 * (x**2 - y**2)
        + c3 * l20 * z**2
        + c4 * l00
        - c5 * l20
        + 2 * c1 * (l2m2 * x * y + l21 * x * z + l2m1 * y * z)
        + 2 * c2 * (l11 * x + l1m1 * y + l10 * z)
    )


def test_matches_ramamoorthi_hanrahan_formula() -> None:
    rng = np.random.default_rng(0)
    n = _unit(500)
    gamma = rng.normal(size=27)
    got = sh_shading(torch.from_numpy(n), torch.from_numpy(gamma)).numpy()
    for c in range(3):
        np.testing.assert_allclose(
            got[:, c], _rh_irradiance(gamma[9 * c : 9 * c + 9], n), atol=2e-5
        )


def test_default_gamma_is_unit_white_ambient() -> None:
    g = default_gamma()
    assert g.shape == (27,) and g.dtype == np.float32
    s = sh_shading(torch.from_numpy(_unit(100)), torch.from_numpy(g)).numpy()
    np.testing.assert_allclose(s, 1.0, atol=1e-6)


def test_directional_light_closed_form_and_clamped_cosine() -> None:
    d = np.array([0.3, 0.5, 0.8])
    d = d / np.linalg.norm(d)
    n = _unit(2000, seed=1)
    t = n @ d
    s = sh_shading(torch.from_numpy(n), torch.from_numpy(directional_gamma(d)).double()).numpy()
    closed = 0.25 + 0.5 * t + 5.0 / 32.0 * (3 * t**2 - 1)
    for c in range(3):
        np.testing.assert_allclose(s[:, c], closed, atol=1e-5)
    # The band-2 approximation of max(0, n.d) is within ~0.1 everywhere (known bound 0.094).
    assert np.abs(s[:, 0] - np.maximum(t, 0)).max() < 0.1
    # Colour and ambient are per channel and additive.
    g = directional_gamma(d, color=[1.0, 0.5, 0.0], ambient=[0.0, 0.0, 0.3])
    s2 = sh_shading(torch.from_numpy(n), torch.from_numpy(g).double()).numpy()
    np.testing.assert_allclose(s2[:, 1], 0.5 * closed, atol=1e-5)
    np.testing.assert_allclose(s2[:, 2], 0.3, atol=1e-5)


def test_numpy_torch_basis_agree_and_batched_gamma() -> None:
    n = _unit(10)
    np.testing.assert_allclose(sh_basis(torch.from_numpy(n)).numpy(), sh_basis_np(n), atol=1e-12)
    g = torch.from_numpy(np.random.default_rng(2).normal(size=(2, 27)))
    nb = torch.from_numpy(np.stack([n, n[::-1].copy()]))
    out = sh_shading(nb, g)
    assert out.shape == (2, 10, 3)
    np.testing.assert_allclose(out[1].numpy(), sh_shading(nb[1], g[1]).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="gamma"):
        sh_shading(nb, torch.zeros(26))
    with pytest.raises(ValueError, match="same B"):
        sh_shading(nb, torch.zeros(3, 27))


def test_shading_gradcheck() -> None:
    n = torch.from_numpy(_unit(6)).requires_grad_(True)
    g = torch.randn(27, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sh_shading, (n, g))


def _sphere(n_points: int = 2500) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere: Fibonacci points, convex-hull triangles oriented counter-clockwise outside."""
    i = np.arange(n_points) + 0.5
    phi = np.arccos(1 - 2 * i / n_points)
    theta = np.pi * (1 + 5**0.5) * i
    pts = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
    tri = ConvexHull(pts).simplices.astype(np.int64)
    v0, v1, v2 = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    flip = (np.cross(v1 - v0, v2 - v0) * v0).sum(1) < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    return pts, tri


def test_rendered_sphere_matches_closed_form() -> None:
    pts, tri = _sphere()
    radius, size = 50.0, 96
    d = np.array([-0.4, 0.6, 0.7])
    d /= np.linalg.norm(d)
    pose = torch.tensor([[0.0, 0.0, 0.0, 47.5, 47.5, 40.0 / radius]], dtype=torch.float64)
    verts = torch.from_numpy(pts * radius)[None]
    out = render_tensors(
        verts,
        torch.full_like(verts, 0.8),
        torch.from_numpy(directional_gamma(d, ambient=0.1)).double()[None],
        pose,
        tri,
        size,
        size,
    )
    img = out.image[0].numpy()
    mask = out.mask[0].numpy()
    jj, ii = np.meshgrid(np.arange(size), np.arange(size))
    x, y = (jj - 47.5) / 40.0, -(ii - 47.5) / 40.0
    rho2 = x**2 + y**2
    assert np.array_equal(mask[rho2 < 0.95], np.ones((rho2 < 0.95).sum(), bool))
    assert not mask[rho2 > 1.05].any()
    inner = rho2 < 0.85
    n = np.stack([x, y, np.sqrt(np.clip(1 - rho2, 0, None))], -1)
    t = n @ d
    expected = 0.8 * (0.25 + 0.5 * t + 5.0 / 32.0 * (3 * t**2 - 1) + 0.1)
    err = np.abs(img[..., 0] - expected)[inner]
    assert err.max() < 0.02, err.max()
    # Normal map agrees with the analytic sphere normals.
    nm = out.normals[0].numpy()
    assert (nm[inner] * n[inner]).sum(-1).min() > 0.995
    # Depth map is the sphere's front surface (pixels; larger = closer).
    np.testing.assert_allclose(out.depth[0].numpy()[inner], 40.0 * n[inner][:, 2], atol=0.3)
