# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Domain randomisation of synthesised crops: what a robot camera does to a face image.

Applied to the network input only (labels are unchanged): Gaussian or motion blur, sensor
noise, JPEG compression, low resolution (the face resampled to 40-80 px and back), partial
occlusion (a skin- or dark-coloured blob over the face, like a hand, a microphone or hair; dark
bars, like glasses frames or hair strands) and the image border (a band of the crop outside
the camera image, black as the run-time crop pads it). Each effect is drawn independently with
its probability in :class:`AugmentConfig`; ``AugmentConfig.none()`` disables all of them.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = ["AugmentConfig", "augment_crop"]


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the effects.

    Attributes:
        p_blur: Gaussian (or, half the time, linear motion) blur, sigma 0.5-2 px of a 224 crop.
        p_noise: Additive Gaussian noise, std 0.01-0.05.
        p_jpeg: JPEG re-encoding, quality 15-70.
        p_lowres: Face resampled to ``lowres_face_px`` and back.
        lowres_face_px: Face size range (pixels) of the low-resolution effect.
        p_occlusion: A blob over the face (skin-coloured half the time, else dark).
        p_bars: One or two dark bars through the upper face.
        p_border: A band of the crop (10-35 %) outside the camera image (black).
        face_fraction: Face size / crop side (1 / crop scale), used to size the effects.
    """

    p_blur: float = 0.2
    p_noise: float = 0.3
    p_jpeg: float = 0.3
    p_lowres: float = 0.15
    lowres_face_px: tuple[float, float] = (40.0, 80.0)
    p_occlusion: float = 0.15
    p_bars: float = 0.08
    p_border: float = 0.08
    face_fraction: float = 1.0 / 1.6

    @classmethod
    def none(cls) -> AugmentConfig:
        """No effect at all."""
        return cls(0.0, 0.0, 0.0, 0.0, (40.0, 80.0), 0.0, 0.0, 0.0)


def _blur(img: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    sigma = rng.uniform(0.5, 2.0) * side / 224.0
    if rng.uniform() < 0.5:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    length = max(3, int(round(3 * sigma)) | 1)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))


def _occlude(img: np.ndarray, rng: np.random.Generator, side: int, face: float) -> np.ndarray:
    c = side / 2.0
    f = face * side
    cx, cy = c + rng.uniform(-0.35, 0.35) * f, c + rng.uniform(-0.2, 0.45) * f
    ax, ay = rng.uniform(0.12, 0.35) * f, rng.uniform(0.1, 0.3) * f
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (int(cx), int(cy)), (int(ax), int(ay)), rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    centre = img[int(side * 0.4) : int(side * 0.6), int(side * 0.4) : int(side * 0.6)]
    if rng.uniform() < 0.5:
        colour = centre.reshape(-1, 3).mean(0) * rng.uniform(0.7, 1.2)
    else:
        colour = rng.uniform(0.0, 0.25, size=3)
    shade = 1.0 + 0.15 * rng.normal(size=(1, 1, 1))
    fill = np.clip(colour[None, None, :] * shade, 0.0, 1.0)
    return img * (1.0 - mask) + fill * mask


def _bars(img: np.ndarray, rng: np.random.Generator, side: int, face: float) -> np.ndarray:
    out = img.copy()
    f = face * side
    for _ in range(int(rng.integers(1, 3))):
        y = side / 2.0 + rng.uniform(-0.35, 0.05) * f
        angle = np.radians(rng.uniform(-20, 20))
        dx, dy = np.cos(angle) * side, np.sin(angle) * side
        p0 = (int(side / 2 - dx), int(y - dy))
        p1 = (int(side / 2 + dx), int(y + dy))
        colour = tuple(float(v) for v in rng.uniform(0.0, 0.2, size=3))
        cv2.line(out, p0, p1, colour, max(1, int(rng.uniform(0.01, 0.04) * side)), cv2.LINE_AA)
    return out


def _border(img: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    out = img.copy()
    band = int(rng.uniform(0.1, 0.35) * side)
    edge = int(rng.integers(0, 4))
    if edge == 0:
        out[:band] = 0.0
    elif edge == 1:
        out[-band:] = 0.0
    elif edge == 2:
        out[:, :band] = 0.0
    else:
        out[:, -band:] = 0.0
    return out


def augment_crop(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Apply the randomly drawn effects to one crop.

    Args:
        image: ``[S, S, 3]`` float32 RGB in [0, 1].
        rng: Random stream (every probability is drawn, in a fixed order, whatever applies).
        cfg: Settings.

    Returns:
        ``[S, S, 3]`` float32 in [0, 1].
    """
    img = np.asarray(image, np.float32)
    side = int(img.shape[0])
    draws = rng.uniform(size=7)
    if draws[0] < cfg.p_occlusion:
        img = _occlude(img, rng, side, cfg.face_fraction)
    if draws[1] < cfg.p_bars:
        img = _bars(img, rng, side, cfg.face_fraction)
    if draws[2] < cfg.p_border:
        img = _border(img, rng, side)
    if draws[3] < cfg.p_lowres:
        face_px = rng.uniform(*cfg.lowres_face_px)
        small = max(8, int(round(side * face_px / (cfg.face_fraction * side))))
        if small < side:
            low = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
            img = cv2.resize(low, (side, side), interpolation=cv2.INTER_LINEAR)
    if draws[4] < cfg.p_blur:
        img = _blur(img, rng, side)
    if draws[5] < cfg.p_noise:
        img = img + rng.normal(0.0, rng.uniform(0.01, 0.05), size=img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    if draws[6] < cfg.p_jpeg:
        u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 71))])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    return img
