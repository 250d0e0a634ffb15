# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ResNet-18 feature extractor in plain torch (no torchvision), with any number of input channels.

Layout follows He et al. 2016 (7x7/2 stem, 3x3/2 max-pool, four stages of two basic blocks with
64-128-256-512 channels, global average pool). Inputs are expected in [0, 1]; a fixed affine
normalisation ``(x - 0.5) / 0.25`` is applied inside the net so exported graphs take raw images.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        """Create the block.

        Args:
            in_channels: Input channels.
            out_channels: Output channels.
            stride: Stride of the first convolution (2 halves the resolution).
        """
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: Features [B, C_in, H, W].

        Returns:
            Features [B, C_out, H / stride, W / stride].
        """
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 trunk returning the 512-d globally pooled feature vector."""

    feature_dim: int = 512

    def __init__(self, in_channels: int = 3) -> None:
        """Create the trunk.

        Args:
            in_channels: Number of input channels (3 for RGB, 6 for RGB + PNCC).

        Raises:
            ValueError: If ``in_channels`` is not positive.
        """
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual branch (Goyal et al. 2017): blocks start as
        # identities, which trains faster from scratch on small data.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Extract features.

        Args:
            x: Images [B, C, H, W] float32 in [0, 1].

        Returns:
            Pooled features [B, 512].

        Raises:
            ValueError: If the channel count does not match ``in_channels``.
        """
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.in_channels):
            raise ValueError(f"expected input [B, {self.in_channels}, H, W], got {tuple(x.shape)}")
        x = (x - 0.5) * 4.0
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(torch.mean(x, dim=(2, 3)), 1)
