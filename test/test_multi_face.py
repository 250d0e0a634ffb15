# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several faces with stable ids (issue 14 item 2), ROS-free: face3d_ros.pipeline.multi.

Runs the shipped nets and the default detector on the composited multi-face sample sequence
(face3d_ros.sample_data.multi_face_frame: copies of the bundled public-domain photo's face,
tinted differently, over a smooth background).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from face3d_ros.pipeline import (
    MultiFaceConfig,
    MultiFaceTracker,
    Tracker,
    TrackerConfig,
    TrackState,
)
from face3d_ros.pipeline.multi import appearance_histogram
from face3d_ros.sample_data import (
    MultiFaceSequenceConfig,
    SampleSequenceConfig,
    multi_face_centers,
    multi_face_frame,
    multi_face_present,
    sample_sequence,
)


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    try:
        return Tracker.load(TrackerConfig(threads=1, use_fine=False))
    except FileNotFoundError as exc:
        pytest.skip(f"detector or landmark predictor unavailable: {exc}")


def _fresh(tracker: Tracker, **config: object) -> MultiFaceTracker:
    tracker.reset()
    return MultiFaceTracker(tracker, MultiFaceConfig(**config))


def _nearest_face(landmarks: np.ndarray, centres: list[tuple[float, float]]) -> int:
    centre = landmarks.mean(axis=0)
    return int(np.argmin([np.hypot(*(centre - np.asarray(c))) for c in centres]))


def _run(multi: MultiFaceTracker, seq: MultiFaceSequenceConfig) -> list:
    """Per frame: ({face_id: index of the sample face it sits on}, result)."""
    out = []
    for index in range(seq.n_frames):
        result = multi.step(multi_face_frame(index, seq))
        centres = multi_face_centers(index, seq)
        out.append(({f.face_id: _nearest_face(f.result.landmarks_2d, centres)
                     for f in result.faces}, result))
    return out


def test_two_faces_keep_their_ids_while_swapping_sides_and_after_leaving(
    tracker: Tracker,
) -> None:
    """Two faces cross the frame; face 1 leaves for 5 frames and comes back with its old id."""
    seq = MultiFaceSequenceConfig(n_frames=40, n_faces=2, swap=True, absent=((1, 12, 5),))
    frames = _run(_fresh(tracker), seq)
    ids_of = {}  # sample face -> the id it got first
    for index, (assignment, result) in enumerate(frames):
        present = multi_face_present(index, seq)
        assert sorted(assignment.values()) == [k for k in range(2) if present[k]], (
            index, assignment)
        for face_id, face in assignment.items():
            ids_of.setdefault(face, face_id)
            assert ids_of[face] == face_id, (index, assignment, ids_of)
        assert all(f.result.state != TrackState.LOST for f in result.faces)
    assert sorted(ids_of.values()) == [1, 2]
    # The frame it left, its track is reported lost; it comes back re-identified.
    lost_at = [i for i, (_, r) in enumerate(frames) if any(f.face_id == ids_of[1] for f in r.lost)]
    assert lost_at == [12], lost_at
    back = [f for f in frames[17][1].faces if f.face_id == ids_of[1]]
    assert back and back[0].reidentified and not back[0].new_id


def test_a_new_person_gets_a_new_id_and_does_not_steal_the_primary(tracker: Tracker) -> None:
    """A face entering later gets the next id; the primary (oldest) stays on the first face."""
    seq = MultiFaceSequenceConfig(n_frames=14, n_faces=2, swap=False, absent=((1, 0, 6),))
    multi = _fresh(tracker, search_interval=3)
    frames = _run(multi, seq)
    first_ids = set(frames[0][0])
    assert len(first_ids) == 1
    (first,) = first_ids
    assert frames[-1][0].keys() == {first, first + 1}, frames[-1][0]
    entered = next(i for i, (a, _) in enumerate(frames) if len(a) == 2)
    assert entered in (6, 9), entered  # the next search after it appears (interval 3)
    assert all(r.primary_id == first for _, r in frames)


def test_largest_primary_follows_the_largest_face(tracker: Tracker) -> None:
    """primary='largest' picks the largest face of the frame."""
    seq = MultiFaceSequenceConfig(n_frames=3, n_faces=2, swap=False)
    multi = _fresh(tracker, primary="largest")
    result = None
    for index in range(seq.n_frames):
        result = multi.step(multi_face_frame(index, seq))
    assert result is not None and len(result.faces) == 2

    def extent(f: object) -> float:
        return float(np.ptp(f.result.landmarks_2d, axis=0).max())

    assert result.primary_id == max(result.faces, key=extent).face_id


def test_one_face_matches_the_single_face_tracker(tracker: Tracker) -> None:
    """max_faces=1 reproduces Tracker.step frame by frame, through a loss and re-acquisition."""
    seq = SampleSequenceConfig(n_frames=14, width=320, height=240, faceless_start=6,
                               faceless_length=3, base_scale=1.0)
    frames = list(sample_sequence(seq))
    tracker.reset()
    single = [tracker.step(f.image) for f in frames]
    multi = _fresh(tracker, max_faces=1)
    multi_results = [multi.step(f.image).primary for f in frames]
    assert any(r.state == TrackState.LOST for r in single)
    for a, b in zip(single, multi_results, strict=True):
        assert a.state == b.state and a.reinitialised == b.reinitialised
        assert (a.landmarks_2d is None) == (b.landmarks_2d is None)
        if a.landmarks_2d is not None:
            np.testing.assert_allclose(a.landmarks_2d, b.landmarks_2d, atol=1e-4)


def test_invalid_frame_leaves_every_track_unchanged(tracker: Tracker) -> None:
    """A bad frame raises ValueError and the next good frame continues the same ids."""
    seq = MultiFaceSequenceConfig(n_frames=3, n_faces=2, swap=False)
    multi = _fresh(tracker)
    ids = {f.face_id for f in multi.step(multi_face_frame(0, seq)).faces}
    with pytest.raises(ValueError):
        multi.step(np.zeros((4, 4), np.uint8))
    assert {f.face_id for f in multi.step(multi_face_frame(1, seq)).faces} == ids


def test_appearance_histogram_tells_the_tinted_faces_apart() -> None:
    """The re-identification descriptor: same face close, the other tint further."""
    import cv2

    seq = MultiFaceSequenceConfig(n_frames=2, n_faces=2, swap=False)
    f0, f1 = multi_face_frame(0, seq), multi_face_frame(1, seq)

    def square(index: int, k: int) -> np.ndarray:
        cx, cy = multi_face_centers(index, seq)[k]
        return np.array([[cx - 40, cy - 45], [cx + 40, cy + 45]], np.float32)

    same = cv2.compareHist(appearance_histogram(f0, square(0, 0)),
                           appearance_histogram(f1, square(1, 0)), cv2.HISTCMP_BHATTACHARYYA)
    other = cv2.compareHist(appearance_histogram(f0, square(0, 0)),
                            appearance_histogram(f1, square(1, 1)), cv2.HISTCMP_BHATTACHARYYA)
    assert same < 0.2 < other, (same, other)
    assert appearance_histogram(f0, np.zeros((68, 2), np.float32)) is None


@pytest.mark.parametrize("field,value", [
    ("max_faces", 0), ("search_interval", -1), ("reid_window", -1), ("reid_max_distance", 0.0),
    ("reid_max_appearance", 0.0), ("duplicate_iou", 1.5), ("primary", "nearest"),
])
def test_config_rejects_out_of_range(field: str, value: object) -> None:
    """Every setting is validated with a message naming it."""
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(MultiFaceConfig(), **{field: value})


def test_a_duplicate_track_is_reported_lost_without_parameters(tracker: Tracker) -> None:
    """Two tracks on one face: the younger one ends, as a LOST face without parameters."""
    seq = MultiFaceSequenceConfig(n_frames=3, n_faces=1, swap=False)
    multi = _fresh(tracker)
    first = multi.step(multi_face_frame(0, seq))
    assert [f.face_id for f in first.faces] == [1]
    # a second track started on the same face (as a re-detection could)
    det = tracker.detector.detect(multi_face_frame(1, seq))[0]
    other = multi._take_tracker()
    started = other.start(multi_face_frame(1, seq), det)
    from face3d_ros.pipeline.multi import _box, _Track

    multi._active.append(_Track(2, other, 1, _box(started.landmarks_2d), None))
    result = multi.step(multi_face_frame(2, seq))
    assert [f.face_id for f in result.faces] == [1]
    (gone,) = result.lost
    assert gone.face_id == 2 and gone.result.params is None
    assert gone.result.state == TrackState.LOST and "same face" in gone.result.reason
