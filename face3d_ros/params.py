# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face parameters (FaceParams) and the packing of the nets' output vectors (ParamLayout).

A :class:`FaceParams` holds one face's coefficients (numpy float32, 1-D):
``alpha_id [K_id]``, ``alpha_exp [K_exp]``, ``alpha_alb [K_alb]`` (units of each component's
standard deviation), ``gamma [27]`` (SH lighting, see :mod:`face3d_ros.geometry.sh`) and
``pose [6] = (pitch, yaw, roll, tx, ty, s)`` (radians, pixels, pixels per mm; see
:mod:`face3d_ros.geometry.camera`).

:class:`ParamLayout` describes the flat parameter vectors of the two regression nets
(docs/architecture.md):

    CoarseNet  : [id K_id | exp K_exp | pitch yaw roll | tx ty | s]                  coarse_size
    Tracking   : [id | exp | alb K_alb | sh 27 | d_pitch d_yaw d_roll | d_tx d_ty | d_s]
                                                                                     tracking_size

with ``coarse_size = K_id + K_exp + 6`` and ``tracking_size = K_id + K_exp + K_alb + 27 + 6``
(paper: 185 and 312). The tracking pose part is the component-wise difference
``pose - prev_pose`` (both in the pixel coordinates of the same crop). The nets predict
normalised targets ``(x - mean) / std``; the layout stores those ``mean``/``std`` arrays and
round-trips them through JSON (:meth:`ParamLayout.to_dict` / :meth:`ParamLayout.from_dict`).
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from face3d_ros.geometry.sh import default_gamma

__all__ = ["FaceParams", "ParamLayout", "default_pose"]

GAMMA_SIZE = 27
POSE_SIZE = 6

NetKind = Literal["coarse", "tracking"]


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


def _stat(x: Any, size: int, name: str, positive: bool) -> np.ndarray:
    """Validate a normalisation statistics vector.

    Args:
        x: Array-like.
        size: Required length.
        name: Name for messages.
        positive: Require all entries > 0.

    Returns:
        [size] float32.

    Raises:
        ValueError: On wrong length, non-finite or non-positive values.
    """
    a = _vec(x, name, size)
    if positive and (a <= 0).any():
        raise ValueError(f"{name} must be > 0 everywhere")
    return a


@dataclass
class ParamLayout:
    """Packing, slicing and normalisation of the CoarseNet and tracking-net parameter vectors.

    Attributes:
        n_id: K_id.
        n_exp: K_exp.
        n_alb: K_alb.
        coarse_mean: [coarse_size] float32 normalisation mean (default 0).
        coarse_std: [coarse_size] float32 normalisation std (default 1, > 0).
        tracking_mean: [tracking_size] float32 (default 0).
        tracking_std: [tracking_size] float32 (default 1, > 0).
    """

    n_id: int
    n_exp: int
    n_alb: int
    coarse_mean: np.ndarray | None = None
    coarse_std: np.ndarray | None = None
    tracking_mean: np.ndarray | None = None
    tracking_std: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Validate the sizes and fill default statistics.

        Raises:
            ValueError: On negative sizes or malformed statistics.
        """
        self.n_id, self.n_exp, self.n_alb = _dims_of((self.n_id, self.n_exp, self.n_alb))
        cs, ts = self.coarse_size, self.tracking_size
        self.coarse_mean = _stat(
            np.zeros(cs) if self.coarse_mean is None else self.coarse_mean, cs, "coarse_mean", False
        )
        self.coarse_std = _stat(
            np.ones(cs) if self.coarse_std is None else self.coarse_std, cs, "coarse_std", True
        )
        self.tracking_mean = _stat(
            np.zeros(ts) if self.tracking_mean is None else self.tracking_mean,
            ts,
            "tracking_mean",
            False,
        )
        self.tracking_std = _stat(
            np.ones(ts) if self.tracking_std is None else self.tracking_std,
            ts,
            "tracking_std",
            True,
        )

    @classmethod
    def from_model(cls, model: Any) -> ParamLayout:
        """Layout with default statistics for a MorphableModel / FaceModelData / dims tuple.

        Args:
            model: Anything :meth:`FaceParams.neutral` accepts.

        Returns:
            The layout.
        """
        return cls(*_dims_of(model))

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(n_id, n_exp, n_alb)``."""
        return (self.n_id, self.n_exp, self.n_alb)

    @property
    def coarse_size(self) -> int:
        """``n_id + n_exp + 6``."""
        return self.n_id + self.n_exp + POSE_SIZE

    @property
    def tracking_size(self) -> int:
        """``n_id + n_exp + n_alb + 27 + 6``."""
        return self.n_id + self.n_exp + self.n_alb + GAMMA_SIZE + POSE_SIZE

    @property
    def coarse_slices(self) -> dict[str, slice]:
        """Slices into a coarse vector: id, exp, pose (angles, t, s), angles, t, s."""
        a, b = self.n_id, self.n_id + self.n_exp
        return {
            "id": slice(0, a),
            "exp": slice(a, b),
            "pose": slice(b, b + 6),
            "angles": slice(b, b + 3),
            "t": slice(b + 3, b + 5),
            "s": slice(b + 5, b + 6),
        }

    @property
    def tracking_slices(self) -> dict[str, slice]:
        """Slices into a tracking vector: id, exp, alb, gamma, pose (the delta), angles, t, s."""
        a = self.n_id
        b = a + self.n_exp
        c = b + self.n_alb
        d = c + GAMMA_SIZE
        return {
            "id": slice(0, a),
            "exp": slice(a, b),
            "alb": slice(b, c),
            "gamma": slice(c, d),
            "pose": slice(d, d + 6),
            "angles": slice(d, d + 3),
            "t": slice(d + 3, d + 5),
            "s": slice(d + 5, d + 6),
        }

    def _check(self, params: FaceParams) -> None:
        """Check that ``params`` matches this layout's dims.

        Args:
            params: Parameters.
        """
        params.check_dims(self.dims)

    def _vector(self, vec: Any, size: int, name: str) -> np.ndarray:
        """Validate a flat vector of the given size.

        Args:
            vec: Array-like.
            size: Expected length.
            name: Name for messages.

        Returns:
            float32 copy.
        """
        return _vec(vec, name, size)

    def pack_coarse(self, params: FaceParams) -> np.ndarray:
        """Raw (not normalised) CoarseNet target vector.

        Args:
            params: Face parameters (albedo and lighting are not part of this vector).

        Returns:
            [coarse_size] float32.
        """
        self._check(params)
        return np.concatenate([params.alpha_id, params.alpha_exp, params.pose]).astype(np.float32)

    def unpack_coarse(self, vec: Any, template: FaceParams | None = None) -> FaceParams:
        """FaceParams from a raw CoarseNet vector.

        Args:
            vec: [coarse_size] raw vector.
            template: Source of ``alpha_alb`` and ``gamma`` (default: zeros and
                :func:`~face3d_ros.geometry.sh.default_gamma`).

        Returns:
            The parameters.

        Raises:
            ValueError: Wrong length or invalid pose.
        """
        v = self._vector(vec, self.coarse_size, "coarse vector")
        sl = self.coarse_slices
        base = template if template is not None else FaceParams.neutral(self.dims)
        self._check(base)
        return base.copy(alpha_id=v[sl["id"]], alpha_exp=v[sl["exp"]], pose=v[sl["pose"]])

    def pack_tracking(self, params: FaceParams, prev_pose: Any) -> np.ndarray:
        """Raw tracking-net target vector (pose part = ``params.pose - prev_pose``).

        Args:
            params: Current-frame parameters (pose in the crop's pixel coordinates).
            prev_pose: [6] previous-frame pose in the same crop's pixel coordinates.

        Returns:
            [tracking_size] float32.
        """
        self._check(params)
        prev = _vec(prev_pose, "prev_pose", POSE_SIZE)
        return np.concatenate(
            [params.alpha_id, params.alpha_exp, params.alpha_alb, params.gamma, params.pose - prev]
        ).astype(np.float32)

    def unpack_tracking(self, vec: Any, prev_pose: Any) -> FaceParams:
        """FaceParams from a raw tracking vector (pose = ``prev_pose + delta``).

        Args:
            vec: [tracking_size] raw vector.
            prev_pose: [6] previous pose in the crop's pixel coordinates.

        Returns:
            The parameters.

        Raises:
            ValueError: Wrong length or a resulting non-positive scale.
        """
        v = self._vector(vec, self.tracking_size, "tracking vector")
        prev = _vec(prev_pose, "prev_pose", POSE_SIZE)
        sl = self.tracking_slices
        return FaceParams(
            alpha_id=v[sl["id"]],
            alpha_exp=v[sl["exp"]],
            alpha_alb=v[sl["alb"]],
            gamma=v[sl["gamma"]],
            pose=prev + v[sl["pose"]],
        )

    def _stats(self, kind: NetKind) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std for a net kind.

        Args:
            kind: "coarse" or "tracking".

        Returns:
            ``(mean, std)``.

        Raises:
            ValueError: Unknown kind.
        """
        if kind == "coarse":
            return self.coarse_mean, self.coarse_std  # type: ignore[return-value]
        if kind == "tracking":
            return self.tracking_mean, self.tracking_std  # type: ignore[return-value]
        raise ValueError(f"kind must be 'coarse' or 'tracking', got {kind!r}")

    def normalize(self, vec: Any, kind: NetKind) -> Any:
        """``(vec - mean) / std`` for numpy arrays or torch tensors [..., size].

        Args:
            vec: Raw vectors (numpy or torch), last dim = the kind's size.
            kind: "coarse" or "tracking".

        Returns:
            Normalised vectors of the same type.
        """
        mean, std = self._stats(kind)
        return self._affine(vec, mean, std, forward=True)

    def denormalize(self, vec: Any, kind: NetKind) -> Any:
        """``vec * std + mean`` for numpy arrays or torch tensors [..., size].

        Args:
            vec: Normalised vectors (numpy or torch).
            kind: "coarse" or "tracking".

        Returns:
            Raw vectors of the same type.
        """
        mean, std = self._stats(kind)
        return self._affine(vec, mean, std, forward=False)

    @staticmethod
    def _affine(vec: Any, mean: np.ndarray, std: np.ndarray, forward: bool) -> Any:
        """Apply the normalisation or its inverse.

        Args:
            vec: numpy array or torch tensor [..., size].
            mean: [size].
            std: [size].
            forward: Normalise (True) or de-normalise (False).

        Returns:
            Same type as ``vec``.

        Raises:
            ValueError: Wrong last dimension.
        """
        if vec.shape[-1] != mean.shape[0]:
            raise ValueError(f"vector length {vec.shape[-1]} != layout size {mean.shape[0]}")
        if hasattr(vec, "detach"):  # torch
            import torch

            m = torch.as_tensor(mean, dtype=vec.dtype, device=vec.device)
            s = torch.as_tensor(std, dtype=vec.dtype, device=vec.device)
        else:
            vec = np.asarray(vec, np.float32)
            m, s = mean, std
        return (vec - m) / s if forward else vec * s + m

    def fit_statistics(self, vectors: Any, kind: NetKind, min_std: float = 1e-3) -> None:
        """Set the kind's mean/std from raw training vectors.

        Args:
            vectors: [M, size] raw vectors, M >= 1.
            kind: "coarse" or "tracking".
            min_std: Floor applied to the std (constant entries would divide by ~0).

        Raises:
            ValueError: Wrong shape or non-finite values.
        """
        v = np.asarray(vectors, np.float64)
        mean, _ = self._stats(kind)
        if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] != mean.shape[0]:
            raise ValueError(f"vectors must be [M, {mean.shape[0]}], got {list(v.shape)}")
        if not np.isfinite(v).all():
            raise ValueError("vectors contain non-finite values")
        m = v.mean(0).astype(np.float32)
        s = np.maximum(v.std(0), min_std).astype(np.float32)
        if kind == "coarse":
            self.coarse_mean, self.coarse_std = m, s
        else:
            self.tracking_mean, self.tracking_std = m, s

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (sizes and statistics as lists).

        Returns:
            The dict.
        """
        return {
            "n_id": self.n_id,
            "n_exp": self.n_exp,
            "n_alb": self.n_alb,
            "coarse_mean": self.coarse_mean.tolist(),  # type: ignore[union-attr]
            "coarse_std": self.coarse_std.tolist(),  # type: ignore[union-attr]
            "tracking_mean": self.tracking_mean.tolist(),  # type: ignore[union-attr]
            "tracking_std": self.tracking_std.tolist(),  # type: ignore[union-attr]
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParamLayout:
        """Inverse of :meth:`to_dict` (missing statistics default to 0 / 1).

        Args:
            d: The dict.

        Returns:
            The layout.

        Raises:
            ValueError: Missing sizes or malformed statistics.
        """
        missing = {"n_id", "n_exp", "n_alb"} - set(d)
        if missing:
            raise ValueError(f"ParamLayout dict lacks {sorted(missing)}")
        return cls(
            n_id=d["n_id"],
            n_exp=d["n_exp"],
            n_alb=d["n_alb"],
            coarse_mean=d.get("coarse_mean"),
            coarse_std=d.get("coarse_std"),
            tracking_mean=d.get("tracking_mean"),
            tracking_std=d.get("tracking_std"),
        )

    def save_json(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write :meth:`to_dict` as JSON.

        Args:
            path: Output file.
            overwrite: Replace an existing file.

        Raises:
            FileExistsError: The file exists and ``overwrite`` is False.
        """
        p = pathlib.Path(path)
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
        p.write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> ParamLayout:
        """Read a layout written by :meth:`save_json`.

        Args:
            path: JSON file.

        Returns:
            The layout.
        """
        return cls.from_dict(json.loads(pathlib.Path(path).read_text()))
