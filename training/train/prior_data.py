# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Synthetic sets drawn from the face model's prior (held-out evaluation data and a fallback).

Unlike :mod:`training.synth` (re-posed renders of fitted photos), everything here is sampled:
identity, expression and albedo coefficients from N(0, I) (clipped), SH light from an ambient +
directional distribution, poses uniformly within ranges, a procedural background. With a seed
different from training these are identities, expressions, poses and lights never seen in
training. Crops follow the run-time pipeline exactly: 68 landmarks projected,
``crop_from_points(scale=1.6)``, ``crop_image`` and ``pose_to_crop``.

- :func:`coarse_sample` / :func:`tracking_sample`: shard samples of the ``coarse`` and ``tracking``
  kinds (tracking: the previous frame is the current one with a motion step undone, the current
  frame is cropped by the previous frame's crop, PNCC rendered from the previous parameters).
- :func:`fine_sample`: a *procedural* FineNet sample: horizontal sinusoidal wrinkles (mm, along
  the normal) inside the model's ``wrinkle_mask``, applied to the rendered coarse depth; the gray
  image is shaded from the detailed depth's normals. A stand-in for the Poisson-transfer set.
- :func:`smooth_sequence`: frames of one face moving smoothly (for tracking error and jitter).

``python -m training.train.prior_data coarse|tracking|fine --out DIR -n 200 --model default``
writes a shard set.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from face3d_ros.detection.detector import box_from_landmarks
from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import CropBox, crop_from_points, crop_image, pose_to_crop
from face3d_ros.geometry.sh import directional_gamma, sh_basis_np
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.nets.contract import DEFAULT_CONTRACT
from face3d_ros.params import FaceParams
from face3d_ros.pipeline import net_inputs
from face3d_ros.render.maps import render_face
from face3d_ros.render.rasterizer import rasterize
from training.synth.common import to_uint8

__all__ = [
    "PriorConfig",
    "coarse_sample",
    "fine_sample",
    "random_gamma",
    "random_params",
    "smooth_sequence",
    "tracking_sample",
    "write_prior_set",
]

#: Crop sides of the three sample kinds (the nets' default contract).
_COARSE = DEFAULT_CONTRACT.coarse.input_size
_TRACK = DEFAULT_CONTRACT.tracking.input_size
_FINE = DEFAULT_CONTRACT.fine.input_size


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    """Sampling ranges.

    Attributes:
        yaw_deg: Yaw uniform in +-yaw_deg.
        pitch_deg: Pitch uniform in +-pitch_deg.
        roll_deg: Roll uniform in +-roll_deg.
        coef_clip: Clip of the N(0, 1) coefficients.
        exp_scale: Std of the expression coefficients.
        frame_size: Side of the rendered full frame (pixels).
        face_fraction: Landmark extent / frame side (mean; +-20 %).
        crop_scale: Crop side / face extent (the contract's ``crop_scale``; coarse samples are
            framed around a detector-like box, the others around the landmarks).
        motion_deg: Std of the frame-to-frame rotation step (degrees).
        motion_px: Std of the frame-to-frame translation step (pixels of the frame).
        motion_scale: Std of the relative frame-to-frame scale step.
    """

    yaw_deg: float = 50.0
    pitch_deg: float = 25.0
    roll_deg: float = 25.0
    coef_clip: float = 2.5
    exp_scale: float = 1.0
    frame_size: int = 320
    face_fraction: float = 0.42
    crop_scale: float = DEFAULT_CONTRACT.tracking.crop_scale
    motion_deg: float = 2.0
    motion_px: float = 3.0
    motion_scale: float = 0.015


def random_gamma(rng: np.random.Generator) -> np.ndarray:
    """Ambient + one directional light from the camera side, slightly tinted.

    Args:
        rng: Random stream.

    Returns:
        [27] float32 SH coefficients.
    """
    d = rng.normal(size=3)
    d[2] = abs(d[2]) + 0.7
    ambient = rng.uniform(0.45, 0.9)
    color = rng.uniform(0.1, 0.6) * rng.uniform(0.9, 1.1, size=3)
    return directional_gamma(d, color=color, ambient=ambient * rng.uniform(0.92, 1.08, size=3))


def _landmarks_2d(model: MorphableModel, params: FaceParams) -> np.ndarray:
    """[68, 2] projected landmarks of ``params`` (pose in the frame's pixels)."""
    verts = model.shape_np(params.alpha_id, params.alpha_exp)
    return project_np(verts[model.landmark_indices.numpy()], params.pose)[:, :2]


def random_params(model: MorphableModel, rng: np.random.Generator, cfg: PriorConfig) -> FaceParams:
    """Random face parameters with the pose in the pixels of a ``cfg.frame_size`` frame.

    Args:
        model: Face model.
        rng: Random stream.
        cfg: Ranges.

    Returns:
        The parameters.
    """
    n_id, n_exp, n_alb = model.dims
    c = cfg.coef_clip
    angles = np.deg2rad(
        [
            rng.uniform(-cfg.pitch_deg, cfg.pitch_deg),
            rng.uniform(-cfg.yaw_deg, cfg.yaw_deg),
            rng.uniform(-cfg.roll_deg, cfg.roll_deg),
        ]
    )
    params = FaceParams(
        alpha_id=np.clip(rng.standard_normal(n_id), -c, c).astype(np.float32),
        alpha_exp=np.clip(cfg.exp_scale * rng.standard_normal(n_exp), -c, c).astype(np.float32),
        alpha_alb=np.clip(rng.standard_normal(n_alb), -c, c).astype(np.float32),
        gamma=random_gamma(rng),
        pose=np.array([*angles, 0.0, 0.0, 1.0], np.float32),
    )
    # scale so the landmark extent is about face_fraction of the frame, centre with jitter
    lm = _landmarks_2d(model, params)
    extent = float((lm.max(0) - lm.min(0)).max())
    size = cfg.frame_size
    s = cfg.face_fraction * size * rng.uniform(0.8, 1.2) / max(extent, 1e-6)
    params = params.copy(pose=np.array([*angles, 0.0, 0.0, s], np.float32))
    lm = _landmarks_2d(model, params)
    centre = 0.5 * (lm.max(0) + lm.min(0))
    shift = size / 2 - centre + rng.uniform(-0.08, 0.08, size=2) * size
    return params.copy(pose=np.array([*angles, *shift, s], np.float32))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth random colour field plus fine noise, [size, size, 3] float32 in [0, 1]."""
    low = rng.uniform(0.05, 0.95, size=(4, 4, 3)).astype(np.float32)
    bg = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    bg += rng.normal(0, 0.03, size=(size, size, 3)).astype(np.float32)
    return np.clip(bg, 0.0, 1.0)


def render_frame(
    model: MorphableModel, params: FaceParams, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Render the face over a random background with sensor noise.

    Args:
        model: Face model.
        params: Parameters (pose in frame pixels).
        size: Frame side.
        rng: Random stream.

    Returns:
        [size, size, 3] float32 RGB in [0, 1].
    """
    out = render_face(model, params, size, size)
    bg = _background(rng, size)
    m = out.mask[..., None].astype(np.float32)
    img = m * out.image + (1 - m) * bg
    img += rng.normal(0, 0.01, size=img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _crop_box(model: MorphableModel, params: FaceParams, cfg: PriorConfig) -> CropBox:
    """Run-time crop of a face: landmarks -> ``crop_from_points(scale)``."""
    return crop_from_points(_landmarks_2d(model, params), scale=cfg.crop_scale)


def coarse_sample(
    model: MorphableModel, rng: np.random.Generator, cfg: PriorConfig
) -> dict[str, np.ndarray]:
    """One ``coarse`` shard sample (crop around a detector-like box, pose in crop pixels).

    Args:
        model: Face model.
        rng: Random stream.
        cfg: Ranges.

    Returns:
        Sample dict with the architecture's coarse keys.
    """
    params = random_params(model, rng, cfg)
    frame = render_frame(model, params, cfg.frame_size, rng)
    x0, y0, x1, y1 = box_from_landmarks(_landmarks_2d(model, params))  # contract: detection_box
    box = crop_from_points(np.array([[x0, y0], [x1, y1]]), scale=cfg.crop_scale)
    # a little crop jitter, as a detector's landmarks would give
    j = rng.uniform(-0.04, 0.04, size=3) * box.size
    box = CropBox(box.x0 + j[0], box.y0 + j[1], box.size * (1 + j[2] / box.size))
    return {
        "image": to_uint8(crop_image(frame, box, _COARSE)),
        "alpha_id": params.alpha_id,
        "alpha_exp": params.alpha_exp,
        "pose": pose_to_crop(params.pose, box, _COARSE).astype(np.float32),
        "alpha_alb": params.alpha_alb,
        "gamma": params.gamma.astype(np.float32),
    }


def _motion_step(
    params: FaceParams, rng: np.random.Generator, cfg: PriorConfig, n_exp_change: float = 0.15
) -> FaceParams:
    """The previous frame's parameters: a random motion step undone."""
    d_ang = np.deg2rad(rng.normal(0, cfg.motion_deg, size=3))
    d_t = rng.normal(0, cfg.motion_px, size=2)
    d_s = params.pose[5] * rng.normal(0, cfg.motion_scale)
    pose = params.pose - np.array([*d_ang, *d_t, d_s], np.float32)
    exp = params.alpha_exp - n_exp_change * rng.standard_normal(params.alpha_exp.shape)
    return params.copy(pose=pose.astype(np.float32), alpha_exp=exp.astype(np.float32))


def tracking_input(
    model: MorphableModel,
    frame: np.ndarray,
    prev: FaceParams,
    cfg: PriorConfig,
) -> tuple[np.ndarray, np.ndarray, CropBox]:
    """Crop the frame by the previous parameters' crop and render their PNCC there.

    Args:
        model: Face model.
        frame: [H, W, 3] float32 current frame.
        prev: Previous-frame parameters (pose in frame pixels).
        cfg: Settings (crop scale).

    Returns:
        ``(image [S, S, 3] float32, pncc [S, S, 3] float32, box)`` (S: the tracking side).
    """
    box = _crop_box(model, prev, cfg)
    image = crop_image(frame, box, _TRACK).astype(np.float32)
    x, _ = net_inputs.tracking_input(  # the Tracker's input builder
        image, box, model.shape_np(prev.alpha_id, prev.alpha_exp), prev.pose,
        net_inputs.PnccRenderer(model),
    )  # fmt: skip
    return image, np.ascontiguousarray(x[3:].transpose(1, 2, 0)), box


def tracking_sample(
    model: MorphableModel, rng: np.random.Generator, cfg: PriorConfig
) -> dict[str, np.ndarray]:
    """One ``tracking`` shard sample (poses in the tracking crop of the previous frame).

    Args:
        model: Face model.
        rng: Random stream.
        cfg: Ranges.

    Returns:
        Sample dict with the architecture's tracking keys.
    """
    params = random_params(model, rng, cfg)
    prev = _motion_step(params, rng, cfg)
    frame = render_frame(model, params, cfg.frame_size, rng)
    image, pncc, box = tracking_input(model, frame, prev, cfg)
    return {
        "image": to_uint8(image),
        "pncc": to_uint8(pncc),
        "prev_pose": pose_to_crop(prev.pose, box, _TRACK).astype(np.float32),
        "alpha_id": params.alpha_id,
        "alpha_exp": params.alpha_exp,
        "alpha_alb": params.alpha_alb,
        "gamma": params.gamma.astype(np.float32),
        "pose": pose_to_crop(params.pose, box, _TRACK).astype(np.float32),
    }


def _wrinkle_field(
    wrinkle: np.ndarray, rng: np.random.Generator, size: int, face_px: float
) -> np.ndarray:
    """Horizontal sinusoidal wrinkles (mm) weighted by the wrinkle-region map.

    Args:
        wrinkle: [H, W] wrinkle-region weight in [0, 1].
        rng: Random stream.
        size: Side.
        face_px: Face size in pixels (sets the wrinkle wavelength).

    Returns:
        [H, W] float32 displacement in mm (negative = furrows).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wavelength = face_px * rng.uniform(0.035, 0.07)
    amp = rng.uniform(0.3, 1.2)
    tilt = rng.uniform(-0.15, 0.15)
    bend = rng.uniform(-0.004, 0.004)
    phase = (yy + tilt * xx + bend * (xx - size / 2) ** 2) * 2 * np.pi / wavelength
    field = -amp * np.maximum(np.sin(phase + rng.uniform(0, 2 * np.pi)), 0.0) ** 2
    return (field * wrinkle).astype(np.float32)


def fine_sample(
    model: MorphableModel, rng: np.random.Generator, cfg: PriorConfig
) -> dict[str, np.ndarray]:
    """One procedural ``fine`` shard sample (see the module docstring).

    Args:
        model: Face model.
        rng: Random stream.
        cfg: Ranges.

    Returns:
        Sample dict with the architecture's fine keys, plus ``wrinkle`` [S, S] float32 (the
        interpolated ``wrinkle_mask``; dropped by the shard writer's schema check if unwanted).
    """
    params = random_params(model, rng, dataclasses.replace(cfg, yaw_deg=30.0, pitch_deg=15.0))
    box = _crop_box(model, params, cfg)
    pose = pose_to_crop(params.pose, box, _FINE)
    verts = model.shape_np(params.alpha_id, params.alpha_exp)
    screen = project_np(verts, pose)
    tri = model.triangles.numpy().astype(np.int32)
    frags = rasterize(screen, tri, _FINE, _FINE)
    mask = frags.triangle_id >= 0
    depth = np.where(mask, frags.depth, 0.0).astype(np.float32)
    tid = np.where(mask, frags.triangle_id, 0)
    wv = model.wrinkle_mask.numpy()[tri[tid]]  # [H, W, 3]
    wrinkle = np.where(mask, (frags.barycentric * wv).sum(-1), 0.0).astype(np.float32)
    lm = project_np(verts[model.landmark_indices.numpy()], pose)
    face_px = float((lm.max(0) - lm.min(0))[:2].max())
    disp = _wrinkle_field(wrinkle, rng, _FINE, face_px) * mask
    # detailed depth (displacement along the view axis ~ along the normal on the forehead)
    fine_depth = depth + float(pose[5]) * disp
    gy, gx = np.gradient(cv2.GaussianBlur(fine_depth, (3, 3), 0.7))
    normals = np.stack([-gx, gy, np.ones_like(gx)], -1)  # z = depth; screen y down, camera y up
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    basis = sh_basis_np(normals.reshape(-1, 3)).reshape(_FINE, _FINE, 9)
    gamma = params.gamma.reshape(3, 9).mean(0)
    albedo = float(np.clip(0.55 + 0.15 * rng.standard_normal(), 0.3, 0.8))
    shade = albedo * (basis @ gamma)
    bg = _background(rng, _FINE).mean(-1)
    gray = np.where(mask, shade, bg) + rng.normal(0, 0.01, size=(_FINE, _FINE))
    return {
        "gray": np.clip(gray, 0, 1).astype(np.float32),
        "coarse_depth": depth,
        "mask": mask.astype(np.uint8),
        "displacement": disp.astype(np.float32),
        "wrinkle": wrinkle,
    }


def smooth_sequence(
    model: MorphableModel,
    rng: np.random.Generator,
    n_frames: int,
    cfg: PriorConfig,
) -> tuple[list[np.ndarray], list[FaceParams]]:
    """A face moving smoothly (sinusoidal pose paths, slowly varying expression).

    Args:
        model: Face model.
        rng: Random stream.
        n_frames: Number of frames.
        cfg: Ranges (the pose amplitude is half the coarse ranges).

    Returns:
        ``(frames [H, W, 3] float32, params per frame)`` with poses in frame pixels.
    """
    base = random_params(model, rng, dataclasses.replace(cfg, yaw_deg=10, pitch_deg=5, roll_deg=5))
    bg = _background(rng, cfg.frame_size)
    amp = np.deg2rad([cfg.pitch_deg / 2, cfg.yaw_deg / 2, cfg.roll_deg / 2])
    freq = rng.uniform(0.02, 0.06, size=6) * 2 * np.pi
    phase = rng.uniform(0, 2 * np.pi, size=6)
    exp_a = rng.standard_normal(model.n_exp).astype(np.float32) * 0.8
    exp_b = rng.standard_normal(model.n_exp).astype(np.float32) * 0.8
    frames, params = [], []
    for t in range(n_frames):
        w = np.sin(freq * t + phase)
        pose = base.pose.copy()
        pose[:3] = pose[:3] + amp * w[:3]
        pose[3:5] = pose[3:5] + 0.05 * cfg.frame_size * w[3:5]
        pose[5] = pose[5] * (1 + 0.05 * w[5])
        mix = 0.5 + 0.5 * np.sin(0.08 * t + phase[0])
        p = base.copy(pose=pose.astype(np.float32), alpha_exp=mix * exp_a + (1 - mix) * exp_b)
        out = render_face(model, p, cfg.frame_size, cfg.frame_size)
        m = out.mask[..., None].astype(np.float32)
        img = m * out.image + (1 - m) * bg + rng.normal(0, 0.01, size=bg.shape)
        frames.append(np.clip(img, 0, 1).astype(np.float32))
        params.append(p)
    return frames, params


def write_prior_set(
    root: str,
    kind: str,
    n: int,
    model: MorphableModel,
    *,
    seed: int,
    cfg: PriorConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> None:
    """Write ``n`` prior samples of ``kind`` as a shard set.

    Args:
        root: Output folder.
        kind: ``coarse``, ``tracking`` or ``fine``.
        n: Number of samples.
        model: Face model.
        seed: Random seed (use different seeds for training and held-out sets).
        cfg: Ranges.
        overwrite: Replace an existing set.
        progress: Show a progress bar.
    """
    from training.datasets.shards import ShardWriter

    cfg = cfg or PriorConfig()
    make = {"coarse": coarse_sample, "tracking": tracking_sample, "fine": fine_sample}[kind]
    rng = np.random.default_rng(seed)
    attrs = {
        "model_id": model.data.model_id,
        "generator": "training.train.prior_data",
        "seed": seed,
        "config": dataclasses.asdict(cfg),
    }
    iterator: Any = range(n)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"prior {kind}", mininterval=2.0)
    with ShardWriter(root, kind, samples_per_shard=128, overwrite=overwrite, attrs=attrs) as w:
        for _ in iterator:
            sample = make(model, rng, cfg)
            sample.pop("wrinkle", None)
            w.add(sample)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write a prior-sampled shard set.

    Args:
        argv: Arguments.

    Returns:
        Exit status.
    """
    p = argparse.ArgumentParser(prog="python -m training.train.prior_data", description=__doc__)
    p.add_argument("kind", choices=("coarse", "tracking", "fine"))
    p.add_argument("--out", required=True)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="default")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    from training.train.data import load_model

    torch.set_num_threads(1)  # rendering is single-threaded numba/numpy
    model = MorphableModel(load_model(args.model))
    write_prior_set(
        args.out,
        args.kind,
        args.n,
        model,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=True,
    )
    print(f"wrote {args.n} {args.kind} samples to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
