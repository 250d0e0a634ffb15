# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Learning curves of a training run: train and held-out loss against sample presentations.

::

    python -m training.train.plot_curves ~/.cache/face3d_ros/runs/NAME --out docs/img/curve.png
    python -m training.train.plot_curves RUN --out PNG --real real.csv --overwrite

Reads ``curves.csv`` (every ``log_every`` steps, train batches) and ``val.csv`` (every
``val_every`` steps, the held-out set) of the run folder; the x axis is presentations
(step x the run's batch size, plus ``--offset``: presentations before this run). ``--real CSV``
adds a third panel from a file with columns ``presentations`` and one or more real-face
figures (e.g. the benchmark's FRL NME at some checkpoints). An existing ``--out`` is never
replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys
from collections.abc import Sequence

import numpy as np

__all__ = ["main", "read_csv"]

def read_csv(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Columns of a numeric CSV file as float arrays (empty dict when the file is missing)."""
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.asarray([float(r[k]) for r in rows], np.float64) for k in rows[0]}


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or y.size < n:
        return y
    kernel = np.ones(n) / n
    return np.convolve(np.pad(y, (n // 2, n - 1 - n // 2), mode="edge"), kernel, mode="valid")


def _batch_size(run: pathlib.Path) -> int:
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    return int(cfg.get("batch_size", 32))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 on bad input)."""
    ap = argparse.ArgumentParser(prog="python -m training.train.plot_curves", description=__doc__)
    ap.add_argument("run", type=pathlib.Path, help="run folder (curves.csv, val.csv, config.yaml)")
    ap.add_argument("--out", type=pathlib.Path, required=True, help="PNG to write")
    ap.add_argument("--offset", type=float, default=0.0, help="presentations before this run")
    ap.add_argument("--smooth", type=int, default=10, help="moving average of train points")
    ap.add_argument("--real", type=pathlib.Path, default=None, help="CSV of real-face figures")
    ap.add_argument("--title", default=None)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"error: {args.out} exists (pass --overwrite)", file=sys.stderr)
        return 2
    train = read_csv(args.run / "curves.csv")
    if not train:
        print(f"error: no curves.csv in {args.run}", file=sys.stderr)
        return 2
    val = read_csv(args.run / "val.csv")
    real = read_csv(args.real) if args.real is not None else {}
    if args.real is not None and "presentations" not in real:
        print(f"error: {args.real} needs a 'presentations' column", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bs = _batch_size(args.run)
    panels = 2 + bool(real)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.0))
    x = train["step"] * bs + args.offset
    ax = axes[0]
    for term in ("loss", "l_pose", "l_geo"):
        if term in train:
            ax.plot(x, _smooth(train[term], args.smooth), label=f"train {term}", lw=1.2)
        if term in val:
            ax.plot(val["step"] * bs + args.offset, val[term], "o--", label=f"held-out {term}")
    if "l_pose_prev" in val:  # tracking runs: L_pose of keeping the previous pose
        ax.plot(val["step"] * bs + args.offset, val["l_pose_prev"], ":", color="gray",
                label="held-out l_pose, previous pose kept")
    ax.set_xlabel("presentations")
    ax.set_ylabel("px^2 (crop pixels)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    if "vertex_mm" in train:
        ax.plot(x, _smooth(train["vertex_mm"], args.smooth), label="train vertex error", lw=1.2)
    if "vertex_mm" in val:
        ax.plot(val["step"] * bs + args.offset, val["vertex_mm"], "o--", label="held-out")
    ax.set_xlabel("presentations")
    ax.set_ylabel("mm")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if real:
        ax = axes[2]
        for k, v in real.items():
            if k != "presentations":
                ax.plot(real["presentations"], v, "o-", label=k)
        ax.set_xlabel("presentations")
        ax.set_ylabel("real-face benchmark")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(args.title or args.run.name)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
