# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face parameters (FaceParams).

A :class:`FaceParams` holds one face's coefficients (numpy float32, 1-D):
``alpha_id [K_id]``, ``alpha_exp [K_exp]``, ``alpha_alb [K_alb]`` (units of each component's
standard deviation), ``gamma [27]`` (SH lighting, see :mod:`face3d_ros.geometry.sh`) and
``pose [6] = (pitch, yaw, roll, tx, ty, s)`` (radians, pixels, pixels per mm; see
:mod:`face3d_ros.geometry.camera`).

The nets' output vectors and their layout (group order, sizes, de-normalisation statistics)
are declared by :mod:`face3d_ros.nets.contract` and carried by each weight file's ``output_spec``
(:class:`face3d_ros.nets.heads.OutputSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from face3d_ros.geometry.sh import default_gamma

__all__ = ["FaceParams", "default_pose"]

GAMMA_SIZE = 27
POSE_SIZE = 6


def default_pose() -> np.ndarray:
    """Identity pose: no rotation, model origin at pixel (0, 0), 1 pixel per mm.

    Returns:
        [6] float32 ``(0, 0, 0, 0, 0, 1)``.
    """
    return np.array([0, 0, 0, 0, 0, 1], np.float32)


def _vec(x: Any, name: str, size: int | None = None) -> np.ndarray:
    """Convert to a finite 1-D float32 copy of the given size.

    Args:
        x: Array-like.
        name: Name for error messages.
        size: Required length, or None for any.

    Returns:
        [size] float32 array.

    Raises:
        ValueError: Not 1-D, wrong length or non-finite.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.array(x, dtype=np.float32, copy=True)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(a.shape)}")
    if size is not None and a.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains non-finite values")
    return a


def _dims_of(model_dims: Any) -> tuple[int, int, int]:
    """Extract ``(n_id, n_exp, n_alb)`` from a tuple, a MorphableModel or a FaceModelData.

    Args:
        model_dims: ``(n_id, n_exp, n_alb)`` or an object with ``n_id``, ``n_exp``, ``n_alb``.

    Returns:
        The three sizes.

    Raises:
        ValueError: Negative sizes or an unsupported object.
    """
    if all(hasattr(model_dims, k) for k in ("n_id", "n_exp", "n_alb")):
        dims = (model_dims.n_id, model_dims.n_exp, model_dims.n_alb)
    else:
        try:
            dims = tuple(model_dims)
        except TypeError as exc:
            msg = f"expected (n_id, n_exp, n_alb) or a model, got {model_dims!r}"
            raise ValueError(msg) from exc
    if len(dims) != 3 or any(int(d) != d or d < 0 for d in dims):
        raise ValueError(f"model dims must be three non-negative integers, got {dims!r}")
    return int(dims[0]), int(dims[1]), int(dims[2])


@dataclass
class FaceParams:
    """One face's parameters (numpy float32 vectors; validated and copied on construction).

    Attributes:
        alpha_id: [K_id] identity coefficients (in sigmas).
        alpha_exp: [K_exp] expression coefficients (in sigmas).
        alpha_alb: [K_alb] albedo coefficients (in sigmas).
        gamma: [27] SH lighting, ``[3 channels, 9]`` row-major.
        pose: [6] ``(pitch, yaw, roll, tx, ty, s)``: radians, pixels, pixels per mm (s > 0).
    """

    alpha_id: np.ndarray
    alpha_exp: np.ndarray
    alpha_alb: np.ndarray
    gamma: np.ndarray = field(default_factory=default_gamma)
    pose: np.ndarray = field(default_factory=default_pose)

    def __post_init__(self) -> None:
        """Validate and normalise the fields to 1-D float32 copies.

        Raises:
            ValueError: On wrong lengths, non-finite values or a non-positive scale.
        """
        self.alpha_id = _vec(self.alpha_id, "alpha_id")
        self.alpha_exp = _vec(self.alpha_exp, "alpha_exp")
        self.alpha_alb = _vec(self.alpha_alb, "alpha_alb")
        self.gamma = _vec(self.gamma, "gamma", GAMMA_SIZE)
        self.pose = _vec(self.pose, "pose", POSE_SIZE)
        if self.pose[5] <= 0:
            raise ValueError(f"pose scale s must be > 0, got {self.pose[5]}")

    @classmethod
    def neutral(cls, model_dims: Any, pose: np.ndarray | None = None) -> FaceParams:
        """Mean face, neutral expression, mean albedo, uniform white light.

        Args:
            model_dims: ``(n_id, n_exp, n_alb)`` or a MorphableModel / FaceModelData.
            pose: [6] pose; None = :func:`default_pose` (identity rotation, origin at pixel
                (0, 0), 1 px/mm), which callers usually replace.

        Returns:
            The parameters.
        """
        n_id, n_exp, n_alb = _dims_of(model_dims)
        return cls(
            alpha_id=np.zeros(n_id, np.float32),
            alpha_exp=np.zeros(n_exp, np.float32),
            alpha_alb=np.zeros(n_alb, np.float32),
            gamma=default_gamma(),
            pose=default_pose() if pose is None else pose,
        )

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(K_id, K_exp, K_alb)``."""
        return (self.alpha_id.shape[0], self.alpha_exp.shape[0], self.alpha_alb.shape[0])

    def copy(self, **changes: Any) -> FaceParams:
        """Deep copy, optionally replacing fields.

        Args:
            **changes: Field values to replace (validated).

        Returns:
            A new FaceParams.
        """
        values = {
            k: getattr(self, k) for k in ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose")
        }
        values.update(changes)
        return FaceParams(**values)

    def check_dims(self, model_dims: Any) -> None:
        """Raise ValueError unless the coefficient lengths match a model.

        Args:
            model_dims: ``(n_id, n_exp, n_alb)`` or a model object.

        Raises:
            ValueError: On mismatch.
        """
        want = _dims_of(model_dims)
        if self.dims != want:
            raise ValueError(f"FaceParams dims {self.dims} do not match the model's {want}")

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-serialisable dict of lists.

        Returns:
            ``{field: list of floats}``.
        """
        return {
            k: getattr(self, k).tolist()
            for k in ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose")
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceParams:
        """Inverse of :meth:`to_dict`.

        Args:
            d: Dict with the five fields.

        Returns:
            The parameters.

        Raises:
            ValueError: Missing or malformed fields.
        """
        missing = {"alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose"} - set(d)
        if missing:
            raise ValueError(f"FaceParams dict lacks {sorted(missing)}")
        return cls(**{k: d[k] for k in ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose")})
