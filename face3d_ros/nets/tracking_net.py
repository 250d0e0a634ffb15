# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tracking CoarseNet: ResNet-18 on RGB crop + PNCC of the previous pose (256x256x6).

Output order (architecture.md):
``[id | exp | alb K_alb | sh 27 | d_pitch d_yaw d_roll | d_tx d_ty | d_s]`` (paper: 312 outputs).
Pose deltas are additive and in the pixel coordinates of the 256x256 crop:
``pose = prev_pose + delta`` (see :func:`apply_pose_delta`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.regression import RegressionNet

__all__ = ["TRACKING_INPUT_SIZE", "TrackingNet", "apply_pose_delta", "tracking_groups"]

TRACKING_INPUT_SIZE = 256


def tracking_groups(n_id: int, n_exp: int, n_alb: int) -> tuple[tuple[str, int], ...]:
    """Output groups of the tracking net.

    Args:
        n_id: Identity coefficients K_id.
        n_exp: Expression coefficients K_exp.
        n_alb: Albedo coefficients K_alb.

    Returns:
        ``(name, size)`` pairs: id, exp, alb, sh (27), d_rotation (3), d_translation (2),
        d_scale (1).
    """
    return (
        ("id", n_id),
        ("exp", n_exp),
        ("alb", n_alb),
        ("sh", 27),
        ("d_rotation", 3),
        ("d_translation", 2),
        ("d_scale", 1),
    )


def apply_pose_delta(prev_pose: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Compose the previous pose with a predicted delta (additive in every component).

    Args:
        prev_pose: [B, 6] (pitch, yaw, roll, tx, ty, s) in crop pixels.
        delta: [B, 6] de-normalised deltas.

    Returns:
        [B, 6] current pose.
    """
    return prev_pose + delta


class TrackingNet(RegressionNet):
    """Tracking CoarseNet (input ``[B, 6, 256, 256]``: RGB crop + PNCC, both in [0, 1])."""

    kind = "tracking"

    def __init__(
        self,
        n_id: int,
        n_exp: int,
        n_alb: int,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> None:
        """Create the net.

        Args:
            n_id: Identity coefficients K_id.
            n_exp: Expression coefficients K_exp.
            n_alb: Albedo coefficients K_alb.
            mean: Optional [K_id + K_exp + K_alb + 33] parameter mean (default zeros).
            std: Optional [K_id + K_exp + K_alb + 33] parameter std (default ones).
        """
        spec = OutputSpec.standard(tracking_groups(n_id, n_exp, n_alb), mean, std)
        super().__init__(spec, input_channels=6, input_size=TRACKING_INPUT_SIZE)
        self.n_id = int(n_id)
        self.n_exp = int(n_exp)
        self.n_alb = int(n_alb)

    @classmethod
    def from_layout(cls, layout: Any) -> TrackingNet:
        """Create sized and normalised by a :class:`face3d_ros.params.ParamLayout`.

        Args:
            layout: ParamLayout (dims, ``tracking_mean``, ``tracking_std``).

        Returns:
            The net.
        """
        return cls(
            layout.n_id, layout.n_exp, layout.n_alb, layout.tracking_mean, layout.tracking_std
        )

    @classmethod
    def from_spec(cls, spec: OutputSpec) -> TrackingNet:
        """Create from a stored spec (checkpoint / sidecar).

        Args:
            spec: Output spec whose groups must be TrackingNet's.

        Returns:
            The net.

        Raises:
            ValueError: If the groups are not TrackingNet groups.
        """
        sizes = dict(spec.groups)
        try:
            expected = tracking_groups(sizes["id"], sizes["exp"], sizes["alb"])
        except KeyError as exc:
            raise ValueError(f"spec is not a TrackingNet spec: {spec.groups}") from exc
        if tuple(spec.groups) != expected:
            raise ValueError(f"spec is not a TrackingNet spec: {spec.groups}")
        return cls(sizes["id"], sizes["exp"], sizes["alb"], spec.mean, spec.std)
