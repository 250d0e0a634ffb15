# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 1 of inverse rendering: fit the morphable model to one photo (paper Eq. 5-8).

Energy (all in the pixel coordinates of the working image, usually a 256 x 256 face crop)::

    E(chi) = E_con + w_l * E_lan + w_r * E_reg
    E_con  = 1/|M| sum_{p in M} || k (C_S(p) - C_I(p)) ||^2       (colours in [0, 1], k = 64)
    E_lan  = 1/68  sum_i          || f_i - Pi(R V_i) - t ||^2       (pixels)
    E_reg  = ||alpha_id||^2 + ||alpha_exp||^2 + ||alpha_alb||^2     (coefficients in sigmas)

with w_l = 10 (paper) and w_r = 0.5 (the paper's 5e-5 is for its own, unstated units; see
:class:`FitConfig`). C_S is the rendered colour albedo x SH shading and C_I the photo.

Solver (Gauss-Newton / Levenberg-Marquardt with fixed rasterisation):

1. Pose: closed-form weak-perspective fit of the mean-face landmarks to the detected ones
   (affine least squares, rows orthonormalised), then LM on the landmark term over the 6 pose
   parameters.
2. Outer iterations: rasterise the current mesh (numba), keep the visible face-region pixels and
   sub-sample ``n_pixels`` of them. Each sample is a fixed surface point (triangle id +
   barycentrics): its 3D position is linear in (alpha_id, alpha_exp), it projects with the pose,
   and the photo is sampled there bilinearly, so the photo residual is differentiable in the
   geometry parameters through the image gradient.
   a. Albedo and light given geometry: C_S is bilinear in (alpha_alb, gamma); alternate two
      closed-form linear least-squares solves (alpha_alb with its prior, gamma per channel).
   b. One LM step on (pose, alpha_id, alpha_exp) with the Jacobian of the whole residual vector
      from ``torch.func.jacfwd`` (projections) chained with the photo's bilinear gradient;
      normals (hence shading) are held fixed within a step and refreshed at re-rasterisation.
3. A final albedo/light solve on a fresh rasterisation.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from face3d_ros.geometry.rotation import euler_to_matrix, matrix_to_euler
from face3d_ros.geometry.sh import default_gamma, sh_basis
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.params import FaceParams
from face3d_ros.render.interpolate import interpolate
from face3d_ros.render.rasterizer import Fragments, rasterize


@dataclasses.dataclass
class FitConfig:
    """Stage 1 settings (defaults follow the paper where it gives a value).

    Attributes:
        w_landmark: w_l, landmark weight, landmarks in working-image pixels. The paper's 10
            gave a 68-landmark NME of 0.0499 on 24 FRL photos (manual landmarks; the fit uses
            dlib's, whose own NME is 0.0458 there); 20 gave 0.0484, 40 with ``w_reg=0.25``
            0.0467 (``benchmarks/bench_fit_frl.py``). Default 20.
        w_reg: w_r, prior weight on squared normalised coefficients. The paper's 5e-5 belongs
            to its own (unstated) units; with pixel landmarks and colours on [0, 64] it lets
            coefficients reach 50-120 sigma on real photos, so the default is 0.5 (coefficients
            within about 4 sigma; see docs/inverse_rendering.md). ``w_reg=5e-5,
            color_scale=255`` reproduces the paper's numbers literally.
        color_scale: Colours are compared on a [0, color_scale] scale. 64 balances a typical
            real-photo colour error (RMSE 0.08) against 2-3 px landmark errors; 255 (8-bit
            units) lets the photo term override the landmarks on real photos.
        n_pose_iters: LM iterations of the landmark-only pose fit.
        n_iters: Outer iterations (re-rasterisation + albedo/light solve + one LM step).
        n_pixels: Face pixels sampled per outer iteration.
        n_alternations: Albedo/light alternations per outer iteration.
        contour_weight: Extra weight on the 17 jaw-contour landmarks (they slide on the
            silhouette for turned faces).
        contour_fade_deg: ``(start, end)`` degrees, or None (default: ``contour_weight`` on
            every photo). When set, the contour weight is scaled by 1 up to a head yaw of
            ``start`` and falls linearly to 0 at ``end``, the yaw being that of a landmark-only
            pose fit to the 51 inner points. The contour landmarks of a turned face trace the
            cheek's silhouette, not the model's fixed jaw vertices, and pull the fit towards
            frontal: on 16 FairFace photos with |yaw| >= 20 degrees (PnP of the inner points,
            the real-face benchmark's reference) the stage-1 fit's yaw had slope 0.71 / mean
            error 8.5 degrees with weight 1 and 0.99 / 2.3 degrees with weight 0
            (MODEL_CARD, "Turned faces: the contour landmarks").
        light_ridge: Ridge towards ambient light in the gamma solve (relative to the data term).
        lm_lambda: Initial Levenberg-Marquardt damping (relative to the diagonal of J^T J).
        fit_albedo: Solve alpha_alb (otherwise only gamma).
        seed: Pixel sub-sampling seed.
    """

    w_landmark: float = 20.0
    w_reg: float = 0.5
    color_scale: float = 64.0
    n_pose_iters: int = 15
    n_iters: int = 8
    n_pixels: int = 3000
    n_alternations: int = 2
    contour_weight: float = 1.0
    contour_fade_deg: tuple[float, float] | None = None
    light_ridge: float = 1e-3
    lm_lambda: float = 1e-3
    fit_albedo: bool = True
    seed: int = 0


@dataclasses.dataclass
class Stage1Result:
    """Output of :func:`fit_model`.

    Attributes:
        params: Fitted parameters; pose in the pixel coordinates of the fitted image.
        landmark_rmse_px: RMS distance (pixels) between projected model and target landmarks.
        photo_rmse: RMS colour error (RGB in [0, 1]) over the visible face region, all pixels.
        energy_history: Sampled energy after each outer iteration.
        seconds: Wall time.
        contour_weight: The contour landmarks' weight used (``FitConfig.contour_weight``, after
            ``contour_fade_deg``).
    """

    params: FaceParams
    landmark_rmse_px: float
    photo_rmse: float
    energy_history: list[float]
    seconds: float
    contour_weight: float = 1.0


# ----------------------------------------------------------------------------- geometry helpers


def project_t(points: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Weak-perspective projection (architecture conventions) of model-space points.

    Args:
        points: ``[..., M, 3]`` mm.
        pose: ``[6]`` (pitch, yaw, roll, tx, ty, s).

    Returns:
        ``[..., M, 3]`` (u, v, depth) pixels.
    """
    rot = euler_to_matrix(pose[:3])
    cam = points @ rot.transpose(-1, -2)
    s = pose[5]
    return torch.stack(
        [s * cam[..., 0] + pose[3], -s * cam[..., 1] + pose[4], s * cam[..., 2]], dim=-1
    )


def camera_normals(
    vertices: torch.Tensor, triangles: torch.Tensor, rot: torch.Tensor
) -> torch.Tensor:
    """Unit vertex normals in camera space (rotated model axes: x right, y up, z to camera).

    Args:
        vertices: ``[N, 3]`` model-space mm.
        triangles: ``[F, 3]`` long, counter-clockwise seen from outside.
        rot: ``[3, 3]`` rotation.

    Returns:
        ``[N, 3]`` unit normals.
    """
    from face3d_ros.geometry.normals import vertex_normals

    n = vertex_normals(vertices.unsqueeze(0), triangles)[0]
    n = n @ rot.transpose(-1, -2)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def shade(albedo: torch.Tensor, normals: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Lambertian SH colour ``albedo * (sh_basis(n) @ gamma.reshape(3, 9).T)``.

    Args:
        albedo: ``[..., 3]``.
        normals: ``[..., 3]`` unit camera-space normals.
        gamma: ``[27]``.

    Returns:
        ``[..., 3]`` colour.
    """
    return albedo * (sh_basis(normals) @ gamma.reshape(3, 9).transpose(0, 1))


def bilinear_sample(image: torch.Tensor, uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample an image and its spatial gradient at sub-pixel positions (border-clamped).

    Args:
        image: ``[H, W, C]``.
        uv: ``[M, 2]`` (u, v) pixel coordinates (pixel centres at integers).

    Returns:
        ``(values [M, C], grad [M, C, 2])`` with grad = (dI/du, dI/dv) of the bilinear surface.
    """
    h, w = image.shape[:2]
    u = uv[:, 0].clamp(0.0, w - 1.000001)
    v = uv[:, 1].clamp(0.0, h - 1.000001)
    u0 = u.floor().long()
    v0 = v.floor().long()
    fu = (u - u0.to(u.dtype))[:, None]
    fv = (v - v0.to(v.dtype))[:, None]
    i00 = image[v0, u0]
    i01 = image[v0, u0 + 1]
    i10 = image[v0 + 1, u0]
    i11 = image[v0 + 1, u0 + 1]
    top = i00 + fu * (i01 - i00)
    bot = i10 + fu * (i11 - i10)
    val = top + fv * (bot - top)
    du = (1 - fv) * (i01 - i00) + fv * (i11 - i10)
    dv = bot - top
    return val, torch.stack([du, dv], dim=-1)


def weak_perspective_init(
    points_3d: np.ndarray, points_2d: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Closed-form weak-perspective pose from 3D-2D correspondences.

    Solves the affine camera ``[u, -v] = A [X, Y, Z] + b`` by (weighted) least squares, then
    orthonormalises the two rows of ``A`` (SVD) into ``s * R[:2]``.

    Args:
        points_3d: ``[M, 3]`` model-space mm.
        points_2d: ``[M, 2]`` (u, v) pixels.
        weights: ``[M]`` non-negative weights or None.

    Returns:
        ``[6]`` pose (pitch, yaw, roll, tx, ty, s) float64.
    """
    x = np.asarray(points_3d, np.float64)
    y = np.asarray(points_2d, np.float64).copy()
    y[:, 1] = -y[:, 1]
    wts = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    design = np.concatenate([x, np.ones((len(x), 1))], 1) * np.sqrt(wts)[:, None]
    sol, *_ = np.linalg.lstsq(design, y * np.sqrt(wts)[:, None], rcond=None)
    a = sol[:3].T  # [2, 3]
    b = sol[3]
    uu, ss, vt = np.linalg.svd(a, full_matrices=False)
    r2 = uu @ vt  # closest matrix with orthonormal rows
    scale = float(ss.mean())
    r3 = np.cross(r2[0], r2[1])
    rot = np.stack([r2[0], r2[1], r3])
    if np.linalg.det(rot) < 0:  # cannot happen with a cross product, kept as a guard
        rot[2] = -rot[2]
    angles = matrix_to_euler(torch.from_numpy(rot)).numpy()
    return np.array([*angles, b[0], -b[1], scale], dtype=np.float64)


def _landmark_weights(cfg: FitConfig) -> np.ndarray:
    w = np.ones(68)
    w[:17] = cfg.contour_weight
    return w


def contour_fade(yaw_deg: float, fade_deg: tuple[float, float]) -> float:
    """Factor on the contour weight at a head yaw (``FitConfig.contour_fade_deg``).

    1 up to ``fade_deg[0]`` degrees, 0 from ``fade_deg[1]``, linear between.
    """
    start, end = fade_deg
    a = abs(float(yaw_deg))
    if a <= start:
        return 1.0
    if a >= end:
        return 0.0
    return (end - a) / (end - start)


def parse_contour_fade(text: str) -> tuple[float, float]:
    """``"START,END"`` degrees (``--contour-fade``) as a ``contour_fade_deg`` pair.

    Raises:
        ValueError: Not two numbers with ``0 <= START < END``.
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"expected START,END degrees, got {text!r}")
    start, end = float(parts[0]), float(parts[1])
    if not 0 <= start < end:
        raise ValueError(f"contour fade needs 0 <= START < END, got {text!r}")
    return start, end


def adapt_contour_weight(
    model: MorphableModel, landmarks_2d: np.ndarray, cfg: FitConfig
) -> FitConfig:
    """``cfg`` with the contour weight scaled for this photo's head yaw (``contour_fade_deg``).

    The yaw comes from :func:`fit_pose_to_landmarks` with the contour landmarks left out. Returns
    ``cfg`` itself when ``contour_fade_deg`` is None.
    """
    if cfg.contour_fade_deg is None:
        return cfg
    inner = dataclasses.replace(cfg, contour_weight=0.0, contour_fade_deg=None)
    yaw = float(np.degrees(fit_pose_to_landmarks(model, landmarks_2d, inner)[1]))
    return dataclasses.replace(
        cfg,
        contour_weight=cfg.contour_weight * contour_fade(yaw, cfg.contour_fade_deg),
        contour_fade_deg=None,
    )


def _lm_solve(jac: torch.Tensor, res: torch.Tensor, lam: float) -> torch.Tensor:
    """Solve the damped normal equations ``(J^T J + lam diag(J^T J) + lam I) d = -J^T r``."""
    jtj = jac.T @ jac
    diag = torch.diagonal(jtj)
    a = jtj + lam * torch.diag(diag) + lam * torch.eye(len(diag), dtype=jac.dtype)
    return torch.linalg.solve(a, -(jac.T @ res))


def fit_pose_to_landmarks(
    model: MorphableModel,
    landmarks_2d: np.ndarray,
    cfg: FitConfig,
    alpha_id: np.ndarray | None = None,
    alpha_exp: np.ndarray | None = None,
) -> np.ndarray:
    """Pose from landmarks only: closed-form initialisation then LM.

    Args:
        model: Morphable model.
        landmarks_2d: ``[68, 2]`` target pixels.
        cfg: Settings (``n_pose_iters``, ``contour_weight``).
        alpha_id: Optional identity (default mean face).
        alpha_exp: Optional expression (default neutral).

    Returns:
        ``[6]`` float64 pose.
    """
    a_id = np.zeros(model.n_id) if alpha_id is None else alpha_id
    a_exp = np.zeros(model.n_exp) if alpha_exp is None else alpha_exp
    verts = model.shape_np(a_id, a_exp)
    lm3 = torch.from_numpy(verts[model.landmark_indices.numpy()].astype(np.float64))
    target = torch.from_numpy(np.asarray(landmarks_2d, np.float64))
    w = torch.from_numpy(np.sqrt(_landmark_weights(cfg)))[:, None]
    pose = torch.from_numpy(weak_perspective_init(lm3.numpy(), landmarks_2d, w.numpy()[:, 0] ** 2))

    def resid(p: torch.Tensor) -> torch.Tensor:
        return ((project_t(lm3, p)[:, :2] - target) * w).reshape(-1)

    lam = cfg.lm_lambda
    r = resid(pose)
    energy = float(r @ r)
    for _ in range(cfg.n_pose_iters):
        jac = torch.func.jacfwd(resid)(pose)
        step = _lm_solve(jac, r, lam)
        cand = pose + step
        r_c = resid(cand)
        e_c = float(r_c @ r_c)
        if e_c < energy:
            pose, r, lam = cand, r_c, max(lam / 10, 1e-9)
            if energy - e_c < 1e-10 * max(energy, 1.0):
                energy = e_c
                break
            energy = e_c
        else:
            lam *= 10
    return pose.numpy()


# ----------------------------------------------------------------------------- stage 1


class _Sampler:
    """Fixed surface samples from one rasterisation (triangle ids + barycentrics)."""

    def __init__(self, tri_vertex: torch.Tensor, bary: torch.Tensor, pixels: np.ndarray) -> None:
        self.tri_vertex = tri_vertex  # [P, 3] long
        self.bary = bary  # [P, 3] float64
        self.pixels = pixels  # [P, 2] (row, col)

    def gather(self, per_vertex: torch.Tensor) -> torch.Tensor:
        """Barycentric combination of vertex-major data ``[N, ...]`` -> ``[P, ...]``."""
        g = per_vertex.index_select(0, self.tri_vertex.reshape(-1))
        g = g.reshape(*self.tri_vertex.shape, -1)  # [P, 3, prod(...)]
        out = torch.bmm(self.bary.unsqueeze(1), g).squeeze(1)  # [P, prod(...)]
        return out.reshape(self.tri_vertex.shape[0], *per_vertex.shape[1:])


class _GeometryProblem:
    """Residuals and Jacobian of the geometry step on fixed surface samples.

    Residual vector ``[photo (3P), landmarks (136), prior (K_id + K_exp)]`` as a function of
    ``theta = [pose (6), alpha_id, alpha_exp]``; the rendered sample colours are fixed. The
    shape part of the Jacobian is analytic (positions are linear in the coefficients); the pose
    part comes from ``torch.func.jacfwd``.
    """

    def __init__(
        self,
        photo: torch.Tensor,
        points: tuple[torch.Tensor, torch.Tensor],
        landmarks: tuple[torch.Tensor, torch.Tensor],
        lm_target: torch.Tensor,
        lm_w: torch.Tensor,
        sq_c: float,
        sq_r: float,
    ) -> None:
        self.photo = photo  # [H, W, 3]
        self.mean = torch.cat([points[0], landmarks[0]], 0)  # [P + 68, 3]
        self.basis = torch.cat([points[1], landmarks[1]], 0)  # [P + 68, 3, K]
        self.lm_target = lm_target
        self.lm_w = lm_w
        self.n_s = points[0].shape[0]
        self.sq_c = sq_c
        self.sq_r = sq_r

    def positions(self, theta: torch.Tensor) -> torch.Tensor:
        """``[P + 68, 3]`` model-space positions of the samples and the landmarks."""
        return self.mean + self.basis @ theta[6:]

    def project(self, theta: torch.Tensor) -> torch.Tensor:
        """``[P + 68, 2]`` image positions of the samples and the landmarks."""
        return project_t(self.positions(theta), theta[:6])[:, :2]

    def jacobian_uv(self, theta: torch.Tensor) -> torch.Tensor:
        """``[P + 68, 2, D]`` Jacobian of :meth:`project`."""
        pts = self.positions(theta)
        j_pose = torch.func.jacfwd(lambda p: project_t(pts, p)[:, :2])(theta[:6])  # [M, 2, 6]
        rot = euler_to_matrix(theta[:3])
        s = theta[5]
        m = torch.stack([s * rot[0], -s * rot[1]])  # [2, 3]
        j_shape = torch.einsum("xc,mck->mxk", m, self.basis)
        return torch.cat([j_pose, j_shape], -1)

    def residual_and_jac(
        self, theta: torch.Tensor, rendered: torch.Tensor, need_jac: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Residual vector and (optionally) its Jacobian ``[M, D]``."""
        n_s, n_geo = self.n_s, theta.shape[0]
        uv = self.project(theta)
        val, grad = bilinear_sample(self.photo, uv[:n_s])
        r_photo = self.sq_c * (rendered - val)  # [P, 3]
        r_lm = (uv[n_s:] - self.lm_target) * self.lm_w  # [68, 2]
        r_reg = self.sq_r * theta[6:]
        res = torch.cat([r_photo.reshape(-1), r_lm.reshape(-1), r_reg])
        if not need_jac:
            return res, None
        j_uv = self.jacobian_uv(theta)
        j_photo = -self.sq_c * torch.bmm(grad, j_uv[:n_s]).reshape(-1, n_geo)
        j_lm = (j_uv[n_s:] * self.lm_w[..., None]).reshape(-1, n_geo)
        j_reg = torch.zeros(n_geo - 6, n_geo, dtype=theta.dtype)
        j_reg[:, 6:] = self.sq_r * torch.eye(n_geo - 6, dtype=theta.dtype)
        return res, torch.cat([j_photo, j_lm, j_reg], 0)


def _visible_face_pixels(
    fragments: Fragments, face_weight: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """Boolean ``[H, W]`` mask of rasterised pixels inside the model's face region."""
    return (fragments.triangle_id >= 0) & (face_weight > threshold)


def render_face_region(
    model: MorphableModel, params: FaceParams, height: int, width: int
) -> dict[str, np.ndarray]:
    """Rasterise a fit and shade it (mesh normals) for error measurement and overlays.

    Args:
        model: Morphable model.
        params: Parameters, pose in this image's pixels.
        height: Output rows.
        width: Output columns.

    Returns:
        Dict with ``image`` ``[H, W, 3]`` float32 colour (0 outside), ``mask`` ``[H, W]`` bool
        (visible face-region pixels), ``covered`` ``[H, W]`` bool (any mesh pixel), ``depth``
        ``[H, W]`` float32 (0 outside the mesh), ``albedo`` ``[H, W, 3]``, ``normals``
        ``[H, W, 3]`` camera-space unit normals, ``wrinkle`` ``[H, W]``, ``screen`` ``[N, 3]``
        and ``fragments``.
    """
    with torch.no_grad():
        pose = torch.as_tensor(np.asarray(params.pose, np.float64))
        verts = model.shape(
            torch.as_tensor(params.alpha_id, dtype=torch.float32)[None],
            torch.as_tensor(params.alpha_exp, dtype=torch.float32)[None],
        )[0].double()
        screen = project_t(verts, pose)
        frags = rasterize(
            screen.numpy().astype(np.float32),
            model.triangles.numpy().astype(np.int32),
            height,
            width,
        )
        rot = euler_to_matrix(pose[:3])
        normals = camera_normals(verts, model.triangles, rot)
        albedo = model.albedo(torch.as_tensor(params.alpha_alb, dtype=torch.float32)[None])[0]
        gamma = torch.as_tensor(np.asarray(params.gamma, np.float64))
        per_vertex = torch.cat(
            [
                albedo.double(),
                normals,
                model.face_mask.double()[:, None],
                model.wrinkle_mask.double()[:, None],
            ],
            dim=1,
        )
        maps = interpolate(per_vertex, model.triangles, frags)
        if maps.ndim == 4:
            maps = maps[0]
        covered = frags.triangle_id >= 0
        alb_map = maps[..., 0:3]
        nrm_map = maps[..., 3:6]
        nrm_map = nrm_map / nrm_map.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        color = shade(alb_map, nrm_map, gamma).numpy()
        cov_t = torch.from_numpy(covered)
        color[~covered] = 0
        depth = np.where(covered, frags.depth, 0).astype(np.float32)
        face_w = maps[..., 6].numpy()
        return {
            "image": color.astype(np.float32),
            "mask": covered & (face_w > 0.5),
            "covered": covered,
            "depth": depth,
            "albedo": (alb_map * cov_t[..., None]).numpy().astype(np.float32),
            "normals": (nrm_map * cov_t[..., None]).numpy().astype(np.float32),
            "wrinkle": (maps[..., 7] * cov_t).numpy().astype(np.float32),
            "screen": screen.numpy().astype(np.float32),
            "fragments": frags,
        }


def photo_rmse(rendered: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> float:
    """RMS colour error over ``mask`` (RGB in [0, 1]); NaN when the mask is empty."""
    if not mask.any():
        return float("nan")
    diff = rendered[mask] - photo[mask]
    return float(np.sqrt(np.mean(diff**2)))


def landmark_rmse(model: MorphableModel, params: FaceParams, landmarks_2d: np.ndarray) -> float:
    """RMS pixel distance between the projected model landmarks and ``landmarks_2d``."""
    proj = projected_landmarks(model, params)
    return float(np.sqrt(np.mean(np.sum((proj - landmarks_2d) ** 2, axis=1))))


def projected_landmarks(model: MorphableModel, params: FaceParams) -> np.ndarray:
    """``[68, 2]`` projected model landmarks (pixels of the params' image)."""
    verts = model.shape_np(params.alpha_id, params.alpha_exp).astype(np.float64)
    lm = torch.from_numpy(verts[model.landmark_indices.numpy()])
    return project_t(lm, torch.as_tensor(np.asarray(params.pose, np.float64)))[:, :2].numpy()


def _solve_albedo_light(
    photo_s: torch.Tensor,
    sh_s: torch.Tensor,
    alb_mean_s: torch.Tensor,
    alb_basis_s: torch.Tensor,
    gamma: torch.Tensor,
    alpha_alb: torch.Tensor,
    cfg: FitConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Alternating closed-form solves of the bilinear colour model on the samples.

    Args:
        photo_s: ``[P, 3]`` photo colours at the samples ([0, 1]).
        sh_s: ``[P, 9]`` SH basis of the sample normals.
        alb_mean_s: ``[P, 3]`` mean albedo at the samples.
        alb_basis_s: ``[P, 3, K]`` albedo basis (sigma-scaled) at the samples.
        gamma: ``[27]`` current light.
        alpha_alb: ``[K]`` current albedo coefficients.
        cfg: Settings.

    Returns:
        ``(gamma [27], alpha_alb [K])``.
    """
    n_p = photo_s.shape[0]
    c2 = cfg.color_scale**2 / n_p
    k = alb_basis_s.shape[2]
    amb = torch.as_tensor(default_gamma(), dtype=photo_s.dtype).reshape(3, 9)
    for _ in range(max(1, cfg.n_alternations)):
        # Light given albedo: per channel, ridge towards a grey ambient level.
        albedo = alb_mean_s + alb_basis_s @ alpha_alb
        g = []
        for c in range(3):
            a = albedo[:, c : c + 1] * sh_s  # [P, 9]
            ata = c2 * a.T @ a
            ridge = cfg.light_ridge * torch.trace(ata) / 9.0 + 1e-12
            lhs = ata + ridge * torch.eye(9, dtype=a.dtype)
            rhs = c2 * a.T @ photo_s[:, c] + ridge * amb[c]
            g.append(torch.linalg.solve(lhs, rhs))
        gamma = torch.cat(g)
        if not cfg.fit_albedo or k == 0:
            continue
        # Albedo given light.
        shading = sh_s @ gamma.reshape(3, 9).T  # [P, 3]
        design = (alb_basis_s * shading[..., None]).reshape(-1, k)  # [3P, K]
        target = (photo_s - shading * alb_mean_s).reshape(-1)
        lhs = c2 * design.T @ design + cfg.w_reg * torch.eye(k, dtype=design.dtype)
        alpha_alb = torch.linalg.solve(lhs, c2 * design.T @ target)
    return gamma, alpha_alb


def fit_model(
    model: MorphableModel,
    image: np.ndarray,
    landmarks_2d: np.ndarray,
    cfg: FitConfig | None = None,
) -> Stage1Result:
    """Fit chi = (alpha_id, alpha_exp, alpha_alb, gamma, pose) to one image (stage 1).

    Args:
        model: Morphable model (its truncation sets the coefficient counts).
        image: ``[H, W, 3]`` float32 RGB in [0, 1] (usually the 256 x 256 face crop).
        landmarks_2d: ``[68, 2]`` detected landmarks in this image's pixels (iBUG order).
        cfg: Settings; defaults to :class:`FitConfig()`.

    Returns:
        The fit; pose in this image's pixels.

    Raises:
        ValueError: On malformed inputs.
    """
    cfg = cfg or FitConfig()
    t0 = time.perf_counter()
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype.kind != "f":
        raise ValueError(
            f"image must be float RGB [H, W, 3] in [0, 1], got {img.shape} {img.dtype}"
        )
    lm2d = np.asarray(landmarks_2d, np.float64)
    if lm2d.shape != (68, 2):
        raise ValueError(f"landmarks_2d must be [68, 2], got {lm2d.shape}")
    cfg = adapt_contour_weight(model, lm2d, cfg)
    height, width = img.shape[:2]
    dt = torch.float64
    photo = torch.from_numpy(img.astype(np.float64))
    rng = np.random.default_rng(cfg.seed)
    n_id, n_exp, n_alb = model.n_id, model.n_exp, model.n_alb
    n_v = model.n_vertices

    mean = model.mean_shape.to(dt)
    # Vertex-major bases: [N, 3, K] so that gathering sample vertices reads contiguous rows.
    b_geo = torch.cat([model.id_basis, model.exp_basis], 0).to(dt).reshape(-1, n_v, 3)
    b_geo = b_geo.permute(1, 2, 0).contiguous()
    alb_mean = model.mean_albedo.to(dt)
    b_alb = model.albedo_basis.to(dt).reshape(n_alb, n_v, 3).permute(1, 2, 0).contiguous()
    tris = model.triangles
    tris_np = tris.numpy().astype(np.int32)
    lmi = model.landmark_indices
    lm_mean, lm_geo = mean[lmi], b_geo[lmi]
    lm_target = torch.from_numpy(lm2d)
    lm_w = torch.from_numpy(np.sqrt(_landmark_weights(cfg) * cfg.w_landmark / 68.0))[:, None]
    face_w = model.face_mask.to(dt)[:, None]

    # 1. Pose from landmarks.
    pose = torch.from_numpy(fit_pose_to_landmarks(model, lm2d, cfg))
    a_id = torch.zeros(n_id, dtype=dt)
    a_exp = torch.zeros(n_exp, dtype=dt)
    a_alb = torch.zeros(n_alb, dtype=dt)
    gamma = torch.as_tensor(default_gamma(), dtype=dt)
    lam = cfg.lm_lambda
    history: list[float] = []

    def vertices(aid: torch.Tensor, aexp: torch.Tensor) -> torch.Tensor:
        return mean + b_geo @ torch.cat([aid, aexp])

    for _ in range(cfg.n_iters):
        verts = vertices(a_id, a_exp)
        screen = project_t(verts, pose)
        frags = rasterize(screen.numpy().astype(np.float32), tris_np, height, width)
        fw = interpolate(face_w, tris, frags)
        fw = (fw[0] if fw.ndim == 4 else fw)[..., 0].numpy()
        valid = _visible_face_pixels(frags, fw)
        rows, cols = np.nonzero(valid)
        if len(rows) < 50:
            raise RuntimeError(
                f"stage 1: only {len(rows)} visible face pixels; the pose is off the image"
            )
        pick = rng.choice(len(rows), size=min(cfg.n_pixels, len(rows)), replace=False)
        rows, cols = rows[pick], cols[pick]
        tid = frags.triangle_id[rows, cols].astype(np.int64)
        smp = _Sampler(
            tris[torch.from_numpy(tid)],
            torch.from_numpy(frags.barycentric[rows, cols]).to(dt),
            np.stack([rows, cols], 1),
        )
        rot = euler_to_matrix(pose[:3])
        nrm = smp.gather(camera_normals(verts, tris, rot))
        nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        sh_s = sh_basis(nrm)
        alb_mean_s = smp.gather(alb_mean)
        alb_basis_s = smp.gather(b_alb)

        problem = _GeometryProblem(
            photo=photo,
            points=(smp.gather(mean), smp.gather(b_geo)),
            landmarks=(lm_mean, lm_geo),
            lm_target=lm_target,
            lm_w=lm_w,
            sq_c=math.sqrt(cfg.color_scale**2 / len(rows)),
            sq_r=math.sqrt(cfg.w_reg),
        )
        project_all = problem.project
        residual_and_jac = problem.residual_and_jac
        n_s = len(rows)

        # a. albedo + light given geometry (photo sampled at the current projection).
        theta = torch.cat([pose, a_id, a_exp])
        photo_s, _ = bilinear_sample(photo, project_all(theta)[:n_s])
        gamma, a_alb = _solve_albedo_light(
            photo_s, sh_s, alb_mean_s, alb_basis_s, gamma, a_alb, cfg
        )
        albedo_s = alb_mean_s + alb_basis_s @ a_alb
        rendered = albedo_s * (sh_s @ gamma.reshape(3, 9).T)

        # b. one LM step on the geometry.
        res, jac = residual_and_jac(theta, rendered, True)
        energy = float(res @ res) + cfg.w_reg * float(a_alb @ a_alb)
        accepted = False
        for _attempt in range(6):
            cand = theta + _lm_solve(jac, res, lam)
            r_c, _ = residual_and_jac(cand, rendered, False)
            if float(r_c @ r_c) < float(res @ res):
                theta, lam, accepted = cand, max(lam / 5, 1e-9), True
                energy = float(r_c @ r_c) + cfg.w_reg * float(a_alb @ a_alb)
                break
            lam *= 10
        pose, a_id, a_exp = theta[:6], theta[6 : 6 + n_id], theta[6 + n_id :]
        history.append(energy)
        if not accepted:
            break

    # 3. Final albedo/light on a fresh rasterisation.
    params = FaceParams(
        alpha_id=a_id.numpy().astype(np.float32),
        alpha_exp=a_exp.numpy().astype(np.float32),
        alpha_alb=a_alb.numpy().astype(np.float32),
        gamma=gamma.numpy().astype(np.float32),
        pose=pose.numpy().astype(np.float32),
    )
    params = refit_albedo_light(model, params, img, cfg)
    rend = render_face_region(model, params, height, width)
    return Stage1Result(
        params=params,
        landmark_rmse_px=landmark_rmse(model, params, lm2d),
        photo_rmse=photo_rmse(rend["image"], img, rend["mask"]),
        energy_history=history,
        seconds=time.perf_counter() - t0,
        contour_weight=float(cfg.contour_weight),
    )


def refit_albedo_light(
    model: MorphableModel,
    params: FaceParams,
    image: np.ndarray,
    cfg: FitConfig,
    max_pixels: int = 12000,
) -> FaceParams:
    """Re-solve (alpha_alb, gamma) in closed form for fixed geometry on the visible face pixels.

    Args:
        model: Morphable model.
        params: Current parameters (pose in ``image`` pixels).
        image: ``[H, W, 3]`` float RGB in [0, 1].
        cfg: Settings.
        max_pixels: Random subset size when the face covers more pixels.

    Returns:
        Parameters with new ``alpha_alb`` and ``gamma``.
    """
    rend = render_face_region(model, params, image.shape[0], image.shape[1])
    mask = rend["mask"]
    if mask.sum() < 20:
        raise RuntimeError("no visible face pixels to solve albedo and light")
    frags: Fragments = rend["fragments"]
    rows, cols = np.nonzero(mask)
    if len(rows) > max_pixels:
        pick = np.random.default_rng(cfg.seed + 1).choice(len(rows), max_pixels, replace=False)
        rows, cols = rows[pick], cols[pick]
    dt = torch.float64
    tid = torch.from_numpy(frags.triangle_id[rows, cols].astype(np.int64))
    smp = _Sampler(
        model.triangles[tid],
        torch.from_numpy(frags.barycentric[rows, cols]).to(dt),
        np.stack([rows, cols], 1),
    )
    nrm = torch.from_numpy(rend["normals"][rows, cols].astype(np.float64))
    nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n_v = model.n_vertices
    gamma, a_alb = _solve_albedo_light(
        torch.from_numpy(image[rows, cols].astype(np.float64)),
        sh_basis(nrm),
        smp.gather(model.mean_albedo.to(dt)),
        smp.gather(model.albedo_basis.to(dt).reshape(model.n_alb, n_v, 3).permute(1, 2, 0)),
        torch.as_tensor(np.asarray(params.gamma, np.float64)),
        torch.as_tensor(np.asarray(params.alpha_alb, np.float64)),
        cfg,
    )
    return dataclasses.replace(
        params, alpha_alb=a_alb.numpy().astype(np.float32), gamma=gamma.numpy().astype(np.float32)
    )
