# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
r"""One-shot chain: built-in photos -> inverse rendering -> the three training sets -> sheet.

Steps (each one resumes what an earlier, interrupted run left; nothing is overwritten without
``--overwrite``):

1. ``python -m training.builtin_photos --out <out>/photos`` (skipped with ``--photos DIR`` or
   ``--fits DIR``),
2. ``python -m training.inverse_render --images <photos> --out <out>/fits`` (skipped with
   ``--fits DIR``: use fits made elsewhere),
3. ``coarse``, ``fine`` and ``tracking`` sets into ``<out>/<kind>/``
   (:func:`training.synth.runner.run_synthesis`),
4. a contact sheet of samples (``--sheet``, default ``<out>/synth_contact_sheet.png``),
5. ``<out>/build_summary.json``: sample counts, timings, settings.

Example::

    python -m training.build_datasets --out out/datasets --per-photo 20 \\
        --sheet docs/img/synth_contact_sheet.png
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    ap = argparse.ArgumentParser(prog="python -m training.build_datasets", description=__doc__)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--photos", default=None, help="use this photo folder (skip step 1)")
    ap.add_argument("--fits", default=None, help="use this fits folder (skip steps 1-2)")
    ap.add_argument("--per-photo", type=int, default=20, help="samples per photo and set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="default", help="default | synthetic | model .npz")
    ap.add_argument("--clean-only", action="store_true", help="public-domain photos only")
    ap.add_argument(
        "--include-restricted",
        action="store_true",
        help="also the copyrighted built-in photos (local research use only)",
    )
    ap.add_argument("--fit-threads", type=int, default=2, help="torch threads of the fit step")
    ap.add_argument(
        "--max-coeff-rms",
        type=float,
        default=None,
        help="skip fits whose RMS id/exp coefficient exceeds this (sigma units)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the synthesis")
    ap.add_argument("--kinds", default="coarse,fine,tracking", help="sets to build")
    ap.add_argument("--sheet", default=None, help="contact sheet PNG path")
    ap.add_argument("--sheet-rows", type=int, default=4, help="photos on the contact sheet")
    ap.add_argument(
        "--sheet-photos",
        default=None,
        help="comma-separated fit names shown on the contact sheet, or 'all'. Default: with the "
        "built-in photos only the public-domain ones (the sheet is meant to be published), "
        "otherwise every fit",
    )
    ap.add_argument("--no-sheet", action="store_true")
    ap.add_argument("--overwrite", action="store_true", help="regenerate the sets")
    ap.add_argument("--overwrite-sheet", action="store_true", help="replace the sheet PNG")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def _run(cmd: list[str]) -> None:
    """Run a sub-command, echoing it; raise on failure."""
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    t0 = time.time()
    timings: dict[str, float] = {}
    try:
        if args.fits is not None:
            fits_dir = pathlib.Path(args.fits)
        else:
            photos = pathlib.Path(args.photos) if args.photos else out / "photos"
            if args.photos is None:
                if (photos / "photos.json").is_file():
                    print(f"photos: {photos} exists, reusing it")
                else:
                    cmd = [sys.executable, "-m", "training.builtin_photos", "--out", str(photos)]
                    cmd += ["--clean-only"] if args.clean_only else []
                    cmd += ["--include-restricted"] if args.include_restricted else []
                    _run(cmd)
            timings["photos"] = time.time() - t0
            fits_dir = out / "fits"
            cmd = [
                sys.executable,
                "-m",
                "training.inverse_render",
                "--images",
                str(photos),
                "--out",
                str(fits_dir),
                "--threads",
                str(args.fit_threads),
            ]
            if args.model == "synthetic":
                cmd.append("--synthetic-model")
            elif args.model != "default":
                cmd += ["--model", args.model]
            _run(cmd)  # resumes: complete fits are skipped
            timings["fits"] = time.time() - t0 - sum(timings.values())
        summary = build_sets(args, fits_dir, out, kinds, timings)
    except (ValueError, FileNotFoundError, FileExistsError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary["seconds_total"] = round(time.time() - t0, 1)
    path = out / "build_summary.json"
    history: list[Any] = []
    if path.is_file():  # keep earlier runs (a resumed run's timings alone say little)
        try:
            old = json.loads(path.read_text())
            history = [*old.pop("history", []), old]
        except json.JSONDecodeError:
            history = []
    summary["history"] = history[-10:]
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["sets"], indent=1))
    print(f"summary: {path}")
    return 0


def _public_domain_builtins(photos_dir: pathlib.Path) -> str | None:
    """Names of the public-domain built-in photos in ``photos_dir``, or None without a manifest.

    The manifest ``photos.json`` is written by :mod:`training.builtin_photos` only; a user's own
    photo folder has none, and then every fit may go on the contact sheet.
    """
    manifest = photos_dir / "photos.json"
    if not manifest.is_file():
        return None
    entries = json.loads(manifest.read_text())
    return ",".join(pathlib.Path(e["file"]).stem for e in entries if e.get("clean"))


def build_sets(
    args: argparse.Namespace,
    fits_dir: pathlib.Path,
    out: pathlib.Path,
    kinds: list[str],
    timings: dict[str, float],
) -> dict[str, Any]:
    """Steps 3-4: the sets and the contact sheet.

    Returns:
        The summary dictionary (also written to ``build_summary.json``).
    """
    import torch

    from training.inverse_render.fit_result import fit_paths, list_fits, load_fit
    from training.synth.__main__ import load_model
    from training.synth.coarse import CoarseConfig
    from training.synth.common import load_photo_fit
    from training.synth.contact_sheet import make_contact_sheet
    from training.synth.fine import FineConfig
    from training.synth.motion import MotionModel, default_motion_path
    from training.synth.runner import coefficient_rms, run_synthesis

    torch.set_num_threads(max(1, args.threads))
    model = load_model(args.model)
    motion = MotionModel.load()
    names = list_fits(fits_dir)
    if not names:
        raise ValueError(f"no complete fits in {fits_dir}")
    sets: dict[str, Any] = {}
    for kind in kinds:
        t = time.time()
        sets[kind] = run_synthesis(
            kind,
            fits_dir,
            out,
            model,
            per_photo=args.per_photo,
            seed=args.seed,
            overwrite=args.overwrite,
            motion=motion,
            progress=not args.no_progress,
        )
        timings[kind] = time.time() - t
    sheet = None
    if not args.no_sheet:
        t = time.time()
        all_fits = [load_fit(fit_paths(fits_dir, n)["json"]) for n in names]
        if args.max_coeff_rms is not None:
            all_fits = [
                f for f in all_fits if max(coefficient_rms(f.params).values()) <= args.max_coeff_rms
            ]
        used = [f.name for f in all_fits]
        photos_dir = pathlib.Path(args.photos) if args.photos else out / "photos"
        sheet_photos = args.sheet_photos
        if sheet_photos is None and args.fits is None:
            sheet_photos = _public_domain_builtins(photos_dir)
        if sheet_photos is not None and sheet_photos != "all":
            wanted = [n.strip() for n in sheet_photos.split(",") if n.strip()]
            absent = [n for n in wanted if n not in used]
            if absent:
                raise ValueError(f"--sheet-photos: no usable fit named {absent}; fits: {used}")
            used = wanted
        rows = [load_photo_fit(fits_dir, n, model) for n in used[: args.sheet_rows]]
        sheet = make_contact_sheet(
            rows,
            all_fits,
            model,
            args.sheet or out / "synth_contact_sheet.png",
            seed=args.seed,
            coarse_cfg=CoarseConfig(per_photo=args.per_photo),
            fine_cfg=FineConfig(per_photo=args.per_photo),
            motion=motion,
            fits_dir=fits_dir,
            overwrite=args.overwrite_sheet,
        )
        timings["sheet"] = time.time() - t
        print(f"contact sheet: {sheet}")
    return {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "fits": str(fits_dir),
        "photos_fitted": names,
        "model_id": model.data.model_id,
        "per_photo": args.per_photo,
        "seed": args.seed,
        "motion_file": str(default_motion_path().name),
        "sets": sets,
        "sheet": str(sheet) if sheet else None,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


if __name__ == "__main__":
    raise SystemExit(main())
