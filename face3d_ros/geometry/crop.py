# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Square image crops and the matching change of weak-perspective pose coordinates.

A :class:`CropBox` ``(x0, y0, size)`` is a square in image pixel coordinates (pixel centres at
integers). Cropping to ``out_size`` pixels is the similarity map (scale ``k = out_size / size``)

    u_crop = k * (u_image - x0)          v_crop = k * (v_image - y0)

so crop pixel ``(0, 0)`` samples image point ``(x0, y0)`` and crop pixel ``(i, j)`` samples
``(x0 + j / k, y0 + i / k)``: the crop covers ``size`` image pixels per side, starting at the
box corner. Because the weak-perspective camera is affine, a pose maps exactly:
``s_crop = k s``, ``t_crop = k (t - (x0, y0))``, angles unchanged (depth scales by ``k`` too).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "CropBox",
    "crop_from_points",
    "crop_image",
    "crop_matrix",
    "points_from_crop",
    "points_to_crop",
    "pose_from_crop",
    "pose_to_crop",
]


@dataclass(frozen=True)
class CropBox:
    """Square crop in image pixels.

    Attributes:
        x0: Image u of the crop's pixel (0, 0) centre (left).
        y0: Image v of the crop's pixel (0, 0) centre (top).
        size: Side length in image pixels (> 0).
    """

    x0: float
    y0: float
    size: float

    def __post_init__(self) -> None:
        """Validate the box.

        Raises:
            ValueError: Non-finite values or non-positive size.
        """
        vals = np.array([self.x0, self.y0, self.size], np.float64)
        if not np.isfinite(vals).all() or self.size <= 0:
            raise ValueError(f"CropBox needs finite x0, y0 and size > 0, got {self}")

    @property
    def center(self) -> tuple[float, float]:
        """Image ``(u, v)`` of the box centre, ``(x0 + size / 2, y0 + size / 2)``."""
        return (self.x0 + 0.5 * self.size, self.y0 + 0.5 * self.size)

    def scale(self, out_size: int) -> float:
        """Crop pixels per image pixel, ``out_size / size``.

        Args:
            out_size: Crop side in pixels.

        Returns:
            The scale ``k``.
        """
        _check_out(out_size)
        return float(out_size) / float(self.size)


def _check_out(out_size: int) -> None:
    """Raise ValueError unless ``out_size`` is a positive integer.

    Args:
        out_size: Crop side in pixels.
    """
    if int(out_size) != out_size or out_size <= 0:
        raise ValueError(f"out_size must be a positive integer, got {out_size!r}")


def crop_from_points(
    points_uv: np.ndarray,
    scale: float,
    image_shape: tuple[int, ...] | None = None,
) -> CropBox:
    """Square box centred on the points' bounding box, ``scale`` times its longer side.

    Args:
        points_uv: [M, 2] image points (e.g. 68 landmarks), pixels; M >= 2, finite.
        scale: Box side / longer bounding-box side (> 0; the nets' contracts say which one
            their crops use, :mod:`face3d_ros.nets.contract`).
        image_shape: Optional ``(H, W, ...)``: the side is capped at ``max(H, W)`` and the box
            must overlap the image (else ValueError); the centre is never moved.

    Returns:
        The box.

    Raises:
        ValueError: Bad points, scale, degenerate extent, or a box outside the image.
    """
    pts = np.asarray(points_uv, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
        raise ValueError(f"points_uv must be [M >= 2, 2], got {list(pts.shape)}")
    if not np.isfinite(pts).all():
        raise ValueError("points_uv contains non-finite values")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    lo, hi = pts.min(0), pts.max(0)
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("points_uv have zero extent")
    side = scale * extent
    cx, cy = 0.5 * (lo + hi)
    if image_shape is not None:
        h, w = int(image_shape[0]), int(image_shape[1])
        side = min(side, float(max(h, w)))
        x0, y0 = cx - 0.5 * side, cy - 0.5 * side
        if x0 + side <= 0 or y0 + side <= 0 or x0 >= w or y0 >= h:
            raise ValueError(f"crop box ({x0}, {y0}, {side}) does not overlap the {h}x{w} image")
    return CropBox(float(cx - 0.5 * side), float(cy - 0.5 * side), float(side))


def crop_matrix(box: CropBox, out_size: int) -> np.ndarray:
    """Affine 2x3 matrix mapping image pixels to crop pixels (for ``cv2.warpAffine``).

    Args:
        box: The crop box.
        out_size: Crop side in pixels.

    Returns:
        [2, 3] float64 ``[[k, 0, -k x0], [0, k, -k y0]]``.
    """
    k = box.scale(out_size)
    return np.array([[k, 0.0, -k * box.x0], [0.0, k, -k * box.y0]], np.float64)


def crop_image(
    image: np.ndarray,
    box: CropBox,
    out_size: int,
    *,
    interpolation: int = cv2.INTER_LINEAR,
    antialias: bool = True,
) -> np.ndarray:
    """Resample the box into an ``out_size`` square (zeros outside the image).

    Args:
        image: [H, W, C] or [H, W] image (uint8 or float32; other dtypes are converted to
            float32).
        box: The crop box.
        out_size: Crop side in pixels.
        interpolation: OpenCV interpolation flag (bilinear by default).
        antialias: When shrinking by more than 2x (``k = out_size / size < 0.5``), low-pass
            the covered image region first (Gaussian, sigma = ``(1/k - 1) / 2`` image pixels)
            so that bilinear sampling does not alias. Geometry is unchanged.

    Returns:
        [out_size, out_size, C] (or [out_size, out_size]) crop, dtype of the input (uint8 or
        float32).

    Raises:
        ValueError: Bad image shape or out_size.
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be [H, W] or [H, W, C], got {list(img.shape)}")
    if img.dtype not in (np.uint8, np.float32):
        img = img.astype(np.float32)
    _check_out(out_size)
    m = crop_matrix(box, out_size)
    channels = img.shape[2] if img.ndim == 3 else 0
    if channels > 4:  # cv2.warpAffine handles at most 4 channels
        parts = [
            crop_image(img[..., c], box, out_size, interpolation=interpolation, antialias=antialias)
            for c in range(channels)
        ]
        return np.stack(parts, -1)
    k = box.scale(out_size)
    if antialias and k < 0.5:
        sigma = 0.5 * (1.0 / k - 1.0)
        pad = int(np.ceil(3.0 * sigma)) + 2
        h, w = img.shape[:2]
        rx0 = max(int(np.floor(box.x0)) - pad, 0)
        ry0 = max(int(np.floor(box.y0)) - pad, 0)
        rx1 = min(int(np.ceil(box.x0 + box.size)) + pad, w)
        ry1 = min(int(np.ceil(box.y0 + box.size)) + pad, h)
        if rx0 >= rx1 or ry0 >= ry1:  # box entirely outside the image
            shape = (int(out_size), int(out_size)) + img.shape[2:]
            return np.zeros(shape, img.dtype)
        img = cv2.GaussianBlur(
            np.ascontiguousarray(img[ry0:ry1, rx0:rx1]),
            (0, 0),
            sigmaX=sigma,
            sigmaY=sigma,
            borderType=cv2.BORDER_REPLICATE,
        )
        m = crop_matrix(CropBox(box.x0 - rx0, box.y0 - ry0, box.size), out_size)
    out = cv2.warpAffine(
        np.ascontiguousarray(img),
        m,
        (int(out_size), int(out_size)),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[..., None]
    return out


def points_to_crop(points: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Image points to crop points (``[..., 2]`` uv, or ``[..., 3]`` uv + depth scaled by k).

    Args:
        points: [..., 2] or [..., 3] image coordinates.
        box: Crop box.
        out_size: Crop side.

    Returns:
        Same shape, float64 crop coordinates.
    """
    p = np.array(points, np.float64)
    if p.shape[-1] not in (2, 3):
        raise ValueError(f"points must be [..., 2] or [..., 3], got {list(p.shape)}")
    k = box.scale(out_size)
    p[..., 0] = k * (p[..., 0] - box.x0)
    p[..., 1] = k * (p[..., 1] - box.y0)
    if p.shape[-1] == 3:
        p[..., 2] *= k
    return p


def points_from_crop(points: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Inverse of :func:`points_to_crop`.

    Args:
        points: [..., 2] or [..., 3] crop coordinates.
        box: Crop box.
        out_size: Crop side.

    Returns:
        Same shape, float64 image coordinates.
    """
    p = np.array(points, np.float64)
    if p.shape[-1] not in (2, 3):
        raise ValueError(f"points must be [..., 2] or [..., 3], got {list(p.shape)}")
    k = box.scale(out_size)
    p[..., 0] = p[..., 0] / k + box.x0
    p[..., 1] = p[..., 1] / k + box.y0
    if p.shape[-1] == 3:
        p[..., 2] /= k
    return p


def _pose(pose: np.ndarray) -> np.ndarray:
    """Validate a pose [6] (or [B, 6]) and return a float64 copy.

    Args:
        pose: Pose vector(s).

    Returns:
        float64 copy.
    """
    p = np.array(pose, np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] != 6:
        raise ValueError(f"pose must be [6] or [B, 6], got {list(p.shape)}")
    return p


def pose_to_crop(pose: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Express an image-pixel pose in crop-pixel coordinates.

    Args:
        pose: [6] (or [B, 6]) ``(pitch, yaw, roll, tx, ty, s)`` in image pixels.
        box: Crop box.
        out_size: Crop side.

    Returns:
        Same shape, float32: angles unchanged, ``t' = k (t - (x0, y0))``, ``s' = k s``.
    """
    p = _pose(pose)
    k = box.scale(out_size)
    p[..., 3] = k * (p[..., 3] - box.x0)
    p[..., 4] = k * (p[..., 4] - box.y0)
    p[..., 5] *= k
    return p.astype(np.float32)


def pose_from_crop(pose: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Inverse of :func:`pose_to_crop` (crop-pixel pose back to image pixels).

    Args:
        pose: [6] (or [B, 6]) pose in crop pixels.
        box: Crop box.
        out_size: Crop side.

    Returns:
        Same shape, float32 pose in image pixels.
    """
    p = _pose(pose)
    k = box.scale(out_size)
    p[..., 3] = p[..., 3] / k + box.x0
    p[..., 4] = p[..., 4] / k + box.y0
    p[..., 5] /= k
    return p.astype(np.float32)
