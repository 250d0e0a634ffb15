# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Give tight face crops the context that re-posing and cropping need.

FairFace photos are tight aligned crops: the crop the synthesis takes around a re-posed face
(``crop_from_points(landmarks, 1.6)`` and its jitter) reaches outside them, and zero padding
would teach the nets that faces touch black borders. :func:`pad_with_context` extends the photo
with an inpainted continuation of its own border (OpenCV Telea at a low working resolution, so
the fill is a smooth extrapolation of the border colours, with a little low-frequency texture),
keeps the original pixels exactly and returns the offset to move landmarks.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["needed_padding", "pad_with_context"]


def needed_padding(
    landmarks: np.ndarray, image_shape: tuple[int, ...], scale: float, margin: int = 4
) -> tuple[int, int, int, int]:
    """Pixels to add ``(top, bottom, left, right)`` so a ``scale`` crop of the landmarks fits.

    Args:
        landmarks: ``[68, 2]`` image pixels ``(u, v)``.
        image_shape: ``(H, W, ...)`` of the photo.
        scale: Box side relative to the landmarks' longer extent (as
            :func:`face3d_ros.geometry.crop.crop_from_points`).
        margin: Extra pixels on every side that needs padding.

    Returns:
        Non-negative integers; all zero when the box is inside the photo.
    """
    pts = np.asarray(landmarks, np.float64)
    lo, hi = pts.min(0), pts.max(0)
    half = 0.5 * scale * float((hi - lo).max())
    cx, cy = 0.5 * (lo + hi)
    h, w = int(image_shape[0]), int(image_shape[1])

    def need(amount: float) -> int:
        return 0 if amount <= 0 else int(math.ceil(amount)) + margin

    return (need(half - cy), need(cy + half - (h - 1)), need(half - cx), need(cx + half - (w - 1)))


def pad_with_context(
    image: np.ndarray,
    pad: tuple[int, int, int, int],
    *,
    work_side: int = 96,
    texture: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """Extend ``image`` by ``pad = (top, bottom, left, right)`` pixels of inpainted context.

    Args:
        image: ``[H, W, 3]`` uint8 RGB.
        pad: Pixels to add on each side (non-negative).
        work_side: Longer side of the working resolution of the inpainting.
        texture: Amplitude (in [0, 1] intensity) of the low-frequency noise added to the fill.
        seed: Seed of that noise.

    Returns:
        ``[H + top + bottom, W + left + right, 3]`` uint8; the original pixels unchanged at
        offset ``(top, left)``.

    Raises:
        ValueError: Bad image or negative padding.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB [H, W, 3], got {img.dtype} {img.shape}")
    top, bottom, left, right = (int(p) for p in pad)
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"padding must be non-negative, got {pad}")
    if top == bottom == left == right == 0:
        return img.copy()
    h, w = img.shape[:2]
    big = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REPLICATE)
    hh, ww = big.shape[:2]
    hole = np.full((hh, ww), 255, np.uint8)
    hole[top : top + h, left : left + w] = 0
    k = min(1.0, work_side / float(max(hh, ww)))
    size = (max(8, round(ww * k)), max(8, round(hh * k)))
    small = cv2.resize(big, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, size, interpolation=cv2.INTER_NEAREST)
    # Keep a one-pixel ring of real border inside the hole so the fill starts from it.
    small_hole = cv2.erode(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA).astype(np.float32)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (size[1], size[0], 1)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.5)[..., None]
    noise *= texture * 255.0 / max(float(noise.std()), 1e-6)
    filled = cv2.resize(np.clip(filled + noise, 0, 255), (ww, hh), interpolation=cv2.INTER_CUBIC)
    # Feather the seam over a few pixels, then restore the original pixels exactly.
    dist = cv2.distanceTransform(hole, cv2.DIST_L2, 3)
    alpha = np.clip(dist / 6.0, 0.0, 1.0)[..., None]
    out = big.astype(np.float32) * (1.0 - alpha) + filled * alpha
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out[top : top + h, left : left + w] = img
    return out
