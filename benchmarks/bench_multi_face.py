# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Per-frame time of multi-face tracking for 1, 2 and 4 faces (issue 14).

Runs :class:`~face3d_ros.pipeline.multi.MultiFaceTracker` exactly as the node builds it
(:func:`face3d_ros.node.tracking.load_tracker` and
:func:`~face3d_ros.node.parameters.multi_face_config` on the node's default parameters, so
``max_faces`` 4, ``search_interval`` 10, ``verify_interval`` 1, the default detector and the
shipped nets; ``threads`` and ``use_fine`` set from the command line) on the composited
multi-face sample sequence (:func:`face3d_ros.sample_data.multi_face_frame`, 640x480,
``swap=False``: every face stays in its place with a small sway). Each configuration first
steps ``--warmup`` frames (net warm-up, the faces' initialisation frames), then times
``--frames`` frames and prints:

* p50 / p95 wall time of ``MultiFaceTracker.step`` per frame, the process CPU time per frame
  (all threads; on a loaded machine the wall time mostly measures the other processes, the CPU
  time the work), and the per-face cost ``p50 / n faces``;
* the faces tracked per frame (min / median / max and the frames on which all ``n`` were
  tracked), so a reader sees that every face was tracked while timed;
* unless ``--no-outputs``: the build time of every per-frame output
  (:class:`~face3d_ros.node.frame_outputs.FrameOutputs`, every output wanted, as the bag replay
  asks for them; not counted in the step time), per stage.

The faces of one frame run one after the other through the same nets at batch 1, so the cost
grows linearly with the number of faces.

Usage (after ``source tools/env.sh``)::

    python benchmarks/bench_multi_face.py --frames 60
    python benchmarks/bench_multi_face.py --faces 1,2 --fine off --frames 20   # quick run

The script prints its command line, the machine (CPUs, affinity, load average before and
after) and the weights it used.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Output build stages reported by FrameOutputs.build.
OUTPUT_STAGES = ("face_params", "depth", "mesh", "overlay", "tf")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_faces(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``.

    Args:
        text: Comma-separated face counts, each in [1, 4] (the sample sequence's range).

    Returns:
        The counts.

    Raises:
        argparse.ArgumentTypeError: Not a list of integers in [1, 4].
    """
    try:
        counts = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not counts or any(not 1 <= n <= 4 for n in counts):
        raise argparse.ArgumentTypeError(f"face counts must be in [1, 4], got {text!r}")
    return counts


def run_configuration(
    multi: Any,
    frames: list[np.ndarray],
    warmup: int,
    outputs: Any | None = None,
    build_args: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """Step the frames, timing the frames after the first ``warmup``.

    Args:
        multi: A fresh :class:`~face3d_ros.pipeline.multi.MultiFaceTracker`.
        frames: uint8 ``[H, W, 3]`` RGB frames.
        warmup: Frames stepped (and built) first, untimed.
        outputs: A :class:`~face3d_ros.node.frame_outputs.FrameOutputs`, or None to skip the
            output build.
        build_args: ``(header, size, params, intrinsics)`` for ``outputs.build``.

    Returns:
        ``wall_ms``, ``cpu_ms`` (per timed frame), ``faces`` (faces tracked per timed frame),
        ``stages`` (per timed frame: the tracker's ``timings_ms``) and ``build_ms`` (per timed
        frame: output build ms per stage plus ``total``; empty without ``outputs``).
    """
    wall, cpu, faces, stages, build = [], [], [], [], []
    for index, image in enumerate(frames):
        t, c = time.perf_counter(), time.process_time()
        result = multi.step(image)
        dt, dc = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
        built: dict[str, float] = {}
        if outputs is not None:
            header, size, params, intrinsics = build_args
            t = time.perf_counter()
            outputs.build(result, image, header, size, params, intrinsics, lambda _: True, built)
            built = {k: v * 1e3 for k, v in built.items()}
            built["total"] = (time.perf_counter() - t) * 1e3
        if index < warmup:
            continue
        wall.append(dt)
        cpu.append(dc)
        faces.append(len(result.faces))
        stages.append(result.timings_ms)
        if built:
            build.append(built)
    return {"wall_ms": wall, "cpu_ms": cpu, "faces": faces, "stages": stages, "build_ms": build}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: Command line (default ``sys.argv[1:]``).

    Returns:
        Exit status (1 when a configuration did not track all its faces on some timed frame).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--faces",
        type=parse_faces,
        default=(1, 2, 4),
        help="comma-separated face counts, each 1..4 (default 1,2,4)",
    )
    parser.add_argument("--frames", type=int, default=60, help="timed frames per configuration")
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed frames stepped first per configuration"
    )
    parser.add_argument("--threads", type=int, default=2, help="inference threads (node: threads)")
    parser.add_argument(
        "--fine",
        choices=("off", "on", "both"),
        default="both",
        help="FineNet off, on or both (default)",
    )
    parser.add_argument("--detector", default=None, help="blazeface | dlib (default: the node's)")
    parser.add_argument(
        "--no-outputs",
        action="store_true",
        help="skip the FrameOutputs build (needs the ROS message packages)",
    )
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--frames must be >= 1, --warmup >= 0, --threads >= 1")

    from face3d_ros.node.parameters import PARAMETERS, NodeParams, multi_face_config
    from face3d_ros.node.tracking import load_tracker
    from face3d_ros.pipeline import MultiFaceTracker
    from face3d_ros.runtime import default_weights_dir
    from face3d_ros.sample_data import MultiFaceSequenceConfig, multi_face_frame

    base = NodeParams(**{p.name: p.default for p in PARAMETERS})
    base = dataclasses.replace(base, threads=args.threads)
    if args.detector is not None:
        base = dataclasses.replace(base, detector=args.detector)
    fine_modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.fine]

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print("face3d_ros multi-face benchmark")
    print(f"  command : python benchmarks/bench_multi_face.py {shlex.join(sys.argv[1:])}")
    print(
        f"  machine : {_cpu_name()}, {os.cpu_count()} CPUs ({affinity} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    print(f"  loadavg : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (before)")
    print(f"  weights : {base.weights_dir or default_weights_dir()} (node default: shipped)")
    print(
        f"  tracker : node defaults (max_faces {base.max_faces}, search_interval "
        f"{base.search_interval}, verify_interval {base.verify_interval}, detector "
        f"{base.detector}), {args.threads} threads, batch 1, faces one after another"
    )
    print(
        f"  frames  : {args.warmup} warm-up + {args.frames} timed per configuration, 640x480, "
        "composited sample faces, swap=False"
    )

    build_args: tuple[Any, ...] = ()
    if not args.no_outputs:
        from std_msgs.msg import Header

        from face3d_ros.node.builders import ModelInfo, choose_intrinsics
        from face3d_ros.node.frame_outputs import FrameOutputs

    summary = []
    status = 0
    for use_fine in fine_modes:
        p = dataclasses.replace(base, use_fine=use_fine)
        tracker, model_data = load_tracker(p)
        tracker.warmup()
        label = "coarse + FineNet" if use_fine else "coarse only"
        for n in args.faces:
            seq = MultiFaceSequenceConfig(n_frames=args.warmup + args.frames, n_faces=n, swap=False)
            frames = [multi_face_frame(i, seq) for i in range(seq.n_frames)]
            tracker.reset()
            multi = MultiFaceTracker(tracker, multi_face_config(p))
            outputs = None
            if not args.no_outputs:
                outputs = FrameOutputs(ModelInfo.from_model_data(model_data))
                size = (seq.width, seq.height)
                header = Header(frame_id="camera_color_optical_frame")
                cam = choose_intrinsics(None, seq.width, seq.height, p.assumed_focal_px)[0]
                build_args = (header, size, p, lambda cam=cam: cam)
            r = run_configuration(multi, frames, args.warmup, outputs, build_args)
            all_tracked = sum(1 for k in r["faces"] if k == n)
            if all_tracked != len(r["faces"]):
                status = 1
            summary.append((label, n, r, all_tracked))
            stage_p50 = {
                k: _pct([s.get(k, 0.0) for s in r["stages"]], 50)
                for k in r["stages"][0]
                if k != "total"
            }
            parts = ", ".join(f"{k} {v:.1f}" for k, v in stage_p50.items() if v > 0.05)
            print(
                f"\n== {label}, {n} face{'s' if n > 1 else ''}: step p50 "
                f"{_pct(r['wall_ms'], 50):.1f} ms; stage p50 (summed over faces, ms): {parts}"
            )
            if r["build_ms"]:
                b = r["build_ms"]
                print(
                    "   outputs built (every output wanted), p50 ms: "
                    + ", ".join(
                        f"{k} {_pct([x[k] for x in b], 50):.2f}" for k in (*OUTPUT_STAGES, "total")
                    )
                )

    print(
        f"\nsummary ({args.frames} timed frames each; wall = MultiFaceTracker.step, "
        "cpu = process CPU time, all threads)"
    )
    head = (
        f"  {'nets':<17}{'faces':>5}{'p50 ms':>9}{'p95 ms':>9}{'cpu p50':>9}"
        f"{'per face':>10}{'tracked/frame':>15}{'all tracked':>13}"
    )
    if not args.no_outputs:
        head += f"{'outputs p50':>13}"
    print(head)
    for label, n, r, all_tracked in summary:
        p50 = _pct(r["wall_ms"], 50)
        k = r["faces"]
        line = (
            f"  {label:<17}{n:>5}{p50:>9.1f}{_pct(r['wall_ms'], 95):>9.1f}"
            f"{_pct(r['cpu_ms'], 50):>9.1f}{p50 / n:>10.1f}"
            f"{f'{min(k)}/{int(np.median(k))}/{max(k)}':>15}"
            f"{f'{all_tracked}/{len(k)}':>13}"
        )
        if r["build_ms"]:
            line += f"{_pct([x['total'] for x in r['build_ms']], 50):>13.1f}"
        print(line)
    print(
        "  (per face = p50 / faces; tracked/frame = min/median/max faces tracked on a timed "
        "frame; outputs = FrameOutputs.build, not in the step time)"
    )
    print(f"  loadavg after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if status:
        print("NOTE: some timed frames did not track every face (see 'all tracked')")
    return status


if __name__ == "__main__":
    sys.exit(main())
