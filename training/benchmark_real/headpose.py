# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Reference head pose: perspective PnP of the face model's 3D landmarks onto 2D landmarks.

The returned angles are in the project's convention (``face3d_ros.geometry.rotation``:
``(pitch, yaw, roll)``, ``R = Rz(roll) Ry(yaw) Rx(pitch)``, model x to the subject's left, y up,
z out of the face; camera frame x right, y up, z towards the camera), so they compare directly
with the ``pose[:3]`` the nets predict.

OpenCV's camera frame is x right, y DOWN, z AWAY from the camera. ``cv2.solvePnP`` returns
``R_cv`` with ``X_cv = R_cv X_model + t``, and the project's camera frame is
``c = F X_cv`` with ``F = diag(1, -1, -1)`` (a proper rotation, 180 degrees about x), so the
project's rotation is ``R = F R_cv``.

Focal length: the photos carry no calibration. :data:`DEFAULT_FOCAL_FACTOR` = 2.5 image sides,
principal point at the image centre. FairFace-wide images are 448-pixel crops of larger photos
with the face about half the crop wide, i.e. roughly a fifth to a third of the original frame;
with a typical phone / compact focal length of about 1-1.2 frame widths that is about 2-3 crop
sides. The angles change little with this choice (weak perspective is the limit of a long
focal length); ``--pnp-focal`` changes it.

Only the 51 inner points (17-67: brows, nose, eyes, mouth) are used: the 17 jaw-contour
landmarks slide over the cheek silhouette as the head turns and are no fixed 3D points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from face3d_ros.geometry.rotation import euler_to_matrix_np, matrix_to_euler_np

__all__ = [
    "DEFAULT_FOCAL_FACTOR",
    "INNER_POINTS",
    "cv_to_project_rotation",
    "mean_face_landmarks",
    "perspective_projection",
    "pnp_pose",
]

#: Focal length of the PnP camera in units of the image's longer side.
DEFAULT_FOCAL_FACTOR = 2.5
#: Landmarks used for PnP (no jaw contour).
INNER_POINTS = np.arange(17, 68)
_F = np.diag([1.0, -1.0, -1.0])


def mean_face_landmarks(model: Any) -> np.ndarray:
    """``[68, 3]`` float64 landmarks (mm) of a MorphableModel's mean face: the PnP object."""
    lm = model.shape_np(np.zeros(model.n_id), np.zeros(model.n_exp))
    return np.asarray(lm[model.landmark_indices.numpy()], np.float64)


def cv_to_project_rotation(r_cv: np.ndarray) -> np.ndarray:
    """Project-convention rotation ``R = F R_cv`` from an OpenCV object-to-camera rotation."""
    return _F @ np.asarray(r_cv, np.float64)


def pnp_pose(
    lm3d: np.ndarray,
    landmarks: np.ndarray,
    image_shape: tuple[int, ...],
    focal_factor: float = DEFAULT_FOCAL_FACTOR,
    points: np.ndarray = INNER_POINTS,
) -> np.ndarray:
    """``(pitch, yaw, roll)`` radians of the model landmarks seen at ``landmarks``.

    Args:
        lm3d: ``[68, 3]`` model landmarks (mm).
        landmarks: ``[68, 2]`` image pixels.
        image_shape: ``(H, W, ...)`` of the image (principal point at its centre).
        focal_factor: Focal length in units of ``max(H, W)``.
        points: Landmark indices used.

    Returns:
        ``[3]`` float64 angles in the project's convention.

    Raises:
        RuntimeError: When OpenCV finds no solution.
    """
    import cv2

    h, w = int(image_shape[0]), int(image_shape[1])
    f = float(focal_factor) * max(h, w)
    cam = np.array([[f, 0, (w - 1) / 2.0], [0, f, (h - 1) / 2.0], [0, 0, 1]], np.float64)
    obj = np.ascontiguousarray(np.asarray(lm3d, np.float64)[points])
    img = np.ascontiguousarray(np.asarray(landmarks, np.float64)[points])
    # EPnP start (SQPnP asserts on the tiny normalised coordinates of long focal lengths), then
    # Levenberg-Marquardt refinement of the reprojection error.
    ok, rvec, tvec = cv2.solvePnP(obj, img, cam, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        raise RuntimeError("cv2.solvePnP found no pose")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, cam, None, rvec, tvec)
    r_cv, _ = cv2.Rodrigues(rvec)
    if float(tvec[2, 0]) <= 0:
        raise RuntimeError("cv2.solvePnP put the face behind the camera")
    return np.asarray(matrix_to_euler_np(cv_to_project_rotation(r_cv)), np.float64)


def perspective_projection(
    lm3d: np.ndarray,
    angles: np.ndarray,
    centre: tuple[float, float],
    distance_mm: float,
    focal_px: float,
    principal: tuple[float, float],
) -> np.ndarray:
    """Pinhole image of the model landmarks at a project-convention pose (for tests).

    The model origin sits ``distance_mm`` in front of a camera whose optical axis meets the
    image at ``principal``; ``centre`` is where the origin projects.

    Returns:
        ``[68, 2]`` pixels.
    """
    c = np.asarray(lm3d, np.float64) @ euler_to_matrix_np(np.asarray(angles, np.float64)).T
    # Project camera frame (x right, y up, z to camera) -> OpenCV (x right, y down, z away).
    x_cv = c @ _F.T
    ox = (centre[0] - principal[0]) * distance_mm / focal_px
    oy = (centre[1] - principal[1]) * distance_mm / focal_px
    x_cv = x_cv + np.array([ox, oy, distance_mm])
    u = focal_px * x_cv[:, 0] / x_cv[:, 2] + principal[0]
    v = focal_px * x_cv[:, 1] / x_cv[:, 2] + principal[1]
    return np.stack([u, v], 1)
