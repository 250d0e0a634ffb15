# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: rasterization and shading of the default face mesh on one CPU core.

Run from the repository root (after ``source tools/env.sh``, or with ``PYTHONPATH=.``)::

    python benchmarks/bench_render.py [--runs 200] [--sizes 224 256]

Per image size it prints the median and 95th percentile (milliseconds, after a JIT warm-up) of

* ``rasterize``: the numba z-buffer rasterizer (:func:`face3d_ros.render.rasterizer.rasterize`)
  on the projected mesh;
* ``shade``: vertex normals + SH shading per vertex (torch) and interpolation of the shaded
  colours into the image (:func:`face3d_ros.render.interpolate.interpolate_np`);
* ``raster+shade``: the sum of the two, measured together (the figure the 5 ms target is for);
* ``render_face``: the full convenience path (model evaluation, shading, rasterization and
  interpolation of the image, normal and depth maps, no autograd) for reference.

The minimum is printed too: on a shared machine it is the best estimate of the uncontended cost.

numba and torch are limited to one thread. The mesh is the shipped default model
(``face3d_ros.model.default.load_default_model``); only if its file is missing does the script
fall back to the synthetic test model, and then it says so loudly in its output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import numpy as np


def _stats(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Time ``fn`` ``runs`` times.

    Args:
        fn: Callable to time.
        runs: Number of timed runs.

    Returns:
        ``(min_ms, median_ms, p95_ms)``.
    """
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.min(times)), float(np.median(times)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 256], help="image sizes")
    args = parser.parse_args(argv)

    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import numba
    import torch

    numba.set_num_threads(1)
    torch.set_num_threads(1)

    from face3d_ros.geometry.camera import project_np
    from face3d_ros.geometry.sh import directional_gamma
    from face3d_ros.model.default import default_model_path, load_default_model
    from face3d_ros.model.morphable import MorphableModel
    from face3d_ros.params import FaceParams
    from face3d_ros.render.interpolate import interpolate_np
    from face3d_ros.render.maps import render_face, shade_vertices
    from face3d_ros.render.rasterizer import rasterize
    from face3d_ros.render.warmup import warmup

    if default_model_path().is_file():
        data = load_default_model()
        label = f"default model {data.model_id}"
    else:
        from face3d_ros.model.synthetic import make_synthetic_model

        print(
            "WARNING: default model file not found at "
            f"{default_model_path()}; benchmarking the SYNTHETIC test mesh instead. "
            "These numbers do NOT describe the default model.",
            file=sys.stderr,
        )
        data = make_synthetic_model(resolution=96)
        label = "SYNTHETIC test mesh (default model missing)"
    model = MorphableModel(data)
    tri = data.triangles.astype(np.int64)
    jit_s = warmup()
    print(f"mesh: {label}: {data.n_vertices} vertices, {tri.shape[0]} triangles")
    print(
        f"threads: numba {numba.get_num_threads()}, torch {torch.get_num_threads()}; "
        f"JIT warm-up (compile or cache load) {jit_s * 1e3:.0f} ms; runs per figure: {args.runs}"
    )
    print(f"{'size':>5} {'stage':<14} {'median ms':>10} {'p95 ms':>8} {'min ms':>8}  covered px")
    gamma = directional_gamma([0.4, 0.3, 1.0], ambient=0.4)
    verts = data.mean_shape.astype(np.float32)
    vt = torch.from_numpy(verts)[None]
    alb = torch.from_numpy(data.mean_albedo)[None]
    g = torch.from_numpy(gamma)[None]
    for size in args.sizes:
        extent = float(np.ptp(data.mean_shape[:, :2], axis=0).max())
        s = 0.75 * size / extent
        pose = np.array([0.1, 0.35, 0.05, size / 2, size / 2, s], np.float32)
        screen = project_np(verts, pose)
        pt = torch.from_numpy(pose)[None]

        def raster(screen: np.ndarray = screen, size: int = size) -> object:
            return rasterize(screen, tri, size, size)

        def shade(frag: object, pt: torch.Tensor = pt) -> np.ndarray:
            with torch.no_grad():
                colors = shade_vertices(vt, alb, g, pt, tri)[0].numpy()
            return interpolate_np(colors, tri, frag)

        frag = raster()
        params = FaceParams.neutral(model, pose=pose).copy(gamma=gamma)
        rows = [
            ("rasterize", raster),
            ("shade", lambda frag=frag, shade=shade: shade(frag)),
            ("raster+shade", lambda raster=raster, shade=shade: shade(raster())),
            ("render_face", lambda p=params, n=size: render_face(model, p, n, n)),
        ]
        for name, fn in rows:
            for _ in range(5):
                fn()
            low, med, p95 = _stats(fn, args.runs)
            print(
                f"{size:>5} {name:<14} {med:>10.2f} {p95:>8.2f} {low:>8.2f}  {int(frag.mask.sum())}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
