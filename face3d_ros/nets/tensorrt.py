# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT engines through torch-tensorrt, built once and cached per GPU name + TRT version.

Engines are compiled from a torch checkpoint (see :func:`face3d_ros.nets.weights.load_checkpoint`)
with the de-normalisation folded in, and saved as a torch.export program (``.ep``) under
``cache_dir/<net>-<sha256[:16]>-<gpu>-trt<version>-<precision>.ep``. A later call with the same
checkpoint, GPU and TensorRT version loads the cached engine instead of rebuilding it.
Where there is no CUDA device or torch_tensorrt is not installed, :class:`TensorRTUnavailableError`
is raised with the reason; nothing falls back silently.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.weights import NET_IO, load_checkpoint, sha256_file

__all__ = ["TensorRTUnavailableError", "build_tensorrt_engine", "engine_cache_path"]


class TensorRTUnavailableError(RuntimeError):
    """TensorRT cannot be used here (no CUDA device or torch_tensorrt missing)."""


def _require_tensorrt() -> ModuleType:
    """Import torch_tensorrt and check for a CUDA device.

    Returns:
        The torch_tensorrt module.

    Raises:
        TensorRTUnavailableError: With the reason.
    """
    if not torch.cuda.is_available():
        raise TensorRTUnavailableError(
            "TensorRT needs a CUDA GPU but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}); use the onnxruntime or torch backend on this machine"
        )
    try:
        return importlib.import_module("torch_tensorrt")
    except ImportError as exc:
        raise TensorRTUnavailableError(
            "torch_tensorrt is not installed; install the torch-tensorrt wheel matching "
            f"torch {torch.__version__} and CUDA, or use the onnxruntime backend ({exc})"
        ) from exc


def engine_cache_path(
    cache_dir: str | os.PathLike, net: str, weights_sha256: str, precision: str = "fp16"
) -> Path:
    """Cache file of an engine for this GPU and TensorRT version.

    Args:
        cache_dir: Cache folder.
        net: Net kind.
        weights_sha256: sha256 of the checkpoint.
        precision: ``fp16`` or ``fp32``.

    Returns:
        The ``.ep`` path.

    Raises:
        TensorRTUnavailableError: Without CUDA or torch_tensorrt.
    """
    trt = _require_tensorrt()
    gpu = re.sub(r"[^A-Za-z0-9]+", "_", torch.cuda.get_device_name(0)).strip("_")
    version = re.sub(r"[^A-Za-z0-9.]+", "_", str(getattr(trt, "__version__", "unknown")))
    name = f"{net}-{weights_sha256[:16]}-{gpu}-trt{version}-{precision}.ep"
    return Path(cache_dir) / name


def build_tensorrt_engine(
    checkpoint: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    model: Any = None,
    precision: str = "fp16",
    max_batch: int = 4,
    rebuild: bool = False,
) -> tuple[torch.nn.Module, Path]:
    """Build (or load from cache) a TensorRT-compiled, de-normalising module.

    Args:
        checkpoint: Torch checkpoint of the net (``.pt``).
        cache_dir: Engine cache folder (created if needed).
        model: Face model in use for the dims check (or None).
        precision: ``fp16`` or ``fp32`` kernels; inputs and outputs stay float32.
        max_batch: Largest batch the engine accepts (minimum 1, optimum 1).
        rebuild: Ignore a cached engine.

    Returns:
        ``(module, engine_path)``; call ``module(x_cuda)`` with the float32 input.

    Raises:
        TensorRTUnavailableError: Without CUDA or torch_tensorrt.
        ValueError: On a bad precision.
        face3d_ros.nets.weights.WeightFileError: On a bad checkpoint.
    """
    if precision not in ("fp16", "fp32"):
        raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
    trt = _require_tensorrt()
    path = engine_cache_path(cache_dir, "net", sha256_file(checkpoint), precision)
    net, ckpt = load_checkpoint(checkpoint, model=model, map_location="cuda")
    kind = ckpt["net"]
    path = path.with_name(path.name.replace("net-", f"{kind}-", 1))
    shape = NET_IO[kind]["input_shape"]
    if path.is_file() and not rebuild:
        return torch.export.load(str(path)).module(), path
    module = Denormalized(net).eval().cuda()
    example = torch.rand(1, *shape, device="cuda")
    inputs = [
        trt.Input(
            min_shape=(1, *shape),
            opt_shape=(1, *shape),
            max_shape=(max_batch, *shape),
            dtype=torch.float32,
        )
    ]
    enabled = {torch.float16, torch.float32} if precision == "fp16" else {torch.float32}
    compiled = trt.compile(module, ir="dynamo", inputs=inputs, enabled_precisions=enabled)
    path.parent.mkdir(parents=True, exist_ok=True)
    trt.save(compiled, str(path), inputs=[example])
    return compiled, path
