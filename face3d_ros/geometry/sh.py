# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Second-order spherical-harmonics irradiance (paper Eq. 4), RGB, 27 coefficients.

The basis ``H_k(n) = A_l * Y_lm(n)`` is the real SH basis up to band 2 with the Lambertian
irradiance constants of Ramamoorthi & Hanrahan (2001) folded in, ``A_0 = pi``,
``A_1 = 2 pi / 3``, ``A_2 = pi / 4``. Order (k = 0..8): Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20,
Y21, Y22 with

    Y00 = 0.282095                      Y1-1 = 0.488603 y   Y10 = 0.488603 z   Y11 = 0.488603 x
    Y2-2 = 1.092548 x y   Y2-1 = 1.092548 y z   Y20 = 0.315392 (3 z^2 - 1)
    Y21 = 1.092548 x z    Y22 = 0.546274 (x^2 - y^2)

for a unit normal ``n = (x, y, z)`` in the camera frame (x image right, y up, z towards the
camera; the rotated model frame of :mod:`face3d_ros.geometry.camera`).

``gamma`` is ``[27] = [3 channels (R, G, B), 9 coefficients]`` row-major: ``gamma[c, k]`` is the
SH projection ``L_lm`` of the incident radiance of channel ``c``, and

    shading[c] = sum_k H_k(n) * gamma[c, k]          colour = albedo * shading

is the irradiance ``E(n)`` (paper Eq. 4 writes the same as ``r * sum_b gamma_b H_b(n)``). A
uniform white environment of radiance ``L`` gives ``gamma[c, 0] = sqrt(4 pi) L`` and
``shading = pi L``; :func:`default_gamma` picks ``L = 1 / pi`` so that shading is exactly 1 for
every normal. A distant directional light of unit radiance from unit direction ``d`` has
``gamma[c, k] = Y_k(d)`` and, to second order, ``shading(n) = 1/4 + t/2 + 5/32 (3 t^2 - 1)``
with ``t = n . d`` (the band-limited ``max(0, t)``; see :func:`directional_gamma`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "SH_BANDS_CONSTANTS",
    "SH_COEFFS",
    "default_gamma",
    "directional_gamma",
    "sh_basis",
    "sh_basis_np",
    "sh_shading",
]

#: Number of SH coefficients per colour channel (bands 0..2).
SH_COEFFS = 9

#: Lambertian irradiance factors A_0, A_1, A_2 (Ramamoorthi & Hanrahan 2001).
SH_BANDS_CONSTANTS = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)

_C0 = 0.5 / math.sqrt(math.pi)  # 0.282095
_C1 = math.sqrt(3.0 / (4.0 * math.pi))  # 0.488603
_C2 = 0.5 * math.sqrt(15.0 / math.pi)  # 1.092548
_C20 = 0.25 * math.sqrt(5.0 / math.pi)  # 0.315392
_C22 = 0.25 * math.sqrt(15.0 / math.pi)  # 0.546274


def _basis_terms(x: Any, y: Any, z: Any) -> list[Any]:
    """Return the 9 irradiance basis terms (works for numpy arrays and torch tensors alike).

    Args:
        x: Normal x components.
        y: Normal y components.
        z: Normal z components.

    Returns:
        List of 9 arrays/tensors shaped like ``x``.
    """
    a0, a1, a2 = SH_BANDS_CONSTANTS
    ones = x * 0.0 + 1.0
    return [
        (a0 * _C0) * ones,
        (a1 * _C1) * y,
        (a1 * _C1) * z,
        (a1 * _C1) * x,
        (a2 * _C2) * x * y,
        (a2 * _C2) * y * z,
        (a2 * _C20) * (3.0 * z * z - 1.0),
        (a2 * _C2) * x * z,
        (a2 * _C22) * (x * x - y * y),
    ]


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Irradiance basis ``H(n)`` for unit normals (differentiable).

    Args:
        normals: [..., 3] unit normals in the camera frame (not re-normalised here).

    Returns:
        [..., 9] basis values, same dtype/device.

    Raises:
        ValueError: The last dimension is not 3.
    """
    if normals.shape[-1] != 3:
        raise ValueError(f"normals must have shape [..., 3], got {list(normals.shape)}")
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return torch.stack(_basis_terms(x, y, z), -1)


def sh_basis_np(normals: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`sh_basis`.

    Args:
        normals: [..., 3] unit normals.

    Returns:
        [..., 9] basis values (float64 unless the input is float32).
    """
    normals = np.asarray(normals)
    if normals.shape[-1] != 3:
        raise ValueError(f"normals must have shape [..., 3], got {list(normals.shape)}")
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return np.stack(_basis_terms(x, y, z), -1)


def sh_shading(normals: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """RGB irradiance ``shading[..., c] = sum_k H_k(n) gamma[c, k]`` (differentiable).

    Args:
        normals: [B, ..., 3] (or [..., 3]) unit normals in the camera frame.
        gamma: [B, 27] per-batch lighting (broadcast over the remaining dims of ``normals``)
            or [27] shared lighting.

    Returns:
        [B, ..., 3] (or [..., 3]) shading; multiply by albedo for the colour.

    Raises:
        ValueError: On shape mismatch.
    """
    gamma = torch.as_tensor(gamma)
    if gamma.shape[-1] != 3 * SH_COEFFS or gamma.ndim > 2:
        raise ValueError(f"gamma must have shape [27] or [B, 27], got {list(gamma.shape)}")
    basis = sh_basis(normals)  # [..., 9]
    g = gamma.to(basis.dtype).reshape(*gamma.shape[:-1], 3, SH_COEFFS)
    if g.ndim == 2:
        return basis @ g.T
    if normals.ndim < 2 or normals.shape[0] != g.shape[0]:
        raise ValueError(
            f"gamma [B, 27] needs normals [B, ..., 3] with the same B, got gamma "
            f"{list(gamma.shape)} and normals {list(normals.shape)}"
        )
    lead = basis.shape[1:-1]
    flat = basis.reshape(basis.shape[0], -1, SH_COEFFS)  # [B, P, 9]
    out = flat @ g.transpose(-1, -2)  # [B, P, 3]
    return out.reshape(basis.shape[0], *lead, 3)


def default_gamma() -> np.ndarray:
    """Uniform white ambient lighting with shading exactly 1 for every normal.

    Returns:
        [27] float32: ``gamma[c, 0] = 1 / H_0 = 1 / (pi * 0.282095)`` for c = R, G, B, rest 0.
    """
    g = np.zeros((3, SH_COEFFS), np.float32)
    g[:, 0] = 1.0 / (SH_BANDS_CONSTANTS[0] * _C0)
    return g.reshape(-1)


def directional_gamma(
    direction: np.ndarray, color: np.ndarray | float = 1.0, ambient: np.ndarray | float = 0.0
) -> np.ndarray:
    """Lighting of a distant directional light plus uniform ambient, as SH coefficients.

    With unit radiance from direction ``d`` the band-limited irradiance is
    ``1/4 + t/2 + 5/32 (3 t^2 - 1)``, ``t = n . d`` (1.0625 at ``n = d``, 0 at ``t = -1``);
    ``ambient`` adds a constant shading (so ``ambient = 1`` alone equals :func:`default_gamma`).

    Args:
        direction: [3] direction TOWARDS the light in the camera frame (normalised here).
        color: Scalar or [3] RGB light intensity.
        ambient: Scalar or [3] RGB ambient shading.

    Returns:
        [27] float32 coefficients.

    Raises:
        ValueError: ``direction`` is not a non-zero 3-vector.
    """
    d = np.asarray(direction, np.float64).reshape(-1)
    if d.shape != (3,) or not np.isfinite(d).all() or np.linalg.norm(d) == 0:
        raise ValueError(f"direction must be a finite non-zero [3] vector, got {direction!r}")
    d = d / np.linalg.norm(d)
    y = np.array(
        [
            _C0,
            _C1 * d[1],
            _C1 * d[2],
            _C1 * d[0],
            _C2 * d[0] * d[1],
            _C2 * d[1] * d[2],
            _C20 * (3 * d[2] ** 2 - 1),
            _C2 * d[0] * d[2],
            _C22 * (d[0] ** 2 - d[1] ** 2),
        ]
    )
    color = np.broadcast_to(np.asarray(color, np.float64), (3,))
    ambient = np.broadcast_to(np.asarray(ambient, np.float64), (3,))
    g = color[:, None] * y[None, :]
    g[:, 0] += ambient / (SH_BANDS_CONSTANTS[0] * _C0)
    return g.reshape(-1).astype(np.float32)
