# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FineNet training set: detail transfer between fits (paper Eq. 18) and re-lit renders.

For every target fit and sample ``k``:

1. pick a source fit (any fit, the target included when it is alone) and a gradient scale
   ``s_d ~ U(0.7, 1.3)``;
2. resample the source's displacement map (mm along the normal, in the source's face crop) into
   the target's crop through the mesh: rasterise the target mesh in its crop, interpolate the
   source's per-vertex crop positions (``vertex_uv``) with the target's barycentrics, and
   ``cv2.remap`` the source map there (pixels whose source triangle is hidden are invalid);
3. solve the Poisson problem of Eq. 18 (:func:`training.synth.poisson.poisson_transfer`) on
   ``Omega`` = target face mask AND valid source, eroded by ``erode`` pixels: the result's
   gradients inside ``Omega`` are ``s_d`` times the source's, and it equals the target's own
   displacement on and outside the border of ``Omega``;
4. shade the target crop with the transferred details as stage 2 of the inverse rendering models
   them (normals by central differences of the fit's coarse depth plus the displacement converted
   to crop pixels, ``d = D * s / n_z``), times the fit's blended albedo map, under a random SH
   light (ambient relative to the fitted light's level + a directional band-1 term + weak band
   2); convert to gray and composite over the gray photo crop.

Sample (architecture ``fine`` keys, 256 x 256): ``gray``, ``coarse_depth`` (the fit's, crop
pixels, 0 outside), ``mask`` (the fit's face mask), ``displacement`` (the transferred map, mm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from face3d_ros.nets.contract import DEFAULT_CONTRACT
from training.synth.common import (
    PhotoFit,
    gray,
    interpolate_np,
    rasterize_mesh,
    sh_shading_np,
    unit_rng,
)
from training.synth.poisson import poisson_transfer

__all__ = [
    "FINE_SIZE",
    "FineConfig",
    "generate_fine",
    "make_fine_sample",
    "random_sh_light",
    "source_in_target",
    "wrinkle_scale",
]

FINE_SIZE = DEFAULT_CONTRACT.fine.input_size


@dataclasses.dataclass(frozen=True)
class FineConfig:
    """Settings of the FineNet set.

    Attributes:
        per_photo: Samples per target fit.
        scale_range: ``s_d`` uniform in this range (paper: 0.7 - 1.3).
        erode: Erosion of Omega in pixels (keeps its border inside valid target data).
        ambient_range: Ambient level range, relative to the target fit's fitted ambient level.
        directional_range: Strength of the directional (band 1) term relative to the ambient.
        band2_std: Std of the band-2 coefficients relative to the ambient.
        tint: Per-channel light colour factors uniform in ``[1 - tint, 1 + tint]``.
        p_self: Probability of using the target itself as the source (when others exist).
        detail_sigma: Stage 2 lets the displacement absorb albedo and shading mismatch at
            large scales (+-10 mm). The maps used here (target and source) are first reduced
            to wrinkle scale by :func:`wrinkle_scale`: minus their masked Gaussian low-pass of
            this sigma (crop pixels, about 1 px per mm at 256), clipped to ``detail_clip_mm``.
            0 disables the filter.
        detail_clip_mm: See ``detail_sigma``.
    """

    per_photo: int = 20
    scale_range: tuple[float, float] = (0.7, 1.3)
    erode: int = 2
    ambient_range: tuple[float, float] = (0.7, 1.2)
    directional_range: tuple[float, float] = (0.1, 0.8)
    band2_std: float = 0.08
    tint: float = 0.1
    p_self: float = 0.1
    detail_sigma: float = 3.0
    detail_clip_mm: float = 1.5


def random_sh_light(
    rng: np.random.Generator, cfg: FineConfig, reference: np.ndarray | None = None
) -> np.ndarray:
    """Draw an SH light: ambient, one directional term from the camera side, weak band 2.

    Args:
        rng: Random stream.
        cfg: Settings.
        reference: [27] a fitted light whose per-channel ambient level scales the drawn one
            (keeps the photo's exposure and colour balance: fitted albedo and light share an
            arbitrary scale); None: the unit ambient of ``default_gamma``.

    Returns:
        [27] float32 gamma (3 channels x 9, architecture layout).
    """
    from face3d_ros.geometry.sh import default_gamma, sh_basis_np

    # per-basis scale measured on the sphere, so coefficients are in "shading units"
    i = np.arange(512) + 0.5
    phi, cos_t = np.pi * (1 + 5**0.5) * i, 1 - 2 * i / 512
    sin_t = np.sqrt(1 - cos_t**2)
    dirs = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], 1).astype(np.float32)
    basis = sh_basis_np(dirs.astype(np.float64))
    rms = np.sqrt((basis**2).mean(0))
    g0 = np.asarray(default_gamma(), dtype=np.float64).reshape(3, 9)
    level = np.ones(3)
    if reference is not None:
        level = np.asarray(reference, np.float64).reshape(3, 9)[:, 0] / g0[:, 0]
        level = np.maximum(level, 1e-3)
    amb = rng.uniform(*cfg.ambient_range)
    d = rng.normal(size=3)
    d[2] = abs(d[2]) + 0.5  # light from the camera side
    d /= np.linalg.norm(d)
    strength = rng.uniform(*cfg.directional_range) * amb
    coeffs = np.zeros(9)
    coeffs[1:4] = strength * np.array([d[1], d[2], d[0]]) / (rms[1:4] * np.sqrt(3.0))
    coeffs[4:] = rng.normal(0.0, cfg.band2_std * amb, size=5) / rms[4:]
    tint = rng.uniform(1 - cfg.tint, 1 + cfg.tint, size=3)
    gamma = np.zeros((3, 9))
    for c in range(3):
        gamma[c] = coeffs * tint[c] * level[c]
        gamma[c, 0] = g0[c, 0] * amb * tint[c] * level[c]
    return gamma.reshape(27).astype(np.float32)


def wrinkle_scale(disp: np.ndarray, mask: np.ndarray, sigma: float, clip_mm: float) -> np.ndarray:
    """Band-limit a displacement map to wrinkle scale (see ``FineConfig.detail_sigma``).

    Args:
        disp: ``[S, S]`` mm along the normal.
        mask: ``[S, S]`` bool, where the map is defined.
        sigma: Gaussian low-pass sigma (pixels) removed from the map; <= 0 returns it masked.
        clip_mm: The result is clipped to ``[-clip_mm, clip_mm]``.

    Returns:
        ``[S, S]`` float32, 0 outside ``mask``.
    """
    m = np.asarray(mask, bool)
    d = np.where(m, np.asarray(disp, np.float32), 0.0).astype(np.float32)
    if sigma <= 0:
        return d
    w = cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigma)
    low = cv2.GaussianBlur(d, (0, 0), sigma) / np.maximum(w, 1e-3)
    return np.where(m, np.clip(d - low, -clip_mm, clip_mm), 0.0).astype(np.float32)


def _target_geometry(target: PhotoFit, model: Any) -> dict[str, np.ndarray]:
    """Rasterise the target mesh in its fit crop; coarse depth (extended) and its normals."""
    from face3d_ros.geometry.crop import pose_to_crop
    from face3d_ros.geometry.normals import vertex_normals
    from face3d_ros.geometry.rotation import euler_to_matrix_np
    from training.inverse_render.displacement import extend_depth, normals_from_depth

    fit = target.fit
    if int(fit.crop_size) != FINE_SIZE:
        raise ValueError(f"fit {target.name!r} has crop_size {fit.crop_size}, need {FINE_SIZE}")
    pose_c = np.asarray(pose_to_crop(target.params.pose, fit.crop, FINE_SIZE), np.float32)
    tris = model.data.triangles
    frags, _ = rasterize_mesh(target.vertices, tris, pose_c, FINE_SIZE)
    with torch.no_grad():
        n_model = vertex_normals(
            torch.from_numpy(target.vertices)[None], torch.from_numpy(tris.astype(np.int64))
        )[0].numpy()
    rot = euler_to_matrix_np(pose_c[:3].astype(np.float64)).astype(np.float32)
    normals = interpolate_np(n_model @ rot.T, tris, frags)
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = np.where(norm > 1e-8, normals / np.maximum(norm, 1e-8), np.float32([0, 0, 1]))
    mask = np.asarray(fit.arrays["face_mask"]) > 0
    depth_ext = extend_depth(np.asarray(fit.arrays["coarse_depth"], np.float64), mask)
    return {
        "fragments": frags,
        "normals": normals.astype(np.float32),
        "pose": pose_c,
        "depth_ext": depth_ext,
        "depth_normals": normals_from_depth(depth_ext),
    }


def source_in_target(
    source_arrays: dict[str, np.ndarray],
    triangles: np.ndarray,
    fragments: Any,
    detail: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a source fit's displacement map into the target crop via mesh correspondence.

    Args:
        source_arrays: The source fit's arrays (``displacement_mm``, ``face_mask``,
            ``vertex_uv``, ``vertex_visible``).
        triangles: [F, 3] mesh triangles (shared model).
        fragments: The target mesh's rasterisation in the target crop.
        detail: ``(sigma, clip_mm)`` of :func:`wrinkle_scale` applied to the source map first.

    Returns:
        ``(displacement [S, S] float32, valid [S, S] bool)``.
    """
    uv = interpolate_np(source_arrays["vertex_uv"].astype(np.float32), triangles, fragments)
    vis = interpolate_np(
        source_arrays["vertex_visible"].astype(np.float32)[:, None], triangles, fragments
    )[..., 0]
    fg = np.asarray(fragments.triangle_id) >= 0
    mx, my = np.ascontiguousarray(uv[..., 0]), np.ascontiguousarray(uv[..., 1])
    src_map = wrinkle_scale(
        source_arrays["displacement_mm"], source_arrays["face_mask"] > 0, detail[0], detail[1]
    )
    disp = cv2.remap(
        src_map,
        mx,
        my,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    smask = cv2.remap(
        source_arrays["face_mask"].astype(np.float32),
        mx,
        my,
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    valid = fg & (vis > 0.999) & (smask > 0.5)
    return np.where(valid, disp, 0.0).astype(np.float32), valid


def make_fine_sample(
    target: PhotoFit,
    sources: Sequence[Any],
    model: Any,
    k: int,
    cfg: FineConfig,
    seed: int,
    geometry: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Sample ``k`` for target fit ``target``.

    Args:
        target: The target fitted photo.
        sources: Candidate source fits (objects with ``name`` and ``arrays``, e.g. FitResult or
            PhotoFit.fit); the target itself may be among them.
        model: MorphableModel.
        k: Sample number (random stream).
        cfg: Settings.
        seed: Global seed.
        geometry: Cached :func:`_target_geometry` output (computed when None).

    Returns:
        ``(sample, extra)``; ``extra`` has ``source`` (name), ``scale`` (s_d), ``omega``
        [S, S] bool, ``source_disp`` [S, S] (resampled source), ``gamma`` [27].
    """
    from face3d_ros.geometry.crop import crop_image

    rng = unit_rng(seed, "fine", target.name, k)
    geo = geometry if geometry is not None else _target_geometry(target, model)
    others = [s for s in sources if s.name != target.name]
    use_self = not others or rng.uniform() < cfg.p_self
    pick = int(rng.integers(0, max(len(others), 1)))
    src = target.fit if use_self else others[pick]
    scale = float(rng.uniform(*cfg.scale_range))
    gamma = random_sh_light(rng, cfg, reference=target.params.gamma)

    arr = target.fit.arrays
    mask = np.asarray(arr["face_mask"]) > 0
    detail = (cfg.detail_sigma, cfg.detail_clip_mm)
    own = wrinkle_scale(arr["displacement_mm"], mask, *detail)
    src_disp, valid = source_in_target(src.arrays, model.data.triangles, geo["fragments"], detail)
    omega = valid & mask
    if cfg.erode > 0:
        kernel = np.ones((3, 3), np.uint8)
        omega = cv2.erode(omega.astype(np.uint8), kernel, iterations=cfg.erode) > 0
    disp = poisson_transfer(own, src_disp, omega, scale) if omega.any() else own.copy()
    disp = np.where(mask, disp, 0.0).astype(np.float32)

    # shading with details, as stage 2 of the inverse rendering models it: normals by central
    # differences of (coarse depth + displacement in crop pixels along the view axis)
    from training.inverse_render.displacement import extend_depth, normals_from_depth

    z0, n0 = geo["depth_ext"], geo["depth_normals"]
    d_px = disp * float(geo["pose"][5]) / np.maximum(n0[..., 2], 0.3)
    normals = normals_from_depth(extend_depth(np.where(mask, z0 + d_px, 0.0), mask))
    shade = sh_shading_np(normals[mask].astype(np.float32), gamma)
    albedo = np.asarray(arr["albedo_map"], dtype=np.float32)
    face = np.zeros((FINE_SIZE, FINE_SIZE), np.float32)
    face[mask] = gray(np.clip(albedo[mask] * shade, 0.0, 1.0))
    bg = gray(np.asarray(crop_image(target.photo, target.fit.crop, FINE_SIZE), np.float32))
    m = mask.astype(np.float32)
    alpha = cv2.GaussianBlur(m, (3, 3), 0.8) * m
    image = np.clip(bg * (1.0 - alpha) + face * alpha, 0.0, 1.0).astype(np.float32)
    depth = np.where(mask, np.asarray(arr["coarse_depth"], np.float32), 0.0).astype(np.float32)
    sample = {
        "gray": image,
        "coarse_depth": depth,
        "mask": mask.astype(np.uint8),
        "displacement": disp,
    }
    extra = {
        "source": src.name,
        "scale": scale,
        "omega": omega,
        "source_disp": src_disp,
        "gamma": gamma,
    }
    return sample, extra


def generate_fine(
    target: PhotoFit,
    sources: Sequence[Any],
    model: Any,
    cfg: FineConfig,
    seed: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the ``cfg.per_photo`` fine samples of one target fit."""
    geo = _target_geometry(target, model)
    for k in range(cfg.per_photo):
        yield make_fine_sample(target, sources, model, k, cfg, seed, geometry=geo)[0]
