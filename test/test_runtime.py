# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the inference backends and NetBundle (face3d_ros.runtime).

Nets are tiny-model ResNet/U-Nets with randomised heads (so outputs are not just the mean),
exported once per module with ``training.export.export_onnx`` and saved as checkpoints.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets.weights import WeightFileError
from face3d_ros.runtime import InferenceBackend, NetBundle, create_backend, weight_file
from face3d_ros.runtime.tensorrt_backend import engine_cache_path

NETS = ("coarse", "tracking", "fine")


def _random_heads(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give the zero-initialised heads small random weights so outputs depend on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("heads.") or name.startswith("unet.out"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.fixture(scope="module")
def model():
    return make_synthetic_model()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory, model):
    from face3d_ros.nets import CoarseNet, FineNet, TrackingNet
    from face3d_ros.nets.weights import save_checkpoint
    from training.export import export_onnx

    torch.manual_seed(0)
    wdir = tmp_path_factory.mktemp("weights")
    nets = {
        "coarse": CoarseNet(model.n_id, model.n_exp),
        "tracking": TrackingNet(model.n_id, model.n_exp, model.n_alb),
        "fine": FineNet(),
    }
    for i, (name, net) in enumerate(nets.items()):
        _random_heads(net, i)
        export_onnx(
            net,
            wdir / f"{name}.onnx",
            model=model,
            training={"command": "test_runtime fixture (untrained, random heads)"},
            check_batch=1,
        )
        save_checkpoint(wdir / f"{name}.pt", net, model=model)
    return wdir


def _input(backend, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *backend.io.input_shape), dtype=np.float32)
    if backend.net == "fine":
        x[:, 1] *= 200.0  # depth in pixels
    return {backend.io.input_name: x}


@pytest.mark.parametrize("net", NETS)
def test_onnx_matches_torch(weights_dir, model, net):
    ort_b = create_backend("onnxruntime", weights_dir / f"{net}.onnx", threads=2, model=model)
    torch_b = create_backend("torch", weights_dir / f"{net}.pt", model=model)
    assert ort_b.net == torch_b.net == net
    assert isinstance(ort_b, InferenceBackend) and isinstance(torch_b, InferenceBackend)
    inputs = _input(ort_b, batch=2)
    a = ort_b.run(inputs)[ort_b.io.output_name]
    b = torch_b.run(inputs)[torch_b.io.output_name]
    assert a.shape == b.shape
    assert a.dtype == np.float32
    expected = {
        "coarse": (2, model.n_id + model.n_exp + 6),
        "tracking": (2, model.n_id + model.n_exp + model.n_alb + 33),
        "fine": (2, 1, 256, 256),
    }[net]
    assert a.shape == expected
    assert np.abs(a - b).max() <= 1e-3
    assert np.abs(a).max() > 0  # the randomised heads make this a real comparison


def test_onnx_session_options(weights_dir, model):
    import onnxruntime as ort

    backend = create_backend("onnxruntime", weights_dir / "coarse.onnx", threads=2, model=model)
    opts = backend._session.get_session_options()
    assert opts.intra_op_num_threads == 2
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_input_validation(weights_dir, model):
    backend = create_backend("onnxruntime", weights_dir / "coarse.onnx", model=model)
    good = _input(backend)["image"]
    with pytest.raises(ValueError, match="expected inputs"):
        backend.run({"input": good})
    with pytest.raises(ValueError, match="float32"):
        backend.run({"image": good.astype(np.float64)})
    with pytest.raises(ValueError, match=r"shape \[B>=1, 3, 224, 224\]"):
        backend.run({"image": good[:, :, :200]})
    with pytest.raises(ValueError, match="shape"):
        backend.run({"image": good[0]})


def _copy(weights_dir: Path, dst: Path, net: str = "coarse") -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for suffix in (".onnx", ".json"):
        shutil.copy(weights_dir / f"{net}{suffix}", dst / f"{net}{suffix}")
    return dst / f"{net}.onnx"


def test_sha256_mismatch(weights_dir, tmp_path):
    path = _copy(weights_dir, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(WeightFileError, match="sha256"):
        create_backend("onnxruntime", path)


def test_truncated_file(weights_dir, tmp_path):
    path = _copy(weights_dir, tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightFileError, match="truncated"):
        create_backend("onnxruntime", path)


def test_missing_files(weights_dir, tmp_path):
    with pytest.raises(WeightFileError, match="does not exist"):
        create_backend("onnxruntime", tmp_path / "nope.onnx")
    path = _copy(weights_dir, tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(WeightFileError, match="missing sidecar"):
        create_backend("onnxruntime", path)
    with pytest.raises(WeightFileError, match="does not exist"):
        create_backend("torch", tmp_path / "nope.pt")


def test_dims_and_model_id_mismatch(weights_dir, model):
    other = make_synthetic_model(n_id=model.n_id + 1)
    with pytest.raises(WeightFileError, match="n_id"):
        create_backend("onnxruntime", weights_dir / "coarse.onnx", model=other)
    with pytest.raises(WeightFileError, match="n_id"):
        create_backend("torch", weights_dir / "coarse.pt", model=other)
    with pytest.raises(WeightFileError, match="holds a coarse net"):
        create_backend("onnxruntime", weights_dir / "coarse.onnx", net="fine")


def test_sidecar_graph_mismatch(weights_dir, tmp_path):
    path = _copy(weights_dir, tmp_path)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    wrong_net = dict(meta, net="tracking")  # the sidecar's contract is a coarse one
    side.write_text(json.dumps(wrong_net))
    with pytest.raises(WeightFileError, match="contract field 'net'"):
        create_backend("onnxruntime", path)
    # A consistent sidecar (contract + recorded shape) for another side than the graph's.
    meta["contract"]["input_size"] = 192
    meta["input"]["shape"] = [None, 3, 192, 192]
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightFileError, match="graph input shape"):
        create_backend("onnxruntime", path)
    # A contract the running code cannot feed is refused naming the field.
    meta["contract"]["input_size"] = 224
    meta["input"]["shape"] = [None, 3, 224, 224]
    meta["contract"]["crop_policy"] = "previous_landmarks"
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightFileError, match="field 'crop_policy'"):
        create_backend("onnxruntime", path)


def test_bad_arguments(weights_dir):
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("openvino", weights_dir / "coarse.onnx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        create_backend("onnxruntime", weights_dir / "coarse.onnx", threads=0)
    with pytest.raises(WeightFileError, match=r"needs an \.onnx"):
        create_backend("onnxruntime", weights_dir / "coarse.pt")
    with pytest.raises(WeightFileError, match=r"needs a \.pt"):
        create_backend("torch", weights_dir / "coarse.onnx")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_tensorrt_without_cuda(weights_dir):
    for suffix in (".onnx", ".pt"):
        with pytest.raises(RuntimeError, match=r"needs a CUDA device \(none found\)"):
            create_backend("tensorrt", weights_dir / f"coarse{suffix}")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        NetBundle.load(weights_dir, backend="tensorrt", model=make_synthetic_model())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error paths")
def test_cuda_device_without_cuda(weights_dir):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
            create_backend("onnxruntime", weights_dir / "coarse.onnx", device="cuda")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        create_backend("torch", weights_dir / "coarse.pt", device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        create_backend("onnxruntime", weights_dir / "coarse.onnx", device="tpu")


def test_tensorrt_missing_libraries(weights_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)  # makes `import` raise ImportError
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(RuntimeError, match="torch_tensorrt not installed"):
        create_backend("tensorrt", weights_dir / "coarse.pt", device="cuda")
    with pytest.raises(RuntimeError, match="tensorrt not installed"):
        create_backend("tensorrt", weights_dir / "coarse.onnx", device="cuda")
    with pytest.raises(ValueError, match="GPU-only"):
        create_backend("tensorrt", weights_dir / "coarse.onnx", device="cpu")


def test_engine_cache_path_keys(tmp_path):
    kwargs = dict(
        gpu_name="NVIDIA H200",
        compute_capability=(9, 0),
        trt_version="10.3.0",
        net="coarse",
        sha256="ab" * 32,
        fp16=False,
        max_batch=1,
    )
    a = engine_cache_path(tmp_path, **kwargs)
    assert a.parent.name == "NVIDIA_H200-sm90-trt10.3.0"
    assert a.suffix == ".engine"
    assert engine_cache_path(tmp_path, **{**kwargs, "trt_version": "10.4.0"}) != a
    assert engine_cache_path(tmp_path, **{**kwargs, "gpu_name": "RTX 4090"}) != a
    assert engine_cache_path(tmp_path, **{**kwargs, "sha256": "cd" * 32}) != a


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_netbundle_load(weights_dir, model, backend):
    bundle = NetBundle.load(weights_dir, backend=backend, threads=2, model=model)
    assert bundle.model.dims == (model.n_id, model.n_exp, model.n_alb)
    assert bundle.coarse.net == "coarse" and bundle.tracking.net == "tracking"
    assert bundle.fine is not None and bundle.fine.net == "fine"
    out = bundle.tracking.run(_input(bundle.tracking))["params"]
    assert out.shape == (1, model.n_id + model.n_exp + model.n_alb + 33)
    no_fine = NetBundle.load(weights_dir, backend=backend, model=model, load_fine=False)
    assert no_fine.fine is None


def test_netbundle_errors(weights_dir, model, tmp_path):
    with pytest.raises(WeightFileError, match="does not exist"):
        NetBundle.load(tmp_path / "missing", model=model)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightFileError, match="no trained weights"):
        NetBundle.load(empty, model=model)
    partial = tmp_path / "partial"
    for net in ("coarse", "tracking"):
        _copy(weights_dir, partial, net)
    with pytest.raises(WeightFileError, match="fine.onnx is missing"):
        NetBundle.load(partial, model=model)
    assert NetBundle.load(partial, model=model, load_fine=False).fine is None
    fewer = make_synthetic_model(n_exp=model.n_exp - 2)
    with pytest.raises(WeightFileError, match="n_exp"):
        NetBundle.load(weights_dir, model=fewer)
    # A model with more components but the same model_id is truncated to the nets' dims.
    more = make_synthetic_model(n_exp=model.n_exp + 2)
    assert NetBundle.load(weights_dir, model=more, load_fine=False).model.n_exp == model.n_exp
    assert weight_file(weights_dir, "fine", "torch").name == "fine.pt"


def test_int8_quantization(weights_dir, model, tmp_path):
    from face3d_ros.nets.weights import verify_weights
    from face3d_ros.runtime.quantize import int8_path, output_tail, quantize_onnx

    src = _copy(weights_dir, tmp_path, "fine")
    rng = np.random.default_rng(1)
    calib = []
    for _ in range(3):
        x = rng.random((1, 2, 256, 256), dtype=np.float32)
        x[:, 1] *= 200.0
        calib.append(x)
    side = quantize_onnx(src, calib, calibration_note="test")
    dst = int8_path(src)
    assert dst.name == "fine.int8.onnx" and dst.is_file()
    assert side["quantization"]["source_sha256"] == verify_weights(src)["sha256"]
    assert verify_weights(dst, net="fine", model=model)["weights_dtype"] == "int8"
    q = create_backend("onnxruntime", dst, model=model)
    f = create_backend("onnxruntime", src, model=model)
    a = q.run({"input": calib[0]})["displacement"]
    b = f.run({"input": calib[0]})["displacement"]
    assert a.shape == b.shape == (1, 1, 256, 256)
    assert np.abs(a - b).max() <= side["quantization"]["max_abs_diff"] + 1e-6
    # The output tail (FineNet: output Conv, de-normalising Mul/Add) stays float: its Conv
    # reads a float weight initialiser, not a DequantizeLinear output.
    import onnx

    tail = side["quantization"]["float_nodes"]
    assert tail and tail[0] == output_tail(src)[0] == "/net/unet/output/Conv"
    graph = onnx.load(str(dst)).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    out_conv = next(n for n in graph.node if n.name == tail[0])
    assert out_conv.op_type == "Conv" and out_conv.input[1] not in producers
    assert any(n.op_type == "QLinearConv" or n.op_type == "DequantizeLinear" for n in graph.node)
    with pytest.raises(FileExistsError):
        quantize_onnx(src, calib)
    # NetBundle never substitutes fp32 for missing INT8 files, and INT8 is onnxruntime-only.
    with pytest.raises(WeightFileError, match="int8"):
        NetBundle.load(weights_dir, model=model, precision="int8")
    with pytest.raises(ValueError, match="only available with the onnxruntime"):
        NetBundle.load(weights_dir, model=model, backend="torch", precision="int8")


@pytest.mark.parametrize("net", ["coarse", "tracking"])
def test_output_tail_is_the_heads_after_the_last_relu(weights_dir, net):
    import onnx

    from face3d_ros.runtime.quantize import output_tail

    tail = output_tail(weights_dir / f"{net}.onnx")
    ops = {n.name: n.op_type for n in onnx.load(str(weights_dir / f"{net}.onnx")).graph.node}
    kinds = {ops[name] for name in tail}
    assert "Gemm" in kinds and "Concat" in kinds
    assert not kinds & {"Conv", "Relu"}


def test_calibration_photos_reads_a_folder_in_name_order(tmp_path):
    """--images: sorted photos, RGB, at most the limit; unreadable files skipped; empty fails."""
    import cv2

    from face3d_ros.runtime.quantize import calibration_photos

    for i, name in enumerate(("b.png", "a.jpg", "c.png")):
        bgr = np.zeros((20, 30, 3), np.uint8)
        bgr[..., 2] = 40 * (i + 1)  # red channel in OpenCV's BGR order
        cv2.imwrite(str(tmp_path / name), bgr)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    photos = calibration_photos(tmp_path, limit=2)
    assert len(photos) == 2 and photos[0].shape == (20, 30, 3)
    red = [int(p[0, 0, 0]) for p in photos]
    assert abs(red[0] - 80) <= 3 and red[1] == 40  # a.jpg (red 80, lossy), b.png (red 40)
    assert len(calibration_photos(tmp_path, limit=10)) == 3
    with pytest.raises(FileNotFoundError):
        calibration_photos(tmp_path / "none", limit=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no readable"):
        calibration_photos(empty, limit=1)
