# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command line: ``python -m training.synth coarse|fine|tracking --fits DIR --out DIR [...]``.

Writes ``<out>/<kind>/`` (or ``<out>/<kind>/part-i-of-n/`` with ``--shard i/n``). Re-running the
same command resumes after the last finished photo; ``--overwrite`` regenerates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def load_model(spec: str) -> Any:
    """``"default"`` (shipped model), ``"synthetic"`` (test model) or a model ``.npz`` path.

    Returns:
        A :class:`~face3d_ros.model.morphable.MorphableModel`.
    """
    from face3d_ros.model.morphable import MorphableModel

    if spec == "default":
        from face3d_ros.model.default import load_default_model

        return MorphableModel(load_default_model())
    if spec == "synthetic":
        from face3d_ros.model.synthetic import make_synthetic_model

        return MorphableModel(make_synthetic_model())
    return MorphableModel.from_file(spec)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs)."""
    parser = argparse.ArgumentParser(prog="python -m training.synth", description=__doc__)
    parser.add_argument("kind", choices=("coarse", "fine", "tracking"))
    parser.add_argument("--fits", required=True, help="folder of fits (training.inverse_render)")
    parser.add_argument("--out", required=True, help="output folder (dataset in <out>/<kind>)")
    parser.add_argument("--per-photo", type=int, default=20, help="samples per photo (paper: 20)")
    parser.add_argument("--shard", default=None, help="i/n: process every n-th photo from i")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="default", help="default | synthetic | model .npz")
    parser.add_argument("--motion", default=None, help="motion JSON (default: shipped)")
    parser.add_argument("--yaw", type=float, default=60.0, help="coarse: new yaw in +-deg")
    parser.add_argument("--pitch", type=float, default=30.0, help="coarse: new pitch in +-deg")
    parser.add_argument("--roll", type=float, default=30.0, help="coarse: new roll in +-deg")
    parser.add_argument("--samples-per-shard", type=int, default=256)
    parser.add_argument(
        "--max-coeff-rms",
        type=float,
        default=None,
        help="skip fits whose RMS id/exp coefficient exceeds this (sigma units)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="regenerate an existing set")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    import torch

    from training.synth.coarse import CoarseConfig
    from training.synth.common import parse_shard
    from training.synth.motion import MotionModel
    from training.synth.runner import run_synthesis

    torch.set_num_threads(max(1, args.threads))
    try:
        shard = parse_shard(args.shard)
        model = load_model(args.model)
        motion = MotionModel.load(args.motion) if args.kind == "tracking" else None
        run_synthesis(
            args.kind,
            args.fits,
            args.out,
            model,
            per_photo=args.per_photo,
            shard=shard,
            seed=args.seed,
            overwrite=args.overwrite,
            motion=motion,
            coarse_cfg=CoarseConfig(
                yaw_range_deg=args.yaw, pitch_range_deg=args.pitch, roll_range_deg=args.roll
            ),
            samples_per_shard=args.samples_per_shard,
            max_coeff_rms=args.max_coeff_rms,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
