# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Single-image CoarseNet: ResNet-18 on a 224x224 RGB crop -> identity, expression and pose.

Output order (architecture.md): ``[id K_id | exp K_exp | pitch yaw roll | tx ty | s]``; the paper's
net has 185 outputs (100 + 79 + 6). Pose is in the pixel coordinates of the 224x224 input crop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.regression import RegressionNet

__all__ = ["COARSE_INPUT_SIZE", "CoarseNet", "coarse_groups"]

COARSE_INPUT_SIZE = 224


def coarse_groups(n_id: int, n_exp: int) -> tuple[tuple[str, int], ...]:
    """Output groups of CoarseNet.

    Args:
        n_id: Identity coefficients K_id.
        n_exp: Expression coefficients K_exp.

    Returns:
        ``(name, size)`` pairs: id, exp, rotation (3), translation (2), scale (1).
    """
    return (("id", n_id), ("exp", n_exp), ("rotation", 3), ("translation", 2), ("scale", 1))


class CoarseNet(RegressionNet):
    """Single-image CoarseNet (input ``[B, 3, 224, 224]`` RGB in [0, 1])."""

    kind = "coarse"

    def __init__(
        self,
        n_id: int,
        n_exp: int,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> None:
        """Create the net.

        Args:
            n_id: Identity coefficients K_id.
            n_exp: Expression coefficients K_exp.
            mean: Optional [K_id + K_exp + 6] parameter mean (default zeros).
            std: Optional [K_id + K_exp + 6] parameter std (default ones).
        """
        spec = OutputSpec.standard(coarse_groups(n_id, n_exp), mean, std)
        super().__init__(spec, input_channels=3, input_size=COARSE_INPUT_SIZE)
        self.n_id = int(n_id)
        self.n_exp = int(n_exp)

    @classmethod
    def from_layout(cls, layout: Any) -> CoarseNet:
        """Create sized and normalised by a :class:`face3d_ros.params.ParamLayout`.

        Args:
            layout: ParamLayout (``n_id``, ``n_exp``, ``coarse_mean``, ``coarse_std``).

        Returns:
            The net.
        """
        return cls(layout.n_id, layout.n_exp, layout.coarse_mean, layout.coarse_std)

    @classmethod
    def from_spec(cls, spec: OutputSpec) -> CoarseNet:
        """Create from a stored spec (checkpoint / sidecar).

        Args:
            spec: Output spec whose groups must be CoarseNet's.

        Returns:
            The net.

        Raises:
            ValueError: If the groups are not CoarseNet groups.
        """
        sizes = dict(spec.groups)
        try:
            expected = coarse_groups(sizes["id"], sizes["exp"])
        except KeyError as exc:
            raise ValueError(f"spec is not a CoarseNet spec: {spec.groups}") from exc
        if tuple(spec.groups) != expected:
            raise ValueError(f"spec is not a CoarseNet spec: {spec.groups}")
        return cls(sizes["id"], sizes["exp"], spec.mean, spec.std)
