# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tiny procedural morphable model for unit tests (fast, deterministic, no data files).

The "face" is a height field over a regular (x, y) grid: the front cap of an ellipsoid
(semi-axes 90 x 110 x 90 mm, centred at the origin, so the surface is near z = 90 mm) with a
Gaussian nose bump. The 68 iBUG landmarks are snapped to grid vertices from a hand-made 2D
layout (left/right as in the model convention: iBUG point 0 is the subject's right, x < 0).
Identity and albedo modes are smooth orthonormal fields; expression mode 0 opens the jaw
(lower face moves down and back), mode 1 raises the brows, the rest are smooth local bumps.
It is NOT a realistic face: use the default model for anything visual.
"""

from __future__ import annotations

import numpy as np

from face3d_ros.model.face_model import FaceModelData

__all__ = ["ibug_layout_2d", "make_synthetic_model"]

_HALF_W = 80.0  # mm, grid half-width (x)
_Y_MIN, _Y_MAX = -95.0, 85.0  # mm, grid extent (y)
_AXES = (90.0, 110.0, 90.0)  # ellipsoid semi-axes (x, y, z), mm


def ibug_layout_2d() -> np.ndarray:
    """A schematic frontal 68-point iBUG layout in millimetres (model axes, y up).

    Returns:
        [68, 2] float64 (x, y) positions; x < 0 is the subject's right (image left).
    """
    pts = np.zeros((68, 2))
    t = np.arange(17) / 16.0
    ang = np.pi * (1.0 + t)
    pts[0:17] = np.stack([62.0 * np.cos(ang), 8.0 + 72.0 * np.sin(ang)], 1)
    bx = np.linspace(-52.0, -10.0, 5)
    pts[17:22] = np.stack([bx, 38.0 + 6.0 * np.sin(np.linspace(0.3, 2.8, 5))], 1)
    pts[22:27] = np.stack([-bx[::-1], pts[17:22, 1][::-1]], 1)
    pts[27:31] = np.stack([np.zeros(4), np.linspace(24.0, -14.0, 4)], 1)
    pts[31:36] = np.stack([np.linspace(-14.0, 14.0, 5), np.array([-22, -24, -25, -24, -22.0])], 1)

    # Right eye (x < 0): 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid.
    a_r = np.array([np.pi, 2 * np.pi / 3, np.pi / 3, 0.0, -np.pi / 3, -2 * np.pi / 3])
    pts[36:42] = np.stack([-32.0 + 13.0 * np.cos(a_r), 18.0 + 5.0 * np.sin(a_r)], 1)
    # Left eye (x > 0): 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid.
    pts[42:48] = np.stack([32.0 + 13.0 * np.cos(a_r), 18.0 + 5.0 * np.sin(a_r)], 1)
    k = np.arange(12)
    a_m = np.pi - k * np.pi / 6.0
    pts[48:60] = np.stack([25.0 * np.cos(a_m), -45.0 + 10.0 * np.sin(a_m)], 1)
    k = np.arange(8)
    a_i = np.pi - k * np.pi / 4.0
    pts[60:68] = np.stack([18.0 * np.cos(a_i), -45.0 + 3.0 * np.sin(a_i)], 1)
    return pts


def _orthonormal(fields: np.ndarray) -> np.ndarray:
    """Orthonormalise flattened fields with a QR decomposition.

    Args:
        fields: [K, N, 3] raw displacement fields.

    Returns:
        [K, N, 3] fields with orthonormal flattened rows (unit L2 norm).
    """
    k = fields.shape[0]
    q, r = np.linalg.qr(fields.reshape(k, -1).T)
    q = q * np.sign(np.diag(r))[None, :]
    return q.T.reshape(fields.shape)


def make_synthetic_model(
    n_id: int = 8, n_exp: int = 6, n_alb: int = 5, resolution: int = 24, seed: int = 0
) -> FaceModelData:
    """Build a tiny ellipsoidal face-cap model for tests.

    Args:
        n_id: Identity components (>= 0).
        n_exp: Expression components (>= 0); mode 0 = jaw open, mode 1 = brow raise.
        n_alb: Albedo components (>= 0).
        resolution: Grid vertices per side (>= 8); N = resolution**2.
        seed: Seed for the random smooth fields.

    Returns:
        A validated :class:`FaceModelData` (float32, mm).

    Raises:
        ValueError: On out-of-range arguments.
    """
    if resolution < 8:
        raise ValueError(f"resolution must be >= 8, got {resolution}")
    if min(n_id, n_exp, n_alb) < 0:
        raise ValueError("component counts must be >= 0")
    if max(n_id, n_alb) > 3 * resolution * resolution:
        raise ValueError("too many components for this resolution")
    rng = np.random.default_rng(seed)
    xs = np.linspace(-_HALF_W, _HALF_W, resolution)
    if resolution % 2 == 0:  # put a grid column on x = 0 (the nose/chin line)
        xs = xs + 0.5 * (xs[1] - xs[0])
    ys = np.linspace(_Y_MIN, _Y_MAX, resolution)
    gx, gy = np.meshgrid(xs, ys)  # row i = y, column j = x
    x, y = gx.ravel(), gy.ravel()
    ax, ay, az = _AXES
    z = az * np.sqrt(np.clip(1.0 - (x / ax) ** 2 - (y / ay) ** 2, 0.02, None))
    z = z + 18.0 * np.exp(-((x / 11.0) ** 2 + ((y + 12.0) / 16.0) ** 2))  # nose
    mean = np.stack([x, y, z], 1)
    n = mean.shape[0]

    idx = np.arange(resolution * resolution).reshape(resolution, resolution)
    v00, v01 = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    v10, v11 = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)])

    layout = ibug_layout_2d()
    d2 = ((layout[:, None, :] - mean[None, :, :2]) ** 2).sum(-1)
    landmarks = d2.argmin(1)

    # Normalised coordinates for smooth fields.
    u, w = x / _HALF_W, (y - 0.5 * (_Y_MIN + _Y_MAX)) / (0.5 * (_Y_MAX - _Y_MIN))

    def smooth_fields(k: int, channels: int) -> np.ndarray:
        out = np.zeros((k, n, 3))
        for c in range(k):
            fx, fy = rng.integers(0, 3, size=2)
            ph = rng.uniform(0, np.pi, size=2)
            base = np.cos(fx * np.pi * u / 2 + ph[0]) * np.cos(fy * np.pi * w / 2 + ph[1])
            direction = rng.normal(size=3)
            direction[channels:] = 0.0
            out[c] = base[:, None] * direction[None, :] + 0.3 * rng.normal(size=3) * (
                u[:, None] * w[:, None]
            )
        return out

    id_basis = _orthonormal(smooth_fields(n_id, 3)) if n_id else np.zeros((0, n, 3))
    id_sigma = 4.0 * np.sqrt(n) / (1.0 + np.arange(n_id))

    exp = np.zeros((n_exp, n, 3))
    chin_y = layout[8, 1]
    mouth_y = layout[62, 1]
    for k in range(n_exp):
        if k == 0:  # jaw open: below the mouth, down and back, growing towards the chin
            wgt = np.clip((mouth_y + 5.0 - y) / (mouth_y + 5.0 - chin_y), 0.0, 1.0)
            exp[k, :, 1] = -wgt
            exp[k, :, 2] = -0.3 * wgt
        elif k == 1:  # brow raise
            wgt = np.exp(-(((y - 38.0) / 12.0) ** 2)) * (np.abs(x) < 60)
            exp[k, :, 1] = wgt
        else:
            c = layout[rng.integers(0, 68)]
            wgt = np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2) / (2 * 15.0**2))
            exp[k] = wgt[:, None] * rng.normal(size=3)[None, :]
    exp_sigma = np.full(n_exp, 8.0)

    alb_basis = _orthonormal(smooth_fields(n_alb, 3)) if n_alb else np.zeros((0, n, 3))
    alb_sigma = 0.04 * np.sqrt(n) / (1.0 + np.arange(n_alb))
    shade = 0.9 + 0.1 * np.cos(np.pi * u / 2)
    mean_alb = np.stack([0.62 * shade, 0.42 * shade, 0.33 * shade], 1)

    r_face = (x / 66.0) ** 2 + ((y + 5.0) / 85.0) ** 2
    face_mask = np.clip((1.1 - r_face) / 0.2, 0.0, 1.0)
    forehead = np.clip((y - 45.0) / 10.0, 0.0, 1.0) * (np.abs(x) < 55)
    corners = np.zeros(n)
    for i in (36, 45):
        cx, cy = layout[i]
        corners = np.maximum(corners, np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 8.0**2)))
    wrinkle = np.clip(np.maximum(forehead, corners) * face_mask, 0.0, 1.0)

    data = FaceModelData(
        model_id="synthetic-v1",
        mean_shape=mean.astype(np.float32),
        id_basis=id_basis.astype(np.float32),
        id_sigma=id_sigma.astype(np.float32),
        exp_basis=exp.astype(np.float32),
        exp_sigma=exp_sigma.astype(np.float32),
        mean_albedo=mean_alb.astype(np.float32),
        albedo_basis=alb_basis.astype(np.float32),
        albedo_sigma=alb_sigma.astype(np.float32),
        triangles=tris.astype(np.int32),
        landmark_indices=landmarks.astype(np.int32),
        face_mask=face_mask.astype(np.float32),
        wrinkle_mask=wrinkle.astype(np.float32),
        metadata={
            "source": "face3d_ros.model.synthetic.make_synthetic_model",
            "params": {
                "n_id": n_id,
                "n_exp": n_exp,
                "n_alb": n_alb,
                "resolution": resolution,
                "seed": seed,
            },
            "units": "mm",
            "licence": "Apache-2.0",
            "note": "procedural test model, not a real face",
        },
    )
    data.validate()
    return data
