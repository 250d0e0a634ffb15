# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The train/run contract of the three nets, declared once.

A :class:`NetContract` says everything that training and run time must agree on for one net:
the input tensor (name, channel groups with their encoding, square side), how the frame is
cropped for it (crop policy and crop scale), and the output (name, group layout as a function of
the face model's dims, and whether the pose is absolute or a delta). :data:`DEFAULT_CONTRACT`
(a :class:`PipelineContract`) is the ONE place where the crop sides (224 / 256), the crop scale
(1.6) and the output layout are written; the nets, the runtime, the Tracker, the evaluation,
the datasets and the synthesis read it (or the contract carried by a weight file) instead of
their own literals.

Every exported weight file carries its net's contract in the sidecar (``"contract"``, written by
``training/export.py`` from the checkpoint, which got it from the training config and data).
At load time :meth:`NetContract.check_runnable` compares it with what the running code can
build: the input size and the crop scale may differ from the defaults (the Tracker sizes its
crops from the weights), every other field must match, and a mismatch raises
:class:`ContractError` naming the field. Weight files of sidecar format 1 (the first shipped
weights) predate the ``contract`` entry; :func:`contract_from_meta` migrates them (their input
side is read from the recorded input shape; their crop scale was 1.6).

ASCII layout of the pipeline contract (defaults)::

    coarse   image [B, 3, 224, 224]  rgb/255             crop: detection box x 1.6  -> params
    tracking input [B, 6, 256, 256]  rgb/255 + pncc     crop: prev. landmarks x 1.6 -> params (d)
    fine     input [B, 2, 256, 256]  gray/255 + depth px crop: the frame's crop      -> displacement
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTRACT_VERSION",
    "CROP_POLICIES",
    "DEFAULT_CONTRACT",
    "DEFAULT_CROP_SCALE",
    "NET_KINDS",
    "POSE_GROUPS",
    "SH_COEFFS",
    "ContractError",
    "NetContract",
    "PipelineContract",
    "contract_from_meta",
    "output_groups",
    "recorded_crop_scale",
]

#: Version of the ``contract`` entry of sidecars and checkpoints.
CONTRACT_VERSION = 1
#: The three nets.
NET_KINDS: tuple[str, ...] = ("coarse", "tracking", "fine")
#: How the frame is cropped for a net:
#: ``detection_box``: square of ``crop_scale`` x the detector box side around the box centre
#: (single-image CoarseNet at initialisation / re-anchoring);
#: ``previous_landmarks``: square of ``crop_scale`` x the extent of the previous frame's 68
#: projected landmarks (tracking CoarseNet);
#: ``frame_crop``: the crop the frame's coarse reconstruction was made in (FineNet).
CROP_POLICIES: tuple[str, ...] = ("detection_box", "previous_landmarks", "frame_crop")
#: Crop side / face extent of the default contract (training crops and run-time crops).
DEFAULT_CROP_SCALE = 1.6
#: Crop scale and input sides that every weight file of format 1 (no ``contract`` entry) was
#: trained with: a frozen historical record for the migration, never change it.
_V1_CROP_SCALE = 1.6
_V1_INPUT_SIZE = {"coarse": 224, "tracking": 256, "fine": 256}
#: Spherical-harmonics lighting coefficients (9 bands x RGB).
SH_COEFFS = 27
#: Pose groups of the regression nets (pitch yaw roll | tx ty | s), absolute (coarse) or deltas
#: (tracking, names prefixed with ``d_``).
POSE_GROUPS: tuple[tuple[str, int], ...] = (("rotation", 3), ("translation", 2), ("scale", 1))

_ENCODINGS = {
    "rgb8/255": "RGB channels of the uint8 crop divided by 255 (values in [0, 1])",
    "pncc/255": "PNCC of the previous mesh with the previous pose, uint8-equivalent / 255",
    "gray8/255": "gray crop (cv2 RGB2GRAY of the uint8 crop) divided by 255",
    "depth_px": "coarse-mesh depth in crop pixels (larger = closer, 0 outside the face)",
}


class ContractError(ValueError):
    """A net's contract is malformed or disagrees with what the running code expects."""


def output_groups(kind: str, n_id: int, n_exp: int, n_alb: int = 0) -> tuple[tuple[str, int], ...]:
    """Output groups of a net in output order (the one declaration of the output layout).

    Args:
        kind: ``coarse``, ``tracking`` or ``fine``.
        n_id: Identity coefficients K_id.
        n_exp: Expression coefficients K_exp.
        n_alb: Albedo coefficients K_alb (tracking only).

    Returns:
        ``(name, size)`` pairs. coarse: id, exp, rotation, translation, scale (paper: 185);
        tracking: id, exp, alb, sh, d_rotation, d_translation, d_scale (paper: 312);
        fine: displacement (1, per pixel).

    Raises:
        ValueError: Unknown kind.
    """
    if kind == "coarse":
        return (("id", int(n_id)), ("exp", int(n_exp)), *POSE_GROUPS)
    if kind == "tracking":
        deltas = tuple((f"d_{name}", size) for name, size in POSE_GROUPS)
        return (
            ("id", int(n_id)),
            ("exp", int(n_exp)),
            ("alb", int(n_alb)),
            ("sh", SH_COEFFS),
            *deltas,
        )
    if kind == "fine":
        return (("displacement", 1),)
    raise ValueError(f"unknown net kind {kind!r}; expected one of {NET_KINDS}")


@dataclass(frozen=True)
class NetContract:
    """What training and run time agree on for one net.

    Attributes:
        net: ``coarse``, ``tracking`` or ``fine``.
        input_name: Name of the graph input.
        input_groups: ``(name, channels, encoding)`` of the input channel groups in order
            (encodings: ``rgb8/255``, ``pncc/255``, ``gray8/255``, ``depth_px``).
        input_size: Side in pixels of the square input crop.
        crop_policy: One of :data:`CROP_POLICIES`.
        crop_scale: Crop side / face extent (detection-box side or landmark extent).
        output_name: Name of the graph output.
        pose: ``absolute`` (pose in crop pixels), ``delta`` (additive pose deltas in crop
            pixels) or ``none`` (FineNet).
    """

    net: str
    input_name: str
    input_groups: tuple[tuple[str, int, str], ...]
    input_size: int
    crop_policy: str
    crop_scale: float
    output_name: str
    pose: str

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises:
            ContractError: Naming the bad field.
        """
        if self.net not in NET_KINDS:
            raise ContractError(f"contract field 'net': {self.net!r} is not one of {NET_KINDS}")
        groups = tuple((str(n), int(c), str(e)) for n, c, e in self.input_groups)
        object.__setattr__(self, "input_groups", groups)
        for name, channels, encoding in groups:
            if channels < 1 or encoding not in _ENCODINGS:
                raise ContractError(
                    f"{self.net} contract field 'input_groups': bad group "
                    f"{(name, channels, encoding)} (encodings: {sorted(_ENCODINGS)})"
                )
        if int(self.input_size) != self.input_size or not 32 <= self.input_size <= 4096:
            raise ContractError(
                f"{self.net} contract field 'input_size' must be an integer in [32, 4096], "
                f"got {self.input_size!r}"
            )
        object.__setattr__(self, "input_size", int(self.input_size))
        if self.crop_policy not in CROP_POLICIES:
            raise ContractError(
                f"{self.net} contract field 'crop_policy': {self.crop_policy!r} is not one of "
                f"{CROP_POLICIES}"
            )
        if not 1.0 <= float(self.crop_scale) <= 4.0:
            raise ContractError(
                f"{self.net} contract field 'crop_scale' must be in [1, 4], got {self.crop_scale}"
            )
        object.__setattr__(self, "crop_scale", float(self.crop_scale))
        if self.pose not in ("absolute", "delta", "none"):
            raise ContractError(f"{self.net} contract field 'pose': bad value {self.pose!r}")

    @property
    def input_channels(self) -> int:
        """Channels of the input tensor (sum over the input groups)."""
        return sum(c for _, c, _ in self.input_groups)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-sample input shape ``(C, H, W)``."""
        return (self.input_channels, self.input_size, self.input_size)

    def groups(self, n_id: int, n_exp: int, n_alb: int = 0) -> tuple[tuple[str, int], ...]:
        """Output groups of this net for a face model's dims (see :func:`output_groups`)."""
        return output_groups(self.net, n_id, n_exp, n_alb)

    def replace(self, **changes: Any) -> NetContract:
        """Copy with some fields changed (validated again).

        Args:
            **changes: Field values, e.g. ``input_size=192``.

        Returns:
            The new contract.
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the sidecar's / checkpoint's ``contract`` entry)."""
        return {
            "version": CONTRACT_VERSION,
            "net": self.net,
            "input_name": self.input_name,
            "input_groups": [[n, c, e] for n, c, e in self.input_groups],
            "input_size": self.input_size,
            "crop_policy": self.crop_policy,
            "crop_scale": self.crop_scale,
            "output_name": self.output_name,
            "pose": self.pose,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "contract") -> NetContract:
        """Inverse of :meth:`to_dict`.

        Args:
            d: The mapping.
            where: File name for messages.

        Returns:
            The contract.

        Raises:
            ContractError: Wrong version, missing or malformed field (named in the message).
        """
        if not isinstance(d, Mapping):
            raise ContractError(f"{where}: contract must be a mapping, got {type(d).__name__}")
        if d.get("version") != CONTRACT_VERSION:
            raise ContractError(
                f"{where}: contract field 'version' is {d.get('version')!r}, this code reads "
                f"version {CONTRACT_VERSION}"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise ContractError(f"{where}: contract lacks field(s) {missing}")
        try:
            return cls(**{n: d[n] for n in names})
        except ContractError as exc:
            raise ContractError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ContractError(f"{where}: malformed contract: {exc}") from exc

    def check_runnable(self, where: str = "weights") -> None:
        """Raise unless the running code can feed this net.

        The code builds the inputs of the default contract's kind for each net; the input side
        and the crop scale are free (they are read from the weights), every other field must be
        the default contract's.

        Args:
            where: File name for messages.

        Raises:
            ContractError: Naming the first field that differs.
        """
        expected = DEFAULT_CONTRACT[self.net]
        for f in dataclasses.fields(self):
            if f.name in ("input_size", "crop_scale"):
                continue
            got, want = getattr(self, f.name), getattr(expected, f.name)
            if got != want:
                raise ContractError(
                    f"{where}: {self.net} contract field {f.name!r} is {got!r}, the running code "
                    f"builds {want!r}"
                )


@dataclass(frozen=True)
class PipelineContract:
    """The contracts of the three nets (see the module docstring).

    Attributes:
        coarse: Single-image CoarseNet.
        tracking: Tracking CoarseNet.
        fine: FineNet.
    """

    coarse: NetContract
    tracking: NetContract
    fine: NetContract

    def __getitem__(self, kind: str) -> NetContract:
        """Contract of one net by kind.

        Args:
            kind: ``coarse``, ``tracking`` or ``fine``.

        Returns:
            The net's contract.

        Raises:
            KeyError: Unknown kind.
        """
        if kind not in NET_KINDS:
            raise KeyError(f"unknown net kind {kind!r}; expected one of {NET_KINDS}")
        return getattr(self, kind)


#: The contract of the code and of the shipped weights.
DEFAULT_CONTRACT = PipelineContract(
    coarse=NetContract(
        net="coarse",
        input_name="image",
        input_groups=(("rgb", 3, "rgb8/255"),),
        input_size=224,
        crop_policy="detection_box",
        crop_scale=DEFAULT_CROP_SCALE,
        output_name="params",
        pose="absolute",
    ),
    tracking=NetContract(
        net="tracking",
        input_name="input",
        input_groups=(("rgb", 3, "rgb8/255"), ("pncc", 3, "pncc/255")),
        input_size=256,
        crop_policy="previous_landmarks",
        crop_scale=DEFAULT_CROP_SCALE,
        output_name="params",
        pose="delta",
    ),
    fine=NetContract(
        net="fine",
        input_name="input",
        input_groups=(("gray", 1, "gray8/255"), ("depth", 1, "depth_px")),
        input_size=256,
        crop_policy="frame_crop",
        crop_scale=DEFAULT_CROP_SCALE,
        output_name="displacement",
        pose="none",
    ),
)


def contract_from_meta(meta: Mapping[str, Any], where: str = "weights") -> NetContract:
    """The contract of a sidecar or checkpoint header, migrating format-1 files.

    A header with a ``contract`` entry is parsed and checked against its ``input.shape`` (when
    recorded). Format-1 sidecars / checkpoints have none: their contract is the default
    contract of their net with the input side read from ``input.shape`` (sidecars) or the
    format-1 side (checkpoints: 224 coarse, 256 tracking / fine) and the crop scale they were
    trained with (1.6).

    Args:
        meta: Sidecar dict or checkpoint header (``net`` is required).
        where: File name for messages.

    Returns:
        The contract.

    Raises:
        ContractError: Malformed contract, or one that disagrees with the recorded input shape
            or net kind.
    """
    net = meta.get("net")
    if net not in NET_KINDS:
        raise ContractError(f"{where}: unknown net {net!r}")
    shape = meta.get("input", {}).get("shape") if isinstance(meta.get("input"), Mapping) else None
    if "contract" in meta:
        contract = NetContract.from_dict(meta["contract"], where)
        if contract.net != net:
            raise ContractError(
                f"{where}: contract field 'net' is {contract.net!r} but the file holds a {net} net"
            )
    else:
        base = DEFAULT_CONTRACT[net]
        size = _V1_INPUT_SIZE[net]
        if shape is not None and len(shape) == 4 and isinstance(shape[-1], int):
            size = int(shape[-1])
        contract = base.replace(input_size=size, crop_scale=_V1_CROP_SCALE)
    if shape is not None and list(shape[1:]) != list(contract.input_shape):
        raise ContractError(
            f"{where}: recorded input shape {list(shape)} disagrees with the contract's "
            f"'input_size' {contract.input_size} / channels {contract.input_channels}"
        )
    return contract


def recorded_crop_scale(attrs: Mapping[str, Any], kind: str) -> float | None:
    """Crop scale a dataset of ``kind`` was generated with, from its ``index.json`` attrs.

    Looks, in this order, at ``attrs["config"][kind]["crop_scale"]`` (synthesis runner),
    ``attrs["config"]["crop_scale"]`` (prior data) and ``attrs["crop_scale"]``.

    Args:
        attrs: Dataset attributes.
        kind: Dataset kind (``coarse``, ``tracking`` or ``fine``).

    Returns:
        The crop scale, or None when the dataset does not record one.
    """
    config = attrs.get("config") if isinstance(attrs, Mapping) else None
    config = config if isinstance(config, Mapping) else {}
    sub = config.get(kind) if isinstance(config.get(kind), Mapping) else {}
    for d in (sub, config, attrs if isinstance(attrs, Mapping) else {}):
        value = d.get("crop_scale")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
