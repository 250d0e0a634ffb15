# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 2 of inverse rendering: per-pixel depth displacement from shading (paper Eq. 9).

In the face crop (``S x S``, crop pixels) the fine depth is ``z = D + d`` with ``D`` the rendered
coarse depth and ``d`` the unknown displacement. Normals come from central differences of
``z`` (camera space: x right, y up, z towards the camera; with ``u`` right and ``v`` down,
``n ~ (-dz/du, dz/dv, 1)``). The energy::

    E(d) = sum_{p, c} (k * (a_c(p) * sh(n_p(d)) . gamma_c - I_c(p)))^2
           + mu1 * ||d||^2 + mu2 * ||Laplacian d||_1,       mu1 = 1e-3, mu2 = 0.3

(``k = color_scale``) is minimised by Gauss-Newton on the linearised shading; the L1 term is
handled by iteratively reweighted least squares (weights ``1 / max(|L d|, eps)``), each
linear system ``(J^T J + mu1 I + mu2 L^T W L) delta = -g`` is solved with Jacobi-preconditioned
conjugate gradients on the scipy.sparse matrix, and a step is accepted only when the energy
decreases (halving otherwise).

Residuals are taken on the interior of the face mask (pixels whose four neighbours are in the
mask); ``d`` is a variable on every mask pixel and 0 outside.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from face3d_ros.geometry.sh import sh_basis_np


@dataclasses.dataclass
class DisplacementConfig:
    """Stage 2 settings.

    Attributes:
        mu1: Weight of ``||d||^2`` (paper: 1e-3).
        mu2: Weight of ``||Laplacian d||_1`` (paper: 0.3).
        color_scale: Colours compared on a [0, color_scale] scale (same as stage 1).
        n_iters: Gauss-Newton / IRLS iterations.
        irls_eps: Floor of ``|L d|`` in the IRLS weights (crop pixels).
        cg_maxiter: Conjugate-gradient iterations per linear solve.
        cg_rtol: Relative residual at which conjugate gradients stop (inexact GN steps).
        max_abs: Clamp on ``|d|`` (crop pixels) as a safety bound.
    """

    mu1: float = 1e-3
    mu2: float = 0.3
    color_scale: float = 255.0
    n_iters: int = 5
    irls_eps: float = 1e-2
    cg_maxiter: int = 150
    cg_rtol: float = 1e-4
    max_abs: float = 20.0


@dataclasses.dataclass
class DisplacementResult:
    """Output of :func:`refine_displacement`.

    Attributes:
        displacement: ``[S, S]`` float32 depth displacement (crop pixels, + = towards camera),
            0 outside the mask.
        normals: ``[S, S, 3]`` float32 camera-space unit normals of ``D + d`` (0 outside).
        shading: ``[S, S, 3]`` float32 SH shading of those normals (0 outside).
        residual_mask: ``[S, S]`` bool pixels where the photo error is measured.
        rmse_before: RMS colour error ([0, 1]) with ``d = 0`` over ``residual_mask``.
        rmse_after: Same with the refined ``d``.
        energy_history: Energy after each iteration.
        seconds: Wall time.
    """

    displacement: np.ndarray
    normals: np.ndarray
    shading: np.ndarray
    residual_mask: np.ndarray
    rmse_before: float
    rmse_after: float
    energy_history: list[float]
    seconds: float


def normals_from_depth(depth: np.ndarray) -> np.ndarray:
    """Camera-space unit normals from a depth map by central differences.

    Args:
        depth: ``[H, W]`` depth in pixels (larger = closer).

    Returns:
        ``[H, W, 3]`` float64 unit normals ``~ (-dz/du, dz/dv, 1)`` (edges replicate).
    """
    z = np.asarray(depth, np.float64)
    zu = np.zeros_like(z)
    zv = np.zeros_like(z)
    zu[:, 1:-1] = 0.5 * (z[:, 2:] - z[:, :-2])
    zv[1:-1, :] = 0.5 * (z[2:, :] - z[:-2, :])
    m = np.stack([-zu, zv, np.ones_like(z)], -1)
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def extend_depth(depth: np.ndarray, mask: np.ndarray, rings: int = 2) -> np.ndarray:
    """Extend a depth map a few pixels beyond ``mask`` (mean of known 4-neighbours).

    Keeps the central differences on the mask border from seeing the background.

    Args:
        depth: ``[H, W]`` depth, meaningful on ``mask``.
        mask: ``[H, W]`` bool.
        rings: How many one-pixel rings to fill.

    Returns:
        ``[H, W]`` float64 depth equal to ``depth`` on ``mask``.
    """
    z = np.where(mask, depth, 0.0).astype(np.float64)
    known = np.asarray(mask, bool).copy()
    for _ in range(rings):
        acc = np.zeros_like(z)
        cnt = np.zeros_like(z)
        for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
            acc += np.roll(z * known, shift, axis)
            cnt += np.roll(known.astype(np.float64), shift, axis)
        new = (~known) & (cnt > 0)
        z[new] = acc[new] / cnt[new]
        known |= new
    return z


def shading_from_normals(normals: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """SH shading ``sh_basis(n) @ gamma.reshape(3, 9).T``; ``[..., 3]`` -> ``[..., 3]``."""
    g = np.asarray(gamma, np.float64).reshape(3, 9)
    return sh_basis_np(np.asarray(normals, np.float64)) @ g.T


def _interior(mask: np.ndarray) -> np.ndarray:
    """Mask pixels whose 4-neighbours are all in the mask (and not on the image border)."""
    m = np.zeros_like(mask, dtype=bool)
    c = mask[1:-1, 1:-1]
    m[1:-1, 1:-1] = c & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    return m


def _difference_operators(
    mask: np.ndarray, rows_mask: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Sparse central differences and Laplacian from variables (mask) to rows (rows_mask).

    Returns:
        ``(Du, Dv, L, var_index)`` with ``var_index`` ``[H, W]`` int (-1 outside the mask).
    """
    h, w = mask.shape
    var_index = -np.ones((h, w), np.int64)
    var_index[mask] = np.arange(int(mask.sum()))
    ri, rj = np.nonzero(rows_mask)
    n_rows, n_vars = len(ri), int(mask.sum())
    r = np.arange(n_rows)

    def op(entries: list[tuple[int, int, float]]) -> sp.csr_matrix:
        rr, cc, vv = [], [], []
        for di, dj, val in entries:
            rr.append(r)
            cc.append(var_index[ri + di, rj + dj])
            vv.append(np.full(n_rows, val))
        return sp.csr_matrix(
            (np.concatenate(vv), (np.concatenate(rr), np.concatenate(cc))), shape=(n_rows, n_vars)
        )

    du = op([(0, 1, 0.5), (0, -1, -0.5)])
    dv = op([(1, 0, 0.5), (-1, 0, -0.5)])
    lap = op([(0, 0, 4.0), (0, 1, -1.0), (0, -1, -1.0), (1, 0, -1.0), (-1, 0, -1.0)])
    return du, dv, lap, var_index


def _pcg(a_mat: sp.csr_matrix, rhs: np.ndarray, maxiter: int, rtol: float) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradients for a sparse SPD system.

    Written out (rather than ``scipy.sparse.linalg.cg``) so vector products use numpy
    element-wise sums: a threaded BLAS ``ddot`` next to torch's thread pool can be 100x slower.
    """
    inv_diag = 1.0 / np.maximum(a_mat.diagonal(), 1e-12)
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = inv_diag * r
    p = z.copy()
    rz = float(np.sum(r * z))
    stop = rtol * float(np.sqrt(np.sum(rhs * rhs)))
    for _ in range(maxiter):
        ap = a_mat @ p
        alpha = rz / max(float(np.sum(p * ap)), 1e-300)
        x += alpha * p
        r -= alpha * ap
        if float(np.sqrt(np.sum(r * r))) <= stop:
            break
        z = inv_diag * r
        rz_new = float(np.sum(r * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def refine_displacement(
    photo: np.ndarray,
    coarse_depth: np.ndarray,
    mask: np.ndarray,
    albedo: np.ndarray,
    gamma: np.ndarray,
    cfg: DisplacementConfig | None = None,
) -> DisplacementResult:
    """Solve Eq. 9 for the per-pixel depth displacement.

    Args:
        photo: ``[S, S, 3]`` float RGB in [0, 1] (the face crop).
        coarse_depth: ``[S, S]`` rendered coarse depth (crop pixels; values outside ``mask``
            are ignored).
        mask: ``[S, S]`` bool face region (visible face pixels of the coarse fit).
        albedo: ``[S, S, 3]`` per-pixel albedo of the coarse fit.
        gamma: ``[27]`` SH lighting of the coarse fit.
        cfg: Settings; defaults to :class:`DisplacementConfig()`.

    Returns:
        The refined displacement and diagnostics.

    Raises:
        ValueError: On inconsistent shapes or an (almost) empty mask.
    """
    cfg = cfg or DisplacementConfig()
    t0 = time.perf_counter()
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    if photo.shape != (h, w, 3) or albedo.shape != (h, w, 3) or coarse_depth.shape != (h, w):
        raise ValueError(
            f"shape mismatch: photo {photo.shape}, albedo {albedo.shape}, depth "
            f"{coarse_depth.shape}, mask {mask.shape}"
        )
    rows_mask = _interior(mask)
    if rows_mask.sum() < 16:
        raise ValueError(f"face mask too small for stage 2 ({int(rows_mask.sum())} interior px)")
    du, dv, lap, var_index = _difference_operators(mask, rows_mask)
    n_vars = du.shape[1]
    base = np.where(mask, coarse_depth, 0.0).astype(np.float64)
    base_vars = base[mask]
    k = float(cfg.color_scale)
    target = photo[rows_mask].astype(np.float64)  # [R, 3]
    alb = albedo[rows_mask].astype(np.float64)
    g = np.asarray(gamma, np.float64).reshape(3, 9)

    def colour(zu: np.ndarray, zv: np.ndarray) -> np.ndarray:
        m = np.stack([-zu, zv, np.ones_like(zu)], -1)
        n = m / np.sqrt(np.sum(m * m, axis=-1, keepdims=True))
        return k * (alb * (sh_basis_np(n) @ g.T) - target)  # [R, 3]

    def colour_residual(
        zu: np.ndarray, zv: np.ndarray, need_grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        res = colour(zu, zv)
        if not need_grad:
            return res, None, None
        # Each pixel's residual depends only on its own (zu, zv): central differences give the
        # per-pixel partial derivatives exactly enough (smooth function, float64).
        h = 1e-5
        gu = (colour(zu + h, zv) - colour(zu - h, zv)) / (2 * h)
        gv = (colour(zu, zv + h) - colour(zu, zv - h)) / (2 * h)
        return res, gu, gv

    def energy(d: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        z = base_vars + d
        res, _, _ = colour_residual(du @ z, dv @ z, False)
        ld = lap @ d
        data = float(np.sum(res**2))
        return data + cfg.mu1 * float(d @ d) + cfg.mu2 * float(np.sum(np.abs(ld))), data

    d = np.zeros(n_vars)
    _, data0 = energy(d, np.ones(lap.shape[0]))
    rmse_before = float(np.sqrt(data0 / (3 * target.shape[0]))) / k
    history = []
    e_cur, _ = energy(d, np.ones(lap.shape[0]))
    for _ in range(cfg.n_iters):
        z = base_vars + d
        res, gu, gv = colour_residual(du @ z, dv @ z, True)
        blocks = [sp.diags(gu[:, c]) @ du + sp.diags(gv[:, c]) @ dv for c in range(3)]
        jac = sp.vstack(blocks).tocsr()
        r = res.T.reshape(-1)  # channel-major, matching the stacked blocks
        ld = lap @ d
        wts = 1.0 / np.maximum(np.abs(ld), cfg.irls_eps)
        reg = cfg.mu2 * (lap.T @ sp.diags(wts) @ lap)
        a_mat = (jac.T @ jac + reg + cfg.mu1 * sp.identity(n_vars)).tocsr()
        rhs = -(jac.T @ r + cfg.mu1 * d + reg @ d)
        step = _pcg(a_mat, rhs, maxiter=cfg.cg_maxiter, rtol=cfg.cg_rtol)
        t = 1.0
        accepted = False
        for _h in range(8):
            cand = np.clip(d + t * step, -cfg.max_abs, cfg.max_abs)
            e_c, _ = energy(cand, wts)
            if e_c < e_cur:
                d, e_cur, accepted = cand, e_c, True
                break
            t *= 0.5
        history.append(e_cur)
        if not accepted:
            break
    _, data1 = energy(d, np.ones(lap.shape[0]))
    rmse_after = float(np.sqrt(data1 / (3 * target.shape[0]))) / k
    disp = np.zeros((h, w), np.float32)
    disp[mask] = d
    fine = extend_depth(np.where(mask, coarse_depth, 0.0) + disp, mask)
    normals = normals_from_depth(fine)
    normals[~mask] = 0
    shading = shading_from_normals(normals, gamma)
    shading[~mask] = 0
    del var_index
    return DisplacementResult(
        displacement=disp,
        normals=normals.astype(np.float32),
        shading=shading.astype(np.float32),
        residual_mask=rows_mask,
        rmse_before=rmse_before,
        rmse_after=rmse_after,
        energy_history=history,
        seconds=time.perf_counter() - t0,
    )
