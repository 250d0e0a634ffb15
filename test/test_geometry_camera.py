# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the weak-perspective camera: hand-computed projections, numpy/torch agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face3d_ros.geometry.camera import (
    make_pose,
    make_pose_np,
    project,
    project_np,
    split_pose,
    unproject_np,
)


def test_identity_rotation_hand_computed() -> None:
    pts = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    pose = np.array([0.0, 0.0, 0.0, 100.0, 50.0, 2.0])
    uvd = project_np(pts, pose)
    expected = np.array(
        [[100, 50, 0], [120, 50, 0], [100, 30, 0], [100, 50, 20]], np.float32
    )  # +y model goes UP in the image (smaller v); +z gives positive (closer) depth
    np.testing.assert_allclose(uvd, expected, atol=1e-5)


def test_yaw_90_hand_computed() -> None:
    # Yaw +90 deg: the nose (0, 0, 10) turns to +x -> image right, depth 0;
    # a point on +x (the subject's left) turns away from the camera (negative depth).
    pts = np.array([[0.0, 0.0, 10.0], [10.0, 0.0, 0.0]])
    pose = np.array([0.0, np.pi / 2, 0.0, 0.0, 0.0, 1.5])
    uvd = project_np(pts, pose)
    np.testing.assert_allclose(uvd, [[15.0, 0.0, 0.0], [0.0, 0.0, -15.0]], atol=1e-5)


def test_pitch_and_roll_hand_computed() -> None:
    # Pitch +90 deg maps the nose (0, 0, 10) to (0, -10, 0): image v increases (moves down).
    uvd = project_np(np.array([[0.0, 0.0, 10.0]]), np.array([np.pi / 2, 0, 0, 5.0, 5.0, 1.0]))
    np.testing.assert_allclose(uvd, [[5.0, 15.0, 0.0]], atol=1e-5)
    # Roll +90 deg maps +x (10, 0, 0) to (0, 10, 0): image v decreases.
    uvd = project_np(np.array([[10.0, 0.0, 0.0]]), np.array([0, 0, np.pi / 2, 5.0, 5.0, 1.0]))
    np.testing.assert_allclose(uvd, [[5.0, -5.0, 0.0]], atol=1e-5)


def test_numpy_torch_agree_batched_and_unbatched() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(scale=50, size=(3, 40, 3))
    pose = np.concatenate(
        [rng.uniform(-0.8, 0.8, (3, 3)), rng.uniform(50, 200, (3, 2)), rng.uniform(0.5, 3, (3, 1))],
        1,
    )
    out = project(torch.from_numpy(pts), torch.from_numpy(pose)).numpy()
    for b in range(3):
        np.testing.assert_allclose(out[b], project_np(pts[b], pose[b]), rtol=1e-5, atol=1e-3)
        single = project(torch.from_numpy(pts[b]), torch.from_numpy(pose[b])).numpy()
        np.testing.assert_allclose(single, out[b], atol=1e-9)
    back = unproject_np(project_np(pts[0], pose[0]), pose[0])
    np.testing.assert_allclose(back, pts[0], atol=1e-3)


def test_pose_packing() -> None:
    pose = torch.tensor([[0.1, 0.2, 0.3, 4.0, 5.0, 6.0]])
    angles, t, s = split_pose(pose)
    assert torch.equal(make_pose(angles, t, s), pose)
    np.testing.assert_array_equal(make_pose_np([0.1, 0.2, 0.3], [4, 5], 6), pose[0].numpy())


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="expected points"):
        project(torch.zeros(2, 5, 3), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="expected points"):
        project(torch.zeros(2, 5, 2), torch.zeros(2, 6))
    with pytest.raises(ValueError):
        project_np(np.zeros((5, 3)), np.zeros(5))


def test_projection_gradcheck() -> None:
    rng = np.random.default_rng(1)
    pts = torch.tensor(rng.normal(size=(2, 5, 3)), requires_grad=True)
    pose = torch.tensor(
        [[0.1, 0.2, 0.3, 4.0, 5.0, 1.5], [-0.3, 0.5, -0.1, 1.0, 2.0, 0.7]],
        dtype=torch.float64,
        requires_grad=True,
    )
    assert torch.autograd.gradcheck(project, (pts, pose))
