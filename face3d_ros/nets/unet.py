# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A small U-Net (Ronneberger et al. 2015) sized for CPU real time.

Encoder: one 3x3 convolution per level (stride 2 from the second level on, replacing max-pool), plus
a second 3x3 convolution from the third level on. Decoder: a 1x1 projection of the coarser features
to the skip's channels, bilinear x2 upsampling, addition of the skip (cheaper than concatenation)
and one 3x3 convolution. With channels (16, 32, 64, 128) at 256x256 input this costs about
1.0 G multiply-adds (ResNet-18 at 256x256 is about 2.4 G).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

__all__ = ["UNet", "conv_bn_relu"]


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution + batch norm + ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Convolution stride.

    Returns:
        The block.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder-decoder with skip connections; output has the input's resolution.

    The input side must be divisible by ``2 ** (len(channels) - 1)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128),
        zero_init_output: bool = True,
    ) -> None:
        """Create the net.

        Args:
            in_channels: Input channels.
            out_channels: Output channels.
            channels: Feature channels per level, finest first.
            zero_init_output: Zero the output convolution so the untrained net outputs 0.

        Raises:
            ValueError: On fewer than two levels or non-positive channel counts.
        """
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2 or min(channels) < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(f"invalid U-Net configuration channels={channels}")
        self.in_channels = int(in_channels)
        self.channels = tuple(channels)
        self.encoders = nn.ModuleList()
        prev = in_channels
        for level, ch in enumerate(channels):
            if level == 0:
                self.encoders.append(conv_bn_relu(prev, ch))
            elif level == 1:
                self.encoders.append(conv_bn_relu(prev, ch, 2))
            else:
                self.encoders.append(nn.Sequential(conv_bn_relu(prev, ch, 2), conv_bn_relu(ch, ch)))
            prev = ch
        self.projections = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(len(channels) - 2, -1, -1):
            self.projections.append(nn.Conv2d(prev, channels[level], 1, bias=False))
            self.decoders.append(conv_bn_relu(channels[level], channels[level]))
            prev = channels[level]
        self.output = nn.Conv2d(prev, out_channels, 3, 1, 1)
        if zero_init_output:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the U-Net.

        Args:
            x: [B, C_in, H, W] with H, W divisible by ``2 ** (levels - 1)``.

        Returns:
            [B, C_out, H, W].
        """
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        for proj, dec, skip in zip(
            self.projections, self.decoders, reversed(skips[:-1]), strict=True
        ):
            x = F.interpolate(proj(x), scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(x + skip)
        return self.output(x)
