# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Check image of one inverse-rendered photo, for people.

Four ``S x S`` panels side by side (all in the face crop):

1. the photo with the detected landmarks (green) and the fitted model landmarks (red),
2. the stage 1 rendering (albedo x SH shading) blended over the photo on the face region,
3. the stage 2 fine shading (grey, normals of coarse depth + displacement) over the photo,
4. the stage 3 blended albedo (model albedo outside the face region).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_overlay(
    photo: np.ndarray,
    render: np.ndarray,
    mask: np.ndarray,
    fine_shading: np.ndarray,
    albedo_map: np.ndarray,
    landmarks_detected: np.ndarray,
    landmarks_fitted: np.ndarray,
    *,
    alpha: float = 0.6,
) -> np.ndarray:
    """Compose the four-panel check image.

    Args:
        photo: ``[S, S, 3]`` float RGB crop in [0, 1].
        render: ``[S, S, 3]`` stage 1 rendering.
        mask: ``[S, S]`` bool face region.
        fine_shading: ``[S, S, 3]`` stage 2 shading.
        albedo_map: ``[S, S, 3]`` stage 3 albedo.
        landmarks_detected: ``[68, 2]`` crop pixels.
        landmarks_fitted: ``[68, 2]`` crop pixels.
        alpha: Opacity of the rendering in panel 2.

    Returns:
        ``[S, 4 S, 3]`` uint8 RGB.
    """
    import cv2

    m = np.asarray(mask, bool)[..., None]
    p1 = _to_u8(photo).copy()
    for pts, colour in ((landmarks_detected, (0, 255, 0)), (landmarks_fitted, (255, 0, 0))):
        for u, v in np.asarray(pts):
            if np.isfinite(u) and np.isfinite(v):
                cv2.circle(p1, (int(round(u)), int(round(v))), 2, colour, -1, cv2.LINE_AA)
    p2 = _to_u8(np.where(m, alpha * render + (1 - alpha) * photo, photo))
    lum = fine_shading.mean(-1, keepdims=True)
    top = float(np.percentile(lum[np.asarray(mask, bool)], 99)) if np.any(mask) else 1.0
    grey = np.repeat(0.85 * lum / max(top, 1e-6), 3, -1)
    p3 = _to_u8(np.where(m, grey, 0.5 * photo))
    p4 = _to_u8(albedo_map)
    return np.concatenate([p1, p2, p3, p4], axis=1)


def write_png(
    path: str | os.PathLike[str], image_rgb: np.ndarray, *, overwrite: bool = False
) -> None:
    """Write an RGB uint8 image as PNG (atomic rename).

    Raises:
        FileExistsError: When ``path`` exists and ``overwrite`` is False.
        OSError: When OpenCV cannot encode or write the file.
    """
    import cv2

    p = pathlib.Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists (pass overwrite=True)")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    if not ok:
        raise OSError(f"could not encode {p}")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, p)
