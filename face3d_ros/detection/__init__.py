# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face detection and 68-point iBUG landmarks.

Two detectors behind one interface (:class:`FaceDetectorLike`), chosen by name with
:func:`make_detector` (``detector`` setting): ``blazeface`` (MediaPipe's BlazeFace CNN in
onnxruntime, :mod:`face3d_ros.detection.blazeface`) and ``dlib`` (HOG,
:mod:`face3d_ros.detection.detector`); both place the 68 landmarks with dlib's shape predictor.
"""

from face3d_ros.detection.detector import (
    DEFAULT_PREDICTOR_PATH,
    PREDICTOR_ENV_VAR,
    Detection,
    FaceDetector,
    ShapePredictor,
    box_from_landmarks,
    box_iou,
    check_image,
    resolve_predictor_path,
)
from face3d_ros.detection.interface import (
    DEFAULT_DETECTOR,
    DETECTOR_NAMES,
    DETECTORS,
    FaceDetectorLike,
    make_detector,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_PREDICTOR_PATH",
    "DETECTORS",
    "DETECTOR_NAMES",
    "PREDICTOR_ENV_VAR",
    "Detection",
    "FaceDetector",
    "FaceDetectorLike",
    "ShapePredictor",
    "box_from_landmarks",
    "box_iou",
    "check_image",
    "make_detector",
    "resolve_predictor_path",
]
