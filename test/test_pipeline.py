# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the ROS-free tracker (face3d_ros.pipeline) and the sample sequence.

The tracker runs the real dlib detector on the astronaut sample sequence with the tiny synthetic
face model and UNTRAINED nets exported in a fixture (zero heads: the nets predict their
de-normalisation means, i.e. the mean face framed like the tracker frames faces, zero pose
deltas). Untrained tracking nets cannot follow motion by themselves; the tracker's verification
+ re-anchoring on drift is what keeps the crop on the face here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from face3d_ros.geometry.crop import CropBox
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.pipeline import STAGES, Tracker, TrackerConfig, TrackState, validate_image
from face3d_ros.pipeline.framing import canonical_crop_pose
from face3d_ros.sample_data import (
    SampleSequenceConfig,
    face_center,
    sample_frame,
    sample_sequence,
)

SEQ = SampleSequenceConfig(n_frames=34, faceless_start=14, faceless_length=8)
VERIFY = 2


def _export_untrained(out_dir: Path, model_data) -> Path:
    import torch

    from face3d_ros.geometry.sh import default_gamma
    from face3d_ros.nets import CoarseNet, FineNet, TrackingNet
    from training.export import export_onnx

    torch.manual_seed(0)
    n_id, n_exp, n_alb = model_data.n_id, model_data.n_exp, model_data.n_alb
    c_mean = np.zeros(n_id + n_exp + 6, np.float32)
    c_mean[-6:] = canonical_crop_pose(model_data, 224)
    t_mean = np.zeros(n_id + n_exp + n_alb + 33, np.float32)
    t_mean[n_id + n_exp + n_alb : n_id + n_exp + n_alb + 27] = default_gamma()
    nets = {
        "coarse": CoarseNet(n_id, n_exp, c_mean, np.ones_like(c_mean)),
        "tracking": TrackingNet(n_id, n_exp, n_alb, t_mean, np.ones_like(t_mean)),
        "fine": FineNet(),
    }
    note = {"command": "test_pipeline fixture (UNTRAINED)"}
    for name, net in nets.items():
        export_onnx(net, out_dir / f"{name}.onnx", model=model_data, training=note, check_batch=1)
    return out_dir


@pytest.fixture(scope="module")
def model_data():
    return make_synthetic_model()


@pytest.fixture(scope="module")
def nets(tmp_path_factory, model_data):
    from face3d_ros.runtime import NetBundle

    wdir = _export_untrained(tmp_path_factory.mktemp("untrained"), model_data)
    return NetBundle.load(wdir, threads=2, model=model_data)


@pytest.fixture(scope="module")
def detector():
    from face3d_ros.detection.detector import FaceDetector

    try:
        return FaceDetector()
    except FileNotFoundError as exc:
        pytest.skip(f"dlib landmark predictor unavailable: {exc}")


def _tracker(nets, detector, **overrides) -> Tracker:
    """A Tracker that runs the tracking net between re-anchors (keyframe_interval 0)."""
    config = TrackerConfig(
        **{"threads": 2, "verify_interval": VERIFY, "keyframe_interval": 0, **overrides}
    )
    return Tracker(config, nets.model, nets, detector)


@pytest.fixture(scope="module")
def run(nets, detector):
    tracker = _tracker(nets, detector)
    frames = list(sample_sequence(SEQ))
    results = [tracker.step(f.image) for f in frames]
    return frames, results


def test_sample_sequence_deterministic():
    cfg = SampleSequenceConfig(
        n_frames=4, width=320, height=240, faceless_start=2, faceless_length=1
    )
    a = list(sample_sequence(cfg))
    b = list(sample_sequence(cfg))
    assert [f.index for f in a] == [0, 1, 2, 3]
    assert [f.has_face for f in a] == [True, True, False, True]
    assert np.allclose([f.stamp for f in a], np.arange(4) / 30.0)
    for fa, fb in zip(a, b, strict=True):
        assert fa.image.shape == (240, 320, 3) and fa.image.dtype == np.uint8
        assert np.array_equal(fa.image, fb.image)
    index, stamp, image, has_face = a[0]  # unpacks as a 4-tuple
    assert index == 0 and has_face
    # face-less frames are blurred: far less high-frequency energy
    assert (
        np.abs(np.diff(a[2].image.astype(float), axis=1)).mean()
        < 0.3 * np.abs(np.diff(a[1].image.astype(float), axis=1)).mean()
    )
    with pytest.raises(ValueError):
        SampleSequenceConfig(fps=0)
    with pytest.raises(ValueError):
        sample_frame(-1)


def test_first_frames(run):
    frames, results = run
    first = results[0]
    assert first.state in (TrackState.INITIALISING, TrackState.TRACKING)
    assert first.params is not None and first.reinitialised
    assert results[1].state == TrackState.TRACKING
    assert all(r.state == TrackState.TRACKING for r in results[1 : SEQ.faceless_start])


def test_lost_on_faceless_frames_then_recovery(run):
    frames, results = run
    start, stop = SEQ.faceless_start, SEQ.faceless_start + SEQ.faceless_length
    for f, r in zip(frames[start:stop], results[start:stop], strict=True):
        assert not f.has_face
        if f.index >= start + VERIFY - 1:
            assert r.state == TrackState.LOST, (f.index, r.state, r.reason)
            assert r.params is None and r.reason
        else:
            assert r.state in (TrackState.TRACKING, TrackState.LOST)
    assert results[stop].state == TrackState.INITIALISING and results[stop].reinitialised
    assert results[stop].params is not None
    assert all(r.state == TrackState.TRACKING for r in results[stop + 1 :])


def test_result_shapes(run, model_data):
    _, results = run
    with_face = [r for r in results if r.has_face]
    assert len(with_face) >= SEQ.n_frames - SEQ.faceless_length
    for r in results:
        assert set(r.timings_ms) == set(STAGES)
        assert r.timings_ms["total"] > 0
        assert 0.0 <= r.confidence <= 1.0
    for r in with_face:
        p = r.params
        assert p.alpha_id.shape == (model_data.n_id,)
        assert p.alpha_exp.shape == (model_data.n_exp,)
        assert p.alpha_alb.shape == (model_data.n_alb,)
        assert p.gamma.shape == (27,) and p.pose.shape == (6,) and p.pose[5] > 0
        assert r.landmarks_2d.shape == (68, 2) and r.landmarks_2d.dtype == np.float32
        assert np.isfinite(r.landmarks_2d).all()
        assert r.vertices.shape == (model_data.n_vertices, 3) and r.vertices.dtype == np.float32
        assert isinstance(r.crop, CropBox)
        assert r.coarse_depth.shape == (256, 256) and r.coarse_depth.dtype == np.float32
        assert r.displacement.shape == (256, 256) and r.displacement.dtype == np.float32
        face = r.coarse_depth != 0
        assert 0.05 < face.mean() < 0.9
        assert np.isfinite(r.displacement).all() and not r.displacement[~face].any()
        assert r.timings_ms["fine"] > 0 and r.timings_ms["depth"] > 0
    for r in results:
        if not r.has_face:
            assert r.landmarks_2d is None and r.vertices is None and r.crop is None
            assert r.coarse_depth is None and r.displacement is None and r.confidence == 0.0
    tracking = [r for r in with_face if r.state == TrackState.TRACKING and not r.reinitialised]
    assert tracking and all(r.timings_ms["tracking"] > 0 for r in tracking)
    assert all(r.timings_ms["pncc"] > 0 for r in tracking)


def test_crop_follows_face(run):
    frames, results = run
    centres, truth = [], []
    for f, r in zip(frames, results, strict=True):
        if r.has_face:
            c = np.array(r.crop.center)
            t = np.array(face_center(f.index, SEQ))
            assert np.linalg.norm(c - t) < 0.25 * r.crop.size, (f.index, c, t)
            centres.append(c)
            truth.append(t)
    centres, truth = np.array(centres), np.array(truth)
    assert np.ptp(truth[:, 0]) > 40  # the face really moves in this sequence
    assert np.corrcoef(centres[:, 0], truth[:, 0])[0, 1] > 0.8


def test_invalid_frames_raise_and_tracker_stays_usable(nets, detector):
    tracker = _tracker(nets, detector, use_fine=False)
    good = sample_frame(0, SEQ).image
    assert tracker.step(good).has_face
    state = tracker.state
    bad_frames = {
        "dtype": good.astype(np.uint16),
        "zero size": np.zeros((0, 640, 3), np.uint8),
        "4 channels": np.zeros((480, 640, 4), np.uint8),
        "gray": np.zeros((480, 640), np.uint8),
        "nan float": np.full((480, 640, 3), np.nan, np.float32),
        "float range": np.full((480, 640, 3), 2.0, np.float32),
    }
    for name, frame in bad_frames.items():
        with pytest.raises(ValueError):
            tracker.step(frame)
        assert tracker.state == state, name
    with pytest.raises(ValueError, match="numpy array"):
        tracker.step(good.tolist())
    r = tracker.step(sample_frame(1, SEQ).image)
    assert r.state == TrackState.TRACKING and r.frame_index == 1


def test_validate_image_float():
    img = np.random.default_rng(0).random((8, 9, 3)).astype(np.float32)
    out = validate_image(img)
    assert out.dtype == np.uint8 and out.shape == (8, 9, 3)
    assert np.abs(out / 255.0 - img).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ValueError, match="NaN"):
        validate_image(np.full((4, 4, 3), np.inf))


def test_coarse_only_and_reset(nets, detector):
    tracker = _tracker(nets, detector, use_fine=False)
    results = [tracker.step(sample_frame(i, SEQ).image) for i in range(3)]
    assert [r.state for r in results] == [TrackState.INITIALISING] + [TrackState.TRACKING] * 2
    for r in results:
        assert r.coarse_depth is None and r.displacement is None
        assert r.timings_ms["fine"] == 0.0 and r.timings_ms["depth"] == 0.0
    tracker.reset()
    r = tracker.step(sample_frame(3, SEQ).image)
    assert r.state == TrackState.INITIALISING and r.reinitialised


def test_keyframes_reanchor(nets, detector):
    tracker = _tracker(nets, detector, use_fine=False, keyframe_interval=2, verify_interval=0)
    results = [tracker.step(sample_frame(i, SEQ).image) for i in range(5)]
    assert [r.reinitialised for r in results] == [True, False, True, False, True]
    assert all(r.state == TrackState.TRACKING for r in results[1:])


def test_keyframes_between_verifications_follow_the_track(nets, detector):
    """keyframe_on_detection off: the detector runs on every verify_interval-th frame only.

    The keyframes between run the single-image net in the previous landmarks' box.
    """
    tracker = _tracker(
        nets, detector, use_fine=False, keyframe_interval=1, verify_interval=3,
        keyframe_on_detection=False,
    )  # fmt: skip
    results = [tracker.step(sample_frame(i, SEQ).image) for i in range(8)]
    detect_ms = [r.timings_ms["detect"] for r in results]
    assert all(r.state == TrackState.TRACKING for r in results[1:])
    assert all(r.reinitialised for r in results)  # the single-image net on every frame
    assert all(r.timings_ms["tracking"] == 0.0 and r.timings_ms["coarse"] > 0 for r in results)
    # frame 0 detects in the full frame; frames 3 and 6 verify in the crop; the others do not
    assert [d > 0 for d in detect_ms] == [True, False, False, True, False, False, True, False]
    for r in results[1:]:
        assert np.isfinite(r.landmarks_2d).all()
    # with the default (True) every keyframe runs the detector
    tracker = _tracker(nets, detector, use_fine=False, keyframe_interval=1, verify_interval=3)
    results = [tracker.step(sample_frame(i, SEQ).image) for i in range(4)]
    assert all(r.timings_ms["detect"] > 0 for r in results)


class _Tamper:
    """Backend wrapper that rewrites the tracking net's output."""

    def __init__(self, inner, fn):
        self.inner, self.fn = inner, fn
        self.kind, self.net, self.io, self.meta = inner.kind, inner.net, inner.io, inner.meta

    def run(self, inputs):
        out = self.inner.run(inputs)
        return {k: self.fn(v.copy()) for k, v in out.items()}


def _with_tracking(nets, fn):
    return dataclasses.replace(nets, tracking=_Tamper(nets.tracking, fn))


def test_nan_output_loses_track_then_reacquires(nets, detector):
    def nan(v):
        v[:] = np.nan
        return v

    bad = _with_tracking(nets, nan)
    tracker = Tracker(TrackerConfig(use_fine=False, keyframe_interval=0), bad.model, bad, detector)
    assert tracker.step(sample_frame(0, SEQ).image).state == TrackState.INITIALISING
    lost = tracker.step(sample_frame(1, SEQ).image)
    assert lost.state == TrackState.LOST and "non-finite" in lost.reason
    again = tracker.step(sample_frame(2, SEQ).image)
    assert again.state == TrackState.INITIALISING and again.has_face


def test_face_leaving_image_loses_track(nets, detector):
    def shove(v):
        v[0, -3] += 5000.0  # d_tx: push the face far to the right
        return v

    bad = _with_tracking(nets, shove)
    tracker = Tracker(TrackerConfig(use_fine=False, keyframe_interval=0), bad.model, bad, detector)
    tracker.step(sample_frame(0, SEQ).image)
    lost = tracker.step(sample_frame(1, SEQ).image)
    assert lost.state == TrackState.LOST
    assert "left the image" in lost.reason or "jump" in lost.reason


def test_config_validation(nets, detector):
    for bad in (
        {"keyframe_interval": -1},
        {"crop_scale": 0.5},
        {"min_confidence": 1.5},
        {"threads": 0},
        {"verify_crop_size": 8},
        {"backend": "tflite"},
    ):
        with pytest.raises(ValueError):
            TrackerConfig(**bad)
    # FaceModelData is accepted (cut to the nets' dims); a model with too few components is not.
    tracker = Tracker(TrackerConfig(use_fine=False), nets.model.data, nets, detector)
    assert tracker.model.dims == nets.model.dims
    with pytest.raises(ValueError):
        Tracker(TrackerConfig(use_fine=False), make_synthetic_model(n_alb=2), nets, detector)
    no_fine = dataclasses.replace(nets, fine=None)
    with pytest.raises(ValueError, match="FineNet"):
        Tracker(TrackerConfig(use_fine=True), no_fine.model, no_fine, detector)


def test_canonical_crop_pose_centres_face(model_data):
    from face3d_ros.geometry.camera import project_np

    pose = canonical_crop_pose(model_data, 256, around="landmarks")
    lm = project_np(model_data.mean_shape[model_data.landmark_indices], pose)[:, :2]
    centre = (lm.min(0) + lm.max(0)) / 2
    assert np.allclose(centre, 128.0, atol=0.5)
    assert np.isclose(np.ptp(lm, axis=0).max(), 256 / 1.6, rtol=1e-3)


def test_pipeline_does_not_import_rclpy():
    code = "import sys, face3d_ros.pipeline, face3d_ros.runtime; sys.exit('rclpy' in sys.modules)"
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()


def test_tracker_load_from_config(nets, model_data, detector):
    config = TrackerConfig(use_fine=False, threads=1)
    tracker = Tracker.load(config, nets.weights_dir, model=model_data, detector=detector)
    assert tracker.nets.fine is None and tracker.nets.precision == "fp32"
    assert tracker.step(sample_frame(0, SEQ).image).has_face
    with pytest.raises(ValueError, match="int8"):
        Tracker.load(
            TrackerConfig(precision="int8"), nets.weights_dir, model=model_data, detector=detector
        )


def test_pncc_kernel_matches_render_pncc(model_data):
    from face3d_ros.geometry.camera import project_np
    from face3d_ros.model.morphable import MorphableModel
    from face3d_ros.pipeline._kernels import pncc_into
    from face3d_ros.render.maps import pncc_colors, render_pncc
    from face3d_ros.render.rasterizer import rasterize

    model = MorphableModel(model_data)
    pose = canonical_crop_pose(model_data, 64, around="landmarks")
    pose[:3] = (0.1, -0.3, 0.05)
    screen = project_np(model_data.mean_shape, pose)
    tri = model_data.triangles.astype(np.int32)
    frags = rasterize(screen, tri, 64, 64)
    out = np.full((3, 64, 64), 7.0, np.float32)
    pncc_into(frags.triangle_id, frags.barycentric, pncc_colors(model)[tri], out)
    ref = render_pncc(model, screen, 64, 64).transpose(2, 0, 1)
    assert np.allclose(out, ref, atol=1e-6)
    assert (out[:, frags.triangle_id < 0] == 0).all()


def test_int8_calibration_records_every_net(nets, detector):
    """The quantizer's Tracker settings run all three nets (the default never runs tracking)."""
    from face3d_ros.runtime.quantize import calibration_tracker_config, collect_calibration_inputs

    frames = [sample_frame(i, SEQ).image for i in range(4)]
    recorded = collect_calibration_inputs(
        Tracker(calibration_tracker_config(), nets.model, nets, detector), frames
    )
    assert all(len(recorded[net]) > 0 for net in ("coarse", "tracking", "fine")), {
        k: len(v) for k, v in recorded.items()
    }
    default = collect_calibration_inputs(
        Tracker(TrackerConfig(), nets.model, nets, detector), frames
    )
    assert not default["tracking"] and default["coarse"]
