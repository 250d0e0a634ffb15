# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tracking CoarseNet: ResNet-18 on RGB crop + PNCC of the previous pose (6 channels).

Output order (architecture.md, declared in :mod:`face3d_ros.nets.contract`):
``[id | exp | alb K_alb | sh 27 | d_pitch d_yaw d_roll | d_tx d_ty | d_s]`` (paper: 312 outputs).
Pose deltas are additive and in the pixel coordinates of the input crop (side
``contract.input_size``, default 256): ``pose = prev_pose + delta`` (see :func:`apply_pose_delta`).
"""

from __future__ import annotations

import numpy as np
import torch

from face3d_ros.nets.contract import DEFAULT_CONTRACT, NetContract, output_groups
from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.regression import RegressionNet

__all__ = ["TrackingNet", "apply_pose_delta", "tracking_groups"]


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
    return output_groups("tracking", n_id, n_exp, n_alb)


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
    """Tracking CoarseNet (input ``[B, 6, S, S]``: RGB crop + PNCC in [0, 1], S = input_size)."""

    kind = "tracking"

    def __init__(
        self,
        n_id: int,
        n_exp: int,
        n_alb: int,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        *,
        contract: NetContract | None = None,
    ) -> None:
        """Create the net.

        Args:
            n_id: Identity coefficients K_id.
            n_exp: Expression coefficients K_exp.
            n_alb: Albedo coefficients K_alb.
            mean: Optional [K_id + K_exp + K_alb + 33] parameter mean (default zeros).
            std: Optional [K_id + K_exp + K_alb + 33] parameter std (default ones).
            contract: Train/run contract (default ``DEFAULT_CONTRACT.tracking``).
        """
        spec = OutputSpec.standard(tracking_groups(n_id, n_exp, n_alb), mean, std)
        super().__init__(spec, contract or DEFAULT_CONTRACT.tracking, "tracking")
        self.n_id = int(n_id)
        self.n_exp = int(n_exp)
        self.n_alb = int(n_alb)

    @classmethod
    def from_spec(cls, spec: OutputSpec, contract: NetContract | None = None) -> TrackingNet:
        """Create from a stored spec (checkpoint / sidecar).

        Args:
            spec: Output spec whose groups must be TrackingNet's.
            contract: Stored contract (default ``DEFAULT_CONTRACT.tracking``).

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
        return cls(
            sizes["id"], sizes["exp"], sizes["alb"], spec.mean, spec.std, contract=contract
        )
