# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for face3d_ros.detection (dlib HOG detector + 68-point predictor)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from face3d_ros.detection import (
    Detection,
    FaceDetector,
    box_from_landmarks,
    box_iou,
    resolve_predictor_path,
)


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


def test_box_from_landmarks_square() -> None:
    grid = np.meshgrid(np.linspace(0, 100, 17), np.linspace(0, 80, 4))
    lm = np.stack(grid, -1).reshape(-1, 2)[:68]
    x0, y0, x1, y1 = box_from_landmarks(lm)
    assert abs((x1 - x0) - (y1 - y0)) < 1e-9 and x1 - x0 > 90


def test_rejects_bad_input(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        Detection(box=(0, 0, 1, 1), landmarks=np.zeros((5, 2)), score=1.0)


# --------------------------------------------------------------------------- BlazeFace


def _blazeface_or_skip():
    from face3d_ros.detection.blazeface import BlazeFaceDetector, resolve_model_path

    try:
        resolve_model_path()
        resolve_predictor_path()
    except FileNotFoundError as exc:
        pytest.skip(f"BlazeFace model or dlib predictor missing (run tools/bootstrap.sh): {exc}")
    return BlazeFaceDetector()


@pytest.fixture(scope="module")
def blazeface():
    return _blazeface_or_skip()


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_ssd_anchors_layout() -> None:
    from face3d_ros.detection.blazeface import ssd_anchors

    a = ssd_anchors()
    assert a.shape == (896, 2) and a.dtype == np.float32
    # 16x16 grid with 2 anchors per cell, then 8x8 with 6 per cell, row-major (x fastest).
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[517], a[512])
    assert np.allclose(a[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_decode_and_weighted_nms() -> None:
    from face3d_ros.detection.blazeface import decode, ssd_anchors, weighted_nms

    anchors = ssd_anchors()
    reg = np.zeros((896, 16), np.float32)
    logits = np.full(896, -10.0, np.float32)
    # Two overlapping candidates on neighbouring anchors and one far away.
    for idx, dx, size, logit in (
        (600, 2.0, 40.0, 3.0),
        (601, -2.0, 44.0, 1.0),
        (10, 0.0, 20.0, 2.0),
    ):
        reg[idx, 0], reg[idx, 2:4], logits[idx] = dx, size, logit
        reg[idx, 4:] = np.tile([1.0, -1.0], 6)
    logits[700] = 50.0
    reg[700, 2:4] = -5.0  # negative size: invalid, dropped
    boxes, kps, scores = decode(reg, logits, anchors, 0.5)
    assert boxes.shape == (3, 4) and kps.shape == (3, 6, 2)
    faces = weighted_nms(boxes, kps, scores, 0.3)
    assert len(faces) == 2
    top = faces[0]
    p = 1 / (1 + np.exp(-np.array([3.0, 1.0])))
    w = p / p.sum()
    cx = anchors[600, 0] + (w[0] * 2.0 - w[1] * 2.0) / 128  # both anchors share a centre
    side = (w[0] * 40 + w[1] * 44) / 128
    assert top.score == pytest.approx(p[0], rel=1e-5)
    assert top.box[0] == pytest.approx(cx - side / 2, abs=1e-5)
    assert top.box[2] - top.box[0] == pytest.approx(side, abs=1e-5)
    assert np.allclose(top.keypoints[:, 0], anchors[600, 0] + 1 / 128, atol=1e-5)
    assert np.allclose(faces[1].box, [*(anchors[10] - 10 / 128), *(anchors[10] + 10 / 128)])
    assert len(weighted_nms(boxes, kps, scores, 0.3, max_faces=1)) == 1


def test_dlib_box_from_blazeface_square() -> None:
    from face3d_ros.detection.blazeface import dlib_box_from_blazeface

    x0, y0, x1, y1 = dlib_box_from_blazeface(np.array([100.0, 50.0, 200.0, 160.0]))
    assert x1 - x0 == pytest.approx(y1 - y0) and 0.8 * 110 < x1 - x0 < 1.1 * 110


def test_blazeface_missing_model_clear_error(tmp_path: pathlib.Path) -> None:
    from face3d_ros.detection.blazeface import BlazeFaceDetector

    with pytest.raises(FileNotFoundError, match="bootstrap"):
        BlazeFaceDetector(tmp_path / "absent.onnx")


def test_make_detector_registry() -> None:
    from face3d_ros.detection import DEFAULT_DETECTOR, DETECTOR_NAMES, make_detector

    assert set(DETECTOR_NAMES) == {"blazeface", "dlib"} and DEFAULT_DETECTOR in DETECTOR_NAMES
    with pytest.raises(ValueError, match="blazeface, dlib"):
        make_detector("haar")


def test_blazeface_astronaut_matches_dlib(blazeface, astronaut: np.ndarray) -> None:
    from face3d_ros.detection import FaceDetectorLike

    assert isinstance(blazeface, FaceDetectorLike)
    dets = blazeface.detect(astronaut)
    assert len(dets) == 1
    got = dets[0]
    assert got.score > 0.8 and got.landmarks.shape == (68, 2) and got.keypoints.shape == (6, 2)
    ref = FaceDetector().detect(astronaut)[0]
    assert box_iou(got.box, ref.box) > 0.7
    iod = np.linalg.norm(ref.landmarks[36:42].mean(0) - ref.landmarks[42:48].mean(0))
    assert np.linalg.norm(got.landmarks - ref.landmarks, axis=1).mean() < 0.1 * iod
    # Keypoints: the subject's right eye (image left), left eye, nose tip, mouth centre.
    kp = got.keypoints
    assert np.linalg.norm(kp[0] - ref.landmarks[36:42].mean(0)) < 0.25 * iod
    assert np.linalg.norm(kp[1] - ref.landmarks[42:48].mean(0)) < 0.25 * iod
    assert np.linalg.norm(kp[2] - ref.landmarks[30]) < 0.3 * iod
    assert np.linalg.norm(kp[3] - ref.landmarks[48:68].mean(0)) < 0.3 * iod


def test_blazeface_letterbox_coordinates(blazeface, astronaut: np.ndarray) -> None:
    ref = blazeface.detect_raw(astronaut)
    assert len(ref) == 1
    # Same scale (longer side 512), letterboxed with padding above and below: same box.
    top = blazeface.detect_raw(np.ascontiguousarray(astronaut[:256]))
    assert len(top) == 1 and np.allclose(top[0].box, ref[0].box, atol=2.5)
    # The content shifted inside a frame of the same size: the box moves with it.
    shifted = np.full_like(astronaut, 80)
    shifted[24:, 40:] = astronaut[:-24, :-40]
    got = blazeface.detect_raw(shifted)
    assert len(got) == 1
    # (one network input pixel is 4 image pixels here: the net is not exactly shift-invariant)
    moved = np.asarray(got[0].box) - np.asarray(ref[0].box)
    assert np.allclose(moved.reshape(2, 2).mean(0), [40, 24], atol=4.0), moved
    assert abs(moved[2] - moved[0]) < 8.0 and abs(moved[3] - moved[1]) < 8.0


def test_blazeface_no_face(blazeface) -> None:
    import cv2

    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    assert blazeface.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    cfg = SampleSequenceConfig()
    faceless = sample_frame(cfg.faceless_start, cfg)
    assert not faceless.has_face
    assert blazeface.detect(faceless.image) == []
    face = sample_frame(0, cfg)
    assert len(blazeface.detect(face.image)) == 1
    with pytest.raises(ValueError):
        blazeface.detect(cv2.cvtColor(face.image, cv2.COLOR_RGB2GRAY))


def test_blazeface_build_idempotent_and_checks_source(tmp_path: pathlib.Path) -> None:
    from face3d_ros.detection import blazeface_build

    repo = pathlib.Path(__file__).resolve().parents[1]
    wheel = repo / "data" / "downloads" / blazeface_build.WHEEL_FILENAME
    if not wheel.is_file():
        pytest.skip(f"{wheel} missing (tools/bootstrap.sh downloads it)")
    pytest.importorskip("tflite2onnx")
    out = tmp_path / "bf.onnx"
    assert blazeface_build.build(wheel, out) is True
    assert blazeface_build.build(wheel, out) is False  # up to date: nothing written
    assert blazeface_build.is_up_to_date(out)
    out.write_bytes(out.read_bytes() + b"\0")  # tampered output: rebuilt
    assert not blazeface_build.is_up_to_date(out)
    assert blazeface_build.build(wheel, out) is True
    bad = tmp_path / blazeface_build.WHEEL_FILENAME
    bad.write_bytes(wheel.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256"):
        blazeface_build.build(bad, tmp_path / "other.onnx")


def test_tracker_config_detector_choice() -> None:
    from face3d_ros.detection import DEFAULT_DETECTOR
    from face3d_ros.pipeline import TrackerConfig

    assert TrackerConfig().detector == DEFAULT_DETECTOR
    assert TrackerConfig(detector="dlib").detector == "dlib"
    with pytest.raises(ValueError, match="detector must be one of"):
        TrackerConfig(detector="haar")


def test_tracker_load_uses_configured_detector(blazeface) -> None:
    """Tracker.load builds the configured detector; BlazeFace tracks the sample sequence."""
    from face3d_ros.detection.blazeface import BlazeFaceDetector
    from face3d_ros.pipeline import Tracker, TrackerConfig, TrackState
    from face3d_ros.runtime import default_weights_dir
    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    if not (default_weights_dir() / "tracking.onnx").is_file():
        pytest.skip("no shipped weights")
    tracker = Tracker.load(TrackerConfig(detector="blazeface", use_fine=False, threads=1))
    assert isinstance(tracker.detector, BlazeFaceDetector)
    cfg = SampleSequenceConfig()
    states = [tracker.step(sample_frame(i, cfg).image).state for i in range(4)]
    assert states[-1] == TrackState.TRACKING, states
    # a frame without a face: the track is lost (verification on the crop finds nothing)
    # or, at the latest, the next full-frame search finds nothing
    faceless = sample_frame(cfg.faceless_start, cfg).image
    lost = [tracker.step(faceless) for _ in range(2)]
    assert lost[-1].params is None and lost[-1].timings_ms["detect"] > 0
