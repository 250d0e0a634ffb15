# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Weight files: JSON sidecars of exported ONNX graphs and torch checkpoints, checked on load.

Every exported graph ``<name>.onnx`` ships with ``<name>.json``::

    {"format": "face3d_ros.weights", "format_version": 2, "net": "coarse",
     "model_id": "...", "model_dims": {"n_id": .., "n_exp": .., "n_alb": .., "n_vertices": ..},
     "contract": {"version": 1, "net": "coarse", "input_name": "image",
                  "input_groups": [["rgb", 3, "rgb8/255"]], "input_size": 224,
                  "crop_policy": "detection_box", "crop_scale": 1.6,
                  "output_name": "params", "pose": "absolute"},
     "input": {"name": "image", "shape": [null, 3, 224, 224], "dtype": "float32"},
     "output": {"name": "params", "shape": [null, P], "dtype": "float32"},
     "output_spec": {"groups": [["id", K_id], ...], "mean": [...], "std": [...]},
     "net_config": {...}, "onnx_file": "coarse.onnx", "sha256": "...", "size_bytes": ..,
     "opset": 17, "weights_dtype": "float16", "training": {...}, "training_data": {...},
     "created": "..."}

The ``contract`` (:mod:`face3d_ros.nets.contract`) is the train/run contract: input size and
channels, crop policy and scale, normalisation, output layout. Format-1 sidecars (the first
shipped weights) have no ``contract``; it is derived on load (:func:`contract_of`).

:func:`verify_weights` raises :class:`WeightFileError` (a ``ValueError``) when the file is missing,
truncated or corrupted (size / sha256 mismatch), is for another net, was trained for a face
model with other dimensions or another ``model_id``, or carries a contract the running code
cannot feed (the message names the field). Torch checkpoints (``.pt``) written by
:func:`save_checkpoint` are loaded with ``weights_only=True`` (no pickle code execution) by
:func:`load_checkpoint`, which applies the same checks.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from face3d_ros.nets.coarse_net import CoarseNet
from face3d_ros.nets.contract import (
    DEFAULT_CONTRACT,
    NET_KINDS,
    ContractError,
    NetContract,
    contract_from_meta,
)
from face3d_ros.nets.fine_net import FineNet
from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.tracking_net import TrackingNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "NET_IO",
    "SIDECAR_FORMAT",
    "WeightFileError",
    "build_net",
    "check_model_dims",
    "contract_of",
    "load_checkpoint",
    "model_dims_of",
    "net_config_of",
    "read_sidecar",
    "save_checkpoint",
    "sha256_file",
    "sidecar_path",
    "verify_weights",
]

SIDECAR_FORMAT = "face3d_ros.weights"
CHECKPOINT_FORMAT = "face3d_ros.checkpoint"
#: Format written by this code (2: with ``contract``); 1 is still read (contract migrated).
FORMAT_VERSION = 2
_READ_VERSIONS = (1, 2)

#: Input/output names and per-sample shapes of the default contract's graphs (a view of
#: :data:`~face3d_ros.nets.contract.DEFAULT_CONTRACT`; a weight file's own sizes are in its
#: contract, see :func:`contract_of`).
NET_IO: dict[str, dict[str, Any]] = {
    kind: {
        "input": DEFAULT_CONTRACT[kind].input_name,
        "input_shape": DEFAULT_CONTRACT[kind].input_shape,
        "output": DEFAULT_CONTRACT[kind].output_name,
    }
    for kind in NET_KINDS
}


class WeightFileError(ValueError):
    """A weight file or its sidecar is missing, corrupted or does not match the face model."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file.

    Args:
        path: File path.

    Returns:
        64 hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(weights_path: str | os.PathLike) -> Path:
    """Sidecar path of a weight file (same name, ``.json`` suffix).

    Args:
        weights_path: ``.onnx`` (or ``.pt``) path.

    Returns:
        The ``.json`` path.
    """
    return Path(weights_path).with_suffix(".json")


def model_dims_of(model: Any) -> dict[str, Any]:
    """Dimensions of a face model as a dict.

    Args:
        model: FaceModelData, MorphableModel, or a mapping with ``n_id``, ``n_exp``, ``n_alb`` and
            optionally ``n_vertices`` and ``model_id``.

    Returns:
        ``{"n_id", "n_exp", "n_alb"[, "n_vertices"][, "model_id"]}``.

    Raises:
        TypeError: If the dimensions cannot be read.
    """
    if isinstance(model, Mapping):
        src = dict(model)
    else:
        src = {}
        for key in ("n_id", "n_exp", "n_alb", "n_vertices"):
            if hasattr(model, key):
                src[key] = getattr(model, key)
        data = getattr(model, "data", None)
        model_id = getattr(model, "model_id", None) or getattr(data, "model_id", None)
        if model_id is not None:
            src["model_id"] = model_id
    missing = [k for k in ("n_id", "n_exp", "n_alb") if k not in src]
    if missing:
        raise TypeError(f"cannot read face model dimensions {missing} from {type(model).__name__}")
    out: dict[str, Any] = {k: int(src[k]) for k in ("n_id", "n_exp", "n_alb")}
    if src.get("n_vertices") is not None:
        out["n_vertices"] = int(src["n_vertices"])
    if src.get("model_id") is not None:
        out["model_id"] = str(src["model_id"])
    return out


def check_model_dims(
    net: str, stored: Mapping[str, Any], stored_model_id: str | None, model: Any, where: str
) -> None:
    """Raise if weights trained for ``stored`` dims do not fit ``model``.

    Args:
        net: ``coarse``, ``tracking`` or ``fine``.
        stored: Dims recorded with the weights.
        stored_model_id: ``model_id`` recorded with the weights (or None).
        model: The face model in use (see :func:`model_dims_of`).
        where: File name for the message.

    Raises:
        WeightFileError: On any mismatch.
    """
    dims = model_dims_of(model)
    keys = {"coarse": ("n_id", "n_exp"), "tracking": ("n_id", "n_exp", "n_alb"), "fine": ()}[net]
    for key in keys:
        if key not in stored:
            raise WeightFileError(f"{where}: no {key} recorded for the {net} net")
        if int(stored[key]) != dims[key]:
            raise WeightFileError(
                f"{where}: {net} net was trained for {key}={stored[key]} but the face model has "
                f"{key}={dims[key]}; use weights trained for this face model"
            )
    if net != "fine" and "n_vertices" in dims and "n_vertices" in stored:
        if int(stored["n_vertices"]) != dims["n_vertices"]:
            raise WeightFileError(
                f"{where}: trained for a face model with {stored['n_vertices']} vertices, "
                f"the face model in use has {dims['n_vertices']}"
            )
    if net != "fine" and stored_model_id and dims.get("model_id"):
        if stored_model_id != dims["model_id"]:
            raise WeightFileError(
                f"{where}: trained for face model {stored_model_id!r}, "
                f"the face model in use is {dims['model_id']!r}"
            )


def read_sidecar(weights_path: str | os.PathLike) -> dict[str, Any]:
    """Read and minimally validate the JSON sidecar of a weight file.

    Args:
        weights_path: The ``.onnx`` path.

    Returns:
        The sidecar dictionary.

    Raises:
        WeightFileError: If the sidecar is missing, unreadable or of another format.
    """
    path = sidecar_path(weights_path)
    if not path.is_file():
        raise WeightFileError(f"missing sidecar {path} for weight file {weights_path}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightFileError(f"unreadable sidecar {path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise WeightFileError(f"{path} is not a {SIDECAR_FORMAT} sidecar")
    if meta.get("format_version") not in _READ_VERSIONS:
        raise WeightFileError(
            f"{path}: sidecar format_version {meta.get('format_version')} unsupported "
            f"(this code reads {_READ_VERSIONS})"
        )
    for key in ("net", "sha256", "model_dims", "input", "output", "output_spec"):
        if key not in meta:
            raise WeightFileError(f"{path}: sidecar lacks {key!r}")
    if meta["net"] not in NET_IO:
        raise WeightFileError(f"{path}: unknown net {meta['net']!r}")
    if meta["format_version"] >= 2 and "contract" not in meta:
        raise WeightFileError(f"{path}: sidecar lacks 'contract'")
    return meta


def contract_of(meta: Mapping[str, Any], where: str = "weights") -> NetContract:
    """The checked train/run contract of a sidecar or checkpoint header.

    Parses (or, for format-1 files, derives) the contract, checks that the running code can
    feed it (:meth:`~face3d_ros.nets.contract.NetContract.check_runnable`) and that the recorded
    output groups are the contract's layout for the recorded face-model dims.

    Args:
        meta: Sidecar dict or checkpoint header.
        where: File name for messages.

    Returns:
        The contract.

    Raises:
        WeightFileError: Naming the field that is malformed or disagrees.
    """
    try:
        contract = contract_from_meta(meta, where)
        contract.check_runnable(where)
    except ContractError as exc:
        raise WeightFileError(str(exc)) from exc
    groups = meta.get("output_spec", {}).get("groups")
    dims = meta.get("model_dims", {})
    if groups is not None and contract.net != "fine":
        try:
            want = contract.groups(dims["n_id"], dims["n_exp"], dims.get("n_alb", 0))
        except KeyError as exc:
            raise WeightFileError(f"{where}: model_dims lacks {exc}") from exc
        got = tuple((str(n), int(k)) for n, k in groups)
        if got != want:
            raise WeightFileError(
                f"{where}: field 'output_spec.groups' is {[list(g) for g in got]}, the "
                f"{contract.net} contract's layout for these dims is {[list(g) for g in want]}"
            )
    return contract


def verify_weights(
    weights_path: str | os.PathLike,
    *,
    net: str | None = None,
    model: Any = None,
    check_hash: bool = True,
) -> dict[str, Any]:
    """Check an exported weight file against its sidecar and the face model in use.

    Args:
        weights_path: ``.onnx`` path.
        net: Expected net kind (``coarse``, ``tracking``, ``fine``) or None to accept any.
        model: Face model in use (FaceModelData, MorphableModel or dims mapping) or None to skip
            the dimension check.
        check_hash: Verify size and sha256 (leave True except in hot reload loops).

    Returns:
        The sidecar dictionary.

    Raises:
        WeightFileError: Missing/truncated/corrupted file, wrong net, or dims mismatch.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise WeightFileError(f"weight file {path} does not exist")
    meta = read_sidecar(path)
    if net is not None and meta["net"] != net:
        raise WeightFileError(f"{path} holds a {meta['net']} net, expected {net}")
    if check_hash:
        size = path.stat().st_size
        if "size_bytes" in meta and int(meta["size_bytes"]) != size:
            raise WeightFileError(
                f"{path} is {size} bytes but its sidecar records {meta['size_bytes']} "
                "(truncated or replaced file)"
            )
        digest = sha256_file(path)
        if digest != meta["sha256"]:
            raise WeightFileError(
                f"{path}: sha256 {digest[:12]}... does not match the sidecar's "
                f"{str(meta['sha256'])[:12]}... (corrupted or replaced file)"
            )
    if model is not None:
        check_model_dims(meta["net"], meta["model_dims"], meta.get("model_id"), model, str(path))
    contract_of(meta, str(path))
    return meta


def net_config_of(net: nn.Module) -> dict[str, Any]:
    """Constructor configuration of a net (what :func:`build_net` needs besides the spec).

    Args:
        net: CoarseNet, TrackingNet or FineNet.

    Returns:
        JSON-serialisable config.

    Raises:
        TypeError: For other modules.
    """
    if isinstance(net, FineNet):
        return {
            "channels": list(net.channels),
            "depth_scale": float(net.depth_scale.item()),
        }
    if isinstance(net, CoarseNet | TrackingNet):
        return {}
    raise TypeError(f"not a face3d_ros net: {type(net).__name__}")


def build_net(
    kind: str,
    spec: OutputSpec,
    net_config: Mapping[str, Any] | None = None,
    contract: NetContract | None = None,
) -> nn.Module:
    """Construct an (untrained) net from its kind, output spec and config.

    Args:
        kind: ``coarse``, ``tracking`` or ``fine``.
        spec: Output spec (groups + mean/std).
        net_config: Extra constructor arguments (FineNet channels, depth_scale).
        contract: The net's train/run contract (default: the default contract's).

    Returns:
        The net.

    Raises:
        ValueError: On an unknown kind or inconsistent spec.
    """
    cfg = dict(net_config or {})
    if kind == "coarse":
        return CoarseNet.from_spec(spec, contract)
    if kind == "tracking":
        return TrackingNet.from_spec(spec, contract)
    if kind == "fine":
        if spec.size != 1:
            raise ValueError(f"FineNet spec must have one output, got {spec.groups}")
        net = FineNet(
            channels=tuple(cfg.get("channels", (16, 32, 64, 128))),
            displacement_scale=float(spec.std[0]),
            depth_scale=float(cfg.get("depth_scale", 32.0)),
            contract=contract,
        )
        net.output_mean.fill_(float(spec.mean[0]))
        return net
    raise ValueError(f"unknown net kind {kind!r}; expected coarse, tracking or fine")


def save_checkpoint(
    path: str | os.PathLike,
    net: nn.Module,
    *,
    model: Any,
    extra: Mapping[str, Any] | None = None,
    float_dtype: torch.dtype | None = None,
) -> None:
    """Write a checkpoint loadable with ``torch.load(weights_only=True)``.

    The file is written to ``<path>.tmp`` and renamed, so a crash never leaves a half file.

    Args:
        path: Destination ``.pt``.
        net: The net (its ``kind``, contract, spec and state are stored).
        model: Face model the net was trained for (dims and model_id are stored).
        extra: More entries (optimizer state, step, config ...) made of tensors, numbers,
            strings, lists and dicts only.
        float_dtype: Store the floating-point tensors of the state dict in this dtype (e.g.
            ``torch.float16`` for a compact copy that training can start from;
            :func:`load_checkpoint` loads it into the float32 net). None = as they are.
    """
    dims = model_dims_of(model)
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "net": net.kind,
        "model_id": dims.get("model_id", ""),
        "model_dims": {k: v for k, v in dims.items() if k != "model_id"},
        "contract": net.contract.to_dict(),
        "output_spec": net.spec.to_dict(),
        "net_config": net_config_of(net),
        "state_dict": {
            k: v.detach().cpu().to(float_dtype)
            if float_dtype is not None and v.is_floating_point() else v.detach().cpu()
            for k, v in net.state_dict().items()
        },
    }
    if float_dtype is not None:
        ckpt["state_dict_dtype"] = str(float_dtype).removeprefix("torch.")
    if extra:
        ckpt.update(dict(extra))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    net: str | None = None,
    model: Any = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` and rebuild the net.

    Args:
        path: ``.pt`` path.
        net: Expected kind or None.
        model: Face model in use for the dims check, or None to skip it.
        map_location: Device for the tensors.

    Returns:
        ``(net, checkpoint_dict)``; the net is in eval mode.

    Raises:
        WeightFileError: Missing, truncated or foreign file, wrong kind, dims mismatch, or a state
            dict that does not fit the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        raise WeightFileError(
            f"cannot read checkpoint {path} (truncated or corrupted?): {exc}"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise WeightFileError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    kind = ckpt.get("net")
    if net is not None and kind != net:
        raise WeightFileError(f"{path} holds a {kind} net, expected {net}")
    if model is not None:
        check_model_dims(kind, ckpt["model_dims"], ckpt.get("model_id"), model, str(path))
    contract = contract_of(ckpt, str(path))
    try:
        module = build_net(
            kind, OutputSpec.from_dict(ckpt["output_spec"]), ckpt.get("net_config"), contract
        )
        module.load_state_dict(ckpt["state_dict"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise WeightFileError(f"{path}: checkpoint does not fit the {kind} net: {exc}") from exc
    module.to(map_location).eval()
    return module, ckpt
