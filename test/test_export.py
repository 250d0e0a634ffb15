# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export matches PyTorch; corrupted or mismatched weight files are clear errors."""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import onnx
import pytest
import torch

from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets import CoarseNet, FineNet, TrackingNet
from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.tensorrt import TensorRTUnavailableError, build_tensorrt_engine
from face3d_ros.nets.weights import (
    WeightFileError,
    load_checkpoint,
    save_checkpoint,
    sha256_file,
    verify_weights,
)
from training.export import export_onnx, main, run_onnx

torch.set_num_threads(2)

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT / "test") not in sys.path:  # test/fixtures/
    sys.path.insert(0, str(ROOT / "test"))

from fixtures.weights import perturbed  # noqa: E402


@pytest.fixture(scope="module")
def model():
    """The tiny synthetic face model."""
    return make_synthetic_model()


def _coarse(model) -> CoarseNet:
    size = model.n_id + model.n_exp + 6
    mean = np.zeros(size, np.float32)
    mean[-3:] = (112.0, 112.0, 2.0)
    std = np.ones(size, np.float32)
    std[-3:] = (10.0, 10.0, 0.3)
    return perturbed(CoarseNet(model.n_id, model.n_exp, mean, std), bn_means=False)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """A coarse net exported once (fp32) for several tests."""
    path = tmp_path_factory.mktemp("w") / "coarse.onnx"
    net = _coarse(model)
    meta = export_onnx(net, path, model=model, training={"command": "test"})
    return net, path, meta


def test_onnx_matches_pytorch_with_dynamic_batch(exported):
    net, path, meta = exported
    assert meta["check"]["max_abs_diff_fp32"] <= 1e-3
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["params"]
    assert proto.opset_import[0].version >= 17
    for batch in (1, 3):
        x = torch.rand(batch, 3, 224, 224)
        with torch.no_grad():
            ref = Denormalized(net)(x).numpy()
        out = run_onnx(path, x.numpy())
        assert out.shape == ref.shape
        assert np.max(np.abs(out - ref)) <= 1e-3


def test_sidecar_contents(exported, model):
    _, path, meta = exported
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["net"] == "coarse" and side["model_id"] == model.model_id
    assert side["model_dims"]["n_id"] == model.n_id
    assert side["input"]["shape"] == [None, 3, 224, 224]
    assert len(side["output_spec"]["mean"]) == model.n_id + model.n_exp + 6
    assert side["training"]["command"] == "test"
    assert verify_weights(path, net="coarse", model=model)["sha256"] == side["sha256"]


def test_fp16_weights_keep_float32_io(model, tmp_path):
    net = perturbed(FineNet(channels=(8, 16, 32)), bn_means=False)
    path = tmp_path / "fine.onnx"
    meta = export_onnx(net, path, model=model, fp16=True)
    proto = onnx.load(str(path))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert meta["weights_dtype"] == "float16"
    x = np.random.default_rng(0).random((1, 2, 256, 256), dtype=np.float32)
    out = run_onnx(path, x)
    with torch.no_grad():
        ref = Denormalized(net)(torch.from_numpy(x)).numpy()
    assert out.dtype == np.float32 and out.shape == (1, 1, 256, 256)
    assert np.max(np.abs(out - ref)) <= meta["check"]["fp16_tolerance"]


def test_tracking_export(model, tmp_path):
    net = perturbed(TrackingNet(model.n_id, model.n_exp, model.n_alb), bn_means=False)
    meta = export_onnx(net, tmp_path / "tracking.onnx", model=model, check_batch=1)
    assert meta["output"]["shape"] == [None, model.n_id + model.n_exp + model.n_alb + 33]
    assert meta["check"]["max_abs_diff_fp32"] <= 1e-3


def test_corrupted_truncated_and_mismatched_files(exported, model, tmp_path):
    _, path, _ = exported
    data = path.read_bytes()
    side = path.with_suffix(".json").read_text()

    bad = tmp_path / "coarse.onnx"
    bad.with_suffix(".json").write_text(side)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    with pytest.raises(WeightFileError, match="sha256"):
        verify_weights(bad)
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightFileError, match="truncated"):
        verify_weights(bad)
    bad.write_bytes(data)
    verify_weights(bad, model=model)
    other = make_synthetic_model(n_id=4)
    with pytest.raises(WeightFileError, match="n_id=8 but the face model has n_id=4"):
        verify_weights(bad, model=other)
    with pytest.raises(WeightFileError, match="expected tracking"):
        verify_weights(bad, net="tracking")
    bad.with_suffix(".json").unlink()
    with pytest.raises(WeightFileError, match="missing sidecar"):
        verify_weights(bad)
    assert main(["verify", str(path)]) == 0
    assert main(["verify", str(bad)]) == 1


def test_checkpoint_roundtrip_and_errors(model, tmp_path):
    net = perturbed(FineNet(channels=(8, 16)), bn_means=False)
    path = tmp_path / "fine.pt"
    save_checkpoint(path, net, model=model, extra={"step": 3})
    loaded, ckpt = load_checkpoint(path, net="fine", model=model)
    assert ckpt["step"] == 3
    x = torch.rand(1, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(WeightFileError, match="truncated or corrupted"):
        load_checkpoint(path)
    coarse = tmp_path / "coarse.pt"
    save_checkpoint(coarse, CoarseNet(model.n_id, model.n_exp), model=model)
    with pytest.raises(WeightFileError, match="n_exp"):
        load_checkpoint(coarse, model=make_synthetic_model(n_exp=3))
    with pytest.raises(WeightFileError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_export_writes_a_float16_state_dict_training_can_start_from(model, tmp_path):
    """--state-dict: a compact checkpoint beside the ONNX export, its sha256 in the sidecar."""
    net = _coarse(model)
    ckpt = tmp_path / "run.pt"
    save_checkpoint(ckpt, net, model=model, extra={"step": 7})
    out, state = tmp_path / "w" / "coarse.onnx", tmp_path / "resume" / "coarse.pt"
    assert main(["onnx", "--checkpoint", str(ckpt), "--out", str(out), "--fp16",
                 "--state-dict", str(state)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["training"]["state_dict"]["sha256"] == sha256_file(state)
    raw = torch.load(state, weights_only=True)
    floats = [v for v in raw["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    loaded, _ = load_checkpoint(state, net="coarse", model=model)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(2, *net.contract.input_shape)
    with torch.no_grad():
        ref, got = Denormalized(net.eval())(x), Denormalized(loaded)(x)
    assert torch.allclose(got, ref, rtol=2e-2, atol=2e-2 * float(ref.abs().max()))
    # an existing state dict is not replaced without --overwrite
    assert main(["onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.onnx"),
                 "--state-dict", str(state)]) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the no-GPU error path")
def test_tensorrt_without_gpu_is_clear_error(model, tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, CoarseNet(model.n_id, model.n_exp), model=model)
    with pytest.raises(TensorRTUnavailableError, match="CUDA"):
        build_tensorrt_engine(path, tmp_path / "trt")
