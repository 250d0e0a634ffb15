# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
r"""Command line of the real-photo data engine (see :mod:`training.data_engine`).

One command builds everything from the shared real-photo folder::

    python -m training.data_engine --data ../shared/data --jobs 2

or from any folders of photos (``--source NAME=FOLDER[:LIMIT]``, repeatable)::

    python -m training.data_engine --source mine=~/photos --jobs 2

Everything goes to the cache (default ``~/.cache/face3d_ros/engine``, outside the work tree):
``photos/`` (prepared copies), ``fits/`` (dataset A), ``gate.json``, ``motion.json``,
``sets/{coarse,tracking,fine}/part-ii-of-nn/`` and ``summary.json``. Every stage resumes from
what is there: re-running the same command after an interruption continues where it stopped,
and what is missing is regenerated deterministically from the seeds recorded in the summary.
``--stages`` runs a subset (``prepare,fit,gate,motion,coarse,tracking,fine,sheet``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["STAGES", "build_parser", "default_cache", "main"]

STAGES = ("prepare", "fit", "gate", "motion", "coarse", "tracking", "fine", "sheet")


def default_cache() -> pathlib.Path:
    """``$FACE3D_CACHE/engine`` or ``~/.cache/face3d_ros/engine``."""
    base = os.environ.get("FACE3D_CACHE")
    root = pathlib.Path(base) if base else pathlib.Path.home() / ".cache" / "face3d_ros"
    return root / "engine"


def parse_motion_scale(text: str) -> tuple[float, float | None]:
    """``LO`` or ``LO:HI`` (``--tracking-motion-scale``) as ``(motion_scale, motion_scale_max)``.

    Raises:
        argparse.ArgumentTypeError: Not one or two positive numbers with LO <= HI.
    """
    parts = text.split(":")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(v > 0 for v in values) or values != sorted(values):
        raise argparse.ArgumentTypeError(f"expected LO or LO:HI with 0 < LO <= HI, got {text!r}")
    return values[0], (values[1] if len(values) == 2 else None)


def parse_fraction(text: str) -> float:
    """A number in ``[0, 1]`` (``--coarse-photo-fraction``).

    Raises:
        argparse.ArgumentTypeError: Not a number in [0, 1].
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def parse_expression_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--expression``: a field of ``ExpressionConfig`` and its value.

    Raises:
        argparse.ArgumentTypeError: Unknown field or a value that is not a number / pair.
    """
    import dataclasses

    from training.synth.expressions import ExpressionConfig

    key, sep, raw = text.partition("=")
    fields = {f.name for f in dataclasses.fields(ExpressionConfig)}
    if not sep or key not in fields:
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY one of {sorted(fields)}, got {text!r}"
        )
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{key}: expected a number or LO,HI, got {raw!r}"
        ) from None
    if key == "max_actions":
        return key, int(values[0])
    return key, (tuple(values) if len(values) > 1 else values[0])


def contour_fade(text: str) -> tuple[float, float]:
    """``--fit-contour-fade START,END`` (checked as the fit CLI checks it)."""
    from training.inverse_render.fit import parse_contour_fade

    return parse_contour_fade(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    ap = argparse.ArgumentParser(
        prog="python -m training.data_engine",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1],
    )
    ap.add_argument("--data", default=None, help="the shared data folder (dataset A sources)")
    ap.add_argument(
        "--source",
        action="append",
        default=[],
        help="NAME=FOLDER[:LIMIT] photo folder (repeatable; in addition to --data)",
    )
    ap.add_argument("--fairface", type=int, default=3000, help="FairFace photos taken (--data)")
    ap.add_argument(
        "--cache", default=None, help="cache folder (default ~/.cache/face3d_ros/engine)"
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (one thread each)")
    ap.add_argument(
        "--model", default="default", help="face model: default | synthetic | a model .npz"
    )
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of stages")
    ap.add_argument("--seed", type=int, default=0, help="global seed (subsets and samples)")
    ap.add_argument(
        "--fit-min-yaw",
        type=float,
        default=0.0,
        metavar="DEG",
        help="fit only the prepared photos whose head is turned by at least DEG (PnP of the "
        "mean face to their dlib landmarks, as the benchmark measures yaw); fits already made "
        "are kept. Adds the turned faces that are rare in FairFace without fitting all of it; "
        "default 0 (every prepared photo)",
    )
    ap.add_argument(
        "--fit-contour-fade",
        type=contour_fade,
        default=None,
        metavar="START,END",
        help="fit with the jaw-contour landmarks' weight fading from 1 at a head yaw of START "
        "degrees to 0 at END (python -m training.inverse_render --contour-fade); fits already "
        "made are kept (use a new --cache to refit). Default: full weight on every photo",
    )
    ap.add_argument("--coarse-per-photo", type=int, default=10)
    ap.add_argument("--tracking-per-photo", type=int, default=10)
    ap.add_argument(
        "--expression",
        dest="expression",
        type=parse_expression_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="expression mixture of the coarse and tracking sets (repeatable; a field of "
        "training.synth.expressions.ExpressionConfig, pairs as LO,HI), e.g. --expression "
        "p_fit=0.7 --expression p_action=0.3 --expression amplitude=0.3,1.5",
    )
    ap.add_argument(
        "--coarse-photo-fraction",
        type=parse_fraction,
        default=0.0,
        metavar="P",
        help="share of CoarseNet samples that are the fitted photo itself (real face pixels, "
        "the fit's own parameters; training.synth.coarse.CoarseConfig.p_photo; the tracking "
        "set's matching samples then show the photo too); default 0",
    )
    ap.add_argument(
        "--coarse-photo-roll",
        type=float,
        default=0.0,
        metavar="DEG",
        help="photo samples rotated in the image plane by a roll uniform in [-DEG, DEG], the "
        "label following (CoarseConfig.photo_roll_deg); default 0",
    )
    ap.add_argument(
        "--tracking-motion-scale",
        type=parse_motion_scale,
        default=(1.0, None),
        metavar="LO[:HI]",
        help="multiplier on the measured motion std for the simulated previous frames; LO:HI "
        "draws it log-uniformly per sample (training.synth.tracking.TrackingConfig); default 1",
    )
    ap.add_argument(
        "--fine-per-photo",
        type=int,
        default=5,
        help="FineNet samples per accepted fit (5 x 4,000 fits = the issue's 20,000)",
    )
    ap.add_argument(
        "--holdout-fits",
        type=int,
        default=0,
        metavar="N",
        help="set aside a seeded choice of N accepted fits: the coarse, tracking and fine sets "
        "are made from the others, and sets/holdout/<kind> from these (held-out identities for "
        "a validation curve: training --val-data); default 0",
    )
    ap.add_argument(
        "--overwrite-sets",
        action="store_true",
        help="regenerate the sets (needed after changing their settings or the gate)",
    )
    ap.add_argument("--detail-fraction", type=float, default=0.25, help="dataset B share")
    ap.add_argument("--videos", nargs="*", default=None, help="videos for the motion statistics")
    ap.add_argument("--sheet", default=None, help="contact sheet PNG (stage sheet)")
    ap.add_argument("--summary-out", default=None, help="also copy summary.json here")
    ap.add_argument("--overwrite-sheet", action="store_true")
    return ap


class Engine:
    """State shared by the stages: the cache layout, the photo list and the summary."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Resolve the sources and the cache."""
        from training.data_engine.sources import default_sources, list_photos, parse_source

        self.args = args
        self.cache = pathlib.Path(args.cache).expanduser() if args.cache else default_cache()
        self.photos_dir = self.cache / "photos"
        self.fits_dir = self.cache / "fits"
        self.logs_dir = self.cache / "logs"
        self.sets_dir = self.cache / "sets"
        for d in (self.photos_dir, self.fits_dir, self.logs_dir, self.sets_dir):
            d.mkdir(parents=True, exist_ok=True)
        sources = default_sources(args.data, args.fairface) if args.data else []
        sources += [parse_source(s) for s in args.source]
        if not sources:
            raise ValueError("no photos: give --data and/or --source NAME=FOLDER")
        self.sources = sources
        # Round-robin over the sources, so that the fits of an interrupted run are a balanced
        # mix of them (the fit workers take the photos in this order).
        per_source = [
            [(n, p, src.aligned_box) for n, p in list_photos(src, args.seed)] for src in sources
        ]
        self.photos: list[tuple[str, pathlib.Path, float | None]] = []
        for k in range(max(len(lst) for lst in per_source)):
            self.photos += [lst[k] for lst in per_source if k < len(lst)]
        self.summary_path = self.cache / "summary.json"
        self.summary: dict[str, Any] = (
            json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else {}
        )
        self.summary["sources"] = [
            {
                "name": s.name,
                "folder": str(s.folder),
                "limit": s.limit,
                "aligned_box": s.aligned_box,
            }
            for s in sources
        ]
        self.summary["seed"] = args.seed
        self.summary.setdefault("stages", {})

    def save(self) -> None:
        """Write the summary (atomically) and its optional copy."""
        self.summary["updated"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        text = json.dumps(self.summary, indent=1) + "\n"
        tmp = self.summary_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.summary_path)
        if self.args.summary_out:
            pathlib.Path(self.args.summary_out).write_text(text)

    def record(self, stage: str, info: dict[str, Any], seconds: float) -> None:
        """Store a stage's figures and wall time (the time of the run that finished it)."""
        prev = self.summary["stages"].get(stage, {})
        runs = [*prev.get("runs", []), round(seconds, 1)]
        self.summary["stages"][stage] = {
            **info,
            "seconds_last_run": round(seconds, 1),
            "runs": runs,
        }
        self.save()


def progress_line(stage: str, done: int, total: int, t0: float, done0: int) -> str:
    """``stage: done/total, rate/s, ETA`` from the work done since ``t0``."""
    dt = max(time.time() - t0, 1e-6)
    rate = (done - done0) / dt
    eta = (total - done) / rate if rate > 0 else float("inf")
    eta_s = f"{eta / 60:.1f} min" if eta != float("inf") else "?"
    return f"[{stage}] {done}/{total} ({rate:.2f}/s, ETA {eta_s})"


def stage_prepare(eng: Engine) -> None:
    """Detect, give context, write prepared copies (parallel, resumable)."""
    import multiprocessing as mp

    from training.data_engine.prepare import is_prepared, prepare_job, worker_init

    t0 = time.time()
    fail_path = eng.cache / "prepare_failures.json"
    failures: dict[str, Any] = json.loads(fail_path.read_text()) if fail_path.is_file() else {}
    todo = [
        (n, str(p), a)
        for n, p, a in eng.photos
        if not is_prepared(eng.photos_dir, n) and n not in failures
    ]
    total = len(eng.photos)
    done0 = total - len(todo)
    print(f"[prepare] {total} photos, {done0} already prepared or rejected, {len(todo)} to do")
    if todo:
        ctx = mp.get_context("spawn")
        with ctx.Pool(
            eng.args.jobs, initializer=worker_init, initargs=(str(eng.photos_dir),)
        ) as pool:
            for k, rec in enumerate(pool.imap_unordered(prepare_job, todo, chunksize=8), 1):
                if rec["status"] != "ok":
                    failures[rec["name"]] = rec
                if k % 200 == 0 or k == len(todo):
                    print(progress_line("prepare", done0 + k, total, t0, done0), flush=True)
                    fail_path.write_text(json.dumps(failures, indent=0))
    fail_path.write_text(json.dumps(failures, indent=0))
    names = {n for n, _, _ in eng.photos}
    reasons: dict[str, int] = {}
    for n, rec in failures.items():
        if n in names:
            reasons[rec["status"]] = reasons.get(rec["status"], 0) + 1
    ok = [n for n, _, _ in eng.photos if is_prepared(eng.photos_dir, n)]
    eng.record(
        "prepare",
        {"photos": total, "prepared": len(ok), "rejected": reasons},
        time.time() - t0,
    )
    print(f"[prepare] prepared {len(ok)}/{total}; rejected by reason: {reasons}")


def prepared_names(eng: Engine) -> list[str]:
    """Names of the selected photos that have a prepared copy."""
    from training.data_engine.prepare import is_prepared

    return [n for n, _, _ in eng.photos if is_prepared(eng.photos_dir, n)]


def turned_names(eng: Engine, names: list[str], min_yaw: float) -> list[str]:
    """``--fit-min-yaw``: the prepared photos turned by at least ``min_yaw`` degrees.

    Photos already fitted are kept whatever their pose; the order of ``names`` is kept.

    Raises:
        ValueError: A face model other than the default (the yaw is measured with its mean).
    """
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.morphable import MorphableModel
    from training.benchmark_real.headpose import mean_face_landmarks
    from training.data_engine.prepare import prepared_yaw_deg
    from training.inverse_render.fit_result import fit_is_complete

    if eng.args.model != "default":
        raise ValueError("--fit-min-yaw measures yaw with the default face model's landmarks")
    lm3d = mean_face_landmarks(MorphableModel(load_default_model()))
    keep = []
    for n in names:
        if fit_is_complete(eng.fits_dir, n):
            keep.append(n)
            continue
        try:
            yaw = prepared_yaw_deg(eng.photos_dir, n, lm3d)
        except RuntimeError:
            continue
        if abs(yaw) >= min_yaw:
            keep.append(n)
    print(f"[fit] --fit-min-yaw {min_yaw:g}: {len(keep)} of {len(names)} prepared photos")
    return keep


def stage_fit(eng: Engine) -> None:
    """Inverse rendering (stages 1-3) of the prepared photos, sharded over ``--jobs`` processes."""
    from training.inverse_render.fit_result import fit_is_complete

    t0 = time.time()
    names = prepared_names(eng)
    min_yaw = float(getattr(eng.args, "fit_min_yaw", 0.0) or 0.0)
    if min_yaw > 0:
        names = turned_names(eng, names, min_yaw)
    paths = [str(eng.photos_dir / f"{n}.jpg") for n in names]
    done0 = sum(fit_is_complete(eng.fits_dir, n) for n in names)
    print(f"[fit] {len(names)} prepared photos, {done0} already fitted")
    n_jobs = max(1, eng.args.jobs)
    list_file = eng.cache / "fit_inputs.txt"
    list_file.write_text("\n".join(paths) + "\n")
    procs = []
    for i in range(n_jobs):
        log = open(eng.logs_dir / f"fit-{i}of{n_jobs}.log", "a")  # noqa: SIM115 - closed below
        cmd = [
            sys.executable,
            "-m",
            "training.inverse_render",
            "--images-from",
            str(list_file),
            "--out",
            str(eng.fits_dir),
            "--shard",
            f"{i}/{n_jobs}",
            "--use-pts",
            "--threads",
            "1",
        ]
        if getattr(eng.args, "fit_contour_fade", None):
            cmd += ["--contour-fade", ",".join(f"{v:g}" for v in eng.args.fit_contour_fade)]
        if eng.args.model == "synthetic":
            cmd.append("--synthetic-model")
        elif eng.args.model != "default":
            cmd += ["--model", eng.args.model]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    last = 0.0
    while any(p.poll() is None for p, _ in procs):
        time.sleep(5)
        if time.time() - last > 60:
            last = time.time()
            done = sum(1 for n in names if (eng.fits_dir / f"{n}.fit.json").is_file())
            print(progress_line("fit", done, len(names), t0, done0), flush=True)
    codes = [p.returncode for p, _ in procs]
    for _, log in procs:
        log.close()
    if any(codes):
        raise RuntimeError(f"fit workers exited with {codes}; see {eng.logs_dir}")
    failed: dict[str, int] = {}
    for f in eng.fits_dir.glob(f"failures-*of{n_jobs}.json"):
        for rec in json.loads(f.read_text()):
            failed[rec["error"]] = failed.get(rec["error"], 0) + 1
    fitted = sum(fit_is_complete(eng.fits_dir, n) for n in names)
    eng.record(
        "fit",
        {
            "photos": len(names),
            "fitted": fitted,
            "failed": failed,
            "min_yaw_deg": min_yaw or None,
            "contour_fade_deg": getattr(eng.args, "fit_contour_fade", None),
        },
        time.time() - t0,
    )
    print(f"[fit] fitted {fitted}/{len(names)}; failures by error: {failed}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    # Every worker is single-threaded (one per core): BLAS thread pools on top of that made
    # small LAPACK calls (the background warp's triangulation) 1,000x slower on 2 shared cores.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        print(f"error: unknown stages {unknown}; choose from {list(STAGES)}", file=sys.stderr)
        return 2
    try:
        eng = Engine(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from training.data_engine import stages as more

    runners = {"prepare": stage_prepare, "fit": stage_fit, **more.RUNNERS}
    for stage in STAGES:
        if stage in stages:
            t = time.time()
            print(f"=== {stage} ===", flush=True)
            try:
                runners[stage](eng)
            except (ValueError, FileNotFoundError, FileExistsError) as exc:
                print(f"error: stage {stage}: {exc}", file=sys.stderr)
                return 2
            print(f"=== {stage}: {time.time() - t:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
