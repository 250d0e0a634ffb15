# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage "prepare": detect the face of each photo, give it context, write a prepared copy.

For each photo ``<name>`` of a source, into the ``photos`` folder of the cache:

* ``<name>.jpg``: the photo, extended by :func:`~training.data_engine.context.pad_with_context`
  where the synthesis crop around the face (``context_scale`` x the landmarks' extent) reaches
  outside it (the tight FairFace crops), otherwise unchanged (re-encoded as JPEG, quality 95);
* ``<name>.pts``: the 68 dlib landmarks in that copy's pixels (iBUG format, 1-based), which the
  fitting stage uses (``training.inverse_render --use-pts``) instead of detecting again;
* ``<name>.prep.json``: the original path, the padding, the detection score.

The ``.jpg`` is renamed into place last, so an interrupted photo is simply redone. A photo
without a face is recorded with its reason; faces smaller than ``min_eye_px`` (outer eye-corner
distance) are recorded as too small.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

import numpy as np

from training.data_engine.context import needed_padding, pad_with_context

__all__ = [
    "PrepareConfig",
    "Preparer",
    "is_prepared",
    "prepared_yaw_deg",
    "prepare_job",
    "worker_init",
    "write_pts",
]


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Settings of the prepare stage.

    Attributes:
        context_scale: The prepared photo contains the square of this many times the
            landmarks' longer extent around their centre (the synthesis crops are 1.6x, with
            jitter and re-posing on top).
        retry_pad: When no face is found, detect again on a copy extended by this fraction of
            the side on every side (dlib's HOG window misses faces that touch the border).
        min_eye_px: Smallest accepted outer eye-corner distance (pixels of the photo).
        jpeg_quality: Quality of the prepared JPEG.
    """

    context_scale: float = 2.2
    retry_pad: float = 0.25
    min_eye_px: float = 24.0
    jpeg_quality: int = 95


def write_pts(path: pathlib.Path, points: np.ndarray) -> None:
    """Write ``[68, 2]`` 0-based pixels as an iBUG ``.pts`` file (1-based)."""
    lines = ["version: 1", f"n_points: {len(points)}", "{"]
    lines += [f"{u + 1.0:.3f} {v + 1.0:.3f}" for u, v in np.asarray(points, np.float64)]
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def prepared_yaw_deg(out_dir: pathlib.Path, name: str, lm3d: np.ndarray) -> float:
    """Head yaw (degrees) of a prepared photo: PnP of the model landmarks to its ``.pts``.

    The benchmark's head-pose reference (``training.benchmark_real.headpose.pnp_pose``: 51
    inner points, focal 2.5 image sides), so that a selection by yaw means what the benchmark
    measures.

    Args:
        out_dir: The prepared photos' folder.
        name: The photo's name.
        lm3d: ``[68, 3]`` model landmarks (mm), e.g. the mean face's.

    Raises:
        FileNotFoundError: The photo is not prepared.
        RuntimeError: OpenCV finds no pose.
    """
    from training.benchmark_real.headpose import pnp_pose
    from training.builtin_photos import read_pts

    rec = json.loads((out_dir / f"{name}.prep.json").read_text())
    points = read_pts(out_dir / f"{name}.pts")
    return float(np.degrees(pnp_pose(lm3d, points, tuple(rec["size"]))[1]))


def is_prepared(out_dir: pathlib.Path, name: str) -> bool:
    """True when ``<name>.jpg`` (written last) exists in ``out_dir``."""
    return (out_dir / f"{name}.jpg").is_file()


class Preparer:
    """Prepares photos one at a time (one instance per process: it holds a dlib detector).

    Args:
        out_dir: The cache's ``photos`` folder.
        cfg: Settings.
        predictor: dlib 68-point predictor path (default: the system one).
    """

    def __init__(
        self, out_dir: pathlib.Path, cfg: PrepareConfig | None = None, predictor: str | None = None
    ) -> None:
        """Load the detector."""
        from face3d_ros.detection import FaceDetector

        self.out_dir = pathlib.Path(out_dir)
        self.cfg = cfg or PrepareConfig()
        self.detector = FaceDetector(predictor)

    def _detect(
        self, rgb: np.ndarray, aligned_box: float | None
    ) -> tuple[Any, tuple[int, int], str] | None:
        """Best detection, the ``(top, left)`` offset of the image it was found in, its method."""
        from face3d_ros.detection import Detection

        dets = self.detector.detect(rgb)
        if dets:
            return dets[0], (0, 0), "dlib"
        h, w = rgb.shape[:2]
        p = int(round(self.cfg.retry_pad * max(h, w)))
        padded = pad_with_context(rgb, (p, p, p, p))
        dets = self.detector.detect(padded)
        if dets:
            return dets[0], (p, p), "dlib_padded"
        if aligned_box is None:
            return None
        half = 0.5 * aligned_box * min(h, w)
        box = (0.5 * w - half, 0.5 * h - half, 0.5 * w + half, 0.5 * h + half)
        lms = self.detector.landmark_predictor.predict(np.ascontiguousarray(rgb), box)
        return Detection(box=box, landmarks=lms, score=0.0), (0, 0), "aligned_box"

    def prepare(
        self, name: str, path: pathlib.Path, aligned_box: float | None = None
    ) -> dict[str, Any]:
        """Prepare one photo.

        Args:
            name: Output name.
            path: The photo.
            aligned_box: See :attr:`~training.data_engine.sources.PhotoSource.aligned_box`.

        Returns:
            A record: ``name``, ``source``, ``status`` (``"ok"`` or a rejection reason:
            ``"unreadable"``, ``"no_face"``, ``"face_too_small"``), and for ``"ok"`` the
            padding ``(top, bottom, left, right)``, the detection score and the sizes.
        """
        import cv2

        rec: dict[str, Any] = {"name": name, "source": str(path)}
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            return {**rec, "status": "unreadable"}
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        found = self._detect(rgb, aligned_box)
        if found is None:
            return {**rec, "status": "no_face"}
        det, (off_y, off_x), method = found
        lms = det.landmarks.astype(np.float64) - np.array([off_x, off_y], np.float64)
        eye = float(np.linalg.norm(lms[45] - lms[36]))
        if eye < self.cfg.min_eye_px:
            return {**rec, "status": "face_too_small", "eye_px": round(eye, 1)}
        top, bottom, left, right = needed_padding(lms, rgb.shape, self.cfg.context_scale)
        seed = int.from_bytes(name.encode()[-4:].rjust(4, b"\0"), "little")
        out = pad_with_context(rgb, (top, bottom, left, right), seed=seed)
        lms_out = lms + np.array([left, top], np.float64)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp_jpg = self.out_dir / f".{name}.jpg.tmp"
        ok, buf = cv2.imencode(
            ".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality]
        )
        if not ok:
            raise RuntimeError(f"{name}: JPEG encoding failed")
        tmp_jpg.write_bytes(buf.tobytes())
        write_pts(self.out_dir / f"{name}.pts", lms_out)
        rec.update(
            status="ok",
            pad=[top, bottom, left, right],
            score=round(float(det.score), 3),
            landmarks_from=method,
            original_size=[int(rgb.shape[0]), int(rgb.shape[1])],
            size=[int(out.shape[0]), int(out.shape[1])],
            eye_px=round(eye, 1),
        )
        (self.out_dir / f"{name}.prep.json").write_text(json.dumps(rec) + "\n")
        os.replace(tmp_jpg, self.out_dir / f"{name}.jpg")
        return rec


_WORKER: Preparer | None = None


def worker_init(out_dir: str) -> None:
    """Pool initializer: one :class:`Preparer` (one dlib detector) per worker process."""
    global _WORKER  # noqa: PLW0603 - per-process state of a multiprocessing pool
    import cv2

    cv2.setNumThreads(1)
    _WORKER = Preparer(pathlib.Path(out_dir))


def prepare_job(job: tuple[str, str, float | None]) -> dict[str, Any]:
    """Pool task: ``(name, path, aligned_box)`` -> the record of :meth:`Preparer.prepare`.

    Any exception becomes a record with status ``"error"`` (one bad photo must not stop the
    stage).
    """
    name, path, aligned = job
    if _WORKER is None:
        raise RuntimeError("prepare_job called outside a pool initialised by worker_init")
    try:
        return _WORKER.prepare(name, pathlib.Path(path), aligned)
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "source": path, "status": "error", "message": repr(exc)}
