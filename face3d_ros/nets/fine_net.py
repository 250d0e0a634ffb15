# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FineNet: U-Net on (gray image, coarse depth) -> per-pixel displacement along the normal (mm).

Input ``[B, 2, S, S]`` (S = the contract's ``input_size``, default 256): channel 0 the gray crop
in [0, 1], channel 1 the rendered coarse depth in pixels (larger = closer, 0 outside the face).
The depth channel is normalised inside the graph: its mean over the face pixels is subtracted and
it is divided by ``depth_scale`` (pixels), so the net sees only relative depth. The output is
``displacement_scale * unet(x)`` in mm; the output convolution is zero-initialised so the
untrained net predicts no displacement.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from face3d_ros.nets.contract import DEFAULT_CONTRACT, NetContract, output_groups
from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.unet import UNet

__all__ = ["FineNet"]


class FineNet(nn.Module):
    """Per-pixel displacement regressor.

    Attributes:
        output_mean: Buffer [1] (mm), output_std: Buffer [1] (mm); ``disp = mean + std * out``.
        depth_scale: Buffer [1], pixels, divides the centred depth input.
    """

    kind = "fine"

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64, 128),
        displacement_scale: float = 1.0,
        depth_scale: float = 32.0,
        *,
        contract: NetContract | None = None,
    ) -> None:
        """Create the net.

        Args:
            channels: U-Net channels per level.
            displacement_scale: Std of the displacement target in mm (output scaling).
            depth_scale: Depth normalisation in pixels.
            contract: Train/run contract (default ``DEFAULT_CONTRACT.fine``).

        Raises:
            ValueError: If a scale is not positive.
        """
        super().__init__()
        if displacement_scale <= 0 or depth_scale <= 0:
            raise ValueError("displacement_scale and depth_scale must be > 0")
        self.contract = contract or DEFAULT_CONTRACT.fine
        if self.contract.net != "fine":
            raise ValueError(f"FineNet needs a fine contract, got {self.contract.net}")
        self.input_channels = self.contract.input_channels
        self.input_size = self.contract.input_size
        self.unet = UNet(self.input_channels, 1, channels)
        self.register_buffer("output_mean", torch.zeros(1))
        self.register_buffer("output_std", torch.tensor([float(displacement_scale)]))
        self.register_buffer("depth_scale", torch.tensor([float(depth_scale)]))

    @property
    def spec(self) -> OutputSpec:
        """Output spec (one ``displacement`` group of size 1 with the output scaling)."""
        return OutputSpec(
            output_groups("fine", 0, 0),
            self.output_mean.detach().cpu().numpy(),
            self.output_std.detach().cpu().numpy(),
        )

    @property
    def channels(self) -> tuple[int, ...]:
        """U-Net channels per level."""
        return self.unet.channels

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the depth channel (centre on the face pixels, divide by ``depth_scale``).

        Args:
            x: [B, 2, H, W] (gray, depth in pixels with 0 outside the face).

        Returns:
            [B, 2, H, W] network input.
        """
        gray = x[:, 0:1]
        depth = x[:, 1:2]
        mask = (depth != 0).to(x.dtype)
        count = torch.clamp(mask.sum(dim=(2, 3), keepdim=True), min=1.0)
        mean = (depth * mask).sum(dim=(2, 3), keepdim=True) / count
        rel = (depth - mean) * mask / self.depth_scale
        return torch.cat([(gray - 0.5) * 4.0, rel], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict the normalised displacement.

        Args:
            x: [B, 2, H, W] (gray in [0, 1], coarse depth in pixels).

        Returns:
            [B, 1, H, W] normalised displacement.
        """
        return self.unet(self.prepare(x))

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Map normalised output to mm.

        Args:
            z: [B, 1, H, W] normalised.

        Returns:
            [B, 1, H, W] displacement in mm.
        """
        return self.output_mean + self.output_std * z

    def normalize(self, disp: torch.Tensor) -> torch.Tensor:
        """Map mm to the normalised target.

        Args:
            disp: [B, 1, H, W] displacement in mm.

        Returns:
            [B, 1, H, W] normalised.
        """
        return (disp - self.output_mean) / self.output_std

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Displacement in mm.

        Args:
            x: [B, 2, H, W] input.

        Returns:
            [B, 1, H, W] displacement (mm).
        """
        return self.denormalize(self(x))
