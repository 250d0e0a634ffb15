# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: inverse-rendering seconds per photo (stage breakdown) on the built-in photos.

Paper (Guo et al.): about 8 s per frame; target here: 2 s or less on 2 CPU cores.

Usage::

    python benchmarks/bench_inverse_render.py [--images DIR_OR_FILES ...] [--threads 1]
        [--model PATH | --synthetic-model] [--repeat 1]

Without ``--images`` the built-in photos (``training.builtin_photos``) are materialised into a
temporary folder. The first photo is run once untimed to compile the numba rasteriser. Stage
columns are wall-clock seconds; ``cpu_s`` is the process CPU time of the whole photo (on a shared
machine it is the better estimate of the uncontended cost).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", nargs="+", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--synthetic-model", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from face3d_ros.detection import FaceDetector
    from face3d_ros.model.morphable import MorphableModel
    from training.inverse_render.__main__ import collect_images, read_rgb
    from training.inverse_render.pipeline import NoFaceError, inverse_render_photo

    torch.set_num_threads(args.threads)
    if args.synthetic_model:
        from face3d_ros.model.synthetic import make_synthetic_model

        model = MorphableModel(make_synthetic_model())
    elif args.model:
        model = MorphableModel.from_file(args.model)
    else:
        from face3d_ros.model.default import load_default_model

        model = MorphableModel(load_default_model())
    with tempfile.TemporaryDirectory() as tmp:
        if args.images:
            paths = collect_images(args.images)
        else:
            from training.builtin_photos import materialise

            paths = materialise(tmp)
        detector = FaceDetector()
        images = [(p.stem, read_rgb(p)) for p in paths]
        t0 = time.perf_counter()
        for _name, img in images:
            try:
                inverse_render_photo(img, model, detector=detector)
                break
            except NoFaceError:
                continue
        warm = time.perf_counter() - t0
        print(
            f"model {model.data.model_id}: {model.n_vertices} vertices, dims "
            f"id/exp/alb = {model.n_id}/{model.n_exp}/{model.n_alb}; torch threads "
            f"{torch.get_num_threads()}; warm-up (numba compile) {warm:.2f} s"
        )
        keys = ("detect", "stage1", "stage2", "stage3", "total")
        print(
            f"{'photo':<14}{'size':>11}"
            + "".join(f"{k:>9}" for k in keys)
            + "  cpu_s   lm_rmse  photo1  photo2"
        )
        rows = []
        for name, img in images:
            for _ in range(args.repeat):
                c0 = time.process_time()
                try:
                    res, _ = inverse_render_photo(img, model, detector=detector, name=name)
                except NoFaceError:
                    print(f"{name:<14} no face")
                    break
                t = res.timings
                r = res.residuals
                cpu = time.process_time() - c0
                rows.append([t[k] for k in keys] + [cpu])
                size = f"{img.shape[1]}x{img.shape[0]}"
                print(
                    f"{name:<14}{size:>11}"
                    + "".join(f"{t[k]:9.3f}" for k in keys)
                    + f"{cpu:7.2f}"
                    + f"  {r['landmark_rmse_px']:8.2f} {r['photo_rmse_before_disp']:7.4f}"
                    f" {r['photo_rmse_after_disp']:7.4f}"
                )
        if rows:
            mean = np.mean(np.array(rows), 0)
            print(
                f"{'mean':<25}"
                + "".join(f"{v:9.3f}" for v in mean[:-1])
                + f"{mean[-1]:7.2f}"
                + f"   ({len(rows)} fits; wall seconds per photo, cpu_s = process CPU time)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
