# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command line: convert BFM 2009 + Exp_Pca.bin or FLAME into a face3d_ros model file.

Examples::

    python -m face3d_ros.model.convert bfm --mat 01_MorphableModel.mat --exp Exp_Pca.bin \
        --exp-std std_exp.txt --exp-idx BFM_exp_idx.mat --front-idx BFM_front_idx.mat \
        --landmarks facemodel_info.mat --out bfm_front.npz
    python -m face3d_ros.model.convert flame --pkl generic_model.pkl \
        --landmarks flame_68.txt --out flame.npz
"""

from __future__ import annotations

import argparse
import pathlib
import pickle
import sys

from face3d_ros.model.io import save_face_model

__all__ = ["main"]


def _dims(value: str) -> int | None:
    """Parse a component count; ``all`` means no truncation."""
    return None if value == "all" else int(value)


def main(argv: list[str] | None = None) -> int:
    """Run the converter CLI.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Exit status: 0 on success, 2 on bad input.
    """
    parser = argparse.ArgumentParser(
        prog="python -m face3d_ros.model.convert", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("bfm", help="Basel Face Model 2009 + FaceWarehouse Exp_Pca.bin")
    b.add_argument("--mat", required=True, type=pathlib.Path, help="01_MorphableModel.mat")
    b.add_argument("--exp", required=True, type=pathlib.Path, help="Exp_Pca.bin")
    b.add_argument("--exp-std", required=True, type=pathlib.Path, help="std_exp.txt")
    b.add_argument("--exp-idx", required=True, type=pathlib.Path, help="BFM_exp_idx.mat")
    b.add_argument("--front-idx", type=pathlib.Path, help="BFM_front_idx.mat (optional)")
    b.add_argument("--n-id", type=_dims, default=100, help="identity components or 'all'")
    b.add_argument("--n-exp", type=_dims, default=79, help="expression components or 'all'")
    b.add_argument("--n-alb", type=_dims, default=100, help="albedo components or 'all'")
    f = sub.add_parser("flame", help="FLAME generic_model.pkl")
    f.add_argument("--pkl", required=True, type=pathlib.Path, help="generic_model.pkl")
    f.add_argument("--n-shape", type=int, default=300, help="identity columns in shapedirs")
    f.add_argument("--n-id", type=_dims, default=100, help="identity components or 'all'")
    f.add_argument("--n-exp", type=_dims, default="all", help="expression components or 'all'")
    for p in (b, f):
        p.add_argument(
            "--landmarks",
            required=True,
            type=pathlib.Path,
            help="68 vertex indices of the output mesh (.txt/.npy, or .mat 'keypoints')",
        )
        p.add_argument("--one-based", action="store_true", help="text/.npy indices start at 1")
        p.add_argument("--out", required=True, type=pathlib.Path, help="output .npz")
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--basis-dtype", choices=("float32", "float16"), default="float32")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"error: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    try:
        if args.kind == "bfm":
            from face3d_ros.model.bfm import convert_bfm

            data = convert_bfm(
                args.mat,
                args.exp,
                args.exp_std,
                args.exp_idx,
                args.landmarks,
                front_idx_path=args.front_idx,
                landmarks_one_based=args.one_based,
                n_id=args.n_id,
                n_exp=args.n_exp,
                n_alb=args.n_alb,
            )
        else:
            from face3d_ros.model.flame import convert_flame

            data = convert_flame(
                args.pkl,
                args.landmarks,
                landmarks_one_based=args.one_based,
                n_shape=args.n_shape,
                n_id=args.n_id,
                n_exp=args.n_exp,
            )
    except (ValueError, FileNotFoundError, pickle.UnpicklingError) as exc:  # named causes
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_face_model(data, args.out, overwrite=args.overwrite, basis_dtype=args.basis_dtype)
    print(
        f"wrote {args.out}: {data.model_id}, {data.n_vertices} vertices, "
        f"id/exp/alb = {data.n_id}/{data.n_exp}/{data.n_alb}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
