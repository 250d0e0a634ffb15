# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The Tracker and MediaPipe FaceMesh timed side by side on the same real video frames.

For every frame of the video (``../shared/data/video/WolfgangLanger_Pexels.mp4``, 640x360, by
default; ``--video``) the script runs, one after the other on the same frame: MediaPipe
FaceMesh 0.10.21 in tracking mode, MediaPipe FaceMesh in static-image mode, the Tracker with
FineNet and the Tracker coarse-only (each keeps its own tracking state). Alternating per frame
keeps both under the same machine load. ``--faceless N`` inserts N heavily blurred copies of a
frame in the middle of the sequence (the "camera covered" case: frames without a face).

Printed: p50 / p95 wall time per frame for each, the Tracker's frames split by kind (no face,
initialisation from a full-frame detection, tracking frames by the net that ran: the
single-image CoarseNet re-anchoring in the crop (``keyframe_interval`` 1, the default) or the
tracking net) with its per-stage times on tracking frames, the process CPU time
per frame (all threads; robust to other jobs on the machine, which stretch wall times, most of
all for the longer calls), and the ratios Tracker / MediaPipe tracking mode over all frames.

MediaPipe pins numpy < 2, so it runs in its own virtual environment, in a worker process this
script starts (frames go to it through a pipe; it times ``FaceMesh.process`` itself, so the
transfer is not counted). Make that environment once (about 300 MB)::

    python3.11 -m venv ~/.cache/face3d_ros/venv-mediapipe
    ~/.cache/face3d_ros/venv-mediapipe/bin/pip install mediapipe==0.10.21

(another place: ``--mediapipe-python``). Then, from the project environment
(``source tools/env.sh``)::

    python benchmarks/bench_peer.py [--frames 272] [--faceless 30] [--detector blazeface]

The figures are wall times on this machine: when other jobs share the cores they are upper
bounds (the script prints the load average before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np

DEFAULT_MEDIAPIPE_PYTHON = pathlib.Path.home() / ".cache/face3d_ros/venv-mediapipe/bin/python"

#: The worker run by the MediaPipe interpreter: reads ``<u32 h><u32 w><h*w*3 bytes RGB>``
#: frames from stdin, writes one JSON line per frame with the times of both modes.
_WORKER = r"""
import json, struct, sys, time
import numpy as np
import mediapipe as mp

fm = mp.solutions.face_mesh
track = fm.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False)
static = fm.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
out = sys.stdout
out.write(json.dumps({"ready": mp.__version__}) + "\n"); out.flush()
stdin = sys.stdin.buffer
while True:
    head = stdin.read(8)
    if len(head) < 8:
        break
    h, w = struct.unpack("<II", head)
    frame = np.frombuffer(stdin.read(h * w * 3), np.uint8).reshape(h, w, 3)
    res = {}
    for name, mesh in (("mediapipe_tracking", track), ("mediapipe_static", static)):
        t0, c0 = time.perf_counter(), time.process_time()
        r = mesh.process(frame)
        res[name] = (time.perf_counter() - t0) * 1e3
        res[name + "_cpu"] = (time.process_time() - c0) * 1e3
        res[name + "_face"] = r.multi_face_landmarks is not None
    out.write(json.dumps(res) + "\n"); out.flush()
"""


class MediaPipeWorker:
    """MediaPipe FaceMesh in a subprocess of another interpreter."""

    def __init__(self, python: pathlib.Path) -> None:
        """Start the worker and wait for it to be ready.

        Raises:
            FileNotFoundError: The interpreter does not exist (the message says how to make it).
            RuntimeError: The worker failed to start (e.g. mediapipe not installed there).
        """
        if not python.is_file():
            raise FileNotFoundError(
                f"{python} not found; make the MediaPipe environment with:\n"
                f"  python3.11 -m venv {python.parent.parent}\n"
                f"  {python.parent}/pip install mediapipe==0.10.21"
            )
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["GLOG_minloglevel"] = "2"
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self._proc = subprocess.Popen(
            [str(python), "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        line = self._proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the MediaPipe worker ({python}) did not start")
        self.version = json.loads(line)["ready"]

    def run(self, frame: np.ndarray) -> dict[str, Any]:
        """Time both FaceMesh modes on one RGB frame."""
        h, w = frame.shape[:2]
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(struct.pack("<II", h, w) + np.ascontiguousarray(frame).tobytes())
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the MediaPipe worker died")
        return json.loads(line)

    def close(self) -> None:
        """Stop the worker."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def read_frames(
    video: pathlib.Path, limit: int, faceless: int
) -> tuple[list[np.ndarray], list[bool]]:
    """RGB frames of the video (at most ``limit``) with ``faceless`` blurred frames inserted."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    if not frames:
        raise FileNotFoundError(f"no frames read from {video}")
    has_face = [True] * len(frames)
    if faceless:
        mid = len(frames) // 2
        blurred = np.ascontiguousarray(cv2.GaussianBlur(frames[mid], (0, 0), 25))
        frames[mid:mid] = [blurred] * faceless
        has_face[mid:mid] = [False] * faceless
    return frames, has_face


def _pct(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    p50, p95 = np.percentile(values, [50, 95])
    return float(p50), float(p95)


def _kind(result: Any) -> str:
    """The kind of a Tracker frame: no face, initialisation or tracking (by the net that ran)."""
    if not result.has_face:
        return "no face"
    if result.state.name != "TRACKING":
        return "initialisation"
    # keyframe_interval 1 (the default) re-anchors with the single-image net on every
    # tracking frame; 0 runs the tracking net (drift re-anchors then run both nets).
    kind = "tracking, single-image" if result.reinitialised else "tracking, tracking net"
    # verify_interval > 1: frames without the detector check in the crop are counted apart
    return kind if result.timings_ms.get("detect", 0.0) > 0 else f"{kind}, unverified"


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns 0 (1 when MediaPipe cannot be started)."""
    here = pathlib.Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--video",
        type=pathlib.Path,
        default=here.parent / "shared" / "data" / "video" / "WolfgangLanger_Pexels.mp4",
    )
    parser.add_argument("--frames", type=int, default=272, help="video frames to use")
    parser.add_argument("--faceless", type=int, default=30, help="blurred frames inserted")
    parser.add_argument("--detector", default=None, help="blazeface | dlib (default: config)")
    parser.add_argument("--threads", type=int, default=2, help="Tracker inference threads")
    parser.add_argument(
        "--weights", type=pathlib.Path, default=None, help="weights folder (default: shipped)"
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="Coarse/Tracking nets' precision (int8: python -m face3d_ros.runtime.quantize)",
    )
    parser.add_argument(
        "--fine-precision", choices=("fp32", "int8"), default=None, help="FineNet's, if other"
    )
    parser.add_argument(
        "--keyframe-interval",
        type=int,
        default=None,
        help="TrackerConfig.keyframe_interval (default: the Tracker's, 1 = the single-image "
        "CoarseNet on every tracking frame; 0 = the tracking net)",
    )
    parser.add_argument(
        "--tracker-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other TrackerConfig field (repeatable), e.g. --tracker-set verify_interval=3 "
        "--tracker-set keyframe_on_detection=false",
    )
    parser.add_argument("--mediapipe-python", type=pathlib.Path, default=DEFAULT_MEDIAPIPE_PYTHON)
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    from face3d_ros.pipeline import Tracker, TrackerConfig
    from training.benchmark_real.cli import tracker_overrides

    try:
        settings = tracker_overrides(args.tracker_set)
    except ValueError as exc:
        parser.error(str(exc))

    try:
        worker = MediaPipeWorker(args.mediapipe_python)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"bench_peer: {exc}", file=sys.stderr)
        return 1
    frames, has_face = read_frames(args.video, args.frames, args.faceless)
    extra: dict[str, Any] = {"precision": args.precision, "fine_precision": args.fine_precision}
    if args.detector is not None:
        extra["detector"] = args.detector
    if args.keyframe_interval is not None:
        extra["keyframe_interval"] = args.keyframe_interval
    extra.update(settings)
    fine = Tracker.load(TrackerConfig(threads=args.threads, use_fine=True, **extra), args.weights)
    coarse = Tracker.load(
        TrackerConfig(threads=args.threads, use_fine=False, **extra),
        args.weights,
        detector=fine.detector,
    )
    for tracker in (fine, coarse):
        tracker.warmup()
    worker.run(frames[0])  # MediaPipe warm-up (graph start)
    worker.run(frames[0])
    for tracker in (fine, coarse):  # and the Tracker's: first detection, JIT
        tracker.step(frames[0])
        tracker.step(frames[1])
        tracker.reset()

    load_before = os.getloadavg()
    times: dict[str, list[float]] = {
        "mediapipe_tracking": [],
        "mediapipe_static": [],
        "tracker_fine": [],
        "tracker_coarse": [],
    }
    by_kind: dict[str, dict[str, list[float]]] = {"tracker_fine": {}, "tracker_coarse": {}}
    stages: dict[str, dict[str, list[float]]] = {"tracker_fine": {}, "tracker_coarse": {}}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    mp_found = 0
    for frame in frames:
        mp_res = worker.run(frame)
        times["mediapipe_tracking"].append(mp_res["mediapipe_tracking"])
        times["mediapipe_static"].append(mp_res["mediapipe_static"])
        cpu["mediapipe_tracking"].append(mp_res["mediapipe_tracking_cpu"])
        cpu["mediapipe_static"].append(mp_res["mediapipe_static_cpu"])
        mp_found += bool(mp_res["mediapipe_tracking_face"])
        for name, tracker in (("tracker_fine", fine), ("tracker_coarse", coarse)):
            t0, c0 = time.perf_counter(), time.process_time()
            result = tracker.step(frame)
            ms = (time.perf_counter() - t0) * 1e3
            times[name].append(ms)
            cpu[name].append((time.process_time() - c0) * 1e3)
            by_kind[name].setdefault(_kind(result), []).append(ms)
            if _kind(result).startswith("tracking"):
                for stage, value in result.timings_ms.items():
                    stages[name].setdefault(stage, []).append(value)
    worker.close()
    load_after = os.getloadavg()

    video_frames = sum(has_face)
    print(
        f"bench_peer: {args.video.name}, {video_frames} video frames "
        f"{frames[0].shape[1]}x{frames[0].shape[0]} + {len(frames) - video_frames} blurred "
        f"(no face); MediaPipe {worker.version}; Tracker detector "
        f"{fine.config.detector}, {args.threads} threads, precision {args.precision}"
        f"{'' if args.fine_precision is None else f' (FineNet {args.fine_precision})'}, "
        f"keyframe_interval {fine.config.keyframe_interval}"
        + "".join(f", {k} {v}" for k, v in settings.items())
    )
    print(f"load average before {load_before}, after {load_after} (2 cores; shared = upper bounds)")
    figures: dict[str, Any] = {
        "load_before": load_before,
        "load_after": load_after,
        "tracker_settings": settings,
    }
    for name, values in times.items():
        p50, p95 = _pct(values)
        figures[name] = {"p50": p50, "p95": p95, "n": len(values)}
        c50 = float(np.median(cpu[name]))
        figures[name]["cpu_p50"] = c50
        print(
            f"  {name:20s} all frames      p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  (n={len(values)})"
            f"  CPU p50 {c50:6.2f} ms"
        )
        for kind, kv in sorted(by_kind.get(name, {}).items()):
            k50, k95 = _pct(kv)
            figures[name][kind] = {"p50": k50, "p95": k95, "n": len(kv)}
            print(f"  {'':20s} {kind:15s} p50 {k50:7.2f} ms  p95 {k95:7.2f} ms  (n={len(kv)})")
        if stages.get(name):
            parts = ", ".join(
                f"{stage} {np.median(v):.1f}" for stage, v in stages[name].items() if np.median(v)
            )
            figures[name]["tracking_stage_p50_ms"] = {
                stage: float(np.median(v)) for stage, v in stages[name].items()
            }
            print(f"  {'':20s} tracking frames, stage p50 (ms): {parts}")
    print(f"  MediaPipe tracking mode found a face on {mp_found}/{len(frames)} frames")
    base = figures["mediapipe_tracking"]["p50"]
    for name in ("tracker_fine", "tracker_coarse"):
        ratio = figures[name]["p50"] / base
        figures[name]["ratio_to_mediapipe_tracking_p50"] = ratio
        cpu_ratio = figures[name]["cpu_p50"] / figures["mediapipe_tracking"]["cpu_p50"]
        figures[name]["cpu_ratio_to_mediapipe_tracking_p50"] = cpu_ratio
        print(
            f"  ratio {name} / mediapipe_tracking (p50, all frames): wall {ratio:.1f}x, "
            f"CPU time {cpu_ratio:.1f}x"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
