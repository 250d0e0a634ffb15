# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""No-network baselines: where a rigidly placed mean face puts the 68 landmarks.

All functions take the mean face's 68 landmark vertices ``lm3d`` ``[68, 3]`` (model space, mm,
``face3d_ros.geometry.camera`` conventions) and return ``[68, 2]`` image pixels, plus the pose
``[6] = (pitch, yaw, roll, tx, ty, s)`` where one exists:

* :func:`box_placement` (a): frontal mean face placed by the detector box alone, with the
  detector's own box-vs-landmarks geometry
  (:func:`face3d_ros.detection.detector.box_from_landmarks`, measured on the built-in photos,
  not on any benchmark photo).
* :func:`prior_placement` (a'): frontal mean face at the single-image CoarseNet's output mean
  (the de-normalisation statistics in its sidecar) in the Tracker's crop of the detection box:
  what a net that ignores its input would predict.
* :func:`similarity_fit` (b): the best 2D similarity (scale, in-plane rotation, translation) of
  the frontal mean face to the reference landmarks (least squares, Umeyama).
* :func:`rigid_fit` (c): the best weak-perspective rigid 3D pose (3 rotations, translation,
  scale) of the mean face to the reference landmarks (least squares, several yaw starts).
* :func:`stage1_fit` (d): stage 1 of the inverse rendering (``training.inverse_render.fit``)
  from the dlib landmarks (identity, expression, albedo, light and pose), on the same 256 crop
  the data engine uses.

(b) and (c) use the reference landmarks themselves: they are the floor that a mean-face shape
cannot go below, not something a system could run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from face3d_ros.detection.detector import box_from_landmarks
from face3d_ros.geometry.crop import crop_from_points, pose_from_crop
from face3d_ros.geometry.rotation import euler_to_matrix_np

__all__ = [
    "box_placement",
    "frontal_landmarks",
    "prior_placement",
    "rigid_fit",
    "similarity_fit",
    "stage1_fit",
]


def frontal_landmarks(lm3d: np.ndarray) -> np.ndarray:
    """``[68, 2]`` image-plane positions of the mean face seen frontally at 1 px/mm, origin 0."""
    pts = np.asarray(lm3d, np.float64)
    return np.stack([pts[:, 0], -pts[:, 1]], 1)  # project_np at pose (0, 0, 0, 0, 0, 1)


def _box_side_centre(box: tuple[float, float, float, float]) -> tuple[float, np.ndarray]:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"degenerate box {box}")
    return 0.5 * ((x1 - x0) + (y1 - y0)), np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1)])


def box_placement(
    lm3d: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(a) Frontal mean face whose detector-like box equals ``box``.

    Args:
        lm3d: ``[68, 3]`` mm.
        box: Detection ``(x0, y0, x1, y1)`` pixels.

    Returns:
        ``(landmarks [68, 2], pose [6])``.
    """
    lm0 = frontal_landmarks(lm3d)
    side0, c0 = _box_side_centre(box_from_landmarks(lm0))
    side, c = _box_side_centre(box)
    k = side / side0
    t = c - k * c0
    pose = np.array([0.0, 0.0, 0.0, t[0], t[1], k])
    return _project_batch(lm3d, pose), pose


def prior_placement(
    lm3d: np.ndarray,
    box: tuple[float, float, float, float],
    prior_pose_crop: np.ndarray,
    crop_scale: float,
    crop_size: int,
    image_shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """(a') Mean face at a fixed crop-pixel pose in the crop the Tracker cuts around ``box``.

    The crop is ``crop_from_points(box corners, crop_scale, image_shape)``, as the Tracker's
    initialisation does.

    Args:
        lm3d: ``[68, 3]`` mm.
        box: Detection box.
        prior_pose_crop: ``[6]`` pose in crop pixels (e.g. the CoarseNet's output mean).
        crop_scale: The Tracker's ``crop_scale``.
        crop_size: The single-image CoarseNet's input side.
        image_shape: ``(H, W, ...)``.

    Returns:
        ``(landmarks [68, 2], pose [6])`` in image pixels.
    """
    corners = np.array([[box[0], box[1]], [box[2], box[3]]], np.float64)
    crop = crop_from_points(corners, scale=crop_scale, image_shape=image_shape[:2])
    pose = np.asarray(pose_from_crop(np.asarray(prior_pose_crop, np.float64), crop, crop_size))
    return _project_batch(lm3d, pose), pose.astype(np.float64)


def similarity_fit(lm3d: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(b) Least-squares 2D similarity of the frontal mean face onto ``reference``.

    Args:
        lm3d: ``[68, 3]`` mm.
        reference: ``[68, 2]`` pixels.

    Returns:
        ``[68, 2]`` fitted landmarks.
    """
    src = frontal_landmarks(lm3d)
    dst = np.asarray(reference, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sig) @ d)) / float((a**2).sum() / len(src))
    return (scale * a @ rot.T) + mu_d


def _project_batch(lm3d: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``project_np``'s weak-perspective camera in float64 (``[68, 2]`` pixels).

    ``project_np`` rounds to float32, too coarse for finite-difference Jacobians.
    """
    c = np.asarray(lm3d, np.float64) @ euler_to_matrix_np(np.asarray(pose[:3], np.float64)).T
    return np.stack([pose[5] * c[:, 0] + pose[3], -pose[5] * c[:, 1] + pose[4]], 1)


def rigid_fit(
    lm3d: np.ndarray,
    reference: np.ndarray,
    yaw_starts_deg: tuple[float, ...] = (-45.0, -15.0, 15.0, 45.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """(c) Least-squares weak-perspective rigid pose of the mean face onto ``reference``.

    Minimises ``sum_i |P(s R(pitch, yaw, roll) X_i) + t - y_i|^2`` over the 6 pose parameters
    (``scipy.optimize.least_squares``), started from the 2D similarity's roll, scale and
    translation at several yaws; the best of the starts is returned.

    Args:
        lm3d: ``[68, 3]`` mm.
        reference: ``[68, 2]`` pixels.
        yaw_starts_deg: Initial yaws.

    Returns:
        ``(landmarks [68, 2], pose [6])``.
    """
    from scipy.optimize import least_squares

    lm3d = np.asarray(lm3d, np.float64)
    ref = np.asarray(reference, np.float64)
    src = frontal_landmarks(lm3d)
    # Similarity start: scale, roll and translation.
    a, b = src - src.mean(0), ref - ref.mean(0)
    cov = b.T @ a
    u, _, vt = np.linalg.svd(cov)
    rot = u @ np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0]) @ vt
    scale0 = float(np.sqrt((b**2).sum() / max((a**2).sum(), 1e-12)))
    # Image rotation by angle phi (y down) = camera roll -phi (y up): R_img = [[c, -s], [s, c]].
    roll0 = -float(np.arctan2(rot[1, 0], rot[0, 0]))

    def resid(p: np.ndarray) -> np.ndarray:
        pose = np.array([p[0], p[1], p[2], p[3], p[4], np.exp(p[5])])
        return (_project_batch(lm3d, pose) - ref).ravel()

    best: tuple[float, np.ndarray] | None = None
    for yaw in yaw_starts_deg:
        x0 = np.array([0.0, np.radians(yaw), roll0, 0.0, 0.0, np.log(scale0)])
        # translation: put the model origin where the similarity would put it.
        x0[3:5] = ref.mean(0) - (_project_batch(lm3d, np.r_[x0[:3], 0, 0, scale0])).mean(0)
        sol = least_squares(resid, x0, method="lm", xtol=1e-10, ftol=1e-10, max_nfev=400)
        cost = float(sol.cost)
        if best is None or cost < best[0]:
            best = (cost, sol.x)
    assert best is not None
    p = best[1]
    pose = np.array([p[0], p[1], p[2], p[3], p[4], np.exp(p[5])])
    # Wrap angles to (-pi, pi].
    pose[:3] = (pose[:3] + np.pi) % (2 * np.pi) - np.pi
    return _project_batch(lm3d, pose), pose


def stage1_fit(
    model: Any,
    image_rgb: np.ndarray,
    landmarks: np.ndarray,
    *,
    crop_size: int = 256,
    crop_scale: float = 1.6,
    fit_config: Any = None,
) -> tuple[np.ndarray, Any]:
    """(d) Stage-1 inverse-rendering fit from (dlib) landmarks, as the data engine runs it.

    Same crop and fit as :func:`training.inverse_render.pipeline.inverse_render_photo` (stage 1
    only): crop ``crop_from_points(landmarks, crop_scale)`` at ``crop_size``, ``fit_model`` on
    it, pose mapped back to image pixels.

    Args:
        model: :class:`~face3d_ros.model.morphable.MorphableModel`.
        image_rgb: uint8 ``[H, W, 3]``.
        landmarks: ``[68, 2]`` pixels the fit uses (not the reference being scored).
        crop_size: Working crop side.
        crop_scale: Crop side / landmark extent.
        fit_config: ``training.inverse_render.fit.FitConfig`` (default settings when None).

    Returns:
        ``(landmarks [68, 2] image pixels, FaceParams in image pixels)``.
    """
    import dataclasses

    from face3d_ros.geometry.crop import crop_image, points_to_crop
    from training.inverse_render.fit import FitConfig, fit_model, projected_landmarks

    lm = np.asarray(landmarks, np.float64)
    box = crop_from_points(lm, scale=crop_scale)
    crop = crop_image(np.asarray(image_rgb, np.float32) / 255.0, box, crop_size).astype(np.float32)
    lm_crop = np.asarray(points_to_crop(lm, box, crop_size), np.float64)
    st1 = fit_model(model, crop, lm_crop, fit_config or FitConfig())
    params = dataclasses.replace(
        st1.params, pose=np.asarray(pose_from_crop(st1.params.pose, box, crop_size), np.float32)
    )
    return np.asarray(projected_landmarks(model, params), np.float64), params
