# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage-1 fit accuracy on FRL photos for a few ``FitConfig`` settings (evaluation only).

Fits every k-th FRL neutral photo from the dlib landmarks (as the data engine does) and prints
the 68-landmark NME against the manual landmarks per setting, next to dlib's own NME::

    python benchmarks/bench_fit_frl.py --n 24
    python benchmarks/bench_fit_frl.py --n 24 --set w_landmark=20 --set w_landmark=40,w_reg=0.25
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np


def main() -> None:
    """Run the probe."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = pathlib.Path(__file__).resolve().parents[1]
    ap.add_argument("--data", default=str(root.parent / "shared" / "data"))
    ap.add_argument("--n", type=int, default=24, help="photos (every 4th of FRL neutral)")
    ap.add_argument(
        "--set", action="append", default=[], help="k=v[,k=v] FitConfig overrides (repeatable)"
    )
    args = ap.parse_args()
    import torch

    from face3d_ros.detection import FaceDetector
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.morphable import MorphableModel
    from training.benchmark_real.baselines import stage1_fit
    from training.benchmark_real.data import read_pts, read_rgb
    from training.benchmark_real.metrics import nme
    from training.inverse_render.fit import FitConfig

    torch.set_num_threads(1)
    model, det = MorphableModel(load_default_model()), FaceDetector()
    folder = pathlib.Path(args.data) / "faces" / "frl" / "neutral"
    photos = sorted(folder.glob("*.jpg"))[::4][: args.n]
    configs = {"default": FitConfig()}
    for text in args.set:
        kv = dict(item.split("=") for item in text.split(","))
        configs[text] = FitConfig(**{k: float(v) for k, v in kv.items()})
    scores: dict[str, list[float]] = {k: [] for k in configs}
    dlib_scores = []
    for path in photos:
        img, ref = read_rgb(path), read_pts(path.with_suffix(".pts"))
        found = det.detect(img)
        if not found:
            continue
        dlib_scores.append(nme(found[0].landmarks, ref))
        for name, cfg in configs.items():
            scores[name].append(
                nme(stage1_fit(model, img, found[0].landmarks, fit_config=cfg)[0], ref)
            )
    print(f"{len(dlib_scores)} photos; dlib NME mean {np.mean(dlib_scores):.4f}")
    for name, vals in scores.items():
        print(f"{name}: stage-1 NME mean {np.mean(vals):.4f} median {np.median(vals):.4f}")


if __name__ == "__main__":
    main()
