# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stages after the fits: quality gate, motion statistics, the three sets, the contact sheet.

Each ``stage_<name>(engine)`` reads and writes the engine's cache (see
:mod:`training.data_engine.__main__`) and records its figures in the summary.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RUNNERS", "accepted_fits", "split_holdout", "synth_worker"]

#: Arrays of a fit that the gate reads.
_GATE_ARRAYS = (
    "landmarks_detected",
    "landmarks_fitted",
    "albedo_vertex",
    "displacement_mm",
    "face_mask",
)


def _source_of(eng: Any, name: str) -> str:
    """The source a photo name belongs to (the longest matching prefix: fairface-wide-*)."""
    matches = [s.name for s in eng.sources if name.startswith(s.name + "-")]
    return max(matches, key=len) if matches else "?"


def stage_gate(eng: Any) -> None:
    """Quality gate over the fits of the selected photos; writes ``gate.json``.

    Per-fit metrics are cached in ``gate_metrics.json`` keyed by the fit's JSON modification
    time, so a re-run only reads new fits.
    """
    from training.data_engine.gate import GateConfig, check_fit, summarise
    from training.inverse_render.fit_result import fit_is_complete, fit_paths, load_fit
    from training.synth.fine import FineConfig, wrinkle_scale

    t0 = time.time()
    cfg = GateConfig()
    fine = FineConfig()
    cache_path = eng.cache / "gate_metrics.json"
    cached: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    names = [n for n, _, _ in eng.photos if fit_is_complete(eng.fits_dir, n)]
    records: dict[str, Any] = {}
    for k, name in enumerate(names, 1):
        stamp = fit_paths(eng.fits_dir, name)["json"].stat().st_mtime
        rec = cached.get(name)
        if rec is None or rec.get("stamp") != stamp:
            fit = load_fit(fit_paths(eng.fits_dir, name)["json"], arrays=_GATE_ARRAYS)
            reasons, metrics = check_fit(fit, cfg)
            if "non_finite" not in reasons:
                mask = np.asarray(fit.arrays["face_mask"]) > 0
                raw = np.asarray(fit.arrays["displacement_mm"], np.float32)[mask]
                detail = wrinkle_scale(
                    fit.arrays["displacement_mm"], mask, fine.detail_sigma, fine.detail_clip_mm
                )[mask]
                metrics["disp_raw_abs_p95_mm"] = float(np.percentile(np.abs(raw), 95))
                metrics["detail_rms_mm"] = float(np.sqrt(np.mean(detail**2)))
                metrics["detail_abs_p95_mm"] = float(np.percentile(np.abs(detail), 95))
            rec = {"stamp": stamp, "reasons": reasons, "metrics": metrics}
            cached[name] = rec
        records[name] = rec
        if k % 500 == 0:
            print(f"[gate] {k}/{len(names)}", flush=True)
            cache_path.write_text(json.dumps(cached))
    cache_path.write_text(json.dumps(cached))
    accepted = [n for n in names if not records[n]["reasons"]]
    by_reason: dict[str, int] = {}
    for n in names:
        for r in records[n]["reasons"]:
            by_reason[r] = by_reason.get(r, 0) + 1
    per_source: dict[str, dict[str, int]] = {}
    for n, _, _ in eng.photos:
        s = per_source.setdefault(_source_of(eng, n), {"photos": 0, "fitted": 0, "accepted": 0})
        s["photos"] += 1
    for n in names:
        per_source[_source_of(eng, n)]["fitted"] += 1
    for n in accepted:
        per_source[_source_of(eng, n)]["accepted"] += 1
    for s in per_source.values():
        s["accepted_of_photos"] = round(s["accepted"] / max(s["photos"], 1), 3)
    # dataset B: the accepted fits with the strongest wrinkle-scale detail
    n_b = max(1, int(round(eng.args.detail_fraction * len(accepted)))) if accepted else 0
    detailed = sorted(accepted, key=lambda n: -records[n]["metrics"]["detail_rms_mm"])[:n_b]
    ok_metrics = [records[n]["metrics"] for n in accepted]
    detail_b = [records[n]["metrics"]["detail_rms_mm"] for n in detailed]
    gate = {
        "config": dataclasses.asdict(cfg),
        "fitted": len(names),
        "accepted": accepted,
        "detail_sources": detailed,
        "rejected": {n: records[n]["reasons"] for n in names if records[n]["reasons"]},
    }
    (eng.cache / "gate.json").write_text(json.dumps(gate, indent=0) + "\n")
    raw95 = [m["disp_raw_abs_p95_mm"] for m in ok_metrics if "disp_raw_abs_p95_mm" in m]
    det95 = [m["detail_abs_p95_mm"] for m in ok_metrics if "detail_abs_p95_mm" in m]
    info = {
        "config": dataclasses.asdict(cfg),
        "fitted": len(names),
        "accepted": len(accepted),
        "rejected_by_reason": by_reason,
        "per_source": per_source,
        "accepted_distribution": summarise(ok_metrics),
        "displacement_mm": {
            "stage2_raw_abs_p95_median": round(float(np.median(raw95)), 3) if raw95 else None,
            "wrinkle_scale_abs_p95_median": round(float(np.median(det95)), 3) if det95 else None,
            "wrinkle_scale_filter": {"sigma_px": fine.detail_sigma, "clip_mm": fine.detail_clip_mm},
        },
        "dataset_b": {
            "count": len(detailed),
            "per_source": {s: sum(_source_of(eng, n) == s for n in detailed) for s in per_source},
            "detail_rms_mm_min": round(min(detail_b), 4) if detail_b else None,
            "detail_rms_mm_median": round(float(np.median(detail_b)), 4) if detail_b else None,
        },
    }
    eng.record("gate", info, time.time() - t0)
    print(
        f"[gate] accepted {len(accepted)}/{len(names)} fits; rejections by reason: {by_reason}; "
        f"per source: {per_source}"
    )


def accepted_fits(eng: Any) -> tuple[list[str], list[str]]:
    """``(accepted, detail_sources)`` from ``gate.json``.

    Raises:
        FileNotFoundError: The gate has not run.
    """
    path = eng.cache / "gate.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the gate stage first")
    gate = json.loads(path.read_text())
    return list(gate["accepted"]), list(gate["detail_sources"])


def split_holdout(accepted: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """``(train, held_out)``: a seeded choice of ``n`` fits set aside from the sets.

    The choice depends only on the sorted names, ``n`` and ``seed``, so a rerun (or a resumed
    run) holds out the same fits; both lists keep the order of ``accepted``.

    Raises:
        ValueError: ``n`` negative, or not smaller than the number of fits.
    """
    if n < 0:
        raise ValueError(f"--holdout-fits must be >= 0, got {n}")
    if n == 0:
        return list(accepted), []
    if n >= len(accepted):
        raise ValueError(f"--holdout-fits {n} leaves no fit to train on ({len(accepted)} accepted)")
    rng = np.random.default_rng([int(seed), 0x401D])
    held = set(rng.choice(sorted(accepted), size=n, replace=False).tolist())
    return [a for a in accepted if a not in held], [a for a in accepted if a in held]


def _default_videos(eng: Any) -> list[pathlib.Path]:
    if eng.args.videos is not None:
        return [pathlib.Path(v) for v in eng.args.videos]
    if eng.args.data is None:
        return []
    folder = pathlib.Path(eng.args.data) / "video"
    return sorted(folder.glob("*.mp4")) if folder.is_dir() else []


def stage_motion(eng: Any) -> None:
    """Frame-to-frame motion statistics of real videos (``motion.json``, with provenance).

    Every frame's pose and expression come from the landmark-only fit of the dlib landmarks
    (:func:`training.synth.estimate_motion.estimate_motion`); the deltas of all videos are pooled
    and summarised by robust normal distributions. Without videos the shipped statistics are
    used (and the summary says so).
    """
    import datetime

    import cv2

    from face3d_ros.detection.detector import FaceDetector
    from training.synth.__main__ import load_model
    from training.synth.estimate_motion import estimate_motion, iter_frames, summarise_deltas
    from training.synth.motion import default_motion_path

    t0 = time.time()
    out = eng.cache / "motion.json"
    videos = _default_videos(eng)
    if out.is_file():
        print(f"[motion] {out} exists, kept")
        return
    if not videos:
        eng.record("motion", {"file": str(default_motion_path()), "videos": []}, 0.0)
        print("[motion] no videos: the shipped motion statistics are used")
        return
    model = load_model(eng.args.model).data
    detector = FaceDetector()
    poses, exps, per_video = [], [], []
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        cap.release()
        pose_d, exp_d, stats = estimate_motion(
            iter_frames(video), model, detector, n_exp=10, progress=False
        )
        poses.append(pose_d)
        exps.append(exp_d)
        per_video.append({"video": video.name, "fps": fps, "pairs": len(pose_d), **stats})
        print(f"[motion] {video.name}: {len(pose_d)} frame pairs", flush=True)
    meta = {
        "source": {
            "videos": per_video,
            "model_id": model.model_id,
            "n_exp_fitted": 10,
            "method": "dlib HOG + 68 landmarks per frame, landmark-only weak-perspective fit "
            "(training.synth.estimate_motion), deltas of all videos pooled",
            "licence": "Pexels licence (see the data folder's README); only statistics kept",
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    }
    motion = summarise_deltas(np.concatenate(poses), np.concatenate(exps), meta)
    out.write_text(json.dumps(motion.to_dict(), indent=2) + "\n")
    eng.record(
        "motion",
        {"file": str(out), "videos": per_video, "params": motion.to_dict()["params"]},
        time.time() - t0,
    )


def synth_settings(args: Any) -> dict[str, Any]:
    """The sets' synthesis options of the command line, as stored in every job and summary.

    Args:
        args: The parsed command line (``--expression``, ``--coarse-photo-fraction``,
            ``--coarse-photo-roll``, ``--tracking-motion-scale``).

    Returns:
        ``motion_scale`` ``[LO, HI or None]``, ``expression`` (field -> value), ``p_photo``,
        ``photo_roll_deg``.
    """
    return {
        "motion_scale": list(getattr(args, "tracking_motion_scale", (1.0, None))),
        "expression": dict(getattr(args, "expression", None) or []),
        "p_photo": float(getattr(args, "coarse_photo_fraction", 0.0)),
        "photo_roll_deg": float(getattr(args, "coarse_photo_roll", 0.0)),
    }


def synth_configs(settings: dict[str, Any]) -> tuple[Any, Any]:
    """``(CoarseConfig, TrackingConfig)`` of :func:`synth_settings` (sets and contact sheet)."""
    from training.synth.coarse import CoarseConfig
    from training.synth.expressions import ExpressionConfig
    from training.synth.tracking import TrackingConfig

    lo, hi = settings.get("motion_scale") or (1.0, None)
    coarse = CoarseConfig(
        expression=ExpressionConfig(**settings.get("expression", {})),
        p_photo=float(settings.get("p_photo", 0.0)),
        photo_roll_deg=float(settings.get("photo_roll_deg", 0.0)),
    )
    return coarse, TrackingConfig(motion_scale=float(lo), motion_scale_max=hi)


def synth_worker(job: dict[str, Any]) -> dict[str, Any]:
    """One synthesis process: ``run_synthesis`` on one shard (module-level for spawn)."""
    import torch

    from training.synth.__main__ import load_model
    from training.synth.motion import MotionModel
    from training.synth.runner import run_synthesis

    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)
    motion = MotionModel.load(job["motion"]) if job["kind"] == "tracking" else None
    coarse_cfg, tracking_cfg = synth_configs(job)
    return run_synthesis(
        job["kind"],
        job["fits"],
        job["out"],
        load_model(job["model"]),
        per_photo=job["per_photo"],
        shard=tuple(job["shard"]),
        seed=job["seed"],
        motion=motion,
        coarse_cfg=coarse_cfg,
        tracking_cfg=tracking_cfg,
        names=job["names"],
        detail_sources=job.get("detail_sources"),
        overwrite=job.get("overwrite", False),
        progress=False,
        log=lambda m: None,
    )


def _set_indexes(root: pathlib.Path) -> list[dict[str, Any]]:
    """The readable indexes of a set: its parts' (``--jobs`` > 1) or its own (one job)."""
    out = []
    for index in [*root.glob("part-*/index.json"), *root.glob("index.json")]:
        try:
            out.append(json.loads(index.read_text()))
        except (OSError, ValueError):
            continue
    return out


def _count_samples(root: pathlib.Path) -> int:
    """Samples in a set (all its indexes)."""
    total = 0
    for index in _set_indexes(root):
        try:
            total += int(index.get("num_samples", 0))
        except (TypeError, ValueError):
            continue
    return total


def _fits_in_set(root: pathlib.Path) -> set[str]:
    """Names of the fits a set (its parts or itself) was made from, from its indexes."""
    return {n for idx in _set_indexes(root) for n in idx.get("attrs", {}).get("fit_digests", {})}


def _check_holdout(root: pathlib.Path, holdout_root: pathlib.Path, held: list[str]) -> None:
    """Refuse to extend sets whose fits cross the held-out split (a changed ``--holdout-fits``).

    Raises:
        ValueError: A held-out fit is in the training set or a training fit in the held-out set.
    """
    held_set = set(held)
    leaked = sorted(_fits_in_set(root) & held_set)
    if leaked:
        raise ValueError(
            f"{root} already holds samples of {len(leaked)} fit(s) that --holdout-fits now sets "
            f"aside (e.g. {leaked[:3]}); pass --overwrite-sets to regenerate the sets"
        )
    crossed = sorted(_fits_in_set(holdout_root) - held_set)
    if crossed:
        raise ValueError(
            f"{holdout_root} holds samples of {len(crossed)} fit(s) that are no longer held out "
            f"(e.g. {crossed[:3]}); pass --overwrite-sets to regenerate the sets"
        )


def _run_synth(eng: Any, kind: str, per_photo: int, detail: bool = False) -> None:
    import multiprocessing as mp

    from training.data_engine.__main__ import progress_line

    t0 = time.time()
    accepted, detailed = accepted_fits(eng)
    if not accepted:
        raise ValueError("the gate accepted no fit")
    train, held = split_holdout(
        accepted, int(getattr(eng.args, "holdout_fits", 0) or 0), eng.args.seed
    )
    motion = eng.cache / "motion.json"
    if kind == "tracking" and not motion.is_file():
        from training.synth.motion import default_motion_path

        print(f"[tracking] no {motion} (stage motion not run, or run without videos): the "
              f"shipped statistics {default_motion_path().name} are used; --tracking-motion-scale "
              "multiplies them", flush=True)
    n = max(1, eng.args.jobs)

    def job(i: int, out: pathlib.Path, names: list[str]) -> dict[str, Any]:
        return {
            "kind": kind,
            "fits": str(eng.fits_dir),
            "out": str(out),
            "per_photo": per_photo,
            "shard": (i, n),
            "seed": eng.args.seed,
            "model": eng.args.model,
            "motion": str(motion) if motion.is_file() else None,
            **synth_settings(eng.args),
            "names": names,
            "detail_sources": detailed if detail else None,
            "overwrite": bool(eng.args.overwrite_sets),
        }

    holdout_out = eng.sets_dir / "holdout"
    jobs = [job(i, eng.sets_dir, train) for i in range(n)]
    jobs += [job(i, holdout_out, held) for i in range(n)] if held else []
    total = per_photo * len(accepted)
    root = eng.sets_dir / kind
    holdout_root = holdout_out / kind
    if not eng.args.overwrite_sets:
        _check_holdout(root, holdout_root, held)

    def on_disk() -> int:
        return _count_samples(root) + (_count_samples(holdout_root) if held else 0)

    done0 = 0 if eng.args.overwrite_sets else on_disk()  # overwritten sets start from 0
    print(
        f"[{kind}] {len(train)} fits x {per_photo} = {per_photo * len(train)} samples"
        + (f" + {len(held)} held-out fits in {holdout_root}" if held else "")
        + f", {done0} on disk"
    )
    ctx = mp.get_context("spawn")
    with ctx.Pool(n) as pool:
        pending = pool.map_async(synth_worker, jobs)
        while not pending.ready():
            pending.wait(60)
            print(progress_line(kind, on_disk(), total, t0, done0), flush=True)
        results = pending.get()
    samples = _count_samples(root)
    eng.record(
        kind,
        {
            "root": str(root),
            "fits": len(train),
            "per_photo": per_photo,
            "samples": samples,
            "holdout": (
                {"root": str(holdout_root), "fits": held, "samples": _count_samples(holdout_root)}
                if held
                else None
            ),
            "detail_sources": len(detailed) if detail else None,
            "motion_scale": jobs[0]["motion_scale"] if kind == "tracking" else None,
            "motion": (jobs[0]["motion"] or "shipped default") if kind == "tracking" else None,
            "max_prev_offset": (
                synth_configs(jobs[0])[1].max_prev_offset if kind == "tracking" else None
            ),
            "expression": jobs[0]["expression"] or None,
            "p_photo": jobs[0]["p_photo"] if kind != "fine" else None,
            "photo_roll_deg": jobs[0]["photo_roll_deg"] if kind != "fine" else None,
            "parts": [r["root"] for r in results[:n]],
        },
        time.time() - t0,
    )
    print(f"[{kind}] {samples} samples in {root}")


def stage_coarse(eng: Any) -> None:
    """The CoarseNet set: ``--coarse-per-photo`` re-posed samples per accepted fit."""
    _run_synth(eng, "coarse", eng.args.coarse_per_photo)


def stage_tracking(eng: Any) -> None:
    """The tracking set: one simulated previous frame per CoarseNet sample."""
    _run_synth(eng, "tracking", eng.args.tracking_per_photo)


def stage_fine(eng: Any) -> None:
    """The FineNet set: ``--fine-per-photo`` per accepted fit, details from dataset B."""
    _run_synth(eng, "fine", eng.args.fine_per_photo, detail=True)


def stage_sheet(eng: Any, per_source: int = 2) -> None:
    """The contact sheet of the fits and samples, labels drawn (``--sheet`` or the cache's).

    Rows: ``per_source`` accepted photos of each source; samples drawn with the sets' options
    (``--expression``, ``--coarse-photo-*``, ``--tracking-motion-scale``).
    """
    from training.data_engine.sheet import make_engine_sheet
    from training.synth.__main__ import load_model
    from training.synth.motion import MotionModel

    t0 = time.time()
    accepted, detailed = accepted_fits(eng)
    coarse_cfg, tracking_cfg = synth_configs(synth_settings(eng.args))
    rows: list[str] = []
    for src in eng.sources:
        rows += [n for n in accepted if _source_of(eng, n) == src.name][:per_source]
    motion_path = eng.cache / "motion.json"
    path = make_engine_sheet(
        eng.fits_dir,
        rows,
        accepted,
        detailed,
        load_model(eng.args.model),
        pathlib.Path(eng.args.sheet) if eng.args.sheet else eng.cache / "contact_sheet.png",
        seed=eng.args.seed,
        motion=MotionModel.load(motion_path) if motion_path.is_file() else None,
        coarse_cfg=coarse_cfg,
        tracking_cfg=tracking_cfg,
        overwrite=eng.args.overwrite_sheet or not eng.args.sheet,
    )
    eng.record("sheet", {"path": str(path), "rows": rows}, time.time() - t0)
    print(f"[sheet] {path}")


RUNNERS: dict[str, Callable[[Any], None]] = {
    "sheet": stage_sheet,
    "gate": stage_gate,
    "motion": stage_motion,
    "coarse": stage_coarse,
    "tracking": stage_tracking,
    "fine": stage_fine,
}
