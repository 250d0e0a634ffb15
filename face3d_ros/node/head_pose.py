# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Head poses as TF transforms and poses: ``<camera optical frame> -> face_<id>``.

Pure builders (numpy and message classes, no node) that place each face's head frame in the
camera optical frame of its image, for ``/tf`` (``tf2_msgs/TFMessage``) and as a
``geometry_msgs/PoseArray``.

Frames:

* Parent: the camera optical frame of the image (x right, y down, z forward): the image
  header's ``frame_id`` unless the caller names another one.
* Child ``face_<id>`` follows REP-155 (ros4hri; what hri_face_detect publishes as
  ``face_<id>``): x forward, out of the face; y to the subject's left; z up. In model space
  (x to the subject's left = image right, y up, z out of the face) these are the model's +z,
  +x and +y axes, and the origin is the model origin. For a frontal, upright face the axes are
  ``x_face = -z_optical``, ``y_face = +x_optical``, ``z_face = -y_optical``.

The placement is the one of the ``face_mesh`` marker: the face frame's origin and axes are
where :func:`face3d_ros.node.builders.camera_points_m` puts the model origin and model axes, so
a mesh vertex expressed in REP-155 coordinates and moved by the transform lands exactly on the
marker's point. That placement is a weak-perspective approximation (docs/node.md, "Metric
mesh"): the distance ``Z = fx / s`` comes from the scale, ``X``, ``Y`` from the image position
``(tx, ty)`` of the model origin (so projecting the translation through K gives ``(tx, ty)``
back), and the rotation ``R = Rz(roll) Ry(yaw) Rx(pitch)`` is used as estimated, relative to the
camera axes: for a face far from the image centre it is not corrected for the angle between the
viewing ray and the optical axis. The intrinsics are the ones the mesh uses
(:func:`face3d_ros.node.builders.choose_intrinsics`: the image's usable CameraInfo, else the
assumed focal length).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from face3d_ros.node.builders import CameraIntrinsics, camera_points_m

__all__ = [
    "FACE_AXES_IN_MODEL",
    "build_head_transforms",
    "build_pose_array",
    "head_pose_in_optical",
]

#: ``[3, 3]`` rows: the REP-155 face axes x (forward), y (subject's left), z (up) as unit
#: vectors in model space (x subject's left, y up, z out of the face). A point with face-frame
#: coordinates ``q`` has model coordinates ``q @ FACE_AXES_IN_MODEL``.
FACE_AXES_IN_MODEL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

#: Length (mm) of the axis vectors placed with camera_points_m: 1 m, so that their optical
#: end points minus the origin are the unit axes in metres without a division.
_AXIS_MM = 1000.0


def head_pose_in_optical(
    pose: np.ndarray, cam: CameraIntrinsics
) -> tuple[np.ndarray, np.ndarray]:
    """The face frame (REP-155) of one weak-perspective pose, in the camera optical frame.

    Args:
        pose: ``[6]`` ``(pitch, yaw, roll, tx, ty, s)``: radians, input-image pixels, ``s`` in
            pixels per mm (``FaceParams`` pitch/yaw/roll/tx/ty/scale).
        cam: intrinsics of the input image (the ones the mesh marker uses).

    Returns:
        ``(translation, quaternion)``: ``[3]`` float64 metres, the model origin in the optical
        frame; ``[4]`` float64 ``(x, y, z, w)`` unit quaternion (``w >= 0``) rotating
        face-frame vectors into the optical frame.

    Raises:
        ValueError: ``pose`` is not 6 finite numbers, or its scale is not positive.
    """
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (6,):
        raise ValueError(f"pose must have shape [6], got {list(pose.shape)}")
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"pose has non-finite values: {pose.tolist()}")
    # The origin and the three face axes (1 m long) placed exactly as the mesh vertices are.
    model_points = np.vstack([np.zeros((1, 3)), _AXIS_MM * FACE_AXES_IN_MODEL])
    optical = camera_points_m(model_points, pose, cam)
    translation = optical[0]
    matrix = (optical[1:] - translation).T  # columns: face x, y, z axes in the optical frame
    quaternion = Rotation.from_matrix(matrix).as_quat(canonical=True)
    return translation, quaternion


def _parent_frame(header: Any, parent_frame: str) -> str:
    """``parent_frame`` when set, else the image header's frame_id."""
    return parent_frame or str(header.frame_id)


def build_head_transforms(
    faces: Sequence[tuple[str, np.ndarray]],
    header: Any,
    cam: CameraIntrinsics,
    *,
    parent_frame: str = "",
    prefix: str = "face_",
) -> Any:
    """One ``geometry_msgs/TransformStamped`` per face, ``<parent> -> <prefix><face id>``.

    Args:
        faces: ``(face_id, pose)`` pairs, ``pose`` ``[6]`` as in :func:`head_pose_in_optical`;
            the transforms keep this order (may be empty).
        header: the input image's ``std_msgs/Header`` (stamp copied; frame_id is the parent
            unless ``parent_frame`` is given).
        cam: intrinsics of the input image.
        parent_frame: optional parent frame override (must be the image's optical frame or
            an alias of it).
        prefix: child frame prefix; the child frame is ``prefix + face_id``.

    Returns:
        ``tf2_msgs/TFMessage`` with ``len(faces)`` transforms (translation in metres).

    Raises:
        ValueError: an empty parent frame (no ``parent_frame`` and an empty image frame_id),
            an empty or repeated child frame, a child frame equal to the parent (tf2 rejects
            all of these), or an invalid pose (see :func:`head_pose_in_optical`).
    """
    from geometry_msgs.msg import TransformStamped
    from std_msgs.msg import Header
    from tf2_msgs.msg import TFMessage

    parent = _parent_frame(header, parent_frame)
    if not parent:
        raise ValueError("no parent frame: the image header has an empty frame_id")
    children = [f"{prefix}{face_id}" for face_id, _ in faces]
    for child in children:
        if not child or child == parent or children.count(child) > 1:
            raise ValueError(f"invalid child frame {child!r} (parent {parent!r})")
    transforms = []
    for child, (_, pose) in zip(children, faces, strict=True):
        translation, quaternion = head_pose_in_optical(pose, cam)
        transform = TransformStamped()
        transform.header = Header(stamp=header.stamp, frame_id=parent)
        transform.child_frame_id = child
        t, q = transform.transform.translation, transform.transform.rotation
        t.x, t.y, t.z = (float(v) for v in translation)
        q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
        transforms.append(transform)
    return TFMessage(transforms=transforms)


def build_pose_array(
    faces: Sequence[tuple[str, np.ndarray]],
    header: Any,
    cam: CameraIntrinsics,
    *,
    parent_frame: str = "",
) -> Any:
    """The faces' head poses as one ``geometry_msgs/PoseArray`` in the optical frame.

    Args:
        faces: ``(face_id, pose)`` pairs as in :func:`build_head_transforms`; the poses keep
            this order (the ids are not part of the message).
        header: the input image's ``std_msgs/Header`` (stamp copied; frame_id unless
            ``parent_frame`` is given).
        cam: intrinsics of the input image.
        parent_frame: optional frame override.

    Returns:
        ``geometry_msgs/PoseArray`` with ``len(faces)`` poses (position in metres, orientation
        of the REP-155 face frame).

    Raises:
        ValueError: an invalid pose (see :func:`head_pose_in_optical`).
    """
    from geometry_msgs.msg import Pose, PoseArray
    from std_msgs.msg import Header

    poses = []
    for _, pose in faces:
        translation, quaternion = head_pose_in_optical(pose, cam)
        item = Pose()
        p, q = item.position, item.orientation
        p.x, p.y, p.z = (float(v) for v in translation)
        q.x, q.y, q.z, q.w = (float(v) for v in quaternion)
        poses.append(item)
    header = Header(stamp=header.stamp, frame_id=_parent_frame(header, parent_frame))
    return PoseArray(header=header, poses=poses)
