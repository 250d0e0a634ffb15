# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime backend (the default; CPU).

Session options: all graph optimisations, sequential execution, a configurable number of
intra-op threads (``threads``; one inter-op thread). The weight file is checked against its JSON
sidecar (size, sha256, net kind, face-model dims and ``model_id``) before the session is created,
and the graph's input/output names and shapes are checked against the architecture contract.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from face3d_ros.runtime.netio import NetIO, check_inputs

__all__ = ["OnnxRuntimeBackend"]


class OnnxRuntimeBackend:
    """One exported net run with ONNX Runtime.

    Attributes:
        kind: ``"onnxruntime"``.
        net: ``coarse``, ``tracking`` or ``fine``.
        contract: The net's train/run contract (from the sidecar).
        io: Input/output names and the per-sample input shape (from the contract).
        meta: The verified sidecar.
        weights_path: The ``.onnx`` file.
        threads: Intra-op threads requested (None = ONNX Runtime's default).
    """

    kind = "onnxruntime"

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
        net: str | None = None,
        model: Any = None,
        check_hash: bool = True,
        allow_spinning: bool = False,
    ) -> None:
        """Verify the weights and create the inference session.

        Args:
            weights_path: ``.onnx`` file with its ``.json`` sidecar beside it.
            device: ``"cpu"``, or ``"cuda"`` when onnxruntime-gpu is installed (no fallback:
                a missing CUDA provider raises).
            threads: Intra-op threads (None = ONNX Runtime default: one per physical core).
            net: Expected net kind or None.
            model: Face model in use for the dims / model_id check, or None.
            check_hash: Verify size and sha256 against the sidecar.
            allow_spinning: Let idle intra-op threads busy-wait for work (ONNX Runtime's
                default). Off by default: on cores shared with other processes (a ROS system)
                spinning threads steal the CPU the other processes need and latency gets worse
                (measured here: tracking net p50 66 ms without vs 117 ms with spinning on two
                loaded cores); on dedicated cores it saves a little latency.

        Raises:
            WeightFileError: Missing file or sidecar, corruption, wrong net, dims mismatch, or a
                graph whose inputs/outputs differ from the sidecar.
            RuntimeError: ``device="cuda"`` without the CUDA execution provider.
            ValueError: Unknown device.
        """
        import onnxruntime as ort

        from face3d_ros.nets.weights import WeightFileError, contract_of, verify_weights

        path = Path(weights_path)
        if path.suffix != ".onnx":
            raise WeightFileError(f"the onnxruntime backend needs an .onnx file, got {path}")
        self.meta: dict[str, Any] = verify_weights(
            path, net=net, model=model, check_hash=check_hash
        )
        self.weights_path = path
        self.net: str = self.meta["net"]
        self.contract = contract_of(self.meta, str(self.weights_path))
        self.io = NetIO.from_contract(self.contract)
        self.threads = threads
        self.allow_spinning = bool(allow_spinning)

        if device == "cpu":
            providers = ["CPUExecutionProvider"]
        elif device.split(":")[0] == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError(
                    "onnxruntime backend with device='cuda' needs onnxruntime-gpu "
                    f"(available providers: {ort.get_available_providers()})"
                )
            index = int(device.split(":")[1]) if ":" in device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index})]
        else:
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda[:N]'")

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
        )
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise WeightFileError(f"onnxruntime cannot load {path}: {exc}") from exc
        self._check_graph(path, WeightFileError)

    def _check_graph(self, path: Path, error: type[Exception]) -> None:
        """Compare the session's inputs/outputs with the contract and the sidecar."""
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].name != self.io.input_name:
            raise error(
                f"{path}: graph inputs {[i.name for i in inputs]} differ from the "
                f"{self.net} contract [{self.io.input_name!r}]"
            )
        dims = list(inputs[0].shape)
        static = [d for d in dims[1:] if isinstance(d, int)]
        if len(dims) != 4 or (len(static) == 3 and tuple(static) != self.io.input_shape):
            raise error(
                f"{path}: graph input shape {dims} differs from [B, "
                f"{', '.join(map(str, self.io.input_shape))}]"
            )
        side = self.meta.get("input", {}).get("shape")
        if side is not None and tuple(side[1:]) != self.io.input_shape:
            raise error(f"{path}: sidecar input shape {side} differs from the {self.net} contract")
        if self.io.output_name not in [o.name for o in outputs]:
            raise error(
                f"{path}: graph outputs {[o.name for o in outputs]} lack {self.io.output_name!r}"
            )

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the net.

        Args:
            inputs: ``{io.input_name: float32 [B, C, H, W]}``.

        Returns:
            ``{io.output_name: float32 array}`` (``[B, P]`` or ``[B, 1, H, W]``).

        Raises:
            ValueError: Invalid inputs.
        """
        x = check_inputs(inputs, self.io, f"onnxruntime {self.net} net")
        (out,) = self._session.run([self.io.output_name], {self.io.input_name: x})
        return {self.io.output_name: out}

    def __repr__(self) -> str:
        """Readable form."""
        return f"OnnxRuntimeBackend({self.net}, {self.weights_path.name}, threads={self.threads})"
