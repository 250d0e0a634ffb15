# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start a Tracking CoarseNet from a trained Single-image CoarseNet (``init_from`` across nets).

Both are the same ResNet-18 regression net (docs/networks.md); the tracking net reads three
more input channels (the PNCC of the previous pose) and predicts albedo, light and pose deltas
instead of an absolute pose. :func:`tracking_from_coarse` copies what they share: every trunk
tensor of the same name and shape, the first convolution's RGB filters (the PNCC filters start
at zero, so the warm-started net first sees the image as the CoarseNet did), and the identity and
expression heads (the normalised outputs; the tracking net keeps the output statistics of its
own data). Albedo, light and pose-delta heads keep their initialisation (zero deltas: the
previous pose).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SHARED_HEADS", "tracking_from_coarse"]

#: Output groups both nets predict with the same meaning.
SHARED_HEADS: tuple[str, ...] = ("id", "exp")


def tracking_from_coarse(tracking: nn.Module, coarse: nn.Module) -> int:
    """Copy a CoarseNet's shared weights into a TrackingNet, in place.

    Args:
        tracking: The (fresh) :class:`~face3d_ros.nets.tracking_net.TrackingNet`.
        coarse: A trained :class:`~face3d_ros.nets.coarse_net.CoarseNet` for the same face
            model dims.

    Returns:
        Number of tensors copied.

    Raises:
        ValueError: The nets are not a tracking and a coarse net, or a shared head's size
            differs (another face model).
    """
    if getattr(tracking, "kind", None) != "tracking" or getattr(coarse, "kind", None) != "coarse":
        raise ValueError("tracking_from_coarse needs a tracking net and a coarse net")
    source = coarse.state_dict()
    target = tracking.state_dict()
    copied = 0
    with torch.no_grad():
        for key, value in target.items():
            if not key.startswith("trunk.") or key not in source:
                continue
            src = source[key]
            if src.shape == value.shape:
                value.copy_(src)
            elif (value.dim() == 4 and src.dim() == 4 and value.shape[0] == src.shape[0]
                  and value.shape[2:] == src.shape[2:] and value.shape[1] > src.shape[1]):
                value.zero_()
                value[:, : src.shape[1]].copy_(src)  # RGB filters; the PNCC filters start at 0
            else:
                continue
            copied += 1
        for group in SHARED_HEADS:
            for part in ("weight", "bias"):
                key = f"heads.heads.{group}.{part}"
                if key not in target or key not in source:
                    continue
                if target[key].shape != source[key].shape:
                    raise ValueError(f"{key}: coarse {tuple(source[key].shape)} vs tracking "
                                     f"{tuple(target[key].shape)} (another face model?)")
                target[key].copy_(source[key])
                copied += 1
    tracking.load_state_dict(target)
    return copied
