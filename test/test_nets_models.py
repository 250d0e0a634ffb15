# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Acceptance tests of the three nets: output shapes from the model dims, zero heads = mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets import CoarseNet, FineNet, OutputSpec, ResNet18, TrackingNet, UNet
from face3d_ros.nets.coarse_net import coarse_groups
from face3d_ros.nets.tracking_net import apply_pose_delta, tracking_groups

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model():
    """The tiny synthetic face model."""
    return make_synthetic_model()


def _stats(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=size).astype(np.float32) * 10
    std = rng.uniform(0.1, 3.0, size=size).astype(np.float32)
    return mean, std


def test_coarse_output_shape_and_mean(model):
    size = model.n_id + model.n_exp + 6
    mean, std = _stats(size, 0)
    net = CoarseNet(model.n_id, model.n_exp, mean, std).eval()
    assert net.output_size == size
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        z = net(x)
        params = net.predict(x)
    assert z.shape == (2, size)
    assert torch.equal(z, torch.zeros_like(z))
    assert torch.equal(params, torch.from_numpy(mean).expand(2, -1))
    groups = net.split(params)
    assert list(groups) == ["id", "exp", "rotation", "translation", "scale"]
    assert groups["id"].shape == (2, model.n_id) and groups["scale"].shape == (2, 1)


def test_tracking_output_shape_and_mean(model):
    size = model.n_id + model.n_exp + model.n_alb + 27 + 6
    mean, std = _stats(size, 1)
    net = TrackingNet(model.n_id, model.n_exp, model.n_alb, mean, std).eval()
    x = torch.rand(1, 6, 64, 64)
    with torch.no_grad():
        params = net.predict(x)
    assert params.shape == (1, size)
    assert torch.equal(params[0], torch.from_numpy(mean))
    assert net.spec.slices()["sh"] == slice(size - 33, size - 6)
    prev = torch.arange(6.0)[None]
    assert torch.equal(apply_pose_delta(prev, torch.zeros(1, 6)), prev)


def test_paper_sizes():
    assert CoarseNet(100, 79).output_size == 185
    assert TrackingNet(100, 79, 100).output_size == 312


def test_fine_output_shape_and_zero_init():
    net = FineNet().eval()
    x = torch.rand(1, 2, 64, 64)
    x[:, 1] *= 200.0
    with torch.no_grad():
        out = net.predict(x)
    assert out.shape == (1, 1, 64, 64)
    assert torch.equal(out, torch.zeros_like(out))


def test_heads_train_and_roundtrip_normalisation(model):
    net = CoarseNet(model.n_id, model.n_exp, *_stats(model.n_id + model.n_exp + 6, 2))
    params = torch.randn(3, net.output_size)
    assert torch.allclose(net.denormalize(net.normalize(params)), params, atol=1e-5)
    loss = net(torch.rand(2, 3, 32, 32)).square().sum() + (net(torch.rand(2, 3, 32, 32)) - 1).sum()
    loss.backward()
    assert all(h.weight.grad is not None for h in net.heads.heads.values())


def test_wrong_input_channels_is_clear_error():
    with pytest.raises(ValueError, match="expected input"):
        ResNet18(6)(torch.rand(1, 3, 32, 32))


def test_output_spec_validation():
    with pytest.raises(ValueError, match="entries"):
        OutputSpec(coarse_groups(2, 2), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="> 0"):
        OutputSpec(coarse_groups(2, 2), np.zeros(10), np.zeros(10))
    spec = OutputSpec.standard(tracking_groups(2, 3, 4))
    assert OutputSpec.from_dict(spec.to_dict()).groups == spec.groups
    with pytest.raises(ValueError, match="CoarseNet"):
        CoarseNet.from_spec(spec)


def test_unet_is_small_and_keeps_resolution():
    net = UNet(2, 1, (16, 32, 64, 128))
    assert sum(p.numel() for p in net.parameters()) < 500_000
    assert net(torch.rand(1, 2, 32, 48)).shape == (1, 1, 32, 48)


def test_nets_carry_their_contract(model):
    from face3d_ros.nets.contract import DEFAULT_CONTRACT, ContractError

    coarse = CoarseNet(model.n_id, model.n_exp)
    assert coarse.contract == DEFAULT_CONTRACT.coarse and coarse.input_size == 224
    small = DEFAULT_CONTRACT.coarse.replace(input_size=192)
    net = CoarseNet(model.n_id, model.n_exp, contract=small)
    assert net.input_size == 192 and net.predict(torch.rand(1, 3, 192, 192)).shape[1] == (
        model.n_id + model.n_exp + 6
    )
    assert TrackingNet(2, 3, 4).input_channels == 6
    assert FineNet(channels=(8, 16)).contract.input_size == 256
    with pytest.raises(ValueError, match="tracking contract"):
        TrackingNet(2, 3, 4, contract=DEFAULT_CONTRACT.coarse)
    with pytest.raises(ContractError, match="input_size"):
        DEFAULT_CONTRACT.coarse.replace(input_size=7)
