# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Output specification, zero-initialised regression heads and the de-normalising wrapper.

Every coefficient group (identity, expression, rotation, ...) gets its own linear head, initialised
to zero so an untrained net outputs the normalised target 0, i.e. exactly the mean parameters after
de-normalisation (``params = mean + std * output``), following Deep3DFaceRecon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["Denormalized", "GroupHeads", "OutputSpec"]


@dataclass(frozen=True)
class OutputSpec:
    """Ordered output groups of a regression net plus the de-normalisation statistics.

    Attributes:
        groups: ``(name, size)`` pairs in output order.
        mean: [P] float32 mean of the de-normalised parameters (P = sum of sizes).
        std: [P] float32 standard deviation (strictly positive).
    """

    groups: tuple[tuple[str, int], ...]
    mean: np.ndarray = field(repr=False)
    std: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        """Validate sizes and statistics.

        Raises:
            ValueError: On empty or non-positive groups, wrong mean/std length or std <= 0.
        """
        if not self.groups:
            raise ValueError("OutputSpec needs at least one group")
        for name, size in self.groups:
            if int(size) < 1:
                raise ValueError(f"group {name!r} has size {size}; sizes must be >= 1")
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if mean.shape != (self.size,) or std.shape != (self.size,):
            raise ValueError(
                f"mean/std must have {self.size} entries, got {mean.shape} and {std.shape}"
            )
        if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)) or np.any(std <= 0):
            raise ValueError("mean must be finite and std finite and > 0")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def standard(
        cls,
        groups: Sequence[tuple[str, int]],
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> OutputSpec:
        """Build a spec, defaulting to mean 0 and std 1 (no de-normalisation).

        Args:
            groups: ``(name, size)`` pairs in output order.
            mean: Optional [P] mean.
            std: Optional [P] standard deviation.

        Returns:
            The spec.
        """
        groups = tuple((str(n), int(s)) for n, s in groups)
        size = sum(s for _, s in groups)
        mean = np.zeros(size, np.float32) if mean is None else mean
        std = np.ones(size, np.float32) if std is None else std
        return cls(groups, mean, std)

    @property
    def size(self) -> int:
        """Total output size P."""
        return int(sum(s for _, s in self.groups))

    @property
    def names(self) -> tuple[str, ...]:
        """Group names in output order."""
        return tuple(n for n, _ in self.groups)

    def slices(self) -> dict[str, slice]:
        """Slices of each group inside the packed [P] vector."""
        out: dict[str, slice] = {}
        start = 0
        for name, size in self.groups:
            out[name] = slice(start, start + size)
            start += size
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable form (for sidecars and checkpoints)."""
        return {
            "groups": [[n, s] for n, s in self.groups],
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    @classmethod
    def from_dict(cls, d: dict) -> OutputSpec:
        """Inverse of :meth:`to_dict`.

        Args:
            d: Dictionary with ``groups``, ``mean`` and ``std``.

        Returns:
            The spec.

        Raises:
            ValueError: If keys are missing.
        """
        try:
            groups = tuple((str(n), int(s)) for n, s in d["groups"])
            return cls(groups, np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))
        except KeyError as exc:
            raise ValueError(f"output spec is missing key {exc}") from exc


class GroupHeads(nn.Module):
    """One zero-initialised linear head per output group, concatenated in order."""

    def __init__(self, in_features: int, spec: OutputSpec) -> None:
        """Create the heads.

        Args:
            in_features: Feature dimension of the trunk.
            spec: Output groups.
        """
        super().__init__()
        self.names = spec.names
        self.heads = nn.ModuleDict()
        for name, size in spec.groups:
            head = nn.Linear(in_features, size)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
            self.heads[name] = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Regress all groups.

        Args:
            features: [B, F] trunk features.

        Returns:
            [B, P] normalised outputs in group order.
        """
        return torch.cat([self.heads[n](features) for n in self.names], dim=1)


class Denormalized(nn.Module):
    """Wrap a net so its output is de-normalised: ``mean + std * net(x)`` (for export/runtime)."""

    def __init__(self, net: nn.Module) -> None:
        """Wrap ``net``; it must expose ``output_mean`` and ``output_std`` buffers.

        Args:
            net: CoarseNet, TrackingNet or FineNet.
        """
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run and de-normalise.

        Args:
            x: Net input [B, C, H, W].

        Returns:
            De-normalised output, [B, P] or [B, 1, H, W].
        """
        return self.net.denormalize(self.net(x))
