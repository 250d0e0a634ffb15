# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Deterministic sample video made from a public-domain photo, for the demo, tests and benchmarks.

The sequence moves scikit-image's ``data.astronaut()`` photo (NASA, public domain; one frontal
face of about 90 px) along a smooth similarity-transform trajectory (translation, in-plane
rotation, scale) inside a ``width x height`` frame. A run of face-less frames in the middle (the
same frame, heavily blurred: "camera out of focus / covered") exercises loss detection and
re-acquisition in the tracker. Everything is a pure function of the frame index and the config:
no randomness, no files, no network.

Example:
    >>> from face3d_ros.sample_data import SampleSequenceConfig, sample_sequence
    >>> for index, stamp, rgb, has_face in sample_sequence(SampleSequenceConfig(n_frames=3)):
    ...     print(index, round(stamp, 3), rgb.shape, rgb.dtype, has_face)
    0 0.0 (480, 640, 3) uint8 True
    1 0.033 (480, 640, 3) uint8 True
    2 0.067 (480, 640, 3) uint8 True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    "ASTRONAUT_FACE_CENTER",
    "ASTRONAUT_FACE_SIZE",
    "MultiFaceSequenceConfig",
    "SampleFrame",
    "SampleSequenceConfig",
    "astronaut_image",
    "face_box",
    "face_center",
    "face_transform",
    "multi_face_centers",
    "multi_face_frame",
    "multi_face_present",
    "sample_frame",
    "sample_sequence",
]

#: Centre (u, v) in pixels of the face in ``skimage.data.astronaut()`` (mean of the 68 dlib
#: landmarks, measured once).
ASTRONAUT_FACE_CENTER: tuple[float, float] = (224.0, 128.0)
#: Approximate side in pixels of the face (68-landmark bounding box) in the original photo.
ASTRONAUT_FACE_SIZE: float = 92.0


@dataclass(frozen=True)
class SampleSequenceConfig:
    """Parameters of the synthetic sample sequence.

    Attributes:
        n_frames: Number of frames.
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frame rate; frame ``i`` has stamp ``start_stamp + i / fps`` seconds.
        start_stamp: Stamp of frame 0 in seconds.
        faceless_start: Index of the first face-less frame (negative: no face-less run).
        faceless_length: Number of consecutive face-less frames (0: none).
        blur_sigma: Gaussian blur sigma in pixels used to make the face-less frames.
        base_scale: Mean scale of the photo in the frame (1.0 = face of about 92 px).
        scale_amplitude: Amplitude of the (sinusoidal) scale variation.
        shift_amplitude: Amplitude (x, y) of the face-centre motion as a fraction of (width,
            height).
        rotation_amplitude_deg: Amplitude of the in-plane rotation in degrees.
        period_s: Periods in seconds of the x, y, rotation and scale oscillations.
    """

    n_frames: int = 120
    width: int = 640
    height: int = 480
    fps: float = 30.0
    start_stamp: float = 0.0
    faceless_start: int = 60
    faceless_length: int = 12
    blur_sigma: float = 25.0
    base_scale: float = 1.3
    scale_amplitude: float = 0.12
    shift_amplitude: tuple[float, float] = (0.12, 0.08)
    rotation_amplitude_deg: float = 8.0
    period_s: tuple[float, float, float, float] = (4.0, 3.0, 5.0, 6.0)

    def __post_init__(self) -> None:
        """Validate the configuration.

        Raises:
            ValueError: If a size, rate or amplitude is out of range.
        """
        if self.n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {self.n_frames}")
        if self.width < 64 or self.height < 64:
            raise ValueError(f"frame must be at least 64x64, got {self.width}x{self.height}")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.faceless_length < 0:
            raise ValueError(f"faceless_length must be >= 0, got {self.faceless_length}")
        if not self.base_scale > abs(self.scale_amplitude):
            raise ValueError("base_scale must exceed |scale_amplitude| (scale must stay > 0)")
        if self.blur_sigma <= 0:
            raise ValueError(f"blur_sigma must be > 0, got {self.blur_sigma}")
        if any(p <= 0 for p in self.period_s):
            raise ValueError(f"periods must be > 0, got {self.period_s}")


class SampleFrame(NamedTuple):
    """One frame of the sample sequence (unpacks as ``index, stamp, image, has_face``).

    Attributes:
        index: Frame index from 0.
        stamp: Time stamp in seconds.
        image: RGB frame, uint8 ``[height, width, 3]``.
        has_face: False for the deliberately face-less frames.
    """

    index: int
    stamp: float
    image: np.ndarray
    has_face: bool


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data  # deferred: importing skimage.data is slow-ish

    image = np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
    image.setflags(write=False)
    return image


def astronaut_image() -> np.ndarray:
    """Return the source photo (read-only).

    Returns:
        ``skimage.data.astronaut()``, uint8 ``[512, 512, 3]`` RGB (a read-only array).
    """
    return _astronaut()


def _is_faceless(index: int, config: SampleSequenceConfig) -> bool:
    start = config.faceless_start
    return start >= 0 and start <= index < start + config.faceless_length


def _motion(index: int, config: SampleSequenceConfig) -> tuple[float, float, float, float]:
    t = index / config.fps
    px, py, pr, ps = config.period_s
    cx = config.width / 2 + config.shift_amplitude[0] * config.width * math.sin(
        2 * math.pi * t / px
    )
    cy = config.height / 2 + config.shift_amplitude[1] * config.height * math.sin(
        2 * math.pi * t / py
    )
    angle = config.rotation_amplitude_deg * math.sin(2 * math.pi * t / pr)
    scale = config.base_scale + config.scale_amplitude * math.sin(2 * math.pi * t / ps)
    return cx, cy, angle, scale


def face_transform(index: int, config: SampleSequenceConfig | None = None) -> np.ndarray:
    """Similarity transform mapping photo pixels to frame pixels for one frame.

    Args:
        index: Frame index.
        config: Sequence configuration (default: ``SampleSequenceConfig()``).

    Returns:
        float64 ``[2, 3]`` affine matrix ``A`` with ``[u, v] = A @ [x, y, 1]``.
    """
    config = config or SampleSequenceConfig()
    cx, cy, angle, scale = _motion(index, config)
    # Rotate/scale about the photo's face centre, then move that centre to (cx, cy).
    matrix = cv2.getRotationMatrix2D(ASTRONAUT_FACE_CENTER, angle, scale)
    matrix[0, 2] += cx - ASTRONAUT_FACE_CENTER[0]
    matrix[1, 2] += cy - ASTRONAUT_FACE_CENTER[1]
    return matrix


def face_center(index: int, config: SampleSequenceConfig | None = None) -> tuple[float, float]:
    """Ground-truth image position of the face centre in one frame.

    Args:
        index: Frame index.
        config: Sequence configuration (default: ``SampleSequenceConfig()``).

    Returns:
        ``(u, v)`` in frame pixels (also defined for face-less frames: where the face would be).
    """
    config = config or SampleSequenceConfig()
    cx, cy, _, _ = _motion(index, config)
    return cx, cy


def face_box(index: int, config: SampleSequenceConfig | None = None) -> tuple[float, ...]:
    """Approximate ground-truth face box (axis-aligned, before rotation) in one frame.

    Args:
        index: Frame index.
        config: Sequence configuration (default: ``SampleSequenceConfig()``).

    Returns:
        ``(x0, y0, x1, y1)`` in frame pixels.
    """
    config = config or SampleSequenceConfig()
    cx, cy, _, scale = _motion(index, config)
    half = 0.5 * ASTRONAUT_FACE_SIZE * scale
    return cx - half, cy - half, cx + half, cy + half


def sample_frame(index: int, config: SampleSequenceConfig | None = None) -> SampleFrame:
    """Render one frame of the sequence.

    Args:
        index: Frame index, ``0 <= index < config.n_frames`` is the intended range but any
            non-negative index renders (the trajectory is periodic).
        config: Sequence configuration (default: ``SampleSequenceConfig()``).

    Returns:
        The frame; the image is a fresh writable uint8 ``[height, width, 3]`` array.

    Raises:
        ValueError: If ``index`` is negative.
    """
    config = config or SampleSequenceConfig()
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    frame = cv2.warpAffine(
        _astronaut(),
        face_transform(index, config),
        (config.width, config.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    has_face = not _is_faceless(index, config)
    if not has_face:
        frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=config.blur_sigma)
    stamp = config.start_stamp + index / config.fps
    return SampleFrame(index=index, stamp=stamp, image=frame, has_face=has_face)


def sample_sequence(config: SampleSequenceConfig | None = None) -> Iterator[SampleFrame]:
    """Yield the frames of the sample sequence in order.

    Args:
        config: Sequence configuration (default: ``SampleSequenceConfig()``: 120 frames of
            640x480 at 30 FPS, face-less frames 60-71).

    Yields:
        ``SampleFrame(index, stamp, image, has_face)``; image uint8 ``[height, width, 3]`` RGB.
    """
    config = config or SampleSequenceConfig()
    for index in range(config.n_frames):
        yield sample_frame(index, config)


@dataclass(frozen=True)
class MultiFaceSequenceConfig:
    """Parameters of a sample sequence with several faces (multi-face tracking tests, benchmark).

    Copies of the sample photo's face, each cut out with a soft elliptical mask and tinted
    differently (so that they also differ in appearance), move over a smooth background. With
    ``swap`` the first two faces exchange sides during the sequence, passing each other at
    different heights; ``absent`` lists ``(face, first_frame, n_frames)`` runs where a face is
    not in the picture (it comes back where it would have been).

    Attributes:
        n_frames: Number of frames.
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frame rate.
        n_faces: Number of faces (1 to 4).
        face_scale: Scale of the photo's face (1.0 = about 92 px).
        swap: Faces 0 and 1 exchange sides (else every face stays in its place, with a small
            sway).
        absent: ``(face index, first frame, number of frames)`` runs without that face.
    """

    n_frames: int = 40
    width: int = 640
    height: int = 480
    fps: float = 30.0
    n_faces: int = 2
    face_scale: float = 0.9
    swap: bool = True
    absent: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        """Validate the configuration.

        Raises:
            ValueError: If a size or count is out of range.
        """
        if not 1 <= self.n_faces <= len(_FACE_TINTS):
            raise ValueError(f"n_faces must be in [1, {len(_FACE_TINTS)}], got {self.n_faces}")
        if self.width < 64 or self.height < 64:
            raise ValueError(f"frame must be at least 64x64, got {self.width}x{self.height}")
        if not self.face_scale > 0:
            raise ValueError(f"face_scale must be > 0, got {self.face_scale}")
        if self.n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {self.n_frames}")


#: Per-face RGB gains (face 0 untinted).
_FACE_TINTS: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 1.0), (0.92, 0.98, 1.08), (1.08, 1.0, 0.9), (1.04, 0.96, 1.02),
)
#: Rest positions (fractions of width, height) of the faces when they do not swap.
_FACE_SLOTS: tuple[tuple[float, float], ...] = (
    (0.25, 0.33), (0.75, 0.67), (0.75, 0.3), (0.25, 0.7),
)


@functools.lru_cache(maxsize=8)
def _face_cutout(tint: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The tinted photo and the soft elliptical mask of its face (float32, photo size)."""
    photo = _astronaut().astype(np.float32) * np.asarray(tint, np.float32)
    photo = np.clip(photo, 0, 255)
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = ASTRONAUT_FACE_CENTER
    r = ((xx - cx) / (0.62 * ASTRONAUT_FACE_SIZE)) ** 2 + ((yy - cy + 6) / (0.8 *
                                                                          ASTRONAUT_FACE_SIZE)) ** 2
    mask = np.clip((1.25 - r) / 0.35, 0.0, 1.0).astype(np.float32)
    return photo, mask


def multi_face_centers(index: int, config: MultiFaceSequenceConfig) -> list[tuple[float, float]]:
    """Frame positions (u, v) of every face's centre at one frame (present or not).

    Args:
        index: Frame index.
        config: Sequence configuration.

    Returns:
        One ``(u, v)`` per face, in pixels.
    """
    t = index / max(config.n_frames - 1, 1)
    out = []
    for k in range(config.n_faces):
        fx, fy = _FACE_SLOTS[k]
        if config.swap and k < 2:
            # 0 goes left -> right along the upper row, 1 right -> left along the lower row.
            fx = 0.22 + 0.56 * (t if k == 0 else 1.0 - t)
        else:
            fx += 0.03 * math.sin(2 * math.pi * (index / config.fps) / 3.0 + k)
        out.append((fx * config.width, fy * config.height))
    return out


def multi_face_present(index: int, config: MultiFaceSequenceConfig) -> list[bool]:
    """Whether each face is in the picture at one frame."""
    present = [True] * config.n_faces
    for face, start, length in config.absent:
        if 0 <= face < config.n_faces and start <= index < start + length:
            present[face] = False
    return present


def multi_face_frame(index: int, config: MultiFaceSequenceConfig | None = None) -> np.ndarray:
    """Render one frame of the multi-face sequence.

    Args:
        index: Frame index (>= 0).
        config: Sequence configuration (default: ``MultiFaceSequenceConfig()``).

    Returns:
        uint8 ``[height, width, 3]`` RGB frame.

    Raises:
        ValueError: If ``index`` is negative.
    """
    config = config or MultiFaceSequenceConfig()
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    h, w = config.height, config.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([
        110 + 20 * np.sin(xx / 97.0) + 10 * np.cos(yy / 61.0),
        115 + 15 * np.cos(xx / 73.0 + yy / 151.0),
        120 + 18 * np.sin(yy / 83.0),
    ], axis=-1)
    frame = background.astype(np.float32)
    centres = multi_face_centers(index, config)
    for k, (present, (cx, cy)) in enumerate(
        zip(multi_face_present(index, config), centres, strict=True)
    ):
        if not present:
            continue
        photo, mask = _face_cutout(_FACE_TINTS[k])
        matrix = cv2.getRotationMatrix2D(ASTRONAUT_FACE_CENTER, 0.0, config.face_scale)
        matrix[0, 2] += cx - ASTRONAUT_FACE_CENTER[0]
        matrix[1, 2] += cy - ASTRONAUT_FACE_CENTER[1]
        warped = cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        frame = frame * (1.0 - alpha) + warped * alpha
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)
