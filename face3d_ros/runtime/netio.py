# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Input/output contract of one loaded net and the per-call input check shared by the backends.

Kept apart from :mod:`face3d_ros.runtime.backend` (the interface and the registry) so that the
backend modules import only this one and nothing imports in a circle.
"""

from __future__ import annotations

import numpy as np

from face3d_ros.nets.contract import DEFAULT_CONTRACT, NetContract

__all__ = ["NetIO", "check_inputs"]


class NetIO:
    """Names and shapes of a net's single input and single output.

    Attributes:
        input_name: e.g. ``"image"`` (coarse) or ``"input"`` (tracking, fine).
        input_shape: Per-sample ``(C, H, W)``.
        output_name: ``"params"`` or ``"displacement"``.
    """

    __slots__ = ("input_name", "input_shape", "output_name")

    def __init__(self, input_name: str, input_shape: tuple[int, int, int], output_name: str):
        """Store the names and the per-sample shape.

        Args:
            input_name: Input tensor name.
            input_shape: ``(C, H, W)``.
            output_name: Output tensor name.
        """
        self.input_name = str(input_name)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.output_name = str(output_name)

    @classmethod
    def from_contract(cls, contract: NetContract) -> NetIO:
        """The I/O of a net with this train/run contract (a weight file's own sizes).

        Args:
            contract: The net's contract.

        Returns:
            Its :class:`NetIO`.
        """
        return cls(contract.input_name, contract.input_shape, contract.output_name)

    @classmethod
    def for_net(cls, net: str) -> NetIO:
        """The default contract's I/O for a net kind.

        Args:
            net: ``coarse``, ``tracking`` or ``fine``.

        Returns:
            Its :class:`NetIO`.

        Raises:
            ValueError: Unknown net kind.
        """
        try:
            return cls.from_contract(DEFAULT_CONTRACT[net])
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from exc

    def __repr__(self) -> str:
        """Readable form."""
        return (
            f"NetIO({self.input_name!r} [B, {', '.join(map(str, self.input_shape))}] -> "
            f"{self.output_name!r})"
        )


def check_inputs(inputs: dict[str, np.ndarray], io: NetIO, where: str) -> np.ndarray:
    """Validate a backend's input dictionary and return the input array.

    Args:
        inputs: ``{name: array}`` passed to ``run``.
        io: The net's I/O contract.
        where: Backend description for messages.

    Returns:
        The C-contiguous float32 ``[B, C, H, W]`` input (the caller's array when it already is).

    Raises:
        ValueError: Missing/extra names, wrong rank, per-sample shape, empty batch or dtype.
    """
    if not isinstance(inputs, dict) or set(inputs) != {io.input_name}:
        got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        raise ValueError(f"{where}: expected inputs {{{io.input_name!r}}}, got {got}")
    x = inputs[io.input_name]
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{where}: input {io.input_name!r} must be a numpy array")
    if x.dtype != np.float32:
        raise ValueError(f"{where}: input {io.input_name!r} must be float32, got {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != io.input_shape or x.shape[0] < 1:
        raise ValueError(
            f"{where}: input {io.input_name!r} must have shape [B>=1, "
            f"{', '.join(map(str, io.input_shape))}], got {list(x.shape)}"
        )
    return np.ascontiguousarray(x)
