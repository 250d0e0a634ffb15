# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TRACKING means "a face is there and the parameters are valid" (issue 12 items 9 and 14).

The tracker runs on the bundled sample sequence (a run of face-less frames in the middle) with
the tiny synthetic model and untrained nets, the default configuration except where a test
says otherwise.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from face3d_ros.pipeline import Tracker, TrackerConfig, TrackState  # noqa: E402
from face3d_ros.sample_data import SampleSequenceConfig, sample_sequence  # noqa: E402

SEQ = SampleSequenceConfig(n_frames=12, width=320, height=240, faceless_start=5,
                           faceless_length=4, base_scale=1.0)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pathlib.Path]:
    from fixtures.weights import cached_untrained_assets

    from face3d_ros.model.io import load_face_model

    model_path, wdir = cached_untrained_assets(tmp_path_factory.getbasetemp())
    return load_face_model(model_path), wdir


def _run(assets: tuple[object, pathlib.Path], **config: object) -> list:
    model, wdir = assets
    try:
        tracker = Tracker.load(TrackerConfig(threads=1, use_fine=False, **config), wdir,
                               model=model)
    except FileNotFoundError as exc:
        pytest.skip(f"landmark predictor unavailable: {exc}")
    return [(frame, tracker.step(frame.image)) for frame in sample_sequence(SEQ)]


def test_no_tracking_state_without_a_face(assets: tuple[object, pathlib.Path]) -> None:
    """With the default configuration, no face-less frame is reported as TRACKING."""
    results = _run(assets)
    states = [r.state for _, r in results]
    assert TrackState.TRACKING in states[:SEQ.faceless_start], states
    for frame, result in results:
        if not frame.has_face:
            assert result.state != TrackState.TRACKING, (frame.index, states)
            assert result.params is None


def test_keyframe_every_frame_stays_tracking(assets: tuple[object, pathlib.Path]) -> None:
    """keyframe_interval=1 re-anchors on every frame and reports TRACKING, not INITIALISING."""
    results = _run(assets, keyframe_interval=1)
    with_face = [r for f, r in results[: SEQ.faceless_start]]
    assert with_face[0].params is not None, "no face found on the first frame"
    assert [r.state for r in with_face[1:]] == [TrackState.TRACKING] * (len(with_face) - 1)
    assert all(r.reinitialised for r in with_face)
