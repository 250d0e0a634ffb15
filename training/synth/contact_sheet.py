# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Contact sheet of synthesised samples: one row per fitted photo.

Columns: the photo around the face, the fit overlay (``<name>.overlay.png`` from the inverse
rendering), ``n_coarse`` CoarseNet samples, a tracking sample (current frame in the previous
frame's crop, and the previous pose's PNCC) and a FineNet sample (gray image and transferred
displacement). Samples are re-created with the same seeds and settings as the datasets
(generation is deterministic per photo and sample number), so the sheet shows dataset samples.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from face3d_ros.nets.contract import DEFAULT_CONTRACT
from training.synth.coarse import CoarseConfig, make_coarse_sample
from training.synth.common import PhotoFit
from training.synth.fine import FineConfig, make_fine_sample
from training.synth.motion import MotionModel
from training.synth.tracking import TrackingConfig, make_tracking_sample

__all__ = ["make_contact_sheet"]


def make_contact_sheet(
    photos: Sequence[PhotoFit],
    all_fits: Sequence[Any],
    model: Any,
    out_path: str | pathlib.Path,
    *,
    seed: int = 0,
    coarse_cfg: CoarseConfig | None = None,
    fine_cfg: FineConfig | None = None,
    tracking_cfg: TrackingConfig | None = None,
    motion: MotionModel | None = None,
    fits_dir: str | pathlib.Path | None = None,
    n_coarse: int = 3,
    dpi: int = 80,
    overwrite: bool = False,
) -> pathlib.Path:
    """Render the sheet to a PNG.

    Args:
        photos: Fitted photos to show (one row each).
        all_fits: Every fit (FitResult), the fine set's detail sources and the coarse set's
            expression pool, exactly as the datasets used them.
        model: MorphableModel.
        out_path: PNG path.
        seed: The datasets' seed.
        coarse_cfg: The datasets' CoarseNet settings.
        fine_cfg: The datasets' FineNet settings.
        tracking_cfg: The datasets' tracking settings.
        motion: The tracking set's motion model (default: shipped).
        fits_dir: Folder of the fits (for the overlay images), optional.
        n_coarse: CoarseNet samples per row.
        dpi: Resolution of the PNG (a tile is about 1.6 inches).
        overwrite: Replace an existing file.

    Returns:
        The written path.

    Raises:
        FileExistsError: ``out_path`` exists and ``overwrite`` is false.
        ValueError: No photos.
    """
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from face3d_ros.geometry.crop import crop_image

    out = pathlib.Path(out_path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite to replace it")
    if not photos:
        raise ValueError("no photos for the contact sheet")
    coarse_cfg = coarse_cfg or CoarseConfig()
    fine_cfg = fine_cfg or FineConfig()
    tracking_cfg = tracking_cfg or TrackingConfig()
    motion = motion or MotionModel.load()
    names = [f.name for f in all_fits]
    exps = {f.name: f.params.alpha_exp for f in all_fits}
    titles = ["photo", "fit overlay"] + [f"coarse #{k}" for k in range(n_coarse)]
    titles += ["tracking: crop", "tracking: PNCC", "fine: gray", "fine: displacement"]
    rows, cols = len(photos), len(titles)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows), squeeze=False)
    for r, pf in enumerate(photos):
        others = [exps[n] for n in names if n != pf.name]
        tiles: list[tuple[np.ndarray, dict[str, Any]]] = []
        tiles.append((crop_image(pf.photo, pf.fit.crop, DEFAULT_CONTRACT.coarse.input_size), {}))
        overlay = None
        if fits_dir is not None:
            path = pathlib.Path(fits_dir) / f"{pf.name}.overlay.png"
            img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
            if img is not None:
                overlay = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        tiles.append((overlay if overlay is not None else np.ones((8, 8, 3)), {}))
        for k in range(n_coarse):
            sample, _ = make_coarse_sample(pf, model, k, coarse_cfg, seed, others)
            tiles.append((sample["image"], {}))
        track, _ = make_tracking_sample(
            pf, model, 0, coarse_cfg, tracking_cfg, motion, seed, others
        )
        tiles.append((track["image"], {}))
        tiles.append((track["pncc"], {}))
        fine, _ = make_fine_sample(pf, list(all_fits), model, 0, fine_cfg, seed)
        tiles.append((fine["gray"], {"cmap": "gray", "vmin": 0, "vmax": 1}))
        disp = fine["displacement"]
        lim = float(np.percentile(np.abs(disp[fine["mask"] > 0]), 99)) if fine["mask"].any() else 1
        tiles.append((disp, {"cmap": "coolwarm", "vmin": -lim, "vmax": lim}))
        for c, (img, kw) in enumerate(tiles):
            ax = axes[r, c]
            ax.imshow(img, **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(pf.name, fontsize=7)
    fig.suptitle("face3d_ros synthesised training data (rows: fitted built-in photos)", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
