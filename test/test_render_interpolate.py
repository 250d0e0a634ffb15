# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for differentiable interpolation and gradients of the render path (gradcheck, float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.geometry.camera import project
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.render.interpolate import interpolate, interpolate_np, pixel_barycentrics
from face3d_ros.render.maps import render_tensors
from face3d_ros.render.rasterizer import rasterize, rasterize_batch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Finite differences run thousands of tiny ops: one thread avoids contention overhead."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    m = make_synthetic_model(n_id=3, n_exp=2, n_alb=2, resolution=8)
    verts = torch.from_numpy(m.mean_shape.astype(np.float64))[None]
    pose = torch.tensor([[0.15, -0.25, 0.1, 9.5, 10.0, 0.09]], dtype=torch.float64)
    return m, verts, pose


def test_interpolating_screen_positions_gives_pixel_centres(tiny) -> None:
    m, verts, pose = tiny
    screen = project(verts, pose)[0]
    frag = rasterize(screen, m.triangles, 20, 20)
    uv = interpolate(screen[:, :2], m.triangles, frag).numpy()
    ii, jj = np.nonzero(frag.mask)
    assert len(ii) > 100
    np.testing.assert_allclose(uv[ii, jj], np.stack([jj, ii], 1), atol=1e-4)
    assert np.all(uv[~frag.mask] == 0)
    np.testing.assert_allclose(
        interpolate_np(screen[:, :2].numpy(), m.triangles, frag), uv, atol=1e-4
    )
    bary = pixel_barycentrics(screen, m.triangles, frag).numpy()
    np.testing.assert_allclose(bary, frag.barycentric, atol=1e-5)


def test_batched_interpolation_matches_single(tiny) -> None:
    m, verts, pose = tiny
    pose2 = torch.cat([pose, pose + torch.tensor([[0.1, 0.2, 0.0, 1.0, -1.0, 0.01]])])
    screen = project(verts.expand(2, -1, -1), pose2)
    fb = rasterize_batch(screen, m.triangles, 20, 20)
    attr = torch.randn(2, m.n_vertices, 4, dtype=torch.float64)
    out = interpolate(attr, m.triangles, fb, background=-1.0)
    assert out.shape == (2, 20, 20, 4)
    for b in range(2):
        fs = rasterize(screen[b], m.triangles, 20, 20)
        np.testing.assert_allclose(
            out[b].numpy(), interpolate(attr[b], m.triangles, fs, background=-1.0).numpy()
        )
        np.testing.assert_allclose(
            interpolate_np(attr.numpy(), m.triangles, fb)[b][fs.mask],
            out[b].numpy()[fs.mask],
            atol=1e-5,
        )
    with pytest.raises(ValueError, match="attributes"):
        interpolate(attr[0], m.triangles, fb)
    with pytest.raises(ValueError, match="attributes"):
        interpolate(attr, m.triangles, rasterize(screen[0], m.triangles, 20, 20))


def test_gradcheck_interpolation_and_barycentrics(tiny) -> None:
    m, verts, pose = tiny
    screen = project(verts, pose)[0].detach()
    frag = rasterize(screen, m.triangles, 20, 20)
    w = torch.randn(3, 20, 20, 3, dtype=torch.float64)

    def readout(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple((x * wk).sum() for wk in w)  # 3 random linear functionals of the map

    attr = torch.randn(m.n_vertices, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: readout(interpolate(a, m.triangles, frag)), (attr,))
    s = screen.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: readout(pixel_barycentrics(x, m.triangles, frag)), (s,)
    )


def test_gradcheck_render_wrt_vertices_albedo_gamma_pose(tiny) -> None:
    m, verts, pose = tiny
    rng = np.random.default_rng(0)
    albedo = torch.tensor(rng.uniform(0.3, 0.8, size=(1, m.n_vertices, 3)), requires_grad=True)
    gamma = torch.tensor(rng.normal(scale=0.3, size=(1, 27)), requires_grad=True)
    gamma.data[0, [0, 9, 18]] += 1.0
    v = verts.clone().requires_grad_(True)
    p = pose.clone().requires_grad_(True)
    frag = render_tensors(verts, albedo.detach(), gamma.detach(), pose, m.triangles, 20, 20)
    frag = frag.fragments

    # Random linear read-outs keep the full (not fast-mode) gradcheck cheap: 3 outputs.
    w_img = torch.tensor(rng.normal(size=(1, 20, 20, 3)))
    w_depth = torch.tensor(rng.normal(size=(1, 20, 20)))
    w_nrm = torch.tensor(rng.normal(size=(1, 20, 20, 3)))

    def fn(v, a, g, p):
        out = render_tensors(
            v, a, g, p, m.triangles, 20, 20, fragments=frag, differentiable_barycentrics=True
        )
        return (
            (out.image * w_img).sum(),
            (out.depth * w_depth).sum(),
            (out.normals * w_nrm).sum(),
        )

    assert torch.autograd.gradcheck(fn, (v, albedo, gamma, p), atol=1e-5)
    # Every input actually receives a non-zero gradient through the image.
    img = render_tensors(v, albedo, gamma, p, m.triangles, 20, 20, fragments=frag).image
    grads = torch.autograd.grad(img.square().sum(), (v, albedo, gamma, p))
    assert all(g.abs().sum() > 0 for g in grads)
    assert grads[3][0, :3].abs().sum() > 0  # rotation changes the shading of camera-frame normals
