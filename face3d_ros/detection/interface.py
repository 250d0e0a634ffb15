# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The face-detector interface and the registry of detectors chosen by name.

Every detector returns :class:`~face3d_ros.detection.detector.Detection` objects with a
dlib-like box and the 68 iBUG landmarks, so the tracker does not depend on which one runs.
The node's ``detector`` parameter and :attr:`face3d_ros.pipeline.TrackerConfig.detector` take
one of :data:`DETECTOR_NAMES`; :func:`make_detector` builds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from face3d_ros.detection.detector import Detection

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "DETECTOR_NAMES",
    "DetectorSpec",
    "FaceDetectorLike",
    "make_detector",
]


@runtime_checkable
class FaceDetectorLike(Protocol):
    """What the tracker needs from a face detector."""

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces in a uint8 RGB ``[H, W, 3]`` frame, by decreasing score (68 landmarks each)."""
        ...


def _make_dlib(predictor_path: str | os.PathLike[str] | None) -> FaceDetectorLike:
    from face3d_ros.detection.detector import FaceDetector

    return FaceDetector(predictor_path)


def _make_blazeface(predictor_path: str | os.PathLike[str] | None) -> FaceDetectorLike:
    from face3d_ros.detection.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(predictor_path=predictor_path)


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector: name, one-line description, factory(predictor_path)."""

    name: str
    description: str
    factory: Callable[[str | os.PathLike[str] | None], FaceDetectorLike]


#: The registered detectors by name.
DETECTORS: dict[str, DetectorSpec] = {
    spec.name: spec
    for spec in (
        DetectorSpec(
            "blazeface",
            "MediaPipe BlazeFace short-range CNN (onnxruntime, about 3 ms per frame) + dlib's "
            "68-point predictor; built by tools/bootstrap.sh; finds faces from about 12 % of "
            "the frame's longer side (75 px in a 640 px frame)",
            _make_blazeface,
        ),
        DetectorSpec(
            "dlib",
            "dlib HOG frontal-face detector (about 100 ms per 640x360 frame on one core) + "
            "dlib's 68-point predictor; finds smaller faces",
            _make_dlib,
        ),
    )
}
#: Valid values of the ``detector`` setting.
DETECTOR_NAMES: tuple[str, ...] = tuple(DETECTORS)
#: The default detector.
DEFAULT_DETECTOR = "blazeface"


def make_detector(
    name: str, predictor_path: str | os.PathLike[str] | None = None
) -> FaceDetectorLike:
    """Build the detector registered under ``name``.

    Args:
        name: One of :data:`DETECTOR_NAMES`.
        predictor_path: dlib 68-point predictor file (None = default location).

    Returns:
        The detector.

    Raises:
        ValueError: Unknown name.
        FileNotFoundError: A model or predictor file is missing (the message says how to get it).
    """
    spec = DETECTORS.get(name)
    if spec is None:
        raise ValueError(f"unknown detector {name!r}; one of: {', '.join(DETECTOR_NAMES)}")
    return spec.factory(predictor_path)
