# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The three networks of 3DFaceNet: single-image CoarseNet, tracking CoarseNet and FineNet.

Nets predict normalised targets; :class:`~face3d_ros.nets.heads.OutputSpec` holds the per-group
sizes and the mean/std used to de-normalise them (the exported ONNX graphs fold it in).
This package never imports ``training``.
"""

from face3d_ros.nets.coarse_net import CoarseNet
from face3d_ros.nets.fine_net import FineNet
from face3d_ros.nets.heads import Denormalized, OutputSpec
from face3d_ros.nets.resnet import ResNet18
from face3d_ros.nets.tracking_net import TrackingNet
from face3d_ros.nets.unet import UNet

__all__ = [
    "CoarseNet",
    "Denormalized",
    "FineNet",
    "OutputSpec",
    "ResNet18",
    "TrackingNet",
    "UNet",
]
