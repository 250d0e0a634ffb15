# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""PyTorch backend: a ``.pt`` checkpoint rebuilt into the :mod:`face3d_ros.nets` modules.

Checkpoints are read with ``torch.load(weights_only=True)`` by
:func:`face3d_ros.nets.weights.load_checkpoint` (no pickle code execution), which also checks
the net kind and the face-model dims. Outputs are de-normalised (``net.predict``), exactly like
the exported ONNX graphs. This module never imports ``training``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from face3d_ros.runtime.netio import NetIO, check_inputs

__all__ = ["TorchBackend"]


class TorchBackend:
    """One net run with PyTorch (eager, inference mode).

    Attributes:
        kind: ``"torch"``.
        net: ``coarse``, ``tracking`` or ``fine``.
        contract: The net's train/run contract (from the checkpoint).
        io: Input/output names and the per-sample input shape (from the contract).
        meta: The checkpoint header (everything but the state dict).
        module: The rebuilt ``torch.nn.Module`` (eval mode).
        device: The torch device.
    """

    kind = "torch"

    def __init__(
        self,
        weights_path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
        net: str | None = None,
        model: Any = None,
    ) -> None:
        """Load the checkpoint and rebuild the net.

        Args:
            weights_path: ``.pt`` checkpoint written by ``face3d_ros.nets.weights.save_checkpoint``.
            device: ``"cpu"`` or ``"cuda[:N]"`` (no fallback: a missing CUDA device raises).
            threads: Sets ``torch.set_num_threads`` (process-wide!) when given.
            net: Expected net kind or None.
            model: Face model in use for the dims / model_id check, or None.

        Raises:
            WeightFileError: Missing, corrupted or mismatching checkpoint.
            RuntimeError: ``device`` is CUDA but no CUDA device is available.
        """
        import torch

        from face3d_ros.nets.weights import WeightFileError, contract_of, load_checkpoint

        path = Path(weights_path)
        if path.suffix != ".pt":
            raise WeightFileError(f"the torch backend needs a .pt checkpoint, got {path}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("torch backend with device='cuda' needs a CUDA device (none found)")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        module, ckpt = load_checkpoint(path, net=net, model=model, map_location=self.device)
        self.module = module
        self.meta: dict[str, Any] = {k: v for k, v in ckpt.items() if k != "state_dict"}
        self.net: str = str(ckpt["net"])
        self.weights_path = path
        self.contract = contract_of(self.meta, str(path))
        self.io = NetIO.from_contract(self.contract)
        self._torch = torch

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the net.

        Args:
            inputs: ``{io.input_name: float32 [B, C, H, W]}``.

        Returns:
            ``{io.output_name: float32 array}`` (``[B, P]`` or ``[B, 1, H, W]``).

        Raises:
            ValueError: Invalid inputs.
        """
        x = check_inputs(inputs, self.io, f"torch {self.net} net")
        torch = self._torch
        with torch.inference_mode():
            out = self.module.predict(torch.from_numpy(x).to(self.device))
        return {self.io.output_name: out.float().cpu().numpy()}

    def __repr__(self) -> str:
        """Readable form."""
        return f"TorchBackend({self.net}, {self.weights_path.name}, device={self.device})"
