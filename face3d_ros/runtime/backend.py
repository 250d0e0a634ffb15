# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The inference-backend interface, the backend registry and the factory.

A backend runs one exported net (CoarseNet, tracking CoarseNet or FineNet) on numpy arrays::

    backend = create_backend("onnxruntime", "face3d_ros/weights/coarse.onnx", threads=2)
    params = backend.run({"image": crop})["params"]    # crop: [B, *backend.io.input_shape]

Three implementations: ONNX Runtime (default, CPU), PyTorch (``.pt`` checkpoints rebuilt with
:mod:`face3d_ros.nets`) and TensorRT (GPU only). Every backend checks the weight file against
its JSON sidecar (or the checkpoint header) and, when a face model is given, against that model's
dimensions and ``model_id``, and reads the net's train/run contract from it
(:attr:`InferenceBackend.contract`); every mismatch raises a
:class:`~face3d_ros.nets.weights.WeightFileError` (a ``ValueError``) that says what is wrong.
Inputs are validated on every call (names, rank, per-sample shape, dtype float32) and bad inputs
raise ``ValueError``.

Adding a backend is one new module with a class following :class:`InferenceBackend` (its
constructor takes ``weights_path`` and keyword options) plus one line in :data:`BACKENDS`.
The registry names the class by module path (imported only when that backend is created), so
the backend modules never import this one and there is no import cycle.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from face3d_ros.nets.contract import NetContract
from face3d_ros.runtime.netio import NetIO, check_inputs

__all__ = [
    "BACKENDS",
    "BACKEND_KINDS",
    "BackendInfo",
    "BackendKind",
    "InferenceBackend",
    "NetIO",
    "check_inputs",
    "create_backend",
]


@dataclass(frozen=True)
class BackendInfo:
    """Registry entry of a backend.

    Attributes:
        target: ``"module:Class"`` of the implementation.
        suffix: Weight-file suffix it loads from a weights directory (``.onnx`` / ``.pt``).
        precisions: Weight precisions a NetBundle may load with it.
        description: One line for parameter docs.
    """

    target: str
    suffix: str
    precisions: tuple[str, ...]
    description: str


#: The backends: name -> entry. The first is the default.
BACKENDS: dict[str, BackendInfo] = {
    "onnxruntime": BackendInfo(
        "face3d_ros.runtime.onnx_backend:OnnxRuntimeBackend", ".onnx", ("fp32", "int8"),
        "ONNX Runtime on CPU (or CUDA with onnxruntime-gpu)",
    ),
    "torch": BackendInfo(
        "face3d_ros.runtime.torch_backend:TorchBackend", ".pt", ("fp32",),
        "PyTorch eager on .pt checkpoints",
    ),
    "tensorrt": BackendInfo(
        "face3d_ros.runtime.tensorrt_backend:TensorRTBackend", ".onnx", ("fp32",),
        "TensorRT engines (CUDA GPU only)",
    ),
}  # fmt: skip
BackendKind = Literal["onnxruntime", "torch", "tensorrt"]
#: Accepted backend names (the keys of :data:`BACKENDS`).
BACKEND_KINDS: tuple[str, ...] = tuple(BACKENDS)


@runtime_checkable
class InferenceBackend(Protocol):
    """One loaded net behind a numpy-in, numpy-out interface.

    Attributes:
        kind: Backend name (a key of :data:`BACKENDS`).
        net: Which net is loaded (``coarse``, ``tracking`` or ``fine``).
        contract: The net's train/run contract read from its weight file.
        io: Input/output names and per-sample input shape (from the contract).
        meta: The sidecar (or checkpoint header) the weights were checked against.
    """

    kind: str
    net: str
    contract: NetContract
    io: NetIO
    meta: dict[str, Any]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the net.

        Args:
            inputs: ``{io.input_name: float32 [B, C, H, W]}``.

        Returns:
            ``{io.output_name: float32 array}``: ``[B, P]`` parameters or ``[B, 1, H, W]``
            displacement, already de-normalised.
        """
        ...


def backend_class(kind: str) -> type:
    """Import and return the implementation class of a registered backend.

    Args:
        kind: A key of :data:`BACKENDS`.

    Returns:
        The class.

    Raises:
        ValueError: Unknown backend.
    """
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(BACKEND_KINDS)}")
    module, name = BACKENDS[kind].target.split(":")
    return getattr(importlib.import_module(module), name)


def create_backend(
    kind: BackendKind,
    weights_path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    threads: int | None = None,
    net: str | None = None,
    model: Any = None,
    check_hash: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_spinning: bool = False,
) -> InferenceBackend:
    """Load one net with the requested backend.

    Args:
        kind: ``"onnxruntime"`` (``.onnx`` + sidecar; CPU, or ``device="cuda"`` with
            onnxruntime-gpu), ``"torch"`` (``.pt`` checkpoint) or ``"tensorrt"`` (GPU only;
            ``.onnx`` -> cached TensorRT engine, or ``.pt`` -> torch-tensorrt).
        weights_path: The weight file.
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:N"`` for torch / tensorrt).
        threads: Intra-op CPU threads (None = the library default, usually all cores).
        net: Expected net (``coarse``, ``tracking``, ``fine``) or None to accept the file's.
        model: Face model in use (FaceModelData / MorphableModel) for the dims and model_id
            check, or None to skip that check.
        check_hash: Verify the weight file's size and sha256 against the sidecar.
        cache_dir: TensorRT engine cache (default ``$XDG_CACHE_HOME/face3d_ros/tensorrt``).
        allow_spinning: onnxruntime only: busy-waiting intra-op threads (see
            :class:`~face3d_ros.runtime.onnx_backend.OnnxRuntimeBackend`).

    Returns:
        The backend.

    Raises:
        ValueError: Unknown backend kind or invalid thread count.
        WeightFileError: (a ``ValueError``) missing, corrupted or mismatching weights.
        RuntimeError: The backend cannot run here (no CUDA device, library not installed).
    """
    cls = backend_class(kind)
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    options = {
        "device": device,
        "threads": threads,
        "net": net,
        "model": model,
        "check_hash": check_hash,
        "cache_dir": cache_dir,
        "allow_spinning": allow_spinning,
    }
    accepted = inspect.signature(cls.__init__).parameters
    # Options a backend does not take are dropped (e.g. threads for TensorRT, whose work runs
    # on the GPU); the documented defaults above say which backend uses which option.
    return cls(Path(weights_path), **{k: v for k, v in options.items() if k in accepted})
