# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorRT backend (GPU only: it needs a CUDA device and NVIDIA's TensorRT).

Two sources, chosen by the weight file's suffix:

* ``.onnx`` (+ sidecar): a TensorRT engine is built from the ONNX graph with the ``tensorrt``
  Python package and cached under ``$XDG_CACHE_HOME/face3d_ros/tensorrt/<gpu>-<cc>-trt<version>/``
  (default ``~/.cache/...``), keyed by the ONNX file's sha256, so the (slow) build happens once per
  GPU model, TensorRT version and weight file. Engines are not portable across GPUs or TensorRT
  versions, hence the key.
* ``.pt`` (checkpoint): the :mod:`face3d_ros.nets` module is compiled with ``torch_tensorrt``
  (dynamo IR) by :func:`face3d_ros.nets.tensorrt.build_tensorrt_engine`, cached in the same
  cache root per checkpoint sha256, GPU name and TensorRT version.

Without a CUDA device the constructor raises ``RuntimeError("TensorRT backend needs a CUDA
device (none found)")``; without the libraries it raises a ``RuntimeError`` that names the
missing package. There is no fallback to another backend.

Note:
    This module was written without access to a GPU; only its error paths are covered by the
    test-suite. Treat it as untested on real hardware.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from face3d_ros.runtime.netio import NetIO, check_inputs

__all__ = ["TensorRTBackend", "default_engine_cache_dir", "engine_cache_path"]

NO_CUDA_MESSAGE = "TensorRT backend needs a CUDA device (none found)"


def default_engine_cache_dir() -> Path:
    """Root of the TensorRT engine cache.

    Returns:
        ``$XDG_CACHE_HOME/face3d_ros/tensorrt`` or ``~/.cache/face3d_ros/tensorrt``.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "face3d_ros" / "tensorrt"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "unknown"


def engine_cache_path(
    cache_dir: Path,
    *,
    gpu_name: str,
    compute_capability: tuple[int, int],
    trt_version: str,
    net: str,
    sha256: str,
    fp16: bool,
    max_batch: int,
) -> Path:
    """Where the engine for one (GPU, TensorRT version, weight file, options) is cached.

    Args:
        cache_dir: Cache root (see :func:`default_engine_cache_dir`).
        gpu_name: ``torch.cuda.get_device_name()``.
        compute_capability: ``(major, minor)``.
        trt_version: ``tensorrt.__version__``.
        net: Net kind.
        sha256: The ONNX file's sha256.
        fp16: Whether FP16 kernels are allowed.
        max_batch: Largest batch of the optimisation profile.

    Returns:
        The ``.engine`` path.
    """
    folder = f"{_slug(gpu_name)}-sm{compute_capability[0]}{compute_capability[1]}-trt{trt_version}"
    name = f"{net}-{sha256[:16]}-b{max_batch}{'-fp16' if fp16 else ''}.engine"
    return Path(cache_dir) / folder / name


class TensorRTBackend:
    """One net run with TensorRT on a CUDA device (GPU only).

    Attributes:
        kind: ``"tensorrt"``.
        net: ``coarse``, ``tracking`` or ``fine``.
        io: Input/output names and the per-sample input shape.
        meta: The verified sidecar (``.onnx``) or checkpoint header (``.pt``).
        engine_path: The cached engine file.
    """

    kind = "tensorrt"

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        device: str = "cuda",
        net: str | None = None,
        model: Any = None,
        check_hash: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        fp16: bool = False,
        max_batch: int = 1,
    ) -> None:
        """Check for CUDA and TensorRT, then build or load the engine.

        Args:
            weights_path: ``.onnx`` (engine built and cached) or ``.pt`` (torch_tensorrt).
            device: ``"cuda"`` or ``"cuda:N"``. ``"cpu"`` is rejected (GPU-only backend).
            net: Expected net kind or None.
            model: Face model in use for the dims / model_id check, or None.
            check_hash: Verify size and sha256 of an ``.onnx`` against its sidecar.
            cache_dir: Engine cache root (default :func:`default_engine_cache_dir`).
            fp16: Allow FP16 kernels.
            max_batch: Largest batch the engine accepts.

        Raises:
            RuntimeError: No CUDA device, or ``tensorrt`` / ``torch_tensorrt`` not installed, or
                the engine build failed.
            ValueError: ``device`` is not a CUDA device or ``max_batch < 1``.
            WeightFileError: Missing, corrupted or mismatching weights.
        """
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(NO_CUDA_MESSAGE)
        if not device.startswith("cuda"):
            raise ValueError(f"the TensorRT backend is GPU-only; use device='cuda', not {device!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        from face3d_ros.nets.weights import WeightFileError

        self._torch = torch
        self.device = torch.device(device)
        self.weights_path = Path(weights_path)
        self.engine_path: Path | None = None
        self._compiled: Any = None
        self._context: Any = None
        suffix = self.weights_path.suffix
        if suffix == ".onnx":
            self._init_engine(net, model, check_hash, cache_dir, fp16, max_batch)
        elif suffix == ".pt":
            self._init_torch_tensorrt(net, model, fp16, max_batch, cache_dir)
        else:
            raise WeightFileError(
                f"the tensorrt backend needs an .onnx or .pt file, got {self.weights_path}"
            )

    # -- .onnx -> TensorRT engine -------------------------------------------------------------

    def _init_engine(
        self,
        net: str | None,
        model: Any,
        check_hash: bool,
        cache_dir: str | os.PathLike[str] | None,
        fp16: bool,
        max_batch: int,
    ) -> None:
        from face3d_ros.nets.weights import contract_of, sha256_file, verify_weights

        try:
            import tensorrt as trt
        except ImportError as exc:
            raise RuntimeError(
                "TensorRT backend for .onnx weights needs NVIDIA's tensorrt Python package "
                "(tensorrt not installed)"
            ) from exc
        torch = self._torch
        self.meta: dict[str, Any] = verify_weights(
            self.weights_path, net=net, model=model, check_hash=check_hash
        )
        self.net: str = self.meta["net"]
        self.contract = contract_of(self.meta, str(self.weights_path))
        self.io = NetIO.from_contract(self.contract)
        index = self.device.index if self.device.index is not None else 0
        sha = self.meta["sha256"] if check_hash else sha256_file(self.weights_path)
        self.engine_path = engine_cache_path(
            Path(cache_dir) if cache_dir is not None else default_engine_cache_dir(),
            gpu_name=torch.cuda.get_device_name(index),
            compute_capability=torch.cuda.get_device_capability(index),
            trt_version=trt.__version__,
            net=self.net,
            sha256=sha,
            fp16=fp16,
            max_batch=max_batch,
        )
        logger = trt.Logger(trt.Logger.WARNING)
        if self.engine_path.is_file():
            serialized = self.engine_path.read_bytes()
        else:
            serialized = self._build_engine(trt, logger, fp16, max_batch)
            self.engine_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.engine_path.with_name(self.engine_path.name + f".tmp{os.getpid()}")
            tmp.write_bytes(serialized)
            os.replace(tmp, self.engine_path)
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(logger)
            self._engine = self._runtime.deserialize_cuda_engine(serialized)
            if self._engine is None:
                raise RuntimeError(
                    f"TensorRT could not deserialize {self.engine_path}; delete it to rebuild"
                )
            self._context = self._engine.create_execution_context()
        self._trt = trt

    def _build_engine(self, trt: Any, logger: Any, fp16: bool, max_batch: int) -> bytes:
        from face3d_ros.nets.weights import WeightFileError

        builder = trt.Builder(logger)
        flags = 0
        if int(trt.__version__.split(".")[0]) < 10:
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(self.weights_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise WeightFileError(f"TensorRT cannot parse {self.weights_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        graph_input = network.get_input(0)
        if graph_input.shape[0] == -1:
            c, h, w = self.io.input_shape
            profile = builder.create_optimization_profile()
            profile.set_shape(graph_input.name, (1, c, h, w), (1, c, h, w), (max_batch, c, h, w))
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"TensorRT engine build failed for {self.weights_path}")
        return bytes(serialized)

    def _run_engine(self, x: np.ndarray) -> np.ndarray:
        torch, trt = self._torch, self._trt
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16}
        xt = torch.from_numpy(x).to(self.device)
        in_dtype = dtypes[self._engine.get_tensor_dtype(self.io.input_name)]
        xt = xt.to(in_dtype).contiguous()
        ctx = self._context
        ctx.set_input_shape(self.io.input_name, tuple(xt.shape))
        out_shape = tuple(ctx.get_tensor_shape(self.io.output_name))
        out_dtype = dtypes[self._engine.get_tensor_dtype(self.io.output_name)]
        out = torch.empty(out_shape, dtype=out_dtype, device=self.device)
        ctx.set_tensor_address(self.io.input_name, xt.data_ptr())
        ctx.set_tensor_address(self.io.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed for the {self.net} net")
        stream.synchronize()
        return out.float().cpu().numpy()

    # -- .pt -> torch_tensorrt -----------------------------------------------------------------

    def _init_torch_tensorrt(
        self,
        net: str | None,
        model: Any,
        fp16: bool,
        max_batch: int,
        cache_dir: str | os.PathLike[str] | None,
    ) -> None:
        try:
            import torch_tensorrt  # noqa: F401  (availability check with a clear message)
        except ImportError as exc:
            raise RuntimeError(
                "TensorRT backend for .pt checkpoints needs torch-tensorrt "
                "(torch_tensorrt not installed)"
            ) from exc
        from face3d_ros.nets.tensorrt import build_tensorrt_engine
        from face3d_ros.nets.weights import contract_of, load_checkpoint

        _, ckpt = load_checkpoint(self.weights_path, net=net, model=model)
        self.meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
        self.net = str(ckpt["net"])
        self.contract = contract_of(self.meta, str(self.weights_path))
        self.io = NetIO.from_contract(self.contract)
        # Compiled with torch-tensorrt (dynamo) and cached as an exported program per
        # checkpoint sha256, GPU and TensorRT version by face3d_ros.nets.tensorrt.
        self._compiled, self.engine_path = build_tensorrt_engine(
            self.weights_path,
            Path(cache_dir) if cache_dir is not None else default_engine_cache_dir(),
            model=model,
            precision="fp16" if fp16 else "fp32",
            max_batch=max_batch,
        )

    # -- common --------------------------------------------------------------------------------

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the net on the GPU.

        Args:
            inputs: ``{io.input_name: float32 [B, C, H, W]}``.

        Returns:
            ``{io.output_name: float32 array}`` copied back to the host.

        Raises:
            ValueError: Invalid inputs.
            RuntimeError: TensorRT execution failed.
        """
        x = check_inputs(inputs, self.io, f"tensorrt {self.net} net")
        if self._compiled is not None:
            torch = self._torch
            with torch.inference_mode():
                out = self._compiled(torch.from_numpy(x).to(self.device))
            return {self.io.output_name: out.float().cpu().numpy()}
        return {self.io.output_name: self._run_engine(x)}

    def __repr__(self) -> str:
        """Readable form."""
        return f"TensorRTBackend({self.net}, {self.weights_path.name}, device={self.device})"
