# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command line of the real-face benchmark.

Example (quick run, 5 photos per set, 60 video frames)::

    python -m training.benchmark_real --limit 5 --video-frames 60

Full run on the shipped weights, contact sheet for the docs::

    python -m training.benchmark_real --sheet docs/img/benchmark_real_sheet.png --overwrite

Writes ``results.json`` (every figure, per photo and per frame) and ``results.md`` (the tables,
also printed) into ``--out`` (default ``~/.cache/face3d_ros/benchmark/<UTC time>/``), and the
contact sheet (default ``<out>/contact_sheet.png``). Existing results or sheets are never
replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import shlex
import subprocess
import sys
import time
from typing import Any

__all__ = ["SETS", "main", "parse_args", "tracker_overrides"]

#: Set names accepted by ``--sets``.
SETS = ("frl", "smiling", "pose", "video")
_RESULTS = "results.json"
_REPORT = "results.md"


def _default_out() -> pathlib.Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return pathlib.Path.home() / ".cache" / "face3d_ros" / "benchmark" / stamp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    from training.benchmark_real.headpose import DEFAULT_FOCAL_FACTOR

    ap = argparse.ArgumentParser(
        prog="python -m training.benchmark_real",
        description="Real-face benchmark: FRL landmarks, smiles, FairFace-wide head pose, video.",
    )
    ap.add_argument("--data", default=None, help="data root (default: <repo>/../shared/data)")
    ap.add_argument("--weights", default=None, help="weights folder (default: face3d_ros/weights)")
    ap.add_argument(
        "--out",
        default=None,
        help="output folder (default: ~/.cache/face3d_ros/benchmark/<UTC time>)",
    )
    ap.add_argument(
        "--sheet",
        default=None,
        help="contact sheet PNG (default: <out>/"
        "contact_sheet.png; docs/img/benchmark_real_sheet.png for the committed one)",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace existing results / sheet")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated subset of {SETS}")
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most N photos per set (per FRL folder) and N frames per video",
    )
    ap.add_argument(
        "--video-frames",
        type=int,
        default=None,
        help="at most this many frames per video (overrides --limit for videos)",
    )
    ap.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="no-network baselines (a)-(d)",
    )
    ap.add_argument(
        "--stage1",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="baseline (d), the stage-1 inverse-rendering fit (about 2 s per photo)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for the nets and torch (1 is fastest on a busy 2-core machine)",
    )
    ap.add_argument(
        "--pnp-focal",
        type=float,
        default=DEFAULT_FOCAL_FACTOR,
        help="PnP focal length in image sides (see training/benchmark_real/headpose.py)",
    )
    ap.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="weight precision of the Coarse/Tracking nets (int8: the <net>.int8.onnx files "
        "written by python -m face3d_ros.runtime.quantize; onnxruntime only)",
    )
    ap.add_argument(
        "--fine-precision",
        choices=("fp32", "int8"),
        default=None,
        help="FineNet's precision when it differs from --precision (only with --with-fine)",
    )
    ap.add_argument(
        "--with-fine",
        action="store_true",
        help="also run FineNet in the Tracker (changes no figure; slower)",
    )
    ap.add_argument(
        "--predictor",
        default=None,
        help="dlib shape_predictor_68_face_landmarks.dat (default: face3d_ros's)",
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="cache of the net-independent work (dlib reference detections, stage-1 fits; "
        "default: ~/.cache/face3d_ros/benchmark/cache)",
    )
    ap.add_argument("--no-cache", action="store_true", help="recompute everything, store nothing")
    ap.add_argument(
        "--tracker-detector",
        default=None,
        help="face detector of the Tracker (a face3d_ros.detection.interface name, e.g. "
        "blazeface or dlib; default: the node's). The reference landmarks are always dlib's",
    )
    ap.add_argument(
        "--tracker-set",
        dest="tracker_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one TrackerConfig field for the nets under test (repeatable), e.g. "
        "--tracker-set keyframe_interval=1 (the single-image CoarseNet on every tracking frame)",
    )
    args = ap.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    bad = [s for s in sets if s not in SETS]
    if bad or not sets:
        ap.error(f"--sets must be a comma-separated subset of {','.join(SETS)}, got {args.sets!r}")
    args.sets = sets
    try:
        args.tracker_overrides = tracker_overrides(args.tracker_set)
    except ValueError as exc:
        ap.error(str(exc))
    for name in ("limit", "video_frames", "threads"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not args.pnp_focal > 0:
        ap.error(f"--pnp-focal must be > 0, got {args.pnp_focal}")
    return args


def tracker_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items into TrackerConfig overrides (values as YAML scalars).

    Raises:
        ValueError: An item without ``=``, a key TrackerConfig does not have, or a value whose
            type does not match the field's default (an int is accepted for a float field).
    """
    import dataclasses

    import yaml

    from face3d_ros.pipeline.tracker import TrackerConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrackerConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--tracker-set expects KEY=VALUE, got {item!r}")
        if key not in defaults:
            raise ValueError(f"--tracker-set: TrackerConfig has no field {key!r}")
        value = yaml.safe_load(raw) if raw.strip() else None
        default = defaults[key]
        if default is not None and value is not None:
            want = float if isinstance(default, float) else type(default)
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if not ok:
                raise ValueError(
                    f"--tracker-set {key}: expected {want.__name__}, got {raw.strip()!r}"
                )
        out[key] = value
    return out


def _git_commit() -> str | None:
    repo = pathlib.Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + (" (tree has uncommitted changes)" if dirty.stdout.strip() else "")


def _weights_note(bench: Any) -> str:
    metas = getattr(bench.single.nets, "metas", {}) or {}
    parts = []
    for net in ("coarse", "tracking"):
        m = metas.get(net) or {}
        sha = str(m.get("sha256", ""))[:12]
        created = m.get("created", "")
        parts.append(f"{net} sha256 {sha or '?'} {created}".strip())
    return "; ".join(parts)


def _check_outputs(out: pathlib.Path, sheet: pathlib.Path, overwrite: bool) -> None:
    if overwrite:
        return
    for p in (out / _RESULTS, out / _REPORT, sheet):
        if p.exists():
            raise FileExistsError(f"{p} exists; pass --overwrite to replace it (or another --out)")


def _sheet_picks(names: list[str], fractions: tuple[float, ...]) -> set[str]:
    if not names:
        return set()
    return {names[int(f * (len(names) - 1))] for f in fractions}


def run(args: argparse.Namespace, command: str = "") -> dict[str, Any]:
    """Run the chosen sets; returns the result dict (``command`` is recorded in its meta)."""
    from training.benchmark_real import data as bd
    from training.benchmark_real.cache import default_cache_dir
    from training.benchmark_real.runner import (
        Bench,
        mouth_check,
        photo_summary,
        pose_summary,
    )
    from training.benchmark_real.sheet import SheetSample

    t_start = time.perf_counter()
    root = pathlib.Path(args.data) if args.data else bd.default_data_root()
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist (pass --data)")
    bench = Bench(
        args.weights,
        threads=args.threads,
        with_baselines=args.baselines,
        with_stage1=args.stage1,
        with_fine=args.with_fine,
        precision=args.precision,
        fine_precision=args.fine_precision,
        tracker_detector=args.tracker_detector,
        tracker_overrides=args.tracker_overrides,
        predictor_path=args.predictor,
        cache_dir=None if args.no_cache else (args.cache or default_cache_dir()),
    )
    results: dict[str, Any] = {}
    sheet: list[SheetSample] = []
    frl_dir = root / "faces" / "frl"
    neutral_records: list[dict[str, Any]] = []
    if "frl" in args.sets:
        subsets: dict[str, Any] = {}
        all_records: list[dict[str, Any]] = []
        for sub in bd.FRL_LANDMARK_SETS:
            photos = bd.list_photos(frl_dir / sub, sub, need_pts=True, limit=args.limit)
            names = [f"{sub}/{p.name}" for p in photos]
            picks = _sheet_picks(names, (0.0, 0.5) if sub == "neutral" else (0.0,))
            print(f"frl/{sub}: {len(photos)} photos", flush=True)
            recs = bench.photo_set(photos, manual=True, stage1=True, sheet_names=picks, sheet=sheet)
            subsets[sub] = photo_summary(recs)
            all_records += recs
            if sub == "neutral":
                neutral_records = recs
        results["frl"] = {
            "subsets": subsets,
            "all": photo_summary(all_records),
            "records": all_records,
        }
    if "smiling" in args.sets:
        photos = bd.list_photos(frl_dir / "smiling", "smiling", need_pts=False, limit=args.limit)
        print(f"smiling: {len(photos)} photos", flush=True)
        names = [f"smiling/{p.name}" for p in photos]
        recs = bench.photo_set(
            photos,
            manual=False,
            stage1=True,
            sheet_names=_sheet_picks(names, (0.0, 0.5)),
            sheet=sheet,
        )
        ids = {bd.person_id(p.name) for p in photos}
        have = {bd.person_id(r["name"]) for r in neutral_records}
        missing = [
            p
            for p in bd.list_photos(frl_dir / "neutral", "neutral", need_pts=True)
            if bd.person_id(p.name) in ids - have
        ]
        if missing:
            print(f"smiling: scoring {len(missing)} neutral photos for the mouth check", flush=True)
            neutral_records = neutral_records + bench.photo_set(missing, manual=True, stage1=True)
        results["smiling"] = {
            "summary": photo_summary(recs),
            "mouth_check": mouth_check(neutral_records, recs),
            "records": recs,
        }
    if "pose" in args.sets:
        photos = bd.list_photos(
            root / "faces" / "fairface-wide", "fairface-wide", need_pts=False, limit=args.limit
        )
        print(f"pose: {len(photos)} photos", flush=True)
        names = [f"fairface-wide/{p.name}" for p in photos]
        recs = bench.pose_set(
            photos,
            focal_factor=args.pnp_focal,
            sheet_names=_sheet_picks(names, (0.0, 0.35, 0.7)),
            sheet=sheet,
        )
        results["pose"] = {**pose_summary(recs), "records": recs}
    if "video" in args.sets:
        frames = args.video_frames if args.video_frames is not None else args.limit
        videos = {}
        for name in bd.VIDEOS:
            path = root / "video" / name
            if not path.is_file():
                raise FileNotFoundError(f"video {path} does not exist")
            print(f"video: {name}", flush=True)
            fr = (0.3, 0.8) if name == bd.VIDEOS[0] else (0.5,)
            videos[name] = bench.video(path, limit=frames, sheet_frames=fr, sheet=sheet)
        results["video"] = videos
    from face3d_ros.pipeline.tracker import TrackerConfig

    default_cfg = TrackerConfig()
    results["meta"] = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "git_commit": _git_commit(),
        "weights_dir": str(bench.weights_dir),
        "weights_note": _weights_note(bench),
        "data_root": str(root),
        "sets": args.sets,
        "limit": args.limit,
        "threads": args.threads,
        "tracker_config": {k: getattr(bench.config, k) for k in default_cfg.__dataclass_fields__},
        "tracker_config_vs_default": {
            k: [getattr(default_cfg, k), getattr(bench.config, k)]
            for k in default_cfg.__dataclass_fields__
            if getattr(default_cfg, k) != getattr(bench.config, k)
        },
        "pnp": f"cv2.solvePnP (EPnP + LM refinement) of the mean face's 51 inner landmarks "
        f"(17-67) to dlib's, focal {args.pnp_focal:g} x the longer image side, principal point "
        "at the centre",
        "reference_detector": "dlib HOG frontal face detector + dlib 68-point predictor "
        "(face3d_ros.detection.detector.FaceDetector defaults)",
        "tracker_detector": bench.tracker_detector_name,
        "detector_cache": {"hits": bench.detector.hits, "misses": bench.detector.misses},
        "disk_cache": {
            "dir": None if bench.disk.root is None else str(bench.disk.root),
            "hits": bench.disk.hits,
            "misses": bench.disk.misses,
        },
        "seconds": time.perf_counter() - t_start,
    }
    results["_sheet"] = (sheet, bench.triangles)
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from training.benchmark_real.report import markdown
    from training.benchmark_real.sheet import make_sheet, write_png

    args = parse_args(argv)
    command = "python -m training.benchmark_real " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    out = pathlib.Path(args.out).expanduser() if args.out else _default_out()
    sheet_path = pathlib.Path(args.sheet).expanduser() if args.sheet else out / "contact_sheet.png"
    import torch

    torch_threads = torch.get_num_threads()  # Bench sets --threads; restored for callers
    try:
        _check_outputs(out, sheet_path, args.overwrite)
        results = run(args, command)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"benchmark_real: error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(torch_threads)
    samples, triangles = results.pop("_sheet")
    out.mkdir(parents=True, exist_ok=True)
    (out / _RESULTS).write_text(json.dumps(results, indent=1, default=_json_default))
    md = markdown(results)
    (out / _REPORT).write_text(md + "\n")
    print(md)
    if samples:
        write_png(sheet_path, make_sheet(samples, triangles), overwrite=True)
        print(f"contact sheet: {sheet_path}")
    print(f"results: {out / _RESULTS}\nreport: {out / _REPORT}")
    return 0


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")
