# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Face detectors side by side: dlib HOG vs BlazeFace (+ the same dlib 68-point predictor).

On real photos and video frames it measures, per detector: how many faces are found, the
overlap (IoU) with dlib's box of BlazeFace's mapped box and of the box BlazeFaceDetector
returns (``box_from_landmarks`` of the 68 landmarks predicted in the mapped box), the
difference of the 68 landmarks the shape predictor places in either box (mean distance /
inter-ocular distance), the landmark error against the Face Research Lab manual 68-point
annotations (NME, inter-ocular), and the wall time per call (p50 / p95) on full 640x360 video
frames, on 128x128 tracking-crop copies (the tracker's verification) and on frames without a
face.

``--fit`` prints the median offset and scale that map BlazeFace boxes to dlib boxes
(the constants ``_DLIB_OFFSET`` / ``_DLIB_SCALE`` of :mod:`face3d_ros.detection.blazeface`).

Data: ``skimage.data.astronaut()`` always; the real photos and the video of ``../shared/data``
(``--data``) when present (they are not part of the repository).

Usage::

    python benchmarks/bench_detection.py [--data ../shared/data] [--photos 120] [--fit]

Timings on a shared machine are upper bounds; the script prints the load average.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from collections.abc import Iterator

import cv2
import numpy as np


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _interocular(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))


def _read_rgb(path: pathlib.Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def photos(data: pathlib.Path, per_set: int) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(name, rgb, 68 manual landmarks or None)`` for the astronaut and the shared photos."""
    from skimage import data as skdata

    yield "astronaut", np.ascontiguousarray(skdata.astronaut()), None
    frl = sorted((data / "faces" / "frl" / "neutral").glob("*.jpg"))[:per_set]
    if frl:
        from training.builtin_photos import read_pts

        for path in frl:
            pts = path.with_suffix(".pts")
            yield f"frl/{path.name}", _read_rgb(path), read_pts(pts) if pts.is_file() else None
    for folder in ("congress", "fairface-wide"):
        for path in sorted((data / "faces" / folder).glob("*.jpg"))[:per_set]:
            yield f"{folder}/{path.name}", _read_rgb(path), None


def video_frames(path: pathlib.Path, every: int, limit: int) -> list[np.ndarray]:
    """Every ``every``-th frame (RGB) of a video, at most ``limit``."""
    cap = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        index += 1
    cap.release()
    return frames


def _timed(fn, *args) -> tuple[float, object]:  # noqa: ANN001 - any callable
    t0 = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t0) * 1e3, out


def _pct(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  (n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", type=pathlib.Path, default=here.parent / "shared" / "data")
    parser.add_argument("--photos", type=int, default=120, help="photos per shared set")
    parser.add_argument("--video-frames", type=int, default=120)
    parser.add_argument("--fit", action="store_true", help="fit the BlazeFace -> dlib box map")
    args = parser.parse_args(argv)

    from face3d_ros.detection.blazeface import BlazeFaceDetector, dlib_box_from_blazeface
    from face3d_ros.detection.detector import FaceDetector, box_from_landmarks

    print(f"load average before: {os.getloadavg()}")
    dlib_det = FaceDetector()
    blaze = BlazeFaceDetector()
    blaze.detect(np.zeros((128, 128, 3), np.uint8))  # warm-up

    n = found_dlib = found_blaze = 0
    ious, ious_lm, lm_diffs, nme_dlib, nme_blaze = [], [], [], [], []
    fit_rows = []  # (blaze box, dlib box)
    for name, rgb, gt in photos(args.data, args.photos):
        n += 1
        d = dlib_det.detect(rgb)
        raw = blaze.detect_raw(rgb, max_faces=1)
        found_dlib += bool(d)
        found_blaze += bool(raw)
        if gt is not None and gt.shape == (68, 2):
            iod = _interocular(gt)
            if d:
                nme_dlib.append(float(np.linalg.norm(d[0].landmarks - gt, axis=1).mean()) / iod)
            if raw:
                box = dlib_box_from_blazeface(np.asarray(raw[0].box))
                lm = blaze.landmark_predictor.predict(rgb, box)
                nme_blaze.append(float(np.linalg.norm(lm - gt, axis=1).mean()) / iod)
        if not (d and raw):
            continue
        ref = max(d, key=lambda det: _iou(det.box, raw[0].box))
        if _iou(ref.box, raw[0].box) < 0.3:
            print(f"  {name}: detectors disagree (IoU {_iou(ref.box, raw[0].box):.2f})")
            continue
        fit_rows.append((np.asarray(raw[0].box), np.asarray(ref.box)))
        box = dlib_box_from_blazeface(np.asarray(raw[0].box))
        ious.append(_iou(box, ref.box))
        lm = blaze.landmark_predictor.predict(rgb, box)
        ious_lm.append(_iou(box_from_landmarks(lm), ref.box))
        lm_diffs.append(
            float(np.linalg.norm(lm - ref.landmarks, axis=1).mean()) / _interocular(ref.landmarks)
        )
    print(f"photos: {n}; faces found: dlib {found_dlib}, BlazeFace {found_blaze}")
    if ious:
        q = np.percentile(ious, [5, 50])
        print(
            f"IoU(BlazeFace dlib-like box, dlib box): median {q[1]:.3f}, "
            f"5th pct {q[0]:.3f} (n={len(ious)})"
        )
        q = np.percentile(ious_lm, [5, 50])
        print(
            "IoU(box_from_landmarks of the landmarks in it = the returned box, dlib box): "
            f"median {q[1]:.3f}, 5th pct {q[0]:.3f}"
        )
        q = np.percentile(lm_diffs, [50, 95])
        print(
            "68-landmark difference (predictor in either box) / inter-ocular: "
            f"median {q[0]:.4f}, p95 {q[1]:.4f}"
        )
    if nme_dlib or nme_blaze:
        print(
            f"FRL manual landmarks, NME (inter-ocular): dlib box {np.mean(nme_dlib):.4f} "
            f"(n={len(nme_dlib)}), BlazeFace box {np.mean(nme_blaze):.4f} (n={len(nme_blaze)})"
        )
    if args.fit and fit_rows:
        bz = np.array([r[0] for r in fit_rows])
        dl = np.array([r[1] for r in fit_rows])
        side_b = np.maximum(bz[:, 2] - bz[:, 0], bz[:, 3] - bz[:, 1])
        side_d = dl[:, 2] - dl[:, 0]
        cb = 0.5 * (bz[:, :2] + bz[:, 2:])
        cd = 0.5 * (dl[:, :2] + dl[:, 2:])
        offset = np.median((cd - cb) / side_b[:, None], axis=0)
        scale = float(np.median(side_d / side_b))
        res_c = np.abs((cd - cb) / side_b[:, None] - offset)
        print(
            f"fit (median over {len(fit_rows)} faces): _DLIB_OFFSET = [{offset[0]:.3f}, "
            f"{offset[1]:.3f}], _DLIB_SCALE = {scale:.3f}; residual |centre| p50 "
            f"{np.median(res_c):.3f}, |log scale| p50 "
            f"{np.median(np.abs(np.log(side_d / side_b / scale))):.3f}"
        )

    video = args.data / "video" / "WolfgangLanger_Pexels.mp4"
    frames = video_frames(video, 3, args.video_frames) if video.is_file() else []
    if frames:
        t_dlib, t_blaze_raw, t_blaze, t_dlib_crop, t_blaze_crop = [], [], [], [], []
        video_ious, hits_d, hits_b, crop_hits_d, crop_hits_b = [], 0, 0, 0, 0
        for rgb in frames:
            td, d = _timed(dlib_det.detect, rgb)
            tr, raw = _timed(blaze.detect_raw, rgb)
            tb, b = _timed(blaze.detect, rgb)
            t_dlib.append(td)
            t_blaze_raw.append(tr)
            t_blaze.append(tb)
            hits_d += bool(d)
            hits_b += bool(b)
            if d and b:
                video_ious.append(_iou(d[0].box, b[0].box))
                # The tracker's verification: a 128x128 copy of a 1.6x crop around the face.
                lm = d[0].landmarks
                from face3d_ros.geometry.crop import crop_from_points, crop_image

                box = crop_from_points(lm, scale=1.6, image_shape=rgb.shape[:2])
                small = np.ascontiguousarray(
                    crop_image(rgb, box, 128, interpolation=cv2.INTER_AREA)
                )
                t, found = _timed(dlib_det.detect, small)
                t_dlib_crop.append(t)
                crop_hits_d += bool(found)
                t, found = _timed(blaze.detect, small)
                t_blaze_crop.append(t)
                crop_hits_b += bool(found)
        print(
            f"video {video.name}: {len(frames)} frames {frames[0].shape[1]}x"
            f"{frames[0].shape[0]}; faces: dlib {hits_d}, BlazeFace {hits_b}"
        )
        if video_ious:
            print(f"  IoU(BlazeFace, dlib) median {np.median(video_ious):.3f}")
        print(f"  full frame  dlib HOG + predictor:       {_pct(t_dlib)}")
        print(f"  full frame  BlazeFace only:             {_pct(t_blaze_raw)}")
        print(f"  full frame  BlazeFace + predictor:      {_pct(t_blaze)}")
        print(f"  128 crop    dlib HOG + predictor:       {_pct(t_dlib_crop)}")
        print(f"  128 crop    BlazeFace + predictor:      {_pct(t_blaze_crop)}")
        print(
            f"  128 crops with a face found: dlib {crop_hits_d}, BlazeFace {crop_hits_b} "
            f"of {len(t_blaze_crop)}"
        )
        blurred = [cv2.GaussianBlur(f, (0, 0), 25) for f in frames[:40]]
        t_d = [_timed(dlib_det.detect, f)[0] for f in blurred]
        no_face = [_timed(blaze.detect, f) for f in blurred]
        print(f"  no face (blurred frames) dlib:          {_pct(t_d)}")
        print(
            f"  no face (blurred frames) BlazeFace:     {_pct([t for t, _ in no_face])}; "
            f"false detections {sum(bool(r) for _, r in no_face)}/{len(no_face)}"
        )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
