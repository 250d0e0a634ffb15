# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT engines through torch-tensorrt, built once and cached per GPU name + TRT version.

Engines are compiled from a torch checkpoint (see :func:`face3d_ros.nets.weights.load_checkpoint`)
with the de-normalisation folded in, and saved as a torch.export program (``.ep``) under
``cache_dir/<net>-<sha256[:16]>-<gpu>-trt<version>-<precision>.ep``. A later call with the same
checkpoint, GPU and TensorRT version loads the cached engine instead of rebuilding it.
Where there is no CUDA device or torch_tensorrt is not installed, :class:`TensorRTUnavailableError`
is raised with the reason; nothing falls back silently.

Loading a cached ``.ep`` unpickles it (``torch.export.load`` uses ``weights_only=False``), so
whoever can write the cache can run code in the process that loads it. A cached engine is
therefore loaded only when :func:`verify_cached_engine` finds nothing wrong: the file, its
folder and its hash record are owned by the current user and writable by nobody else, and the
file's sha256 equals the one recorded beside it (``<engine>.sha256``) when it was built. Any
other cache file is not loaded: a warning says why and the engine is rebuilt. The cache folder
is created private (mode 0700).
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.weights import NET_IO, load_checkpoint, sha256_file

__all__ = [
    "TensorRTUnavailableError",
    "build_tensorrt_engine",
    "engine_cache_path",
    "load_cached_engine",
    "record_engine_hash",
    "verify_cached_engine",
]


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


def _hash_record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _foreign_writable(path: Path) -> str | None:
    """Why someone other than the current user could have written ``path``, or None."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    uid = os.getuid()
    if st.st_uid != uid:
        return f"{path} is owned by uid {st.st_uid}, not by the current user ({uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by its group or by others (mode {stat.filemode(st.st_mode)})"
    return None


def verify_cached_engine(path: str | os.PathLike) -> str | None:
    """Why the cached engine ``path`` must not be loaded, or None when it may be.

    Checks: the engine file, its folder and its hash record (``<engine>.sha256``, written by
    :func:`record_engine_hash` at build time) are owned by the current user and writable by
    nobody else, and the file's sha256 equals the recorded one.
    """
    path = Path(path)
    record = _hash_record(path)
    if not record.is_file():
        return f"no hash was recorded for it when it was built ({record.name} missing)"
    for item in (path.parent, path, record):
        reason = _foreign_writable(item)
        if reason is not None:
            return reason
    expected = record.read_text().split()[:1]
    if not expected or sha256_file(path) != expected[0]:
        return "its sha256 differs from the one recorded when it was built"
    return None


def record_engine_hash(path: str | os.PathLike) -> Path:
    """Write the sha256 of a freshly built engine beside it (mode 0600); returns the record."""
    path = Path(path)
    record = _hash_record(path)
    tmp = record.with_name(record.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{sha256_file(path)}  {path.name}\n")
    os.replace(tmp, record)
    return record


def load_cached_engine(path: str | os.PathLike) -> torch.nn.Module | None:
    """Load a cached engine after :func:`verify_cached_engine`; None (with a warning) if refused."""
    path = Path(path)
    problem = verify_cached_engine(path)
    if problem is not None:
        warnings.warn(f"not loading the cached TensorRT engine {path}: {problem}; rebuilding it",
                      stacklevel=2)
        return None
    return torch.export.load(str(path)).module()


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
        rebuild: Ignore a cached engine. A cached engine that fails
            :func:`verify_cached_engine` is ignored too (with a warning).

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
        cached = load_cached_engine(path)
        if cached is not None:
            return cached, path
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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    trt.save(compiled, str(path), inputs=[example])
    record_engine_hash(path)
    return compiled, path
