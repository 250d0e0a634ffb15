# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Euler angles <-> rotation matrices (torch, batched and differentiable; numpy variants).

Convention (docs/architecture.md): angles are ``(pitch, yaw, roll)`` in radians and

    R = Rz(roll) @ Ry(yaw) @ Rx(pitch)

with the right-handed elementary rotations

    Rx(a) = [[1, 0, 0], [0, cos a, -sin a], [0, sin a, cos a]]
    Ry(a) = [[cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]]
    Rz(a) = [[cos a, -sin a, 0], [sin a, cos a, 0], [0, 0, 1]]

so a model point ``p`` (column vector) is rotated as ``c = R p``: first pitch about the model x
axis, then yaw about y, then roll about z. With the model axes (x to the subject's left, y up, z
out of the face): ``Rx(a)`` maps the nose direction ``(0, 0, 1)`` to ``(0, -sin a, cos a)``, so
a positive pitch turns the face DOWN; ``Ry(a)`` maps it to ``(sin a, 0, cos a)``, so a positive
yaw turns the face towards +x (image right); a positive roll turns +x towards +y
(counter-clockwise in the y-up camera frame, clockwise in the y-down image).

:func:`matrix_to_euler` returns ``yaw`` in ``[-pi/2, pi/2]`` and ``pitch``, ``roll`` in
``(-pi, pi]``; at gimbal lock (``|yaw| = pi/2``) it sets ``roll = 0`` and puts the remaining
rotation into ``pitch``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "euler_to_matrix",
    "euler_to_matrix_np",
    "matrix_to_euler",
    "matrix_to_euler_np",
]

#: cos(yaw) below which matrix_to_euler treats the matrix as gimbal-locked.
_GIMBAL_EPS = 1e-6


def _check_last(x: torch.Tensor | np.ndarray, shape: tuple[int, ...], name: str) -> None:
    """Raise ValueError unless the trailing dimensions of ``x`` equal ``shape``.

    Args:
        x: Array or tensor to check.
        shape: Required trailing shape.
        name: Argument name for the message.
    """
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ValueError(
            f"{name} must have shape [..., {', '.join(map(str, shape))}], got {list(x.shape)}"
        )


def euler_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from Euler angles, ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``.

    Args:
        angles: [..., 3] ``(pitch, yaw, roll)`` in radians, any float dtype.

    Returns:
        [..., 3, 3] rotation matrices, same dtype and device (differentiable).

    Raises:
        ValueError: The last dimension is not 3.
    """
    angles = torch.as_tensor(angles)
    _check_last(angles, (3,), "angles")
    cp, sp = torch.cos(angles[..., 0]), torch.sin(angles[..., 0])
    cy, sy = torch.cos(angles[..., 1]), torch.sin(angles[..., 1])
    cr, sr = torch.cos(angles[..., 2]), torch.sin(angles[..., 2])
    rows = [
        torch.stack([cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp], -1),
        torch.stack([sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp], -1),
        torch.stack([-sy, cy * sp, cy * cp], -1),
    ]
    return torch.stack(rows, -2)


def matrix_to_euler(R: torch.Tensor) -> torch.Tensor:
    """Euler angles ``(pitch, yaw, roll)`` of rotation matrices (inverse of euler_to_matrix).

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [..., 3] angles in radians; yaw in [-pi/2, pi/2]. At gimbal lock roll is set to 0.

    Raises:
        ValueError: ``R`` is not [..., 3, 3].
    """
    R = torch.as_tensor(R)
    _check_last(R, (3, 3), "R")
    cos_yaw = torch.sqrt(R[..., 0, 0] ** 2 + R[..., 1, 0] ** 2)
    yaw = torch.atan2(-R[..., 2, 0], cos_yaw)
    locked = cos_yaw < _GIMBAL_EPS
    pitch = torch.where(
        locked,
        torch.atan2(-R[..., 1, 2], R[..., 1, 1]),
        torch.atan2(R[..., 2, 1], R[..., 2, 2]),
    )
    roll = torch.where(locked, torch.zeros_like(yaw), torch.atan2(R[..., 1, 0], R[..., 0, 0]))
    return torch.stack([pitch, yaw, roll], -1)


def euler_to_matrix_np(angles: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`euler_to_matrix`.

    Args:
        angles: [..., 3] ``(pitch, yaw, roll)`` in radians.

    Returns:
        [..., 3, 3] rotation matrices (float64 unless the input is float32).
    """
    angles = np.asarray(angles)
    if not np.issubdtype(angles.dtype, np.floating):
        angles = angles.astype(np.float64)
    _check_last(angles, (3,), "angles")
    cp, sp = np.cos(angles[..., 0]), np.sin(angles[..., 0])
    cy, sy = np.cos(angles[..., 1]), np.sin(angles[..., 1])
    cr, sr = np.cos(angles[..., 2]), np.sin(angles[..., 2])
    rows = [
        np.stack([cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp], -1),
        np.stack([sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp], -1),
        np.stack([-sy, cy * sp, cy * cp], -1),
    ]
    return np.stack(rows, -2)


def matrix_to_euler_np(R: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`matrix_to_euler`.

    Args:
        R: [..., 3, 3] rotation matrices.

    Returns:
        [..., 3] ``(pitch, yaw, roll)`` in radians.
    """
    R = np.asarray(R)
    if not np.issubdtype(R.dtype, np.floating):
        R = R.astype(np.float64)
    _check_last(R, (3, 3), "R")
    cos_yaw = np.sqrt(R[..., 0, 0] ** 2 + R[..., 1, 0] ** 2)
    yaw = np.arctan2(-R[..., 2, 0], cos_yaw)
    locked = cos_yaw < _GIMBAL_EPS
    pitch = np.where(
        locked, np.arctan2(-R[..., 1, 2], R[..., 1, 1]), np.arctan2(R[..., 2, 1], R[..., 2, 2])
    )
    roll = np.where(locked, 0.0, np.arctan2(R[..., 1, 0], R[..., 0, 0])).astype(yaw.dtype)
    return np.stack([pitch, yaw, roll], -1)
