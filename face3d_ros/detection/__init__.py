# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face detection and 68-point iBUG landmarks (dlib HOG detector + shape predictor)."""

from face3d_ros.detection.detector import (
    DEFAULT_PREDICTOR_PATH,
    PREDICTOR_ENV_VAR,
    Detection,
    FaceDetector,
    box_from_landmarks,
    resolve_predictor_path,
)

__all__ = [
    "DEFAULT_PREDICTOR_PATH",
    "PREDICTOR_ENV_VAR",
    "Detection",
    "FaceDetector",
    "box_from_landmarks",
    "resolve_predictor_path",
]
