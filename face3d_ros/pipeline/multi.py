# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several faces at once, each with its own tracker state and an id that stays with the person.

ROS-free; every face has its own :class:`~face3d_ros.pipeline.tracker.Tracker` state.

Per frame, :meth:`MultiFaceTracker.step`:

1. advances every running track with its own tracker (tracking CoarseNet from that face's
   previous pose, verification in its crop, as the single-face tracker does);
2. drops a track that converged onto another track's face (landmark boxes overlapping by more
   than ``duplicate_iou``; the younger id goes, into the re-identification pool);
3. looks for new faces with the full-frame detector when no face is tracked (every frame, as the
   single-face tracker does) or, while fewer than ``max_faces`` are tracked, every
   ``search_interval`` frames and on every frame while a face lost within ``reid_window``
   frames may come back; a detection whose centre lies in a tracked face's box, or that
   overlaps it, is that face; each other one (largest first) starts a track;
4. gives a new track the id of a face lost within the last ``reid_window`` frames when it is
   near where that face was (``reid_max_distance`` face sizes) and looks like it (hue/saturation
   histogram of the inner face, Bhattacharyya distance below ``reid_max_appearance``), and a new
   id otherwise. Ids are 1, 2, 3, ... in order of first appearance and never reused for
   another person.

The *primary* face is what a single-face consumer (the node's ``face_params`` topic) follows:
``primary="oldest"`` keeps the face followed until it is lost (a person stepping closer does
not steal it), then takes the longest-tracked remaining face; ``"largest"`` takes the largest
face of each frame. On the frame the primary face is lost the primary result is that LOST
result, as the single-face tracker reports it. With ``max_faces=1`` the primary result is
frame by frame what :class:`~face3d_ros.pipeline.tracker.Tracker` alone returns.

The faces of one frame run one after the other through the same networks (batch 1); the cost
grows linearly with the number of faces (``benchmarks/bench_multi_face.py`` measures it).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from face3d_ros.detection.detector import box_iou
from face3d_ros.pipeline.states import TrackState
from face3d_ros.pipeline.tracker import (
    STAGES,
    Tracker,
    TrackResult,
    detection_area,
    validate_image,
)

__all__ = [
    "PRIMARY_MODES",
    "MultiFaceConfig",
    "MultiFaceTracker",
    "MultiTrackResult",
    "TrackedFace",
    "appearance_histogram",
]

#: Ways to choose the primary face (see the module docstring).
PRIMARY_MODES: tuple[str, ...] = ("oldest", "largest")
#: Histogram bins (hue, saturation) of the appearance descriptor.
_HIST_BINS = (16, 8)
#: Weight of the newest histogram in the running appearance of a face.
_HIST_RATE = 0.2


@dataclass(frozen=True)
class MultiFaceConfig:
    """Settings of multi-face tracking (the per-face tracking is the TrackerConfig's).

    Attributes:
        max_faces: Faces tracked at once (1 = the single-face tracker's behaviour).
        search_interval: While fewer than ``max_faces`` faces are tracked (and at least one
            is), run the full-frame detector for new faces every this many frames (0 = only
            when no face is tracked), and on every frame while a face lost within
            ``reid_window`` frames may come back.
        reid_window: Frames during which a lost face's id can be given back to a face that
            reappears near it and looks like it.
        reid_max_distance: Largest distance between a reappearing face's centre and the lost
            face's last centre, in face sizes (landmark extent).
        reid_max_appearance: Largest Bhattacharyya distance (0 = same, 1 = disjoint) between
            their hue/saturation histograms.
        duplicate_iou: Two tracks whose landmark boxes overlap by more than this
            intersection-over-union follow the same face; the younger one is dropped.
        primary: ``"oldest"`` or ``"largest"`` (see the module docstring).
    """

    max_faces: int = 4
    search_interval: int = 10
    reid_window: int = 30
    reid_max_distance: float = 1.5
    reid_max_appearance: float = 0.5
    duplicate_iou: float = 0.5
    primary: str = "oldest"

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            ValueError: On an out-of-range setting (the message names it).
        """
        if not 1 <= self.max_faces <= 64:
            raise ValueError(f"max_faces must be in [1, 64], got {self.max_faces}")
        if self.search_interval < 0:
            raise ValueError(f"search_interval must be >= 0, got {self.search_interval}")
        if self.reid_window < 0:
            raise ValueError(f"reid_window must be >= 0, got {self.reid_window}")
        if not self.reid_max_distance > 0:
            raise ValueError(f"reid_max_distance must be > 0, got {self.reid_max_distance}")
        if not 0.0 < self.reid_max_appearance <= 1.0:
            raise ValueError(
                f"reid_max_appearance must be in (0, 1], got {self.reid_max_appearance}"
            )
        if not 0.0 < self.duplicate_iou <= 1.0:
            raise ValueError(f"duplicate_iou must be in (0, 1], got {self.duplicate_iou}")
        if self.primary not in PRIMARY_MODES:
            raise ValueError(
                f"primary must be one of {', '.join(PRIMARY_MODES)}, got {self.primary!r}"
            )


@dataclass
class TrackedFace:
    """One face of a frame.

    Attributes:
        face_id: The person's id (1, 2, ...), stable across frames and short occlusions.
        result: That face's :class:`TrackResult` (parameters present for a tracked face; none
            for a face lost on this frame).
        frames_tracked: Frames since this id's track (re)started, 0 on its first frame.
        new_id: True on the first frame of a new id.
        reidentified: True when the track restarted on this frame with a lost face's id.
    """

    face_id: int
    result: TrackResult
    frames_tracked: int = 0
    new_id: bool = False
    reidentified: bool = False


@dataclass
class MultiTrackResult:
    """Outcome of one :meth:`MultiFaceTracker.step`.

    Attributes:
        faces: Faces with a reconstruction on this frame, by ascending id.
        lost: Tracks that ended on this frame (their result has no parameters), by id.
        primary: The primary face's result (see the module docstring); without parameters when
            no face is tracked.
        primary_id: The primary face's id, or None when ``primary`` has no parameters.
        frame_index: Frames stepped before this one.
        timings_ms: Milliseconds per stage (keys of :data:`~face3d_ros.pipeline.tracker.STAGES`),
            summed over the faces, ``total`` the frame's wall time.
    """

    faces: list[TrackedFace]
    lost: list[TrackedFace]
    primary: TrackResult
    primary_id: int | None
    frame_index: int
    timings_ms: dict[str, float] = field(default_factory=dict)


def appearance_histogram(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """Hue/saturation histogram of the inner face (the middle of the landmarks' box).

    Args:
        image: uint8 ``[H, W, 3]`` RGB frame.
        landmarks: ``[68, 2]`` landmark positions in that frame (pixels).

    Returns:
        float32 ``[16, 8]`` histogram normalised to sum 1, or None when the region is empty.
    """
    lo = np.min(landmarks, axis=0)
    hi = np.max(landmarks, axis=0)
    centre, half = (lo + hi) / 2.0, (hi - lo) * 0.3
    h, w = image.shape[:2]
    x0, y0 = (max(int(v), 0) for v in centre - half)
    x1 = min(int(centre[0] + half[0]) + 1, w)
    y1 = min(int(centre[1] + half[1]) + 1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    patch = cv2.resize(image[y0:y1, x0:x1], (32, 32), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(_HIST_BINS), [0, 180, 0, 256])
    total = float(hist.sum())
    return (hist / total).astype(np.float32) if total > 0 else None


def _appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 1.0
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def _add_stage_times(timings: dict[str, float], result: TrackResult) -> None:
    """Add one face tracker's per-stage milliseconds (not its total) to the frame's."""
    for key, value in result.timings_ms.items():
        if key != "total":
            timings[key] += value


def _box(points: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = np.min(points, axis=0), np.max(points, axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _inside(point: tuple[float, float], box: tuple[float, ...]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@dataclass
class _Track:
    face_id: int
    tracker: Tracker
    started: int  # frame index of the (re)start
    box: tuple[float, float, float, float]
    histogram: np.ndarray | None


@dataclass
class _LostFace:
    face_id: int
    frame: int
    centre: tuple[float, float]
    size: float
    histogram: np.ndarray | None


class MultiFaceTracker:
    """Track up to ``config.max_faces`` faces with stable ids (see the module docstring).

    Args:
        tracker: A loaded single-face tracker; its nets, model, detector and settings are
            shared by every face's tracker (each face gets its own state).
        config: Multi-face settings.
    """

    def __init__(self, tracker: Tracker, config: MultiFaceConfig | None = None) -> None:
        """Keep the template tracker; the others are made on demand with its nets."""
        self.config = config or MultiFaceConfig()
        self.template = tracker
        self._free: list[Tracker] = [tracker]
        self._active: list[_Track] = []
        self._lost: list[_LostFace] = []
        self._next_id = 1
        self._primary_id: int | None = None
        self._ever_found = False
        self._frame_index = 0

    @property
    def detector(self) -> Any:
        """The face detector shared by every face's tracker."""
        return self.template.detector

    @property
    def n_tracked(self) -> int:
        """Faces being tracked after the last frame."""
        return len(self._active)

    def warmup(self) -> None:
        """Run every net once (see :meth:`Tracker.warmup`)."""
        self.template.warmup()

    def reset(self) -> None:
        """Forget every face and id history; the next frame starts with face detection."""
        for track in self._active:
            track.tracker.reset()
            self._free.append(track.tracker)
        self._active = []
        self._lost = []
        self._primary_id = None
        self._ever_found = False

    # ------------------------------------------------------------------ helpers

    def _take_tracker(self) -> Tracker:
        if self._free:
            return self._free.pop()
        t = self.template
        return Tracker(t.config, t.model, t.nets, t.detector)

    def _end(self, track: _Track, frame: int, *, remember: bool = True) -> None:
        self._active.remove(track)
        track.tracker.reset()
        self._free.append(track.tracker)
        if self._primary_id == track.face_id:
            self._primary_id = None
        if remember and self.config.reid_window > 0:
            x0, y0, x1, y1 = track.box
            self._lost.append(_LostFace(
                track.face_id, frame, ((x0 + x1) / 2, (y0 + y1) / 2),
                max(x1 - x0, y1 - y0, 1.0), track.histogram,
            ))

    def _update(self, track: _Track, image: np.ndarray, result: TrackResult) -> None:
        """New box; the appearance is refreshed only while no other face overlaps this one."""
        assert result.landmarks_2d is not None
        track.box = _box(result.landmarks_2d)
        if any(box_iou(track.box, o.box) > 0 for o in self._active if o is not track):
            return
        hist = appearance_histogram(image, result.landmarks_2d)
        if hist is None:
            return
        if track.histogram is None:
            track.histogram = hist
        else:
            track.histogram = (1 - _HIST_RATE) * track.histogram + _HIST_RATE * hist

    def _reidentify(self, centre: tuple[float, float], hist: np.ndarray | None) -> int | None:
        """The id of the lost face this one most likely is, or None (then a new id)."""
        cfg = self.config
        best, best_cost = None, np.inf
        for lost in self._lost:
            distance = float(np.hypot(centre[0] - lost.centre[0], centre[1] - lost.centre[1]))
            distance /= lost.size
            appearance = _appearance_distance(hist, lost.histogram)
            if distance > cfg.reid_max_distance or appearance > cfg.reid_max_appearance:
                continue
            cost = distance / cfg.reid_max_distance + appearance / cfg.reid_max_appearance
            if cost < best_cost:
                best, best_cost = lost, cost
        if best is None:
            return None
        self._lost.remove(best)
        return best.face_id

    def _drop_duplicates(self, faces: list[TrackedFace], frame: int) -> list[TrackedFace]:
        """End the younger of two tracks on the same face; returns what was dropped."""
        dropped: list[TrackedFace] = []
        for track in sorted(self._active, key=lambda t: (t.started, t.face_id)):
            if track not in self._active:
                continue
            for other in list(self._active):
                if other is track or (other.started, other.face_id) < (track.started,
                                                                         track.face_id):
                    continue
                if box_iou(track.box, other.box) > self.config.duplicate_iou:
                    entry = next(f for f in faces if f.face_id == other.face_id)
                    faces.remove(entry)
                    # reported as a face lost on this frame: no parameters, state LOST
                    entry.result = dataclasses.replace(
                        entry.result, state=TrackState.LOST, params=None, landmarks_2d=None,
                        vertices=None, coarse_depth=None, displacement=None,
                        reason=f"same face as id {track.face_id}",
                    )
                    dropped.append(entry)
                    self._end(other, frame)
        return dropped

    def _search(
        self, image: np.ndarray, frame: int, faces: list[TrackedFace], timings: dict
    ) -> TrackResult | None:
        """Start tracks on new detections; returns the last failed start's result, if any."""
        t0 = time.perf_counter()
        template = self.template
        detections = template.detector.detect(image)[: template.config.detect_max_faces]
        timings["detect"] += (time.perf_counter() - t0) * 1e3
        failed = None
        for det in sorted(detections, key=detection_area, reverse=True):
            if len(self._active) >= self.config.max_faces:
                break
            centre = ((det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2)
            if any(_inside(centre, t.box) or box_iou(det.box, t.box) > 0.3 for t in self._active):
                continue
            tracker = self._take_tracker()
            result = tracker.start(image, det)
            _add_stage_times(timings, result)
            if not result.has_face:
                tracker.reset()
                self._free.append(tracker)
                failed = result
                continue
            assert result.landmarks_2d is not None
            hist = appearance_histogram(image, result.landmarks_2d)
            box = _box(result.landmarks_2d)
            face_id = self._reidentify(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), hist)
            reidentified = face_id is not None
            if face_id is None:
                face_id, self._next_id = self._next_id, self._next_id + 1
            self._active.append(_Track(face_id, tracker, frame, box, hist))
            faces.append(TrackedFace(face_id, result, 0, new_id=not reidentified,
                                     reidentified=reidentified))
        return failed

    def _choose_primary(
        self, faces: list[TrackedFace], lost: list[TrackedFace], previous: int | None
    ) -> TrackedFace | None:
        for entry in lost:
            if entry.face_id == previous:
                self._primary_id = None
                return entry  # the followed face was lost on this frame: report it LOST
        if not faces:
            self._primary_id = None
            return None
        if self.config.primary == "largest":
            def extent(f: TrackedFace) -> float:
                x0, y0, x1, y1 = _box(f.result.landmarks_2d)
                return max(x1 - x0, y1 - y0)

            chosen = max(faces, key=extent)
        else:
            chosen = next((f for f in faces if f.face_id == previous), None)
            if chosen is None:
                started = {t.face_id: t.started for t in self._active}
                chosen = min(faces, key=lambda f: (started[f.face_id], f.face_id))
        self._primary_id = chosen.face_id
        return chosen

    # ------------------------------------------------------------------ step

    def step(self, image_rgb: np.ndarray) -> MultiTrackResult:
        """Process one frame.

        Args:
            image_rgb: uint8 ``[H, W, 3]`` RGB (float in [0, 1] also accepted).

        Returns:
            The frame's :class:`MultiTrackResult`.

        Raises:
            ValueError: Invalid frame (dtype, channels, zero size, non-finite values); every
                face's state is unchanged.
        """
        image = validate_image(image_rgb)
        t_start = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        frame = self._frame_index
        self._frame_index += 1
        cfg = self.config
        tracked_before = len(self._active)
        previous_primary = self._primary_id

        faces: list[TrackedFace] = []
        lost: list[TrackedFace] = []
        for track in sorted(self._active, key=lambda t: t.face_id):
            result = track.tracker.step(image)
            _add_stage_times(timings, result)
            if result.has_face:
                self._update(track, image, result)
                faces.append(TrackedFace(track.face_id, result, frame - track.started))
            else:
                self._end(track, frame)
                lost.append(TrackedFace(track.face_id, result, frame - track.started))
        lost.extend(self._drop_duplicates(faces, frame))

        failed = None
        # every frame while a lost face may come back, else every search_interval frames
        search_due = bool(self._lost) or (
            cfg.search_interval > 0 and frame % cfg.search_interval == 0
        )
        if tracked_before == 0 or (len(self._active) < cfg.max_faces and search_due):
            failed = self._search(image, frame, faces, timings)
        self._lost = [f for f in self._lost if frame - f.frame <= cfg.reid_window]
        if faces:
            self._ever_found = True

        faces.sort(key=lambda f: f.face_id)
        lost.sort(key=lambda f: f.face_id)
        chosen = self._choose_primary(faces, lost, previous_primary)
        if chosen is not None:
            primary, primary_id = chosen.result, (chosen.face_id if chosen in faces else None)
        else:
            state = TrackState.LOST if self._ever_found else TrackState.INITIALISING
            if failed is not None:
                primary = dataclasses.replace(failed, state=state)
            else:
                primary = TrackResult.without_face(
                    state, "no face detected" if tracked_before == 0 else "no face tracked"
                )
            primary_id = None
        timings["total"] = (time.perf_counter() - t_start) * 1e3
        return MultiTrackResult(faces, lost, primary, primary_id, frame, timings)
