# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Contact sheet of the data engine: fits and samples with their labels drawn on them.

One row per photo: the prepared photo's fit crop with the detected (red) and fitted (green)
landmarks, the fit overlay (render over the photo), three CoarseNet samples with the 68
landmarks of their *label* parameters projected (green), a tracking sample (label landmarks
green, previous-frame landmarks red) with its PNCC, and a FineNet sample (gray input and the
transferred displacement). Labels that sit on the faces are the point of the sheet.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["draw_points", "label_landmarks", "make_engine_sheet"]

TILE = 160
GREEN, RED = (40, 255, 40), (255, 40, 40)


def label_landmarks(
    model: Any, sample: dict[str, np.ndarray], pose_key: str = "pose"
) -> np.ndarray:
    """The 68 landmarks ``[68, 2]`` of a sample's label parameters, in the sample's pixels."""
    from face3d_ros.geometry.camera import project_np

    lm = np.asarray(model.data.landmark_indices, np.int64)
    verts = model.numpy().shape(sample["alpha_id"], sample["alpha_exp"]).reshape(-1, 3)
    return project_np(verts[lm], np.asarray(sample[pose_key], np.float32))[:, :2]


def draw_points(
    image: np.ndarray, sets: Sequence[tuple[np.ndarray, tuple[int, int, int]]]
) -> np.ndarray:
    """The image scaled to a :data:`TILE` tile with each ``(points [M, 2], rgb)`` drawn."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    k = TILE / float(img.shape[0])
    tile = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)
    for points, colour in sets:
        for u, v in np.asarray(points, np.float64).reshape(-1, 2) * k:
            if np.isfinite(u) and np.isfinite(v):
                cv2.circle(tile, (int(round(u)), int(round(v))), 1, colour, -1, cv2.LINE_AA)
    return tile


def _tile(image: np.ndarray) -> np.ndarray:
    return draw_points(image, [])


def _disp_tile(disp: np.ndarray, mask: np.ndarray) -> np.ndarray:
    lim = float(np.percentile(np.abs(disp[mask > 0]), 99)) if (mask > 0).any() else 1.0
    x = np.clip(disp / max(lim, 1e-6), -1.0, 1.0)
    rgb = np.stack([0.5 + 0.5 * x, 0.5 - 0.5 * np.abs(x), 0.5 - 0.5 * x], -1)
    rgb[mask == 0] = 1.0
    return _tile(rgb.astype(np.float32))


def make_engine_sheet(
    fits_dir: pathlib.Path,
    names: Sequence[str],
    all_names: Sequence[str],
    detail_sources: Sequence[str],
    model: Any,
    out_path: pathlib.Path,
    *,
    seed: int = 0,
    motion: Any = None,
    coarse_cfg: Any = None,
    tracking_cfg: Any = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write the sheet for the fits ``names`` (rows), with the sets' settings and pools.

    Args:
        fits_dir: The engine's fits.
        names: Fits shown, one row each.
        all_names: Every accepted fit (the expression / light pools, as the sets used them).
        detail_sources: Dataset B (FineNet detail sources).
        model: MorphableModel.
        out_path: PNG path.
        seed: The sets' seed.
        motion: The tracking set's :class:`~training.synth.motion.MotionModel`.
        coarse_cfg: The CoarseNet set's ``CoarseConfig`` (default: the defaults).
        tracking_cfg: The tracking set's ``TrackingConfig`` (default: the defaults).
        overwrite: Replace an existing PNG.

    Returns:
        The written path.

    Raises:
        FileExistsError: ``out_path`` exists and ``overwrite`` is false.
    """
    from face3d_ros.geometry.crop import crop_image, points_to_crop
    from training.inverse_render.fit_result import fit_paths, load_fit
    from training.synth.coarse import CoarseConfig, make_coarse_sample
    from training.synth.common import load_photo_fit
    from training.synth.fine import FineConfig, make_fine_sample
    from training.synth.motion import MotionModel
    from training.synth.tracking import TrackingConfig, make_tracking_sample

    out = pathlib.Path(out_path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite to replace it")
    motion = motion or MotionModel.load()
    coarse_cfg = coarse_cfg or CoarseConfig()
    tracking_cfg = tracking_cfg or TrackingConfig()
    pool = {n: load_fit(fit_paths(fits_dir, n)["json"], arrays=()) for n in all_names}
    keys = ("displacement_mm", "face_mask", "vertex_uv", "vertex_visible")
    sources = [load_fit(fit_paths(fits_dir, n)["json"], arrays=keys) for n in detail_sources]
    titles = ["fit crop: detected/fitted", "fit overlay", "coarse 1", "coarse 2", "coarse 3"]
    titles += ["tracking: cur/prev", "tracking PNCC", "fine: gray", "fine: displacement"]
    rows = []
    for name in names:
        pf = load_photo_fit(fits_dir, name, model)
        exps = [pool[n].params.alpha_exp for n in all_names if n != name]
        lights = [pool[n].params.gamma for n in all_names if n != name]
        crop = crop_image(pf.photo, pf.fit.crop, 256)
        det = points_to_crop(pf.fit.arrays["landmarks_detected"], pf.fit.crop, 256)
        fitted = points_to_crop(pf.fit.arrays["landmarks_fitted"], pf.fit.crop, 256)
        tiles = [draw_points(crop, [(det, RED), (fitted, GREEN)])]
        overlay = cv2.imread(str(fit_paths(fits_dir, name)["overlay"]), cv2.IMREAD_COLOR)
        if overlay is not None:
            s = overlay.shape[0]
            tiles.append(_tile(cv2.cvtColor(overlay[:, s : 2 * s], cv2.COLOR_BGR2RGB)))
        else:
            tiles.append(_tile(np.ones((8, 8, 3), np.float32)))
        for k in range(3):
            sample, _ = make_coarse_sample(pf, model, k, coarse_cfg, seed, exps, lights)
            tiles.append(draw_points(sample["image"], [(label_landmarks(model, sample), GREEN)]))
        track, extra = make_tracking_sample(
            pf, model, 0, coarse_cfg, tracking_cfg, motion, seed, exps, lights
        )
        prev = dict(track, alpha_exp=extra["prev_alpha_exp"])
        cur = draw_points(
            track["image"],
            [
                (label_landmarks(model, prev, "prev_pose"), RED),
                (label_landmarks(model, track), GREEN),
            ],
        )
        tiles += [cur, _tile(track["pncc"])]
        fine, _ = make_fine_sample(pf, sources or [pf.fit], model, 0, FineConfig(), seed)
        tiles += [_tile(fine["gray"]), _disp_tile(fine["displacement"], fine["mask"])]
        row = np.concatenate(tiles, axis=1)
        label = np.full((14, row.shape[1], 3), 255, np.uint8)
        cv2.putText(label, name, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, row], axis=0))
    head = np.full((16, rows[0].shape[1], 3), 255, np.uint8)
    for c, title in enumerate(titles):
        cv2.putText(
            head,
            title,
            (c * TILE + 3, 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.36,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    sheet = np.concatenate([head, *rows], axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out
