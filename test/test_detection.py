# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for face3d_ros.detection (dlib HOG detector + 68-point predictor)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from face3d_ros.detection import Detection, FaceDetector, box_from_landmarks, resolve_predictor_path


def _predictor_available() -> bool:
    try:
        resolve_predictor_path()
    except FileNotFoundError:
        return False
    return True


needs_predictor = pytest.mark.skipif(
    not _predictor_available(),
    reason="dlib predictor missing: apt-get install libdlib-data (or set FACE3D_DLIB_PREDICTOR)",
)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_missing_predictor_raises_clear_error(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.dat"
    with pytest.raises(FileNotFoundError, match="libdlib-data"):
        FaceDetector(missing)


def test_missing_predictor_from_env(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACE3D_DLIB_PREDICTOR", str(tmp_path / "absent.dat"))
    with pytest.raises(FileNotFoundError, match="FACE3D_DLIB_PREDICTOR"):
        resolve_predictor_path()


@needs_predictor
def test_astronaut_face_and_landmarks(detector: FaceDetector, astronaut: np.ndarray) -> None:
    dets = detector.detect(astronaut)
    assert dets, "no face found in the astronaut photo"
    best = dets[0]
    assert isinstance(best, Detection)
    assert best.landmarks.shape == (68, 2)
    x0, y0, x1, y1 = best.box
    # The face is in the upper middle of the 512x512 photo.
    assert 150 < (x0 + x1) / 2 < 300 and 60 < (y0 + y1) / 2 < 200
    lm = best.landmarks
    margin = 0.25 * (x1 - x0)
    assert np.all(lm[:, 0] > x0 - margin) and np.all(lm[:, 0] < x1 + margin)
    assert np.all(lm[:, 1] > y0 - margin) and np.all(lm[:, 1] < y1 + margin)
    eyes_y = lm[36:48, 1].mean()
    mouth_y = lm[48:68, 1].mean()
    nose_y = lm[27:36, 1].mean()
    chin_y = lm[8, 1]
    assert eyes_y < nose_y < mouth_y < chin_y
    # Subject's right eye (36-41) is on the image left.
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()


@needs_predictor
def test_blank_image_returns_empty(detector: FaceDetector) -> None:
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []


@needs_predictor
def test_downscaled_detection_matches(astronaut: np.ndarray) -> None:
    import cv2

    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    det = FaceDetector(max_side=512, upsample=1)
    dets = det.detect(big)
    assert dets
    ref = FaceDetector(max_side=None, upsample=0).detect(astronaut)[0]
    err = np.linalg.norm(dets[0].landmarks / 2.0 - ref.landmarks, axis=1).mean()
    assert err < 3.0


@needs_predictor
def test_track_fast_path(detector: FaceDetector, astronaut: np.ndarray) -> None:
    first = detector.detect(astronaut)[0]
    shifted = np.roll(astronaut, shift=(3, -4), axis=(0, 1))
    tracked = detector.track(shifted, first)
    assert tracked is not None
    moved = tracked.landmarks - first.landmarks
    assert np.abs(np.median(moved[:, 0]) + 4) < 2 and np.abs(np.median(moved[:, 1]) - 3) < 2
    assert 0.5 < tracked.score <= 1.0
    # Box fully outside the image -> lost.
    assert detector.track(astronaut, (2000.0, 2000.0, 2100.0, 2100.0)) is None


def test_box_from_landmarks_square() -> None:
    grid = np.meshgrid(np.linspace(0, 100, 17), np.linspace(0, 80, 4))
    lm = np.stack(grid, -1).reshape(-1, 2)[:68]
    x0, y0, x1, y1 = box_from_landmarks(lm)
    assert abs((x1 - x0) - (y1 - y0)) < 1e-9 and x1 - x0 > 90


def test_rejects_bad_input(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        Detection(box=(0, 0, 1, 1), landmarks=np.zeros((5, 2)), score=1.0)
