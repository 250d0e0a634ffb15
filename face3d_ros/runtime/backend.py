# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The inference-backend interface and its factory.

A backend runs one exported net (CoarseNet, tracking CoarseNet or FineNet) on numpy arrays::

    backend = create_backend("onnxruntime", "face3d_ros/weights/coarse.onnx", threads=2)
    params = backend.run({"image": crop})["params"]        # crop: [B, 3, 224, 224] float32

Three implementations: ONNX Runtime (default, CPU), PyTorch (``.pt`` checkpoints rebuilt with
:mod:`face3d_ros.nets`) and TensorRT (GPU only). Every backend checks the weight file against
its JSON sidecar (or the checkpoint header) and, when a face model is given, against that model's
dimensions and ``model_id``; every mismatch raises a
:class:`~face3d_ros.nets.weights.WeightFileError` (a ``ValueError``) that says what is wrong.
Inputs are validated on every call (names, rank, per-sample shape, dtype float32) and bad inputs
raise ``ValueError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "BACKEND_KINDS",
    "BackendKind",
    "InferenceBackend",
    "NetIO",
    "check_inputs",
    "create_backend",
]

BackendKind = Literal["onnxruntime", "torch", "tensorrt"]
#: Accepted backend names.
BACKEND_KINDS: tuple[str, ...] = ("onnxruntime", "torch", "tensorrt")


@runtime_checkable
class InferenceBackend(Protocol):
    """One loaded net behind a numpy-in, numpy-out interface.

    Attributes:
        kind: Backend name (``onnxruntime``, ``torch`` or ``tensorrt``).
        net: Which net is loaded (``coarse``, ``tracking`` or ``fine``).
        io: Input/output names and per-sample input shape.
        meta: The sidecar (or checkpoint header) the weights were checked against.
    """

    kind: str
    net: str
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


class NetIO:
    """Names and shapes of a net's single input and single output.

    Attributes:
        input_name: e.g. ``"image"`` (coarse) or ``"input"`` (tracking, fine).
        input_shape: Per-sample ``(C, H, W)``.
        output_name: ``"params"`` or ``"displacement"``.
    """

    __slots__ = ("input_name", "input_shape", "output_name")

    def __init__(self, input_name: str, input_shape: tuple[int, int, int], output_name: str):
        """Store the names and the per-sample shape.

        Args:
            input_name: Input tensor name.
            input_shape: ``(C, H, W)``.
            output_name: Output tensor name.
        """
        self.input_name = str(input_name)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.output_name = str(output_name)

    @classmethod
    def for_net(cls, net: str) -> NetIO:
        """The architecture's I/O contract for a net kind.

        Args:
            net: ``coarse``, ``tracking`` or ``fine``.

        Returns:
            Its :class:`NetIO`.

        Raises:
            ValueError: Unknown net kind.
        """
        from face3d_ros.nets.weights import NET_IO

        if net not in NET_IO:
            raise ValueError(f"unknown net {net!r}; expected one of {sorted(NET_IO)}")
        spec = NET_IO[net]
        return cls(spec["input"], spec["input_shape"], spec["output"])

    def __repr__(self) -> str:
        """Readable form."""
        return (
            f"NetIO({self.input_name!r} [B, {', '.join(map(str, self.input_shape))}] -> "
            f"{self.output_name!r})"
        )


def check_inputs(inputs: dict[str, np.ndarray], io: NetIO, where: str) -> np.ndarray:
    """Validate a backend's input dictionary and return the input array.

    Args:
        inputs: ``{name: array}`` passed to ``run``.
        io: The net's I/O contract.
        where: Backend description for messages.

    Returns:
        The C-contiguous float32 ``[B, C, H, W]`` input (the caller's array when it already is).

    Raises:
        ValueError: Missing/extra names, wrong rank, per-sample shape, empty batch or dtype.
    """
    if not isinstance(inputs, dict) or set(inputs) != {io.input_name}:
        got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        raise ValueError(f"{where}: expected inputs {{{io.input_name!r}}}, got {got}")
    x = inputs[io.input_name]
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{where}: input {io.input_name!r} must be a numpy array")
    if x.dtype != np.float32:
        raise ValueError(f"{where}: input {io.input_name!r} must be float32, got {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != io.input_shape or x.shape[0] < 1:
        raise ValueError(
            f"{where}: input {io.input_name!r} must have shape [B>=1, "
            f"{', '.join(map(str, io.input_shape))}], got {list(x.shape)}"
        )
    return np.ascontiguousarray(x)


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
    if kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend {kind!r}; expected one of {', '.join(BACKEND_KINDS)}")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    path = Path(weights_path)
    if kind == "onnxruntime":
        from face3d_ros.runtime.onnx_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(
            path,
            device=device,
            threads=threads,
            net=net,
            model=model,
            check_hash=check_hash,
            allow_spinning=allow_spinning,
        )
    if kind == "torch":
        from face3d_ros.runtime.torch_backend import TorchBackend

        return TorchBackend(path, device=device, threads=threads, net=net, model=model)
    from face3d_ros.runtime.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(
        path,
        device=device,
        net=net,
        model=model,
        check_hash=check_hash,
        cache_dir=cache_dir,
    )
