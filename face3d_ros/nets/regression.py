# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared base of the two ResNet-18 parameter regressors (CoarseNet and TrackingNet)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from face3d_ros.nets.contract import NetContract
from face3d_ros.nets.heads import GroupHeads, OutputSpec
from face3d_ros.nets.resnet import ResNet18

__all__ = ["RegressionNet"]


class RegressionNet(nn.Module):
    """ResNet-18 trunk + one zero-initialised head per group; predicts normalised parameters.

    Attributes:
        spec: Output groups and de-normalisation statistics.
        contract: The train/run contract (input, crop framing, output) stored with the weights.
        input_channels: Channels of the input image tensor (from the contract).
        input_size: Square input side in pixels (from the contract; the trunk is size-agnostic).
        output_mean: Buffer [P]; output_std: Buffer [P].
    """

    kind: str = "regression"

    def __init__(self, spec: OutputSpec, contract: NetContract, kind: str) -> None:
        """Create the net.

        Args:
            spec: Output groups and statistics.
            contract: The net's contract (input channels and side).
            kind: Expected ``contract.net``.

        Raises:
            ValueError: A contract of another net.
        """
        super().__init__()
        if contract.net != kind:
            raise ValueError(f"{kind} net needs a {kind} contract, got a {contract.net} one")
        self.spec = spec
        self.contract = contract
        self.input_channels = contract.input_channels
        self.input_size = contract.input_size
        self.trunk = ResNet18(self.input_channels)
        self.heads = GroupHeads(ResNet18.feature_dim, spec)
        self.register_buffer("output_mean", torch.from_numpy(spec.mean.copy()))
        self.register_buffer("output_std", torch.from_numpy(spec.std.copy()))

    @property
    def output_size(self) -> int:
        """Total number of outputs P."""
        return self.spec.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict normalised parameters.

        Args:
            x: [B, C, H, W] float32 in [0, 1].

        Returns:
            [B, P] normalised parameters (0 = mean parameters).
        """
        return self.heads(self.trunk(x))

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Map normalised outputs to parameters.

        Args:
            z: [B, P] normalised.

        Returns:
            [B, P] parameters ``mean + std * z``.
        """
        return self.output_mean + self.output_std * z

    def normalize(self, params: torch.Tensor) -> torch.Tensor:
        """Map parameters to normalised targets.

        Args:
            params: [B, P] parameters.

        Returns:
            [B, P] ``(params - mean) / std``.
        """
        return (params - self.output_mean) / self.output_std

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """De-normalised prediction (``denormalize(forward(x))``).

        Args:
            x: [B, C, H, W] input.

        Returns:
            [B, P] parameters.
        """
        return self.denormalize(self(x))

    def split(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a packed [B, P] vector into its groups.

        Args:
            params: [B, P].

        Returns:
            Group name -> [B, size] view.
        """
        return {name: params[:, sl] for name, sl in self.spec.slices().items()}

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Replace the de-normalisation statistics (e.g. computed from the training set).

        Args:
            mean: [P] mean.
            std: [P] standard deviation (> 0).
        """
        spec = OutputSpec(self.spec.groups, mean, std)
        self.spec = spec
        self.output_mean.copy_(torch.from_numpy(spec.mean))
        self.output_std.copy_(torch.from_numpy(spec.std))
