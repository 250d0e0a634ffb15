# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Torch module evaluating a linear morphable face model (bases as registered buffers).

``shape = mean_shape + sum_k id_basis[k] * id_sigma[k] * alpha_id[k]
+ sum_k exp_basis[k] * exp_sigma[k] * alpha_exp[k]`` and likewise for albedo. Coefficients are
in units of standard deviations. Everything is batch-first and float32; no batch size is built
in. The bases are pre-multiplied by sigma and flattened to ``[K, N*3]`` so one matmul evaluates
a batch. :meth:`MorphableModel.numpy` gives the same evaluation in numpy (:class:`NumpyMorphable`,
the one numpy path used by the Tracker, ``shape_np`` / ``albedo_np`` and the node's builders via
:func:`linear_combination_np`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from face3d_ros.model.face_model import FaceModelData

__all__ = ["MorphableModel", "NumpyMorphable", "linear_combination_np"]


def linear_combination_np(mean: np.ndarray, basis: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """``mean + coeffs @ basis`` in float32 for one face.

    Uses ``np.einsum`` (single-threaded SIMD) rather than ``@``: OpenBLAS's threaded gemv took
    20 ms instead of 0.3 ms (median) on two cores shared with ONNX Runtime's threads.

    Args:
        mean: [M] (or any shape with M elements) mean.
        basis: [K, M] basis (sigma folded in).
        coeffs: [K] coefficients.

    Returns:
        float32 array of ``mean``'s shape.

    Raises:
        ValueError: On mismatching sizes.
    """
    mean = np.asarray(mean, np.float32)
    c = np.asarray(coeffs, np.float32).reshape(-1)
    if basis.ndim != 2 or basis.shape[0] != c.shape[0] or basis.shape[1] != mean.size:
        raise ValueError(
            f"basis {list(basis.shape)} does not fit {c.shape[0]} coefficients and a mean of "
            f"{mean.size} values"
        )
    flat = np.einsum("k,kj->j", c, basis) if c.size else np.zeros(mean.size, np.float32)
    flat += mean.reshape(-1)
    return flat.reshape(mean.shape)


@dataclass(frozen=True)
class NumpyMorphable:
    """Numpy arrays of a :class:`MorphableModel` (float32, sigma folded in, flattened).

    Attributes:
        mean_shape: [N, 3] mean shape (mm).
        shape_basis: [K_id + K_exp, N*3] identity then expression basis.
        mean_albedo: [N, 3].
        albedo_basis: [K_alb, N*3].
        n_id: K_id.
        n_exp: K_exp.
    """

    mean_shape: np.ndarray
    shape_basis: np.ndarray
    mean_albedo: np.ndarray
    albedo_basis: np.ndarray
    n_id: int
    n_exp: int

    def shape(self, alpha_id: np.ndarray, alpha_exp: np.ndarray | None = None) -> np.ndarray:
        """Vertices [N, 3] float32 (mm) of one face (``alpha_exp=None``: neutral)."""
        a_id = np.asarray(alpha_id, np.float32).reshape(-1)
        if a_id.shape[0] != self.n_id:
            raise ValueError(f"alpha_id must have {self.n_id} entries, got {a_id.shape[0]}")
        if alpha_exp is None:
            a_exp = np.zeros(self.n_exp, np.float32)
        else:
            a_exp = np.asarray(alpha_exp, np.float32).reshape(-1)
            if a_exp.shape[0] != self.n_exp:
                raise ValueError(f"alpha_exp must have {self.n_exp} entries, got {a_exp.shape[0]}")
        return linear_combination_np(
            self.mean_shape, self.shape_basis, np.concatenate([a_id, a_exp])
        )

    def albedo(self, alpha_alb: np.ndarray) -> np.ndarray:
        """Per-vertex albedo [N, 3] float32 (not clamped) of one face."""
        return linear_combination_np(self.mean_albedo, self.albedo_basis, alpha_alb)


def _truncate(name: str, requested: int | None, available: int) -> int:
    """Resolve a truncation request.

    Args:
        name: Component group name for the error message.
        requested: Requested number of components, or None for all.
        available: Components held by the model.

    Returns:
        The number of components to keep.

    Raises:
        ValueError: ``requested`` is negative or larger than ``available``.
    """
    if requested is None:
        return available
    if requested < 0 or requested > available:
        raise ValueError(f"{name}={requested} outside [0, {available}] for this model")
    return int(requested)


class MorphableModel(torch.nn.Module):
    """Linear shape (identity + expression) and albedo model.

    Buffers (float32 unless noted): ``mean_shape`` [N, 3], ``id_basis`` [K_id, N*3] and
    ``exp_basis`` [K_exp, N*3] (sigma folded in), ``mean_albedo`` [N, 3], ``albedo_basis``
    [K_alb, N*3] (sigma folded in), ``triangles`` [F, 3] long, ``landmark_indices`` [68] long,
    ``face_mask`` [N], ``wrinkle_mask`` [N].

    Attributes:
        data: The (untruncated) :class:`FaceModelData` this module was built from.
        n_vertices: N.
        n_id: K_id after truncation.
        n_exp: K_exp after truncation.
        n_alb: K_alb after truncation.
    """

    mean_shape: torch.Tensor
    id_basis: torch.Tensor
    exp_basis: torch.Tensor
    mean_albedo: torch.Tensor
    albedo_basis: torch.Tensor
    triangles: torch.Tensor
    landmark_indices: torch.Tensor
    face_mask: torch.Tensor
    wrinkle_mask: torch.Tensor

    def __init__(
        self,
        data: FaceModelData,
        n_id: int | None = None,
        n_exp: int | None = None,
        n_alb: int | None = None,
    ) -> None:
        """Build the module.

        Args:
            data: A validated model.
            n_id: Keep only the first ``n_id`` identity components (None = all).
            n_exp: Keep only the first ``n_exp`` expression components.
            n_alb: Keep only the first ``n_alb`` albedo components.

        Raises:
            ValueError: ``data`` is invalid or a truncation is out of range.
        """
        super().__init__()
        data.validate()
        self.data = data
        self.n_vertices = data.n_vertices
        self.n_id = _truncate("n_id", n_id, data.n_id)
        self.n_exp = _truncate("n_exp", n_exp, data.n_exp)
        self.n_alb = _truncate("n_alb", n_alb, data.n_alb)
        n3 = 3 * self.n_vertices

        def scaled(basis: np.ndarray, sigma: np.ndarray, k: int) -> torch.Tensor:
            b = basis[:k].astype(np.float32).reshape(k, n3) * sigma[:k, None].astype(np.float32)
            return torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))

        f32 = np.float32
        self.register_buffer("mean_shape", torch.from_numpy(data.mean_shape.astype(f32)))
        self.register_buffer("id_basis", scaled(data.id_basis, data.id_sigma, self.n_id))
        self.register_buffer("exp_basis", scaled(data.exp_basis, data.exp_sigma, self.n_exp))
        self.register_buffer("mean_albedo", torch.from_numpy(data.mean_albedo.astype(f32)))
        self.register_buffer(
            "albedo_basis", scaled(data.albedo_basis, data.albedo_sigma, self.n_alb)
        )
        self.register_buffer("triangles", torch.from_numpy(data.triangles.astype(np.int64)))
        self.register_buffer(
            "landmark_indices", torch.from_numpy(data.landmark_indices.astype(np.int64))
        )
        self.register_buffer("face_mask", torch.from_numpy(data.face_mask.astype(f32)))
        self.register_buffer("wrinkle_mask", torch.from_numpy(data.wrinkle_mask.astype(f32)))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        n_id: int | None = None,
        n_exp: int | None = None,
        n_alb: int | None = None,
    ) -> MorphableModel:
        """Load a model file (see :mod:`face3d_ros.model.io`) and build the module.

        Args:
            path: Model ``.npz`` file.
            n_id: Optional identity truncation.
            n_exp: Optional expression truncation.
            n_alb: Optional albedo truncation.

        Returns:
            The module (on CPU).
        """
        from face3d_ros.model.io import load_face_model

        return cls(load_face_model(path), n_id=n_id, n_exp=n_exp, n_alb=n_alb)

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(n_id, n_exp, n_alb)`` after truncation."""
        return (self.n_id, self.n_exp, self.n_alb)

    @staticmethod
    def _coeffs(name: str, alpha: torch.Tensor, k: int, like: torch.Tensor) -> torch.Tensor:
        """Check a coefficient batch [B, k] and cast it to the buffers' dtype/device.

        Args:
            name: Argument name for error messages.
            alpha: Coefficients [B, k].
            k: Expected number of components.
            like: Tensor whose dtype and device to use.

        Returns:
            ``alpha`` as a tensor on ``like``'s device and dtype.

        Raises:
            ValueError: Wrong rank or size.
        """
        alpha = torch.as_tensor(alpha)
        if alpha.ndim != 2 or alpha.shape[1] != k:
            raise ValueError(f"{name} must have shape [B, {k}], got {list(alpha.shape)}")
        return alpha.to(dtype=like.dtype, device=like.device)

    def shape(self, alpha_id: torch.Tensor, alpha_exp: torch.Tensor | None = None) -> torch.Tensor:
        """Vertex positions for a batch of identity and expression coefficients.

        Args:
            alpha_id: [B, K_id] identity coefficients (in sigmas).
            alpha_exp: [B, K_exp] expression coefficients (in sigmas); None = neutral.

        Returns:
            [B, N, 3] vertices in mm (model space).
        """
        a_id = self._coeffs("alpha_id", alpha_id, self.n_id, self.mean_shape)
        offset = a_id @ self.id_basis
        if alpha_exp is not None:
            a_exp = self._coeffs("alpha_exp", alpha_exp, self.n_exp, self.mean_shape)
            if a_exp.shape[0] != a_id.shape[0]:
                raise ValueError(
                    f"batch sizes differ: alpha_id {a_id.shape[0]}, alpha_exp {a_exp.shape[0]}"
                )
            offset = offset + a_exp @ self.exp_basis
        return self.mean_shape.unsqueeze(0) + offset.view(-1, self.n_vertices, 3)

    def albedo(self, alpha_alb: torch.Tensor) -> torch.Tensor:
        """Per-vertex albedo for a batch of albedo coefficients (not clamped).

        Args:
            alpha_alb: [B, K_alb] albedo coefficients (in sigmas).

        Returns:
            [B, N, 3] linear RGB albedo (nominally in [0, 1]; callers may clamp).
        """
        a = self._coeffs("alpha_alb", alpha_alb, self.n_alb, self.mean_albedo)
        return self.mean_albedo.unsqueeze(0) + (a @ self.albedo_basis).view(-1, self.n_vertices, 3)

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """Pick the 68 landmark vertices.

        Args:
            vertices: [B, N, 3] vertices (any space: model, rotated or screen).

        Returns:
            [B, 68, 3] landmark positions in the same space.
        """
        if vertices.ndim != 3 or vertices.shape[1] != self.n_vertices:
            raise ValueError(
                f"vertices must have shape [B, {self.n_vertices}, C], got {list(vertices.shape)}"
            )
        return vertices.index_select(1, self.landmark_indices.to(vertices.device))

    def numpy(self) -> NumpyMorphable:
        """The model's arrays in numpy for per-frame evaluation without torch (cached).

        Returns:
            The :class:`NumpyMorphable` (rebuilt when a buffer was replaced or moved).
        """
        key = tuple(
            (id(b), b._version, b.device)
            for b in (self.mean_shape, self.id_basis, self.exp_basis, self.albedo_basis)
        )
        cached = getattr(self, "_numpy_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]

        def arr(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)

        out = NumpyMorphable(
            mean_shape=arr(self.mean_shape),
            shape_basis=np.ascontiguousarray(
                np.concatenate([arr(self.id_basis), arr(self.exp_basis)])
            ),
            mean_albedo=arr(self.mean_albedo),
            albedo_basis=arr(self.albedo_basis),
            n_id=self.n_id,
            n_exp=self.n_exp,
        )
        self._numpy_cache = (key, out)
        return out

    def shape_np(self, alpha_id: np.ndarray, alpha_exp: np.ndarray | None = None) -> np.ndarray:
        """Numpy evaluation of :meth:`shape` for one face (:meth:`numpy`).

        Args:
            alpha_id: [K_id] identity coefficients.
            alpha_exp: [K_exp] expression coefficients or None.

        Returns:
            [N, 3] float32 vertices in mm.
        """
        return self.numpy().shape(alpha_id, alpha_exp)

    def albedo_np(self, alpha_alb: np.ndarray) -> np.ndarray:
        """Numpy evaluation of :meth:`albedo` for one face (:meth:`numpy`).

        Args:
            alpha_alb: [K_alb] albedo coefficients.

        Returns:
            [N, 3] float32 albedo.
        """
        return self.numpy().albedo(alpha_alb)
