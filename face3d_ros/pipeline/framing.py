# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""How the tracker frames a face in its crops, as a pose of the mean face.

The tracker crops the single-image CoarseNet's input around a detector box and the tracking
CoarseNet's input around the previous frame's projected landmarks (both with
:func:`~face3d_ros.geometry.crop.crop_from_points` and ``TrackerConfig.crop_scale``).
:func:`canonical_crop_pose` gives the weak-perspective pose (in crop pixels) that puts the
frontal mean face exactly where such a crop puts a face. Uses: the de-normalisation mean of
untrained nets exported for tests and benchmarks (an untrained net then predicts a plausible
centred face instead of a degenerate ``s = 0``), and a sanity reference for training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import crop_from_points, pose_to_crop
from face3d_ros.nets.contract import DEFAULT_CROP_SCALE

__all__ = ["canonical_crop_pose"]


def canonical_crop_pose(
    model: Any,
    out_size: int,
    *,
    crop_scale: float = DEFAULT_CROP_SCALE,
    around: str = "detection",
) -> np.ndarray:
    """Pose (crop pixels) of the frontal mean face framed like the tracker frames faces.

    Args:
        model: FaceModelData or MorphableModel (mean shape and landmark indices are used).
        out_size: Crop side in pixels (the net contract's ``input_size``).
        crop_scale: The net contract's ``crop_scale``.
        around: ``"detection"``: crop around a dlib-like detector box (CoarseNet input at
            initialisation); ``"landmarks"``: crop around the 68 landmarks (tracking input).

    Returns:
        float32 ``[6]`` ``(pitch, yaw, roll, tx, ty, s)`` in crop pixels.

    Raises:
        ValueError: Unknown ``around``.
    """
    data = getattr(model, "data", model)
    mean = np.asarray(data.mean_shape, np.float32)
    landmarks = mean[np.asarray(data.landmark_indices, np.int64)]
    # Any frontal image pose will do: the crop maps it to the same crop pose.
    extent_mm = float(np.ptp(landmarks[:, :2], axis=0).max())
    pose_img = np.array([0, 0, 0, 500.0, 500.0, 200.0 / max(extent_mm, 1e-6)], np.float32)
    lm2d = project_np(landmarks, pose_img)[:, :2]
    if around == "detection":
        from face3d_ros.detection.detector import box_from_landmarks

        x0, y0, x1, y1 = box_from_landmarks(lm2d)
        points = np.array([[x0, y0], [x1, y1]], np.float32)
    elif around == "landmarks":
        points = lm2d
    else:
        raise ValueError(f"around must be 'detection' or 'landmarks', got {around!r}")
    box = crop_from_points(points, scale=crop_scale)
    return np.asarray(pose_to_crop(pose_img, box, out_size), np.float32)
