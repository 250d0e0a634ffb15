# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Single-image CoarseNet: ResNet-18 on an RGB face crop -> identity, expression and pose.

Output order (architecture.md, declared in :mod:`face3d_ros.nets.contract`):
``[id K_id | exp K_exp | pitch yaw roll | tx ty | s]``; the paper's net has 185 outputs
(100 + 79 + 6). Pose is in the pixel coordinates of the input crop, whose side is the contract's
``input_size`` (default 224).
"""

from __future__ import annotations

import numpy as np

from face3d_ros.nets.contract import DEFAULT_CONTRACT, NetContract, output_groups
from face3d_ros.nets.heads import OutputSpec
from face3d_ros.nets.regression import RegressionNet

__all__ = ["CoarseNet", "coarse_groups"]


def coarse_groups(n_id: int, n_exp: int) -> tuple[tuple[str, int], ...]:
    """Output groups of CoarseNet.

    Args:
        n_id: Identity coefficients K_id.
        n_exp: Expression coefficients K_exp.

    Returns:
        ``(name, size)`` pairs: id, exp, rotation (3), translation (2), scale (1).
    """
    return output_groups("coarse", n_id, n_exp)


class CoarseNet(RegressionNet):
    """Single-image CoarseNet (input ``[B, 3, S, S]`` RGB in [0, 1], S = contract input_size)."""

    kind = "coarse"

    def __init__(
        self,
        n_id: int,
        n_exp: int,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        *,
        contract: NetContract | None = None,
    ) -> None:
        """Create the net.

        Args:
            n_id: Identity coefficients K_id.
            n_exp: Expression coefficients K_exp.
            mean: Optional [K_id + K_exp + 6] parameter mean (default zeros).
            std: Optional [K_id + K_exp + 6] parameter std (default ones).
            contract: Train/run contract (default ``DEFAULT_CONTRACT.coarse``).
        """
        spec = OutputSpec.standard(coarse_groups(n_id, n_exp), mean, std)
        super().__init__(spec, contract or DEFAULT_CONTRACT.coarse, "coarse")
        self.n_id = int(n_id)
        self.n_exp = int(n_exp)

    @classmethod
    def from_spec(cls, spec: OutputSpec, contract: NetContract | None = None) -> CoarseNet:
        """Create from a stored spec (checkpoint / sidecar).

        Args:
            spec: Output spec whose groups must be CoarseNet's.
            contract: Stored contract (default ``DEFAULT_CONTRACT.coarse``).

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
        return cls(sizes["id"], sizes["exp"], spec.mean, spec.std, contract=contract)
