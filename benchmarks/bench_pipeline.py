# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Per-stage and end-to-end latency of the tracker on a fixed number of CPU cores.

Runs the ROS-free :class:`~face3d_ros.pipeline.Tracker` on the synthetic smooth-motion sample
sequence (:mod:`face3d_ros.sample_data`, the astronaut photo moved along a similarity-transform
trajectory) twice, coarse-only and coarse + FineNet, and prints p50 / p95 per stage over the
tracking frames (frames whose parameters come from the tracking CoarseNet; initialisation and
re-anchor frames are listed separately), then each net alone. Besides wall times it prints the
process CPU time per frame / per net call ("cpu", all threads): on a loaded machine the wall
times mostly measure the other processes, the CPU time measures the work.

Weights: the package's shipped ``face3d_ros/weights`` when present; otherwise (or with
``--untrained``) freshly exported UNTRAINED nets (zero heads -> mean face), which is labelled in
the output: their latency is the real latency, their reconstructions are meaningless.
Precision: ``fp32`` (the exported nets), ``int8`` (static INT8 quantization, see
:mod:`face3d_ros.runtime.quantize`; made in a temporary directory when the weights directory has
no ``*.int8.onnx``) or ``both`` (default).

Usage::

    nice python benchmarks/bench_pipeline.py --cores 2 --frames 150
    python benchmarks/bench_pipeline.py --untrained --model synthetic   # quick smoke run

Timings on a shared machine are noisy: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Tracking-frame p50 targets of issue 13 (README, "Speed against the targets").
TARGET_FINE_MS = 18.0
TARGET_COARSE_MS = 10.0


def export_untrained_nets(out_dir: Path, model_data: Any, crop_scale: float | None = None) -> Path:
    """Export untrained CoarseNet / TrackingNet / FineNet with sensible output means.

    The zero-initialised heads make each net output its de-normalisation mean: the mean face
    framed as the tracker frames faces (:func:`face3d_ros.pipeline.framing.canonical_crop_pose`),
    zero pose deltas, ambient lighting, zero displacement.

    Args:
        out_dir: Destination directory (created).
        model_data: FaceModelData the nets are for.
        crop_scale: Crop scale written into the nets' contracts and used for the means (None =
            the default contract's).

    Returns:
        ``out_dir`` holding ``coarse/tracking/fine.onnx`` + ``.json`` sidecars.
    """
    import torch

    from face3d_ros.geometry.sh import default_gamma
    from face3d_ros.nets import CoarseNet, FineNet, TrackingNet
    from face3d_ros.nets.contract import DEFAULT_CONTRACT
    from face3d_ros.pipeline.framing import canonical_crop_pose
    from training.export import export_onnx

    torch.manual_seed(0)
    n_id, n_exp, n_alb = model_data.n_id, model_data.n_exp, model_data.n_alb
    c_mean = np.zeros(n_id + n_exp + 6, np.float32)
    c = {k: DEFAULT_CONTRACT[k] for k in ("coarse", "tracking", "fine")}
    if crop_scale is not None:
        c = {k: v.replace(crop_scale=crop_scale) for k, v in c.items()}
    c_mean[-6:] = canonical_crop_pose(
        model_data, c["coarse"].input_size, crop_scale=c["coarse"].crop_scale
    )
    t_mean = np.zeros(n_id + n_exp + n_alb + 33, np.float32)
    t_mean[n_id + n_exp + n_alb : n_id + n_exp + n_alb + 27] = default_gamma()
    note = {"command": "benchmarks/bench_pipeline.py export_untrained_nets (UNTRAINED)"}
    nets = {
        "coarse": CoarseNet(n_id, n_exp, c_mean, np.ones_like(c_mean), contract=c["coarse"]),
        "tracking": TrackingNet(
            n_id, n_exp, n_alb, t_mean, np.ones_like(t_mean), contract=c["tracking"]
        ),
        "fine": FineNet(contract=c["fine"]),
    }
    for name, net in nets.items():
        export_onnx(
            net,
            out_dir / f"{name}.onnx",
            model=model_data,
            training=note,
            check_batch=1,
            overwrite=True,
        )
    return out_dir


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _run(tracker: Any, frames: list[np.ndarray]) -> tuple[list[dict], dict[str, int], list[dict]]:
    """Step all frames; return tracking-frame timings, state counts and init-frame timings.

    Tracking frames are the TRACKING ones, whichever net ran in the crop (the single-image
    CoarseNet re-anchoring with ``keyframe_interval`` 1, else the tracking net); initialisation
    frames are the INITIALISING ones (full-frame detection + single-image CoarseNet).
    """
    tracker.reset()
    tracking, init = [], []
    counts: dict[str, int] = {}
    for image in frames:
        c0 = time.process_time()
        r = tracker.step(image)
        r.timings_ms = {**r.timings_ms, "cpu": (time.process_time() - c0) * 1e3}
        key = r.state.name + (" (re-init)" if r.reinitialised else "")
        counts[key] = counts.get(key, 0) + 1
        if r.state.name == "TRACKING":
            tracking.append(r.timings_ms)
        elif r.state.name == "INITIALISING" and r.reinitialised:
            init.append(r.timings_ms)
    return tracking, counts, init


def _table(title: str, rows: list[dict], stages: tuple[str, ...]) -> None:
    print(f"\n{title}  (n = {len(rows)} frames)")
    print(f"  {'stage':<10}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for s in stages:
        vals = [r[s] for r in rows]
        if not vals or max(vals) == 0.0:
            continue
        print(f"  {s:<10}{_pct(vals, 50):>9.2f}{_pct(vals, 95):>9.2f}{np.mean(vals):>9.2f}")


def _bench_net(backend: Any, repeats: int) -> tuple[float, float, float, float]:
    """``(min, p50, p95)`` wall ms and the median process CPU ms (all threads) per call."""
    x = np.random.default_rng(0).random((1, *backend.io.input_shape), dtype=np.float32)
    backend.run({backend.io.input_name: x})
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        backend.run({backend.io.input_name: x})
        times.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return min(times), _pct(times, 50), _pct(times, 95), _pct(cpu, 50)


def _make_int8(wdir: Path, model_data: Any, detector: Any, frames: list, threads: int) -> Path:
    """Quantize the fp32 nets of ``wdir`` into a temporary copy (calibrated on ``frames``)."""
    from face3d_ros.pipeline import Tracker
    from face3d_ros.runtime import NetBundle
    from face3d_ros.runtime.quantize import (
        calibration_tracker_config,
        collect_calibration_inputs,
        quantize_onnx,
    )

    out = Path(tempfile.mkdtemp(prefix="face3d_int8_"))
    for name in ("coarse", "tracking", "fine"):
        for suffix in (".onnx", ".json"):
            shutil.copy(wdir / f"{name}{suffix}", out / f"{name}{suffix}")
    nets = NetBundle.load(out, threads=threads, model=model_data)
    tracker = Tracker(calibration_tracker_config(threads=threads), nets.model, nets, detector)
    recorded = collect_calibration_inputs(tracker, frames[:60])
    for name in ("coarse", "tracking", "fine"):
        side = quantize_onnx(out / f"{name}.onnx", recorded[name], calibration_note="benchmark")
        q = side["quantization"]
        print(
            f"  quantized {name}: {q['calibration_samples']} inputs, max |int8 - fp32| "
            f"{q['max_abs_diff']:.4g} (max |fp32| {q['max_abs_ref']:.4g})"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark.

    Args:
        argv: Command line (default ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="weights dir (default: shipped)")
    parser.add_argument(
        "--untrained", action="store_true", help="use freshly exported UNTRAINED nets"
    )
    parser.add_argument("--model", default="default", help="'default', 'synthetic' or a .npz path")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--cores", type=int, default=2, help="pin the process to this many cores")
    parser.add_argument("--threads", type=int, default=None, help="ORT threads (default: --cores)")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--verify-interval", type=int, default=3)
    parser.add_argument(
        "--keyframe-interval",
        type=int,
        default=None,
        help="TrackerConfig.keyframe_interval (default: the Tracker's, 1 = the single-image "
        "CoarseNet on every tracking frame; 0 = the tracking net)",
    )
    parser.add_argument("--net-repeats", type=int, default=30)
    parser.add_argument(
        "--precision",
        choices=("fp32", "int8", "both", "int8-fp32fine"),
        default="both",
        help="int8: statically quantized nets (made from the fp32 ones in a temp dir if absent)",
    )
    parser.add_argument("--spin", action="store_true", help="let ORT threads busy-wait")
    parser.add_argument("--detector", default=None, help="blazeface | dlib (default: the default)")
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity") and args.cores > 0:
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[: args.cores]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or cores

    from face3d_ros.detection import DEFAULT_DETECTOR, make_detector
    from face3d_ros.model.default import default_model_path, load_default_model
    from face3d_ros.model.io import load_face_model
    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.pipeline import STAGES, Tracker, TrackerConfig
    from face3d_ros.runtime import NetBundle, default_weights_dir
    from face3d_ros.sample_data import SampleSequenceConfig, sample_sequence

    if args.model == "default":
        model_data = load_default_model()
        model_label = f"default ({default_model_path().name})"
    elif args.model == "synthetic":
        model_data, model_label = make_synthetic_model(), "synthetic (tests only)"
    else:
        model_data, model_label = load_face_model(args.model), args.model

    wdir = args.weights or default_weights_dir()
    tmp = None
    if args.untrained or not (wdir / "coarse.onnx").is_file():
        if not args.untrained:
            print(f"NOTE: no shipped weights in {wdir}; benchmarking UNTRAINED nets instead")
        tmp = tempfile.TemporaryDirectory()
        wdir = export_untrained_nets(Path(tmp.name), model_data)
        weights_label = "UNTRAINED nets, freshly exported (zero heads -> mean face; latency only)"
    else:
        weights_label = f"shipped/trained weights from {wdir}"

    detector_name = args.detector or DEFAULT_DETECTOR
    detector = make_detector(detector_name)
    seq = SampleSequenceConfig(n_frames=args.frames, faceless_length=0)
    frames = [f.image for f in sample_sequence(seq)]
    precisions = ("fp32", "int8") if args.precision == "both" else (args.precision,)
    if args.precision == "both":
        precisions = ("fp32", "int8", "int8-fp32fine")

    print("face3d_ros pipeline benchmark")
    print(f"  weights : {weights_label}")
    print(
        f"  model   : {model_label}: {model_data.model_id}, {model_data.n_vertices} vertices, "
        f"{len(model_data.triangles)} triangles"
    )
    print(
        f"  backend : {args.backend}, {threads} intra-op threads, pinned to {cores} cores, "
        f"spinning {'on' if args.spin else 'off'}, precision(s) {', '.join(precisions)}"
    )
    print(f"  frames  : {len(frames)} x {seq.width}x{seq.height} (astronaut, smooth motion)")
    print(f"  detector: {detector_name}")
    print(f"  loadavg : {os.getloadavg()} (other processes share these cores: numbers are noisy)")

    keyframe = (
        {} if args.keyframe_interval is None else {"keyframe_interval": args.keyframe_interval}
    )
    summary = []
    scratch: list[Path] = []
    int8_dir: Path | None = None
    for precision in precisions:
        pdir = wdir
        net_precision = "int8" if precision.startswith("int8") else "fp32"
        fine_precision = "fp32" if precision == "int8-fp32fine" else net_precision
        if net_precision == "int8" and int8_dir is not None:
            pdir = int8_dir
        elif net_precision == "int8" and not (wdir / "coarse.int8.onnx").is_file():
            pdir = _make_int8(wdir, model_data, detector, frames, threads)
            scratch.append(pdir)
            int8_dir = pdir
            print(f"\nNOTE: INT8 nets quantized now from the fp32 ones into {pdir}")
        nets = NetBundle.load(
            pdir,
            backend=args.backend,
            threads=threads,
            model=model_data,
            precision=net_precision,
            fine_precision=fine_precision,
            allow_spinning=args.spin,
        )
        for use_fine in (False, True):
            cfg = TrackerConfig(
                backend=args.backend,
                threads=threads,
                use_fine=use_fine,
                verify_interval=args.verify_interval,
                **keyframe,
            )
            tracker = Tracker(cfg, nets.model, nets, detector)
            tracker.warmup()
            tracking, counts, init = _run(tracker, frames)
            name = f"{precision}, {'coarse + FineNet' if use_fine else 'coarse only'}"
            print(f"\n== {name}: states {counts}")
            _table(f"tracking frames, {name}", tracking, (*STAGES, "cpu"))
            if init:
                _table(f"initialisation frames, {name}", init, (*STAGES, "cpu"))
            target = TARGET_FINE_MS if use_fine else TARGET_COARSE_MS
            summary.append(
                (name, [r["total"] for r in tracking], [r["cpu"] for r in tracking], target)
            )

        print(f"\nnets alone ({precision}, batch 1; min ~ uncontended):")
        for label, backend in (
            ("coarse 224", nets.coarse),
            ("tracking 256", nets.tracking),
            ("fine 256", nets.fine),
        ):
            mn, p50, p95, cpu = _bench_net(backend, args.net_repeats)
            print(
                f"  {label:<14} min {mn:7.2f}  p50 {p50:7.2f}  p95 {p95:7.2f} ms wall;"
                f"  CPU {cpu:7.2f} ms/call (all threads)"
            )

    print("\nsummary (tracking frames, end-to-end 'total'):")
    for name, totals, cpu, target in summary:
        p50 = _pct(totals, 50)
        verdict = "meets" if p50 <= target else "MISSES"
        print(
            f"  {name:<26} p50 {p50:7.2f} ms  p95 {_pct(totals, 95):7.2f} ms  "
            f"({1000 / p50:5.1f} FPS) {verdict} the {target:g} ms target; "
            f"CPU p50 {_pct(cpu, 50):6.2f} ms/frame"
        )
    print(
        "  ('cpu' = process CPU time per frame, all threads: contention-robust work measure; "
        "on 2 otherwise idle cores expect a wall time of roughly cpu/2 to cpu; an estimate)"
    )
    print(f"  loadavg after: {os.getloadavg()}")
    if tmp is not None:
        tmp.cleanup()
    for path in scratch:
        shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
