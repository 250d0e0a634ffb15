# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 3 of inverse rendering: albedo blending (paper Eq. 10).

The model albedo is too smooth to explain wrinkles and skin detail, while the photo divided by
the fine shading carries shading residue. The blend keeps part of each::

    albedo = beta * (I / S) + (1 - beta) * albedo_model

with ``beta = 0.65`` in wrinkle regions (forehead, eye corners: ``FaceModelData.wrinkle_mask``)
and ``0.35`` elsewhere. The region mask is Gaussian-blurred so ``beta`` changes smoothly, and the
face mask is blurred too so the blend fades into the model albedo at the face border.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BETA_WRINKLE = 0.65
BETA_OTHER = 0.35


def beta_map(
    wrinkle: np.ndarray,
    face_mask: np.ndarray,
    *,
    beta_wrinkle: float = BETA_WRINKLE,
    beta_other: float = BETA_OTHER,
    blur_sigma: float = 4.0,
    threshold: float = 0.5,
) -> np.ndarray:
    """Per-pixel blending weight with smooth borders.

    Args:
        wrinkle: ``[S, S]`` rendered wrinkle-mask weight in [0, 1].
        face_mask: ``[S, S]`` bool face region.
        beta_wrinkle: beta inside the wrinkle region (paper: 0.65).
        beta_other: beta elsewhere on the face (paper: 0.35).
        blur_sigma: Gaussian sigma (pixels) of the region and face-mask blur.
        threshold: Wrinkle weight above which a pixel belongs to the wrinkle region.

    Returns:
        ``[S, S]`` float32 beta; ``beta_other``..``beta_wrinkle`` deep inside the face, falling
        smoothly to 0 across the face border.
    """
    region = (np.asarray(wrinkle) > threshold) & np.asarray(face_mask, bool)
    region_s = ndimage.gaussian_filter(region.astype(np.float64), blur_sigma)
    face = np.asarray(face_mask, bool)
    # Erode before blurring so the fade happens inside the face, not on the background.
    inner = ndimage.binary_erosion(face, iterations=max(1, int(np.ceil(3.0 * blur_sigma))))
    face_s = ndimage.gaussian_filter(inner.astype(np.float64), blur_sigma) * face
    beta = (beta_other + (beta_wrinkle - beta_other) * region_s) * face_s
    return beta.astype(np.float32)


def blend_albedo(
    photo: np.ndarray,
    shading: np.ndarray,
    model_albedo: np.ndarray,
    beta: np.ndarray,
    *,
    min_shading: float = 0.05,
) -> np.ndarray:
    """Blend the photo-derived albedo ``I / S`` with the model albedo (Eq. 10).

    Args:
        photo: ``[S, S, 3]`` float RGB in [0, 1].
        shading: ``[S, S, 3]`` fine SH shading (stage 2).
        model_albedo: ``[S, S, 3]`` model albedo of the fit.
        beta: ``[S, S]`` blending weight (:func:`beta_map`; 0 keeps the model albedo).
        min_shading: Floor on the shading in the division.

    Returns:
        ``[S, S, 3]`` float32 blended albedo clipped to [0, 1].
    """
    ratio = np.clip(photo / np.maximum(shading, min_shading), 0.0, 1.0)
    b = np.asarray(beta)[..., None]
    return np.clip(b * ratio + (1.0 - b) * model_albedo, 0.0, 1.0).astype(np.float32)


def sample_vertex_albedo(
    albedo_map: np.ndarray,
    vertex_uv: np.ndarray,
    visible: np.ndarray,
    fallback: np.ndarray,
) -> np.ndarray:
    """Per-vertex albedo sampled (bilinearly) from the crop albedo map at visible vertices.

    Args:
        albedo_map: ``[S, S, 3]``.
        vertex_uv: ``[N, 2]`` crop pixel coordinates.
        visible: ``[N]`` bool.
        fallback: ``[N, 3]`` albedo for hidden vertices (model albedo).

    Returns:
        ``[N, 3]`` float32.
    """
    s_h, s_w = albedo_map.shape[:2]
    out = np.asarray(fallback, np.float32).copy()
    idx = np.nonzero(visible)[0]
    if len(idx):
        coords = np.stack([vertex_uv[idx, 1], vertex_uv[idx, 0]])
        for c in range(3):
            out[idx, c] = ndimage.map_coordinates(
                albedo_map[..., c], coords, order=1, mode="nearest"
            )
    return out
