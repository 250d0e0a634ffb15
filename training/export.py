# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export trained nets: ONNX (fp32 or fp16 weights) with a checked JSON sidecar, and TensorRT.

ONNX graphs use the legacy TorchScript exporter (``torch.onnx.export(..., dynamo=False)``; the
dynamo exporter needs onnxscript, which is not installed), opset 17, a dynamic batch axis, and the
input/output names and the input size of the net's train/run contract
(:mod:`face3d_ros.nets.contract`, carried by the net and written to the sidecar's ``contract`` entry
together with a summary of the training data). The output de-normalisation is folded into the graph
(:class:`face3d_ros.nets.heads.Denormalized`). The exporter runs the graph in onnxruntime on CPU and
asserts ``max |onnx - torch| <= 1e-3`` for the fp32 graph. With ``--fp16`` the float initializers
are stored as float16 and cast back to float32 inside the graph (inputs, outputs and arithmetic stay
float32), which halves the file; its deviation from PyTorch is measured, recorded in the sidecar and
asserted against a looser bound (fp16 rounding of the weights is a real change).

Usage::

    python -m training.export onnx --checkpoint runs/coarse/checkpoint.pt \
        --out face3d_ros/weights/coarse.onnx --fp16
    python -m training.export verify face3d_ros/weights/coarse.onnx
    python -m training.export tensorrt --checkpoint runs/coarse/checkpoint.pt --cache-dir .trt
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from face3d_ros.nets.contract import NET_KINDS, NetContract
from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.weights import (
    FORMAT_VERSION,
    SIDECAR_FORMAT,
    WeightFileError,
    contract_of,
    load_checkpoint,
    model_dims_of,
    net_config_of,
    save_checkpoint,
    sha256_file,
    sidecar_path,
    verify_weights,
)

__all__ = [
    "ExportError",
    "convert_initializers_to_fp16",
    "example_input",
    "export_onnx",
    "main",
    "run_onnx",
    "training_data_summary",
]

DEFAULT_OPSET = 17
FP32_ATOL = 1e-3


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch net."""


def example_input(contract: NetContract, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A plausible random input for checking a net.

    Args:
        contract: The net's contract (kind and input shape).
        batch: Batch size.
        seed: RNG seed.

    Returns:
        [batch, C, H, W] float32; for ``fine`` channel 1 is a depth bump (pixels) inside a disc and
        0 outside, like a rendered coarse depth.
    """
    g = torch.Generator().manual_seed(seed)
    c, h, w = contract.input_shape
    x = torch.rand(batch, c, h, w, generator=g)
    if contract.net == "fine":
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        r2 = xx**2 + yy**2
        depth = torch.where(r2 < 0.6, 150.0 + 60.0 * torch.sqrt(torch.clamp(0.6 - r2, min=0)), 0.0)
        x[:, 1] = depth
    return x


def run_onnx(path: str | os.PathLike, x: np.ndarray, threads: int = 2) -> np.ndarray:
    """Run an exported graph on CPU with onnxruntime.

    Args:
        path: ``.onnx`` file.
        x: Input [B, C, H, W] float32.
        threads: Intra-op threads.

    Returns:
        The single output.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x.astype(np.float32)})[0]


def convert_initializers_to_fp16(model: onnx.ModelProto, min_elements: int = 16) -> int:
    """Store float32 initializers as float16 and cast them back to float32 in the graph.

    Graph inputs, outputs and all arithmetic stay float32; only the stored weights shrink.

    Args:
        model: ONNX model, modified in place.
        min_elements: Leave smaller initializers (scalars, shapes) untouched.

    Returns:
        Number of converted initializers.

    Raises:
        ExportError: If a weight overflows float16.
    """
    graph = model.graph
    casts = []
    kept = []
    converted = 0
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        arr = numpy_helper.to_array(init)
        if np.any(np.abs(arr) > 65504.0):
            raise ExportError(f"initializer {init.name} overflows float16")
        half = numpy_helper.from_array(arr.astype(np.float16), name=init.name + "__fp16")
        kept.append(half)
        casts.append(
            onnx.helper.make_node(
                "Cast",
                [half.name],
                [init.name],
                to=onnx.TensorProto.FLOAT,
                name=init.name + "__cast",
            )
        )
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return converted


def _fp16_tolerance(reference: np.ndarray) -> float:
    """Deviation bound for fp16-stored weights: 0.5 % of (1 + the largest output magnitude)."""
    return 5e-3 * (1.0 + float(np.max(np.abs(reference))))


def export_onnx(
    net: nn.Module,
    out_path: str | os.PathLike,
    *,
    model: Any,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    training: dict[str, Any] | None = None,
    overwrite: bool = False,
    check_batch: int = 2,
) -> dict[str, Any]:
    """Export a net to ONNX, check it against PyTorch and write the JSON sidecar.

    Args:
        net: CoarseNet, TrackingNet or FineNet (moved to CPU, eval mode).
        out_path: Destination ``.onnx``; the sidecar goes to the same name with ``.json``.
        model: Face model (or dims mapping with ``model_id``) the net was trained for.
        fp16: Store weights as float16 (I/O stays float32).
        opset: ONNX opset (>= 17).
        training: Provenance (command, steps, data, wall time, metrics) for the sidecar.
        overwrite: Replace existing files.
        check_batch: Batch size of the check input (exercises the dynamic batch axis).

    Returns:
        The sidecar dictionary.

    Raises:
        FileExistsError: If the output exists and ``overwrite`` is False.
        ValueError: On opset < 17 or an unknown net.
        ExportError: If onnxruntime's output deviates from PyTorch beyond the tolerance.
    """
    out_path = Path(out_path)
    side = sidecar_path(out_path)
    if out_path.suffix != ".onnx":
        raise ValueError(f"output must end with .onnx: {out_path}")
    if not overwrite and (out_path.exists() or side.exists()):
        raise FileExistsError(f"{out_path} or its sidecar exists; pass overwrite=True")
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    kind = getattr(net, "kind", None)
    if kind not in NET_KINDS or not isinstance(getattr(net, "contract", None), NetContract):
        raise ValueError(f"cannot export {type(net).__name__}: not a face3d_ros net")
    contract: NetContract = net.contract
    contract.check_runnable(f"{type(net).__name__} contract")
    io = {"input": contract.input_name, "output": contract.output_name}
    net = net.to("cpu").eval()
    wrapper = Denormalized(net).eval()
    x = example_input(contract, batch=check_batch)
    with torch.no_grad():
        reference = wrapper(x).numpy()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        with warnings.catch_warnings():
            # The legacy exporter is deprecated in favour of dynamo (needs onnxscript).
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (x,),
                str(fp32_path),
                dynamo=False,
                opset_version=opset,
                input_names=[io["input"]],
                output_names=[io["output"]],
                dynamic_axes={io["input"]: {0: "batch"}, io["output"]: {0: "batch"}},
                do_constant_folding=True,
            )
        proto = onnx.load(str(fp32_path))
        onnx.checker.check_model(proto)
        diff32 = float(np.max(np.abs(run_onnx(fp32_path, x.numpy()) - reference)))
        if not diff32 <= FP32_ATOL:
            raise ExportError(
                f"{kind}: ONNX fp32 output deviates from PyTorch by {diff32:.3g} > {FP32_ATOL}"
            )
        check = {"max_abs_diff_fp32": diff32, "check_batch": check_batch}
        if fp16:
            n = convert_initializers_to_fp16(proto)
            onnx.checker.check_model(proto)
            final_tmp = Path(tmp) / "fp16.onnx"
            onnx.save(proto, str(final_tmp))
            diff16 = float(np.max(np.abs(run_onnx(final_tmp, x.numpy()) - reference)))
            tol = _fp16_tolerance(reference)
            if not diff16 <= tol:
                raise ExportError(
                    f"{kind}: fp16-weight ONNX deviates from PyTorch by {diff16:.3g} > {tol:.3g}"
                )
            check.update(
                {"max_abs_diff_fp16": diff16, "fp16_tolerance": tol, "fp16_initializers": n}
            )
        else:
            final_tmp = fp32_path
        os.replace(final_tmp, out_path)
    dims = model_dims_of(model)
    meta: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "format_version": FORMAT_VERSION,
        "net": kind,
        "model_id": dims.get("model_id", ""),
        "model_dims": {k: v for k, v in dims.items() if k != "model_id"},
        "contract": contract.to_dict(),
        "input": {"name": io["input"], "shape": [None, *contract.input_shape], "dtype": "float32"},
        "output": {
            "name": io["output"],
            "shape": [None, net.spec.size]
            if kind != "fine"
            else [None, 1, contract.input_size, contract.input_size],
            "dtype": "float32",
            "denormalized": True,
        },
        "output_spec": net.spec.to_dict(),
        "net_config": net_config_of(net),
        "onnx_file": out_path.name,
        "sha256": sha256_file(out_path),
        "size_bytes": out_path.stat().st_size,
        "opset": opset,
        "weights_dtype": "float16" if fp16 else "float32",
        "exporter": f"torch.onnx.export(dynamo=False), torch {torch.__version__}",
        "check": check,
        "training": dict(training or {}),
        "training_data": training_data_summary((training or {}).get("data", "")),
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    contract_of(meta, str(side))  # what the loaders will check
    side.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


def training_data_summary(data: str) -> dict[str, Any]:
    """Summary of the training shard roots for the sidecar (read from their ``index.json``).

    Args:
        data: Comma-separated shard roots (the training config's ``data``); "" when unknown.

    Returns:
        ``{"roots": [{"root", "kind", "samples", "model_id", "generator", "crop_scale"}, ...],
        "samples": total}``; a root that cannot be read here gets ``{"root", "readable":
        False}`` and the total counts only the readable ones.
    """
    from face3d_ros.nets.contract import recorded_crop_scale
    from training.datasets.shards import read_index

    roots: list[dict[str, Any]] = []
    total = 0
    for root in [r for r in str(data).split(",") if r]:
        try:
            index = read_index(root)
        except (OSError, ValueError) as exc:
            roots.append({"root": root, "readable": False, "error": str(exc)[:200]})
            continue
        attrs = index.get("attrs", {})
        n = int(index.get("num_samples", 0))
        total += n
        roots.append(
            {
                "root": root,
                "kind": index.get("kind"),
                "samples": n,
                "model_id": attrs.get("model_id"),
                "generator": attrs.get("generator"),
                "crop_scale": recorded_crop_scale(attrs, str(index.get("kind"))),
            }
        )
    return {"roots": roots, "samples": total}


def _training_info(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Provenance entries of a training checkpoint for the sidecar."""
    keys = ("command", "step", "wall_time_s", "data", "metrics", "config", "run_name")
    info = {k: ckpt[k] for k in keys if k in ckpt}
    if isinstance(info.get("config"), str):
        try:
            info["config"] = json.loads(info["config"])
        except json.JSONDecodeError:
            pass
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m training.export", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("onnx", help="export a checkpoint to ONNX + sidecar")
    p.add_argument("--checkpoint", required=True, help="training checkpoint (.pt)")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--fp16", action="store_true", help="store weights as float16")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument(
        "--state-dict", default="",
        help="also write the net's weights as a float16 checkpoint here (training can start "
        "from it with init_from when the run's cache is gone; e.g. training/weights/coarse.pt); "
        "its sha256 goes into the sidecar",
    )
    v = sub.add_parser("verify", help="check a weight file against its sidecar")
    v.add_argument("weights", nargs="+")
    t = sub.add_parser("tensorrt", help="build/cache a TensorRT engine (CUDA + torch_tensorrt)")
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--cache-dir", required=True)
    t.add_argument("--precision", choices=("fp16", "fp32"), default="fp16")
    t.add_argument("--max-batch", type=int, default=4)
    t.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "onnx":
            net, ckpt = load_checkpoint(args.checkpoint)
            dims = dict(ckpt["model_dims"], model_id=ckpt.get("model_id", ""))
            info = _training_info(ckpt)
            info["export_command"] = "python -m training.export " + " ".join(
                shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
            )
            if args.state_dict:
                state_path = Path(args.state_dict)
                if state_path.exists() and not args.overwrite:
                    raise FileExistsError(f"{state_path} exists; pass --overwrite")
                save_checkpoint(state_path, net, model=dims, float_dtype=torch.float16,
                                extra={"training": info})
                info["state_dict"] = {"path": str(state_path),
                                      "sha256": sha256_file(state_path),
                                      "dtype": "float16"}
            meta = export_onnx(
                net,
                args.out,
                model=dims,
                fp16=args.fp16,
                opset=args.opset,
                training=info,
                overwrite=args.overwrite,
            )
            print(json.dumps({k: meta[k] for k in ("net", "sha256", "size_bytes", "check")}))
        elif args.cmd == "verify":
            for w in args.weights:
                meta = verify_weights(w)
                print(f"{w}: OK ({meta['net']}, model {meta['model_id']}, {meta['sha256'][:12]})")
        else:
            from face3d_ros.nets.tensorrt import build_tensorrt_engine

            _, path = build_tensorrt_engine(
                args.checkpoint,
                args.cache_dir,
                precision=args.precision,
                max_batch=args.max_batch,
                rebuild=args.rebuild,
            )
            print(f"TensorRT engine: {path}")
    except (WeightFileError, ExportError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
