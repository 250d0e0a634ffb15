# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Plain-numpy container for a linear morphable face model, with validation.

Conventions (see ``docs/architecture.md`` and ``docs/face_model.md``): model space in
millimetres, x to the subject's left (image right), y up, z towards the camera. Bases hold
unit-variance directions; a sample is ``mean + sum_k basis[k] * sigma[k] * alpha[k]`` with
``alpha ~ N(0, I)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["N_LANDMARKS", "FaceModelData"]

#: Number of iBUG landmarks every model carries.
N_LANDMARKS = 68


def _check_array(name: str, value: Any, shape: tuple[int | None, ...], kind: str) -> None:
    """Check the type, dtype kind and shape of one field.

    Args:
        name: Field name, used in the error message.
        value: The value to check.
        shape: Expected shape; ``None`` entries match any size.
        kind: ``"f"`` for floating point, ``"i"`` for signed integers.

    Raises:
        ValueError: Naming the field and what is wrong with it.
    """
    if not isinstance(value, np.ndarray):
        raise ValueError(f"field {name!r} must be a numpy array, got {type(value).__name__}")
    if value.dtype.kind != kind:
        want = "floating point" if kind == "f" else "integer"
        raise ValueError(f"field {name!r} must be {want}, got dtype {value.dtype}")
    if value.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(value.shape, shape, strict=True)
    ):
        pretty = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"field {name!r} has shape {list(value.shape)}, expected {pretty}")
    if kind == "f" and not np.all(np.isfinite(value)):
        raise ValueError(f"field {name!r} contains NaN or infinite values")


@dataclass(frozen=True)
class FaceModelData:
    """A linear morphable face model held as numpy arrays.

    Attributes:
        model_id: Short identifier, e.g. ``"face3d-default-v1"`` or ``"bfm2009+exp_pca"``.
        mean_shape: [N, 3] float32 mean vertex positions in mm.
        id_basis: [K_id, N, 3] float32 unit-variance identity directions (mm).
        id_sigma: [K_id] float32 standard deviation of each identity component.
        exp_basis: [K_exp, N, 3] float32 expression directions (mm).
        exp_sigma: [K_exp] float32 standard deviations.
        mean_albedo: [N, 3] float32 linear RGB in [0, 1].
        albedo_basis: [K_alb, N, 3] float32 albedo directions.
        albedo_sigma: [K_alb] float32 standard deviations.
        triangles: [F, 3] int32 vertex indices, counter-clockwise seen from outside (+z front).
        landmark_indices: [68] int32 vertex index of each iBUG landmark.
        face_mask: [N] float32 in [0, 1]; 1 = face region used by photometric terms.
        wrinkle_mask: [N] float32 in [0, 1]; 1 = forehead / eye-corner regions.
        metadata: JSON-serialisable dict (provenance, licence, units, ...).
    """

    model_id: str
    mean_shape: np.ndarray
    id_basis: np.ndarray
    id_sigma: np.ndarray
    exp_basis: np.ndarray
    exp_sigma: np.ndarray
    mean_albedo: np.ndarray
    albedo_basis: np.ndarray
    albedo_sigma: np.ndarray
    triangles: np.ndarray
    landmark_indices: np.ndarray
    face_mask: np.ndarray
    wrinkle_mask: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        """Number of vertices N."""
        return int(self.mean_shape.shape[0])

    @property
    def n_id(self) -> int:
        """Number of identity components K_id."""
        return int(self.id_basis.shape[0])

    @property
    def n_exp(self) -> int:
        """Number of expression components K_exp."""
        return int(self.exp_basis.shape[0])

    @property
    def n_alb(self) -> int:
        """Number of albedo components K_alb."""
        return int(self.albedo_basis.shape[0])

    @property
    def n_triangles(self) -> int:
        """Number of triangles F."""
        return int(self.triangles.shape[0])

    def validate(self) -> None:
        """Check every field's type, shape, dtype and value range.

        Raises:
            ValueError: Naming the first field found to be wrong and why.
        """
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ValueError("field 'model_id' must be a non-empty string")
        _check_array("mean_shape", self.mean_shape, (None, 3), "f")
        n = self.mean_shape.shape[0]
        if n < 3:
            raise ValueError(f"field 'mean_shape' has {n} vertices, need at least 3")
        for basis, sigma in (
            ("id_basis", "id_sigma"),
            ("exp_basis", "exp_sigma"),
            ("albedo_basis", "albedo_sigma"),
        ):
            b = getattr(self, basis)
            _check_array(basis, b, (None, n, 3), "f")
            _check_array(sigma, getattr(self, sigma), (b.shape[0],), "f")
            if np.any(getattr(self, sigma) < 0):
                raise ValueError(f"field {sigma!r} has negative entries")
        _check_array("mean_albedo", self.mean_albedo, (n, 3), "f")
        if self.mean_albedo.min() < 0 or self.mean_albedo.max() > 1:
            raise ValueError(
                "field 'mean_albedo' must lie in [0, 1], got range "
                f"[{self.mean_albedo.min():.3g}, {self.mean_albedo.max():.3g}]"
            )
        if not isinstance(self.triangles, np.ndarray) or self.triangles.dtype.kind not in "iu":
            raise ValueError("field 'triangles' must be an integer numpy array")
        _check_array("triangles", self.triangles.astype(np.int64), (None, 3), "i")
        if self.triangles.shape[0] == 0:
            raise ValueError("field 'triangles' is empty")
        if self.triangles.min() < 0 or self.triangles.max() >= n:
            raise ValueError(
                f"field 'triangles' has indices outside [0, {n}): "
                f"min {self.triangles.min()}, max {self.triangles.max()}"
            )
        lm = self.landmark_indices
        if not isinstance(lm, np.ndarray) or lm.dtype.kind not in "iu":
            raise ValueError("field 'landmark_indices' must be an integer numpy array")
        if lm.shape != (N_LANDMARKS,):
            raise ValueError(
                f"field 'landmark_indices' has shape {list(lm.shape)}, expected [{N_LANDMARKS}]"
            )
        if lm.min() < 0 or lm.max() >= n:
            raise ValueError(f"field 'landmark_indices' has indices outside [0, {n})")
        for name in ("face_mask", "wrinkle_mask"):
            m = getattr(self, name)
            _check_array(name, m, (n,), "f")
            if m.min() < 0 or m.max() > 1:
                raise ValueError(f"field {name!r} must lie in [0, 1]")
        if not isinstance(self.metadata, dict):
            raise ValueError("field 'metadata' must be a dict")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"field 'metadata' is not JSON-serialisable: {exc}") from exc

    def astype32(self) -> FaceModelData:
        """Return a copy with float fields as float32 and index fields as int32.

        Returns:
            A new :class:`FaceModelData` with canonical dtypes (contiguous arrays).
        """
        f32 = {
            k: np.ascontiguousarray(getattr(self, k), dtype=np.float32)
            for k in (
                "mean_shape",
                "id_basis",
                "id_sigma",
                "exp_basis",
                "exp_sigma",
                "mean_albedo",
                "albedo_basis",
                "albedo_sigma",
                "face_mask",
                "wrinkle_mask",
            )
        }
        return FaceModelData(
            model_id=self.model_id,
            triangles=np.ascontiguousarray(self.triangles, dtype=np.int32),
            landmark_indices=np.ascontiguousarray(self.landmark_indices, dtype=np.int32),
            metadata=dict(self.metadata),
            **f32,
        )
