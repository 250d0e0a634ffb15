# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face and wrinkle region masks derived from the 68 landmarks (for converted models).

Converted models (BFM, FLAME) carry no region masks, so these are built from the mesh and its
iBUG landmarks, in model space (x subject's left, y up, z towards the camera). Distances are
scaled by the outer inter-ocular distance, so the masks do not depend on the model's units.
"""

from __future__ import annotations

import numpy as np

__all__ = ["masks_from_landmarks"]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """Cubic smoothstep clamped to [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test; points [M, 2], polygon [P, 2] -> [M] bool."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(points.shape[0], bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for i in range(polygon.shape[0]):
        j = i - 1
        cond = (py[i] > y) != (py[j] > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i]) + px[i]
        inside ^= cond & (x < xint)
    return inside


def masks_from_landmarks(
    vertices: np.ndarray, landmark_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Face-region and wrinkle-region masks from the mesh and its 68 landmarks.

    The face region is the frontal-projection polygon of the jaw contour (0-16) closed over the
    forehead by an arc reaching 0.75 x the outer inter-ocular distance above the brows, with a
    soft border. The wrinkle region is the forehead above the brows plus Gaussian patches at the
    outer eye corners (36, 45).

    Args:
        vertices: [N, 3] mean shape in model axes.
        landmark_indices: [68] vertex indices (iBUG order).

    Returns:
        face_mask [N] and wrinkle_mask [N], float32 in [0, 1].
    """
    v = np.asarray(vertices, np.float64)
    lm = v[np.asarray(landmark_indices)]
    iod = float(np.linalg.norm(lm[36] - lm[45]))
    if iod <= 0:
        raise ValueError("landmarks 36 and 45 coincide; cannot scale the region masks")
    centre_x = 0.5 * (lm[0, 0] + lm[16, 0])
    brow_y = lm[17:27, 1].max()
    half_w = 0.5 * abs(lm[16, 0] - lm[0, 0])
    top = brow_y + 0.75 * iod
    arc_t = np.linspace(0.0, np.pi, 17)
    # Arc from landmark 16 (x > 0 side) over the forehead to landmark 0.
    arc = np.stack(
        [
            centre_x + half_w * np.cos(arc_t),
            np.maximum(lm[16, 1], lm[0, 1]) + (top - max(lm[16, 1], lm[0, 1])) * np.sin(arc_t),
        ],
        1,
    )
    polygon = np.concatenate([lm[:17, :2], arc[1:-1]])
    inside = _inside_polygon(v[:, :2], polygon).astype(np.float64)
    # Soft border: distance to the nearest outside vertex, approximated in the xy plane.
    out_pts = v[inside < 0.5, :2]
    if out_pts.shape[0]:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(out_pts).query(v[:, :2])
        inside = inside * _smoothstep(dist / (0.1 * iod))
    # Only the front-facing part (by depth relative to the contour).
    front = _smoothstep((v[:, 2] - lm[[0, 16], 2].mean() + 0.05 * iod) / (0.1 * iod))
    face = inside * front
    forehead = _smoothstep((v[:, 1] - brow_y - 0.04 * iod) / (0.08 * iod))
    corners = np.zeros(v.shape[0])
    for i, sx in ((36, -1.0), (45, 1.0)):
        c = lm[i] + np.array([sx * 0.09 * iod, 0.0, 0.0])
        d = (v - c) / (0.09 * iod)
        corners = np.maximum(corners, np.exp(-0.5 * (d * d).sum(1)))
    wrinkle = np.clip(np.maximum(forehead, corners), 0.0, 1.0) * face
    return face.astype(np.float32), wrinkle.astype(np.float32)
