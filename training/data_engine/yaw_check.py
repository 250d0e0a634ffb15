# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Does the stage-1 fit turn with the head? Fit yaw vs the benchmark's PnP yaw, per contour setting.

``python -m training.data_engine.yaw_check --cache <engine cache> --photos 16 --arms 1,0,10:25``

Takes a seeded choice of prepared FairFace photos (``<cache>/photos``) whose head is turned by at
least ``--min-yaw`` degrees (PnP of the mean face's 51 inner landmarks to the photo's dlib
landmarks: the real-face benchmark's head-pose reference,
:func:`training.data_engine.prepare.prepared_yaw_deg`), runs the stage-1 fit
(:func:`training.inverse_render.fit.fit_model`, in the fitting stage's crop) once per arm and
prints, per arm, the correlation, mean absolute error and slope of the fitted yaw against the
reference. An arm is a contour weight (``1`` = the default fit, ``0`` = no jaw-contour
landmarks) or ``START:END`` (``FitConfig.contour_fade_deg``: full weight up to START degrees,
none from END). Reads the cache only; writes nothing unless ``--json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import numpy as np

__all__ = ["main", "parse_arm"]


def parse_arm(text: str) -> dict[str, Any]:
    """``W`` (a contour weight) or ``START:END`` (a contour fade) as FitConfig fields."""
    if ":" in text:
        from training.inverse_render.fit import parse_contour_fade

        return {"contour_fade_deg": parse_contour_fade(text.replace(":", ","))}
    weight = float(text)
    if weight < 0:
        raise ValueError(f"a contour weight must be >= 0, got {text!r}")
    return {"contour_weight": weight}


def _select(photos: pathlib.Path, n: int, min_yaw: float, seed: int, lm3d: np.ndarray) -> list:
    from training.data_engine.prepare import prepared_yaw_deg

    names = sorted(
        p.name.removesuffix(".prep.json")
        for p in photos.glob("fairface-*.prep.json")
        if (photos / (p.name.removesuffix(".prep.json") + ".jpg")).is_file()
    )
    np.random.default_rng(seed).shuffle(names)
    chosen = []
    for name in names:
        try:
            yaw = prepared_yaw_deg(photos, name, lm3d)
        except RuntimeError:
            continue
        if abs(yaw) >= min_yaw:
            chosen.append((name, yaw))
        if len(chosen) >= n:
            break
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Run the check; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m training.data_engine.yaw_check",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True, help="engine cache with a prepared photos/ folder")
    ap.add_argument("--photos", type=int, default=16, help="turned photos fitted per arm")
    ap.add_argument("--min-yaw", type=float, default=20.0, help="reference |yaw| of a photo")
    ap.add_argument("--arms", default="1,0", help="comma-separated W or START:END")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the per-photo yaws here")
    args = ap.parse_args(argv)
    arms = {a: parse_arm(a) for a in args.arms.split(",") if a}

    import cv2
    import torch

    from face3d_ros.geometry.crop import crop_from_points, crop_image
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.morphable import MorphableModel
    from training.benchmark_real.headpose import mean_face_landmarks
    from training.builtin_photos import read_pts
    from training.inverse_render.fit import FitConfig, fit_model
    from training.inverse_render.pipeline import InverseRenderConfig, image_to_crop_points

    torch.set_num_threads(1)
    photos = pathlib.Path(args.cache).expanduser() / "photos"
    model = MorphableModel(load_default_model())
    chosen = _select(photos, args.photos, args.min_yaw, args.seed,
                     mean_face_landmarks(model))
    if not chosen:
        print(f"no prepared FairFace photo in {photos} is turned by {args.min_yaw:g} degrees",
              file=sys.stderr)
        return 1
    ir = InverseRenderConfig()
    fits: dict[str, list[tuple[str, float, float]]] = {a: [] for a in arms}
    t0 = time.perf_counter()
    for name, ref in chosen:
        bgr = cv2.imread(str(photos / f"{name}.jpg"))
        image = np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255.0
        lm = read_pts(photos / f"{name}.pts")
        box = crop_from_points(lm, scale=ir.crop_scale)
        crop = crop_image(image, box, ir.crop_size).astype(np.float32)
        lm_crop = image_to_crop_points(lm, box, ir.crop_size)
        for arm, fields in arms.items():
            fit = fit_model(model, crop, lm_crop, FitConfig(**fields))
            fits[arm].append((name, ref, float(np.degrees(fit.params.pose[1]))))
    print(f"{len(chosen)} photos with reference |yaw| >= {args.min_yaw:g} deg, "
          f"{len(arms)} arms, {time.perf_counter() - t0:.0f} s")
    for arm, rows in fits.items():
        ref = np.array([r[1] for r in rows])
        got = np.array([r[2] for r in rows])
        corr = float(np.corrcoef(ref, got)[0, 1]) if len(rows) > 1 else float("nan")
        slope = float(np.polyfit(ref, got, 1)[0]) if len(rows) > 1 else float("nan")
        print(f"arm {arm:>8}: corr {corr:.3f}  MAE {np.abs(got - ref).mean():.1f} deg  "
              f"slope {slope:.2f}  mean |ref| {np.abs(ref).mean():.1f}  "
              f"mean |fit| {np.abs(got).mean():.1f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(fits, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
