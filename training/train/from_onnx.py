# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rebuild a trainable PyTorch net from an exported ONNX file (training without the run cache).

The exporter (:func:`training.export.export_onnx`) folds every BatchNorm into the convolution
before it (``W' = W * gamma / sigma``, ``b' = beta - mu * gamma / sigma``), so the ONNX file no
longer holds the BatchNorm parameters. :func:`net_from_onnx` puts the network back together:

1. the net is built from the sidecar (kind, output spec, net config, contract);
2. tensors that kept their PyTorch names (heads, output mean/std) are copied by name;
3. the ``Conv`` nodes, in graph order, are matched with the net's convolutions in the order the
   forward pass calls them (shapes checked); each takes the folded ``W'``, and the BatchNorm
   that reads its output is set to the identity plus ``b'``;
4. with ``calibration`` inputs, each BatchNorm is then re-expressed with the statistics of its
   input on those images (``gamma = sigma_y``, ``beta = b' + mu_y``, running mean/var =
   ``mu_y``, ``sigma_y^2``): the eval-mode function is unchanged and a training-mode step
   (batch statistics) starts close to it, instead of renormalising every layer from scratch.

The rebuilt net computes the same outputs as the ONNX file up to float16 rounding of the stored
weights (checked by :func:`net_from_onnx` on the calibration batch). Used by training's
``init_from: <weights>.onnx`` (see :mod:`training.train.config`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.weights import WeightFileError, build_net, contract_of, sidecar_path

__all__ = ["net_from_onnx"]

#: Suffix the fp16 export gives its converted initializers (a Cast restores the old name).
_FP16_SUFFIX = "__fp16"


def _initializers(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    out = {}
    for init in proto.graph.initializer:
        name = init.name.removesuffix(_FP16_SUFFIX)
        out[name] = numpy_helper.to_array(init).astype(np.float32)
    return out


def _execution_order(net: nn.Module, x: torch.Tensor) -> list[tuple[nn.Conv2d, nn.Module | None]]:
    """Convolutions in call order, each with the BatchNorm that reads its output (or None)."""
    calls: list[tuple[str, nn.Module, Any, Any]] = []
    hooks = []
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.BatchNorm2d):
            hooks.append(module.register_forward_hook(
                lambda m, inp, out: calls.append((type(m).__name__, m, inp[0], out))
            ))
    try:
        with torch.no_grad():
            net.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    pairs: list[tuple[nn.Conv2d, nn.Module | None]] = []
    for i, (kind, module, _, out) in enumerate(calls):
        if kind != "Conv2d":
            continue
        bn = next((m for k, m, inp, _ in calls[i + 1:] if k == "BatchNorm2d" and inp is out),
                  None)
        pairs.append((module, bn))
    return pairs


def net_from_onnx(
    onnx_path: str | os.PathLike, *, calibration: torch.Tensor | None = None
) -> nn.Module:
    """A trainable net with the weights of an exported ONNX file (see the module docstring).

    Args:
        onnx_path: ``<net>.onnx`` with its JSON sidecar beside it.
        calibration: ``[B, C, H, W]`` net inputs (B >= 2, e.g. training images) for the
            BatchNorm statistics; None leaves every BatchNorm as identity + bias (exact in
            eval mode, renormalised by the first training-mode step).

    Returns:
        The net (eval mode, float32, CPU).

    Raises:
        WeightFileError: A missing sidecar, or an ONNX graph that does not fit the net built
            from it (layer count or shapes), or outputs that differ from the ONNX file's.
    """
    onnx_path = Path(onnx_path)
    side = sidecar_path(onnx_path)
    if not onnx_path.is_file() or not side.is_file():
        raise WeightFileError(f"{onnx_path} or its sidecar {side.name} does not exist")
    meta = json.loads(side.read_text(encoding="utf-8"))
    net = build_net(meta["net"], OutputSpec.from_dict(meta["output_spec"]), meta.get("net_config"),
                    contract_of(meta, str(side)))
    proto = onnx.load(str(onnx_path))
    inits = _initializers(proto)
    state = net.state_dict()
    named = 0
    for key, value in state.items():
        source = inits.get(f"net.{key}")
        if source is not None:
            if tuple(source.shape) != tuple(value.shape):
                raise WeightFileError(f"{onnx_path}: {key} has shape {source.shape}, the net "
                                      f"{tuple(value.shape)}")
            state[key] = torch.from_numpy(source)
            named += 1
    net.load_state_dict(state)

    shape = meta["input"]["shape"][1:]
    probe = calibration if calibration is not None else torch.rand(2, *shape)
    pairs = _execution_order(net, probe[:2])
    conv_nodes = [n for n in proto.graph.node if n.op_type == "Conv"]
    if len(conv_nodes) != len(pairs):
        raise WeightFileError(f"{onnx_path}: {len(conv_nodes)} Conv nodes, the net has "
                              f"{len(pairs)} convolutions")
    biases: list[tuple[nn.Module, torch.Tensor]] = []
    with torch.no_grad():
        for node, (conv, bn) in zip(conv_nodes, pairs, strict=True):
            weight = inits[node.input[1]]
            bias = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            if tuple(weight.shape) != tuple(conv.weight.shape):
                raise WeightFileError(f"{onnx_path}: Conv {node.name} weight {weight.shape} vs "
                                      f"the net's {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(weight))
            b = torch.zeros(weight.shape[0]) if bias is None else torch.from_numpy(bias)
            if bn is None:
                if conv.bias is None:
                    if bias is not None and np.any(bias):
                        raise WeightFileError(f"{onnx_path}: Conv {node.name} has a bias but "
                                              "no BatchNorm follows it in the net")
                else:
                    conv.bias.copy_(b)
                continue
            if conv.bias is not None:
                conv.bias.zero_()
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            biases.append((bn, b))
    if calibration is not None:
        _calibrate(net, calibration, biases)
    _check_against_onnx(net, onnx_path, probe)
    return net.eval()


def _calibrate(net: nn.Module, x: torch.Tensor, biases: list[tuple[nn.Module, torch.Tensor]]
               ) -> None:
    """Re-express each identity BatchNorm with its input statistics on ``x`` (same function)."""
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [bn.register_forward_hook(
        lambda m, inp, out: stats.__setitem__(id(m), (inp[0].mean(dim=(0, 2, 3)),
                                                      inp[0].var(dim=(0, 2, 3))))
    ) for bn, _ in biases]
    try:
        with torch.no_grad():
            net.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for bn, b in biases:
            mean, var = stats[id(bn)]
            var = var.clamp_min(1e-6)
            bn.weight.copy_(var.add(bn.eps).sqrt())
            bn.bias.copy_(b + mean)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)


def _check_against_onnx(net: nn.Module, onnx_path: Path, x: torch.Tensor) -> None:
    import onnxruntime as ort

    from face3d_ros.nets.heads import Denormalized

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy().astype(np.float32)}
    expected = session.run(None, feed)[0]
    with torch.no_grad():
        got = Denormalized(net.eval())(x).numpy()
    tol = 1e-3 * (1.0 + float(np.abs(expected).max()))
    diff = float(np.abs(got - expected).max())
    if not diff <= tol:
        raise WeightFileError(f"{onnx_path}: the rebuilt net differs from the ONNX file by "
                              f"{diff:.3g} > {tol:.3g}")
