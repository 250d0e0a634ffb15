# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inverse rendering of one photo: detect -> crop -> stage 1 -> stage 2 -> stage 3 -> FitResult."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from face3d_ros.detection import Detection, FaceDetector
from face3d_ros.geometry.crop import (
    CropBox,
    crop_from_points,
    crop_image,
    points_to_crop,
    pose_from_crop,
)
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.nets.contract import DEFAULT_CONTRACT
from training.inverse_render.albedo import beta_map, blend_albedo, sample_vertex_albedo
from training.inverse_render.displacement import DisplacementConfig, refine_displacement
from training.inverse_render.fit import (
    FitConfig,
    fit_model,
    photo_rmse,
    projected_landmarks,
    render_face_region,
)
from training.inverse_render.fit_result import FitResult
from training.inverse_render.overlay import make_overlay


class NoFaceError(RuntimeError):
    """The detector found no face in the photo."""


@dataclasses.dataclass
class InverseRenderConfig:
    """Settings of the whole per-photo pipeline.

    Attributes:
        crop_size: Working resolution ``S`` of the face crop (all three stages; the FineNet
            contract's side, since the fine samples are made in this crop).
        crop_scale: Crop side relative to the landmarks' extent
            (``face3d_ros.geometry.crop.crop_from_points``; the FineNet contract's scale).
        fit: Stage 1 settings.
        displacement: Stage 2 settings.
        blur_sigma: Stage 3 beta-map border blur (crop pixels).
    """

    crop_size: int = DEFAULT_CONTRACT.fine.input_size
    crop_scale: float = DEFAULT_CONTRACT.fine.crop_scale
    fit: FitConfig = dataclasses.field(default_factory=FitConfig)
    displacement: DisplacementConfig = dataclasses.field(default_factory=DisplacementConfig)
    blur_sigma: float = 4.0


def image_to_crop_points(points: np.ndarray, box: CropBox, out_size: int) -> np.ndarray:
    """Map ``[M, 2]`` image pixels into crop pixels (``face3d_ros.geometry.crop`` mapping)."""
    return np.asarray(points_to_crop(np.asarray(points, np.float64), box, out_size), np.float64)


def _as_float_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected RGB [H, W, 3], got {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype.kind == "f":
        return img.astype(np.float32)
    raise ValueError(f"unsupported image dtype {img.dtype}")


def inverse_render_photo(
    image: np.ndarray,
    model: MorphableModel,
    *,
    detector: FaceDetector | None = None,
    detection: Detection | None = None,
    cfg: InverseRenderConfig | None = None,
    name: str = "photo",
    source: str = "",
) -> tuple[FitResult, np.ndarray]:
    """Run stages 1-3 on one photo.

    Args:
        image: ``[H, W, 3]`` RGB, uint8 or float in [0, 1].
        model: Morphable model.
        detector: Used when ``detection`` is None (the highest-scoring face is fitted).
        detection: Landmarks to use instead of running the detector.
        cfg: Settings.
        name: Output stem.
        source: Photo path for the record.

    Returns:
        ``(fit, overlay)`` with ``overlay`` ``[S, 4 S, 3]`` uint8 RGB.

    Raises:
        NoFaceError: When the detector finds no face.
        ValueError: When neither ``detector`` nor ``detection`` is given.
    """
    cfg = cfg or InverseRenderConfig()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    img = _as_float_rgb(image)
    if detection is None:
        if detector is None:
            raise ValueError("pass a detector or a detection")
        u8 = image if np.asarray(image).dtype == np.uint8 else (np.clip(img, 0, 1) * 255).round()
        dets = detector.detect(np.asarray(u8, np.uint8))
        if not dets:
            raise NoFaceError(f"{name}: no face detected")
        detection = dets[0]
    timings["detect"] = time.perf_counter() - t_start
    s = int(cfg.crop_size)
    box = crop_from_points(detection.landmarks, scale=cfg.crop_scale)
    crop = crop_image(img, box, s).astype(np.float32)
    lm_crop = image_to_crop_points(detection.landmarks, box, s)

    t = time.perf_counter()
    st1 = fit_model(model, crop, lm_crop, cfg.fit)
    timings["stage1"] = time.perf_counter() - t
    params_crop = st1.params
    for key in ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose"):
        if not np.all(np.isfinite(getattr(params_crop, key))):
            raise RuntimeError(f"{name}: stage 1 produced non-finite {key}")
    rend = render_face_region(model, params_crop, s, s)
    mask = rend["mask"]

    t = time.perf_counter()
    st2 = refine_displacement(
        crop, rend["depth"], mask, rend["albedo"], params_crop.gamma, cfg.displacement
    )
    timings["stage2"] = time.perf_counter() - t

    t = time.perf_counter()
    beta = beta_map(rend["wrinkle"], mask, blur_sigma=cfg.blur_sigma)
    albedo_map = blend_albedo(crop, st2.shading, rend["albedo"], beta)
    albedo_map = np.where(rend["covered"][..., None], albedo_map, 0.0).astype(np.float32)
    screen = rend["screen"]
    vertex_uv = screen[:, :2].astype(np.float32)
    col = np.clip(np.round(vertex_uv[:, 0]).astype(int), 0, s - 1)
    row = np.clip(np.round(vertex_uv[:, 1]).astype(int), 0, s - 1)
    inside = (
        (vertex_uv[:, 0] >= 0)
        & (vertex_uv[:, 0] <= s - 1)
        & (vertex_uv[:, 1] >= 0)
        & (vertex_uv[:, 1] <= s - 1)
    )
    zbuf = np.where(rend["covered"], rend["depth"], -np.inf)
    tol = 2.0 * float(params_crop.pose[5])  # 2 mm in crop pixels
    visible = inside & (screen[:, 2] >= zbuf[row, col] - tol)
    with torch.no_grad():
        model_albedo_v = model.albedo(torch.as_tensor(params_crop.alpha_alb)[None])[0].numpy()
    albedo_vertex = sample_vertex_albedo(albedo_map, vertex_uv, visible, model_albedo_v)
    fine_render = albedo_map * st2.shading
    timings["stage3"] = time.perf_counter() - t

    n_z = rend["normals"][..., 2]
    disp_mm = np.where(mask, st2.displacement * n_z / float(params_crop.pose[5]), 0.0)
    params_img = dataclasses.replace(
        params_crop, pose=pose_from_crop(params_crop.pose, box, s).astype(np.float32)
    )
    lm_fit_img = projected_landmarks(model, params_img)
    lm_rmse = float(np.sqrt(np.mean(np.sum((lm_fit_img - detection.landmarks) ** 2, 1))))
    residuals = {
        "landmark_rmse_px": lm_rmse,
        "landmark_rmse_crop_px": st1.landmark_rmse_px,
        "photo_rmse_stage1": st1.photo_rmse,
        "photo_rmse_before_disp": st2.rmse_before,
        "photo_rmse_after_disp": st2.rmse_after,
        "photo_rmse_albedo": photo_rmse(fine_render, crop, st2.residual_mask),
    }
    timings["total"] = time.perf_counter() - t_start
    result = FitResult(
        name=name,
        source=source,
        image_size=(int(img.shape[0]), int(img.shape[1])),
        model_id=model.data.model_id,
        params=params_img,
        crop=box,
        crop_size=s,
        detection_box=detection.box,
        detection_score=detection.score,
        arrays={
            "landmarks_detected": detection.landmarks.astype(np.float32),
            "landmarks_fitted": lm_fit_img.astype(np.float32),
            "face_mask": mask.astype(np.uint8),
            "coarse_depth": np.where(mask, rend["depth"], 0.0).astype(np.float32),
            "displacement": st2.displacement,
            "displacement_mm": disp_mm.astype(np.float32),
            "albedo_map": albedo_map,
            "beta_map": beta,
            "vertex_uv": vertex_uv,
            "vertex_visible": visible.astype(np.uint8),
            "albedo_vertex": albedo_vertex,
        },
        residuals=residuals,
        timings=timings,
        extra={
            "stage1_energy": st1.energy_history,
            "stage2_energy": st2.energy_history,
            "fit_config": dataclasses.asdict(cfg.fit),
            "contour_weight_used": st1.contour_weight,
            "displacement_config": dataclasses.asdict(cfg.displacement),
            "crop_scale": cfg.crop_scale,
            "albedo": "albedo_map: crop-space texture, vertex_uv its texture coordinates",
        },
    )
    overlay = make_overlay(
        crop,
        rend["image"],
        mask,
        st2.shading,
        albedo_map,
        lm_crop,
        image_to_crop_points(lm_fit_img, box, s),
    )
    return result, overlay
