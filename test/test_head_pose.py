# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Head poses on TF and as poses (face3d_ros.node.head_pose): REP-155 axes, metric placement.

The placement must agree with the mesh marker (camera_points_m) and with the weak-perspective
pose it came from: the face origin projects through K onto (tx, ty).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from face3d_ros.node.builders import CameraIntrinsics, camera_points_m
from face3d_ros.node.head_pose import (
    build_head_transforms,
    build_pose_array,
    head_pose_in_optical,
)

#: Non-square pixels and an off-centre principal point, so fx/fy and cx/cy mix-ups show.
CAM = CameraIntrinsics(fx=812.5, fy=790.25, cx=331.75, cy=228.5)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``[3, 3]`` rotation matrix of a unit quaternion ``(x, y, z, w)`` (textbook formula)."""
    x, y, z, w = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_poses(n: int, seed: int) -> np.ndarray:
    """``[n, 6]`` plausible poses: angles up to ~70 degrees, anywhere in a 640x480 image."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-1.2, 1.2, size=(n, 3))
    tx = rng.uniform(-50.0, 700.0, size=(n, 1))
    ty = rng.uniform(-50.0, 530.0, size=(n, 1))
    s = rng.uniform(0.3, 6.0, size=(n, 1))
    return np.concatenate([angles, tx, ty, s], axis=1)


def image_header(frame_id: str = "camera_optical_frame") -> Any:
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec = 1_700_000_321
    header.stamp.nanosec = 987_654_321
    return header


def test_frontal_face_has_rep155_axes_in_the_optical_frame() -> None:
    # upright face looking into the camera, model origin on the principal point
    translation, q = head_pose_in_optical(np.array([0.0, 0.0, 0.0, CAM.cx, CAM.cy, 1.625]), CAM)
    np.testing.assert_allclose(translation, [0.0, 0.0, CAM.fx / 1.625 / 1000.0], atol=1e-12)
    rot = quat_to_matrix(q)
    np.testing.assert_allclose(rot[:, 0], [0.0, 0.0, -1.0], atol=1e-12)  # x_face = -z_optical
    np.testing.assert_allclose(rot[:, 1], [1.0, 0.0, 0.0], atol=1e-12)  # y_face = +x_optical
    np.testing.assert_allclose(rot[:, 2], [0.0, -1.0, 0.0], atol=1e-12)  # z_face = -y_optical


def test_yaw_and_pitch_turn_the_forward_axis_the_documented_way() -> None:
    # rotation.py: positive yaw turns the face towards image right (+x optical), positive
    # pitch turns it down (+y optical); forward is x_face
    a = 0.4
    _, q_yaw = head_pose_in_optical(np.array([0.0, a, 0.0, CAM.cx, CAM.cy, 2.0]), CAM)
    np.testing.assert_allclose(
        quat_to_matrix(q_yaw)[:, 0], [np.sin(a), 0.0, -np.cos(a)], atol=1e-12
    )
    _, q_pitch = head_pose_in_optical(np.array([a, 0.0, 0.0, CAM.cx, CAM.cy, 2.0]), CAM)
    np.testing.assert_allclose(
        quat_to_matrix(q_pitch)[:, 0], [0.0, np.sin(a), -np.cos(a)], atol=1e-12
    )


def test_translation_projects_onto_the_image_position_of_the_model_origin() -> None:
    for pose in random_poses(200, seed=1):
        translation, _ = head_pose_in_optical(pose, CAM)
        x, y, z = translation
        assert z > 0
        u = CAM.fx * x / z + CAM.cx
        v = CAM.fy * y / z + CAM.cy
        assert abs(u - pose[3]) < 1e-6 and abs(v - pose[4]) < 1e-6, (pose, u, v)
        # and the distance follows the weak-perspective scale: fx / Z pixels per mm
        assert z * 1000.0 == pytest.approx(CAM.fx / pose[5], rel=1e-12)


def test_transform_of_rep155_coordinates_reproduces_the_mesh_marker_points() -> None:
    rng = np.random.default_rng(7)
    vertices = rng.uniform(-90.0, 90.0, size=(50, 3))  # mm, model space
    # REP-155 coordinates of the same points: x = model z, y = model x, z = model y (metres)
    face_coords = vertices[:, [2, 0, 1]] / 1000.0
    for pose in random_poses(50, seed=2):
        translation, q = head_pose_in_optical(pose, CAM)
        assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-12) and q[3] >= 0.0
        moved = face_coords @ quat_to_matrix(q).T + translation
        np.testing.assert_allclose(moved, camera_points_m(vertices, pose, CAM), atol=1e-12)


@pytest.mark.parametrize(
    "pose",
    [
        [0.0, 0.0, 0.0, 320.0, 240.0, 0.0],
        [0.0, 0.0, 0.0, 320.0, 240.0, -1.0],
        [0.0, np.nan, 0.0, 320.0, 240.0, 1.0],
        [0.0, 0.0, 0.0, np.inf, 240.0, 1.0],
        [0.0, 0.0, 320.0, 240.0, 1.0],
    ],
)
def test_invalid_poses_are_refused(pose: list[float]) -> None:
    with pytest.raises(ValueError):
        head_pose_in_optical(np.array(pose), CAM)


def test_transforms_carry_stamp_frames_and_order() -> None:
    header = image_header()
    poses = random_poses(3, seed=3)
    faces = [("b7", poses[0]), ("a1", poses[1]), ("c", poses[2])]
    message = build_head_transforms(faces, header, CAM)
    assert type(message).__name__ == "TFMessage"
    assert [t.child_frame_id for t in message.transforms] == ["face_b7", "face_a1", "face_c"]
    for transform, (_, pose) in zip(message.transforms, faces, strict=True):
        assert transform.header.frame_id == "camera_optical_frame"
        assert (transform.header.stamp.sec, transform.header.stamp.nanosec) == (
            1_700_000_321,
            987_654_321,
        )
        translation, q = head_pose_in_optical(pose, CAM)
        t, r = transform.transform.translation, transform.transform.rotation
        np.testing.assert_array_equal([t.x, t.y, t.z], translation)
        np.testing.assert_array_equal([r.x, r.y, r.z, r.w], q)
    assert header.frame_id == "camera_optical_frame"  # the input header is left alone

    other = build_head_transforms(faces[:1], header, CAM, parent_frame="cam_alias", prefix="p/")
    assert other.transforms[0].header.frame_id == "cam_alias"
    assert other.transforms[0].child_frame_id == "p/b7"
    assert build_head_transforms([], header, CAM).transforms == []


def test_transforms_refuse_frames_tf2_would_reject() -> None:
    pose = random_poses(1, seed=4)[0]
    with pytest.raises(ValueError, match="parent frame"):
        build_head_transforms([("1", pose)], image_header(""), CAM)
    with pytest.raises(ValueError, match="face_1"):
        build_head_transforms([("1", pose), ("1", pose)], image_header(), CAM)
    with pytest.raises(ValueError, match="child frame"):
        build_head_transforms([("", pose)], image_header(), CAM, prefix="")
    with pytest.raises(ValueError, match="child frame"):
        build_head_transforms([("x", pose)], image_header("face_x"), CAM)


def test_pose_array_matches_the_transforms() -> None:
    header = image_header()
    poses = random_poses(4, seed=5)
    faces = [(str(9 - i), p) for i, p in enumerate(poses)]
    array = build_pose_array(faces, header, CAM)
    tf = build_head_transforms(faces, header, CAM)
    assert array.header.frame_id == "camera_optical_frame"
    assert (array.header.stamp.sec, array.header.stamp.nanosec) == (1_700_000_321, 987_654_321)
    assert len(array.poses) == len(faces)
    for pose, transform in zip(array.poses, tf.transforms, strict=True):
        t, r = transform.transform.translation, transform.transform.rotation
        assert (pose.position.x, pose.position.y, pose.position.z) == (t.x, t.y, t.z)
        assert (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w) == (
            r.x,
            r.y,
            r.z,
            r.w,
        )
    assert build_pose_array(faces, header, CAM, parent_frame="alias").header.frame_id == "alias"
    assert build_pose_array([], header, CAM).poses == []


def test_tf_message_round_trips_through_rclpy_serialization() -> None:
    from rclpy.serialization import deserialize_message, serialize_message
    from tf2_msgs.msg import TFMessage

    faces = [(str(i), p) for i, p in enumerate(random_poses(3, seed=6))]
    message = build_head_transforms(faces, image_header(), CAM)
    back = deserialize_message(serialize_message(message), TFMessage)
    assert back == message
    assert [t.child_frame_id for t in back.transforms] == ["face_0", "face_1", "face_2"]
