# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Render the default face model under several identities, expressions and lightings.

Writes the README picture ``docs/img/default_model.png`` (a labelled grid)::

    python tools/make_model_figure.py [--out docs/img/default_model.png] [--size 256] [--overwrite]

Row 1: the mean face and random identities (shape and albedo drawn from the N(0, I) prior, seeded).
Row 2: expressions (named blendshapes of the default model, looked up in its metadata).
Row 3: lighting and pose (SH lighting from :func:`face3d_ros.geometry.sh.directional_gamma`).
The picture is deterministic for a given model file.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _expression(names: list[str], n_exp: int, wanted: dict[str, float]) -> np.ndarray:
    """Expression coefficients setting the named blendshapes.

    Args:
        names: Blendshape names of the first components (model metadata).
        n_exp: Number of expression components.
        wanted: ``{name: alpha}`` to set.

    Returns:
        [n_exp] float32 coefficients.

    Raises:
        KeyError: A requested name is not in the model.
    """
    alpha = np.zeros(n_exp, np.float32)
    for name, value in wanted.items():
        if name not in names:
            raise KeyError(f"expression {name!r} not in the model's blendshapes")
        alpha[names.index(name)] = value
    return alpha


def main(argv: list[str] | None = None) -> int:
    """Render the grid and write the PNG.

    Args:
        argv: Command-line arguments.

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs/img/default_model.png")
    parser.add_argument("--size", type=int, default=256, help="render size per face (pixels)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"{args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from face3d_ros.geometry.sh import default_gamma, directional_gamma
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.morphable import MorphableModel
    from face3d_ros.params import FaceParams
    from face3d_ros.render.maps import render_face

    data = load_default_model()  # FileNotFoundError with instructions when missing
    model = MorphableModel(data)
    names = list(data.metadata.get("expression", {}).get("designed_blendshapes", []))
    size = args.size
    extent = float(np.ptp(data.mean_shape[:, :2], axis=0).max())
    s = 0.85 * size / extent
    centre_y = 0.5 * (data.mean_shape[:, 1].max() + data.mean_shape[:, 1].min())
    frontal = np.array([0.0, 0.0, 0.0, size / 2, size / 2 + s * centre_y, s], np.float32)
    light = directional_gamma([0.35, 0.35, 1.0], ambient=0.45, color=0.75)
    neutral = FaceParams.neutral(model, pose=frontal).copy(gamma=light)
    rng = np.random.default_rng(7)

    rows: list[list[tuple[str, FaceParams]]] = [[("mean face", neutral)]]
    for k in range(4):
        rows[0].append(
            (
                f"identity {k + 1}",
                neutral.copy(
                    alpha_id=rng.normal(size=model.n_id).astype(np.float32),
                    alpha_alb=rng.normal(size=model.n_alb).astype(np.float32),
                ),
            )
        )
    expressions = [
        ("jaw open", {"jaw_open": 2.5}),
        ("smile", {"smile_l": 2.5, "smile_r": 2.5}),
        ("brows raised", {"brow_inner_raise_l": 2.5, "brow_inner_raise_r": 2.5,
                          "brow_outer_raise_l": 2.5, "brow_outer_raise_r": 2.5}),
        ("pucker", {"pucker": 2.5}),
        ("eyes closed", {"eye_close_l": 2.5, "eye_close_r": 2.5}),
    ]  # fmt: skip
    rows.append(
        [
            (label, neutral.copy(alpha_exp=_expression(names, model.n_exp, wanted)))
            for label, wanted in expressions
        ]
    )
    yaw = frontal.copy()
    yaw[1] = 0.6
    pitch = frontal.copy()
    pitch[0] = -0.35
    rows.append(
        [
            ("ambient (default)", neutral.copy(gamma=default_gamma())),
            ("light from left", neutral.copy(gamma=directional_gamma([-1, 0.2, 0.4], ambient=0.2))),
            ("light from above", neutral.copy(gamma=directional_gamma([0, 1, 0.3], ambient=0.2))),
            ("warm, from right", neutral.copy(
                gamma=directional_gamma([1, 0.1, 0.5], color=[1.0, 0.8, 0.6], ambient=0.25))),
            ("yaw 0.6 rad, pitch -0.35", neutral.copy(pose=np.r_[pitch[:1], yaw[1:]])),
        ]
    )  # fmt: skip
    row_titles = ["identity (+ albedo)", "expression", "lighting / pose"]
    n_cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.4 * n_cols, 2.6 * len(rows)), dpi=100)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.axis("off")
            if j >= len(row):
                continue
            label, params = row[j]
            img = render_face(model, params, size, size).image
            ax.imshow(np.clip(img, 0, 1) ** (1 / 2.2))  # linear RGB -> display gamma
            ax.set_title(label, fontsize=9)
        axes[i, 0].text(
            -0.08, 0.5, row_titles[i], transform=axes[i, 0].transAxes, rotation=90,
            va="center", ha="right", fontsize=10,
        )  # fmt: skip
    fig.suptitle(
        f"face3d_ros default model ({data.model_id}): {data.n_vertices} vertices", fontsize=11
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, facecolor="white")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
