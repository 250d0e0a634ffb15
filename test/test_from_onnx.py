# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Trainable nets rebuilt from exported ONNX files (BatchNorm folded by the exporter)."""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
import torch

from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets import CoarseNet, FineNet
from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.weights import WeightFileError
from training.export import export_onnx
from training.train.from_onnx import net_from_onnx

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT / "test") not in sys.path:  # test/fixtures/
    sys.path.insert(0, str(ROOT / "test"))

from fixtures.weights import perturbed  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return make_synthetic_model()


@pytest.mark.parametrize("fp16", [False, True])
def test_coarse_net_rebuilt_from_onnx_computes_the_same(model, tmp_path, fp16):
    """Eval outputs equal the original net's; calibrated train-mode outputs stay close."""
    size = model.n_id + model.n_exp + 6
    net = perturbed(CoarseNet(model.n_id, model.n_exp, np.zeros(size, np.float32),
                               np.ones(size, np.float32)))
    path = tmp_path / "coarse.onnx"
    export_onnx(net, path, model=model, fp16=fp16)
    x = torch.rand(8, *net.contract.input_shape, generator=torch.Generator().manual_seed(1))
    rebuilt = net_from_onnx(path, calibration=x)
    assert isinstance(rebuilt, CoarseNet)
    with torch.no_grad():
        ref = Denormalized(net)(x)
        got = Denormalized(rebuilt.eval())(x)
        trained_mode = Denormalized(rebuilt.train())(x)
    scale = float(ref.abs().max())
    assert torch.allclose(got, ref, atol=(2e-2 if fp16 else 1e-4) * (1 + scale))
    # batch statistics of the calibration batch: the same function in training mode
    assert torch.allclose(trained_mode, got, atol=1e-3 * (1 + scale))
    assert all(p.requires_grad for p in rebuilt.parameters())


def test_fine_net_rebuilt_and_mismatch_refused(model, tmp_path):
    net = perturbed(FineNet(channels=(8, 16)))
    path = tmp_path / "fine.onnx"
    export_onnx(net, path, model=model)
    x = torch.rand(2, 2, 64, 64, generator=torch.Generator().manual_seed(2))
    rebuilt = net_from_onnx(path)  # no calibration: identity BatchNorms, exact in eval mode
    with torch.no_grad():
        assert torch.allclose(Denormalized(rebuilt.eval())(x), Denormalized(net)(x), atol=1e-4)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["net_config"]["channels"] = [8, 32]  # a sidecar that does not describe this graph
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightFileError):
        net_from_onnx(path)
    with pytest.raises(WeightFileError, match="does not exist"):
        net_from_onnx(tmp_path / "missing.onnx")


def test_tracking_net_warm_started_from_a_coarse_net(model):
    """A tracking net started from a CoarseNet reads the image as the CoarseNet did.

    RGB filters and shared heads copied, PNCC filters zero: with a blank PNCC the tracking
    net's identity/expression outputs are the CoarseNet's (normalised).
    """
    from face3d_ros.nets.tracking_net import TrackingNet
    from training.train.warm_start import tracking_from_coarse

    size = model.n_id + model.n_exp + 6
    coarse = perturbed(CoarseNet(model.n_id, model.n_exp, np.zeros(size, np.float32),
                                  np.ones(size, np.float32)))
    tracking = TrackingNet(model.n_id, model.n_exp, model.n_alb).eval()
    assert tracking_from_coarse(tracking, coarse) > 100
    w_t, w_c = tracking.trunk.conv1.weight, coarse.trunk.conv1.weight
    assert torch.equal(w_t[:, :3], w_c) and not w_t[:, 3:].any()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        zc = coarse(x)
        zt = tracking(torch.cat([x, torch.zeros_like(x)], dim=1))
    n = model.n_id + model.n_exp
    assert torch.allclose(zt[:, :n], zc[:, :n], atol=1e-5)
    with pytest.raises(ValueError):
        tracking_from_coarse(coarse, tracking)
