# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Poisson detail transfer between displacement maps (paper Eq. 18).

Given a target displacement map ``T``, a source displacement map ``S`` (already resampled into
the target's pixel grid) and a region ``Omega``, find ``D`` that minimises

    sum over 4-neighbour pairs (p, q) touching Omega of ((D_p - D_q) - s_d (S_p - S_q))^2
    subject to D = T outside Omega (Dirichlet values on the outer boundary dOmega),

whose normal equations are the discrete Poisson equation (5-point Laplacian)

    |N_p| D_p - sum_{q in N_p cap Omega} D_q = sum_{q in N_p} s_d (S_p - S_q)
                                               + sum_{q in N_p minus Omega} T_q      for p in Omega,

``N_p`` being the 4-neighbours of ``p`` inside the image (image edges act as Neumann boundaries).
Consequently ``laplacian(D) == s_d * laplacian(S)`` at every pixel of ``Omega`` and ``D == T``
everywhere else, exactly up to the sparse solver's precision.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

__all__ = ["laplacian_4", "poisson_transfer"]


def laplacian_4(image: np.ndarray) -> np.ndarray:
    """Discrete 5-point Laplacian ``sum_q (x_q - x_p)`` over the in-image 4-neighbours.

    Args:
        image: [H, W] array.

    Returns:
        [H, W] float64 Laplacian (image edges: missing neighbours are left out).
    """
    x = np.asarray(image, dtype=np.float64)
    out = np.zeros_like(x)
    out[1:, :] += x[:-1, :] - x[1:, :]
    out[:-1, :] += x[1:, :] - x[:-1, :]
    out[:, 1:] += x[:, :-1] - x[:, 1:]
    out[:, :-1] += x[:, 1:] - x[:, :-1]
    return out


def poisson_transfer(
    target: np.ndarray,
    source: np.ndarray,
    region: np.ndarray,
    scale: float = 1.0,
) -> np.ndarray:
    """Transfer the (scaled) gradients of ``source`` into ``target`` inside ``region``.

    Args:
        target: [H, W] target displacement map (its values outside ``region`` are kept).
        source: [H, W] source displacement map in the target's pixel grid; only its values on
            ``region`` and on the pixels next to it are used.
        region: [H, W] bool, the region Omega whose values are solved for.
        scale: The gradient scale ``s_d`` (paper: uniform in [0.7, 1.3]).

    Returns:
        [H, W] float32 map ``D``: ``D == target`` outside ``region``; inside, the solution of the
        discrete Poisson equation with guidance ``scale * grad(source)``.

    Raises:
        ValueError: Shapes differ, inputs are not 2-D, or contain non-finite values where used.
    """
    target = np.asarray(target, dtype=np.float64)
    source = np.asarray(source, dtype=np.float64)
    region = np.asarray(region, dtype=bool)
    if target.ndim != 2 or target.shape != source.shape or target.shape != region.shape:
        raise ValueError(
            f"target, source, region must be equal 2-D shapes, got {target.shape}, "
            f"{source.shape}, {region.shape}"
        )
    out = target.copy()
    n = int(region.sum())
    if n == 0:
        return out.astype(np.float32)
    h, w = target.shape
    ring = np.zeros_like(region)  # Omega and its 4-neighbours: where source/target are read
    ring[:-1] |= region[1:]
    ring[1:] |= region[:-1]
    ring[:, :-1] |= region[:, 1:]
    ring[:, 1:] |= region[:, :-1]
    ring |= region
    if not np.isfinite(source[ring]).all():
        raise ValueError("source has non-finite values on the region or its border")
    if not np.isfinite(target[ring & ~region]).all():
        raise ValueError("target has non-finite values on the region's border")

    ids = -np.ones((h, w), dtype=np.int64)
    ids[region] = np.arange(n)
    rows_r, cols_r = np.nonzero(region)
    diag = np.zeros(n)
    rhs = np.zeros(n)
    off_i: list[np.ndarray] = []
    off_j: list[np.ndarray] = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        qr, qc = rows_r + dr, cols_r + dc
        inside = (qr >= 0) & (qr < h) & (qc >= 0) & (qc < w)
        p = np.nonzero(inside)[0]
        qr, qc = qr[inside], qc[inside]
        diag[p] += 1.0
        rhs[p] += scale * (source[rows_r[p], cols_r[p]] - source[qr, qc])
        qid = ids[qr, qc]
        unknown = qid >= 0
        off_i.append(p[unknown])
        off_j.append(qid[unknown])
        rhs[p[~unknown]] += target[qr[~unknown], qc[~unknown]]
    i = np.concatenate([np.arange(n), *off_i])
    j = np.concatenate([np.arange(n), *off_j])
    v = np.concatenate([diag, -np.ones(sum(len(a) for a in off_i))])
    a = scipy.sparse.csc_matrix((v, (i, j)), shape=(n, n))
    if not (ring & ~region).any():
        raise ValueError("region covers the whole image: no Dirichlet boundary to anchor D")
    # The matrix is symmetric positive definite: a symmetric ordering (minimum degree on
    # A^T + A) without partial pivoting factors it 1.6x faster than spsolve's COLAMD default
    # (31,000 unknowns, a face region at 256 px: 75 vs 120 ms on this project's CPU).
    lu = scipy.sparse.linalg.splu(
        a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}
    )
    out[region] = lu.solve(rhs)
    return out.astype(np.float32)
