# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for Euler angle <-> rotation matrix conversions (order, orthonormality, round trips)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.geometry.rotation import (
    euler_to_matrix,
    euler_to_matrix_np,
    matrix_to_euler,
    matrix_to_euler_np,
)


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _random_angles(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-np.pi, np.pi, size=(n, 3))
    a[:, 1] = rng.uniform(-1.4, 1.4, size=n)  # away from gimbal lock
    return a


def test_composition_order_matches_documentation() -> None:
    for p, y, r in _random_angles(20):
        expected = _rz(r) @ _ry(y) @ _rx(p)
        np.testing.assert_allclose(euler_to_matrix_np(np.array([p, y, r])), expected, atol=1e-12)
    # A different order (Rx Ry Rz) must NOT match for generic angles.
    p, y, r = 0.3, 0.5, 0.7
    other = _rx(p) @ _ry(y) @ _rz(r)
    assert np.abs(euler_to_matrix_np(np.array([p, y, r])) - other).max() > 1e-2


def test_sign_conventions() -> None:
    nose = np.array([0.0, 0.0, 1.0])
    # Positive yaw turns the nose towards +x (image right); positive pitch turns it down (-y).
    assert (euler_to_matrix_np(np.array([0.0, 0.3, 0.0])) @ nose)[0] > 0
    assert (euler_to_matrix_np(np.array([0.3, 0.0, 0.0])) @ nose)[1] < 0
    # Positive roll turns +x towards +y.
    assert (euler_to_matrix_np(np.array([0.0, 0.0, 0.3])) @ np.array([1.0, 0, 0]))[1] > 0


def test_orthonormal_det_one_numpy_and_torch() -> None:
    a = _random_angles(64)
    R = euler_to_matrix_np(a)
    eye = np.broadcast_to(np.eye(3), R.shape)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), eye, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    Rt = euler_to_matrix(torch.from_numpy(a))
    np.testing.assert_allclose(Rt.numpy(), R, atol=1e-12)


def test_round_trip_both_ways() -> None:
    a = _random_angles(200, seed=1)
    np.testing.assert_allclose(matrix_to_euler_np(euler_to_matrix_np(a)), a, atol=1e-9)
    back = matrix_to_euler(euler_to_matrix(torch.from_numpy(a)))
    np.testing.assert_allclose(back.numpy(), a, atol=1e-9)
    np.testing.assert_allclose(matrix_to_euler_np(euler_to_matrix_np(a)), back.numpy(), atol=1e-9)


def test_gimbal_lock_still_reconstructs_matrix() -> None:
    for yaw in (np.pi / 2, -np.pi / 2):
        a = np.array([0.4, yaw, -0.3])
        R = euler_to_matrix_np(a)
        b = matrix_to_euler_np(R)
        assert b[2] == 0.0
        np.testing.assert_allclose(euler_to_matrix_np(b), R, atol=1e-6)


def test_batch_shapes_dtypes_and_errors() -> None:
    a = torch.zeros(2, 5, 3, dtype=torch.float32)
    R = euler_to_matrix(a)
    assert R.shape == (2, 5, 3, 3) and R.dtype == torch.float32
    assert matrix_to_euler(R).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="angles"):
        euler_to_matrix(torch.zeros(4))
    with pytest.raises(ValueError, match="R must"):
        matrix_to_euler_np(np.zeros((3, 4)))


def test_gradients_flow() -> None:
    a = torch.tensor([[0.2, -0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(euler_to_matrix, (a,))
