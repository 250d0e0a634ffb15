# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Weak-perspective camera (paper Eq. 3 with the image y axis pointing down) and pose packing.

Units: model points in millimetres (model space, y up, z towards the camera), image coordinates
in pixels with pixel centres at integer coordinates (OpenCV convention: pixel (row i, col j) is
centred at (u, v) = (j, i)). A pose vector is ``[6] = (pitch, yaw, roll, tx, ty, s)``:

    c     = R(pitch, yaw, roll) @ p      (mm, rotated model point; R from geometry.rotation)
    u     =  s * c_x + tx                (pixels, image right)
    v     = -s * c_y + ty                (pixels, image down)
    depth =  s * c_z                     (pixels; LARGER = CLOSER to the camera)

``s`` is pixels per millimetre and ``(tx, ty)`` is the image position of the model origin. The
depth carries no translation: it is relative to the model origin, so it can be negative for
points behind the origin. The camera frame used for lighting and normal maps is the rotated
model frame ``c`` (x image right, y up, z towards the camera).
"""

from __future__ import annotations

import numpy as np
import torch

from face3d_ros.geometry.rotation import euler_to_matrix, euler_to_matrix_np

__all__ = [
    "POSE_SIZE",
    "make_pose",
    "make_pose_np",
    "project",
    "project_np",
    "rotate",
    "split_pose",
    "unproject_np",
]

#: Length of a pose vector (pitch, yaw, roll, tx, ty, s).
POSE_SIZE = 6


def _check_points_pose(points: torch.Tensor | np.ndarray, pose: torch.Tensor | np.ndarray) -> None:
    """Validate ``points`` [B, N, 3] with ``pose`` [B, 6] or ``points`` [N, 3] with ``pose`` [6].

    Args:
        points: Points.
        pose: Pose vectors.

    Raises:
        ValueError: On any shape mismatch.
    """
    ok = (points.ndim == 3 and pose.ndim == 2 and points.shape[0] == pose.shape[0]) or (
        points.ndim == 2 and pose.ndim == 1
    )
    if not ok or points.shape[-1] != 3 or pose.shape[-1] != POSE_SIZE:
        raise ValueError(
            "expected points [B, N, 3] with pose [B, 6] (or points [N, 3] with pose [6]), got "
            f"points {list(points.shape)} and pose {list(pose.shape)}"
        )


def split_pose(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split pose vectors into angles, translation and scale.

    Args:
        pose: [..., 6] ``(pitch, yaw, roll, tx, ty, s)``.

    Returns:
        ``(angles [..., 3] rad, t [..., 2] px, s [...] px/mm)`` (views into ``pose``).

    Raises:
        ValueError: The last dimension is not 6.
    """
    if pose.shape[-1] != POSE_SIZE:
        raise ValueError(f"pose must have shape [..., 6], got {list(pose.shape)}")
    return pose[..., 0:3], pose[..., 3:5], pose[..., 5]


def make_pose(angles: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Pack angles, translation and scale into pose vectors.

    Args:
        angles: [..., 3] radians.
        t: [..., 2] pixels.
        s: [...] pixels per millimetre.

    Returns:
        [..., 6] pose vectors.
    """
    s = torch.as_tensor(s, dtype=angles.dtype, device=angles.device)
    return torch.cat([angles, t, s.unsqueeze(-1)], -1)


def make_pose_np(angles: np.ndarray, t: np.ndarray, s: float | np.ndarray) -> np.ndarray:
    """Numpy version of :func:`make_pose` (float32 output).

    Args:
        angles: [..., 3] radians.
        t: [..., 2] pixels.
        s: [...] or scalar, pixels per millimetre.

    Returns:
        [..., 6] float32 pose vectors.
    """
    angles = np.asarray(angles, np.float32)
    t = np.asarray(t, np.float32)
    s = np.broadcast_to(np.asarray(s, np.float32), angles.shape[:-1])
    return np.concatenate([angles, t, s[..., None]], -1).astype(np.float32)


def rotate(points: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate points into the camera frame, ``c = R p``.

    Args:
        points: [B, N, 3] (or [N, 3]) model points.
        angles: [B, 3] (or [3]) ``(pitch, yaw, roll)`` radians.

    Returns:
        Rotated points, same shape as ``points``.
    """
    R = euler_to_matrix(angles.to(points.dtype))
    return points @ R.transpose(-1, -2)


def project(points: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Weak-perspective projection to image pixels (differentiable in points and pose).

    Args:
        points: [B, N, 3] model points in mm (or [N, 3] with an unbatched pose).
        pose: [B, 6] ``(pitch, yaw, roll, tx, ty, s)`` (or [6]).

    Returns:
        [B, N, 3] (or [N, 3]) ``(u, v, depth)`` in pixels; larger depth = closer.

    Raises:
        ValueError: On shape mismatch.
    """
    _check_points_pose(points, pose)
    pose = pose.to(points.dtype)
    angles, t, s = split_pose(pose)
    c = rotate(points, angles)
    s = s[..., None]  # [B, 1] or [1]
    u = s * c[..., 0] + t[..., 0:1]
    v = -s * c[..., 1] + t[..., 1:2]
    depth = s * c[..., 2]
    return torch.stack([u, v, depth], -1)


def project_np(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`project` for one face.

    Args:
        points: [N, 3] model points in mm.
        pose: [6] ``(pitch, yaw, roll, tx, ty, s)``.

    Returns:
        [N, 3] float32 ``(u, v, depth)`` in pixels (computed in float64).

    Raises:
        ValueError: On shape mismatch.
    """
    points = np.asarray(points, np.float64)
    pose = np.asarray(pose, np.float64)
    if points.ndim != 2 or pose.ndim != 1:
        raise ValueError(
            f"project_np expects points [N, 3] and pose [6], got {list(points.shape)} and "
            f"{list(pose.shape)}"
        )
    _check_points_pose(points, pose)
    c = points @ euler_to_matrix_np(pose[:3]).T
    s = pose[5]
    out = np.stack([s * c[:, 0] + pose[3], -s * c[:, 1] + pose[4], s * c[:, 2]], 1)
    return out.astype(np.float32)


def unproject_np(screen: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Invert :func:`project_np`: screen ``(u, v, depth)`` back to model points.

    Args:
        screen: [N, 3] ``(u, v, depth)`` pixels.
        pose: [6] pose with ``s != 0``.

    Returns:
        [N, 3] float32 model points in mm.

    Raises:
        ValueError: On shape mismatch or zero scale.
    """
    screen = np.asarray(screen, np.float64)
    pose = np.asarray(pose, np.float64)
    if screen.ndim != 2 or screen.shape[1] != 3 or pose.shape != (POSE_SIZE,):
        raise ValueError(
            f"unproject_np expects screen [N, 3] and pose [6], got {list(screen.shape)} and "
            f"{list(pose.shape)}"
        )
    s = pose[5]
    if s == 0:
        raise ValueError("pose scale s must be non-zero")
    c = np.stack([(screen[:, 0] - pose[3]) / s, -(screen[:, 1] - pose[4]) / s, screen[:, 2] / s], 1)
    return (c @ euler_to_matrix_np(pose[:3])).astype(np.float32)
