# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Landmark and pose figures of the real-face benchmark (pure numpy, no I/O).

Conventions: landmarks are ``[68, 2]`` image pixels in iBUG 68-point order (0-based indices);
the normaliser of every NME is the reference's outer-eye-corner distance
``|ref[36] - ref[45]|`` (the "inter-ocular" normalisation of 300-W).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "EYE_CORNERS",
    "MOUTH_CORNERS",
    "angle_stats",
    "drift_ratio",
    "eye_distance",
    "jitter",
    "mouth_ratio",
    "nme",
    "summary",
]

#: 0-based indices of the outer eye corners (subject's right eye outer, left eye outer).
EYE_CORNERS = (36, 45)
#: 0-based indices of the mouth corners.
MOUTH_CORNERS = (48, 54)


def _lm(points: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(points, np.float64)
    if arr.shape != (68, 2):
        raise ValueError(f"{name} must be [68, 2] landmarks, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains non-finite values")
    return arr


def eye_distance(reference: np.ndarray) -> float:
    """Outer-eye-corner distance (pixels) of ``[68, 2]`` landmarks.

    Raises:
        ValueError: Bad shape, non-finite values, or coincident eye corners.
    """
    ref = _lm(reference, "reference")
    d = float(np.linalg.norm(ref[EYE_CORNERS[0]] - ref[EYE_CORNERS[1]]))
    if d <= 0:
        raise ValueError("reference eye corners coincide: NME is undefined")
    return d


def nme(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Mean point-to-point distance over the 68 points divided by the reference eye distance.

    Args:
        predicted: ``[68, 2]`` pixels.
        reference: ``[68, 2]`` pixels.

    Returns:
        The normalised mean error (dimensionless).
    """
    pred, ref = _lm(predicted, "predicted"), _lm(reference, "reference")
    return float(np.linalg.norm(pred - ref, axis=1).mean()) / eye_distance(ref)


def mouth_ratio(landmarks: np.ndarray) -> float:
    """Mouth-corner distance (points 48-54) divided by the same landmarks' eye distance."""
    lm = _lm(landmarks, "landmarks")
    return float(np.linalg.norm(lm[MOUTH_CORNERS[0]] - lm[MOUTH_CORNERS[1]])) / eye_distance(lm)


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"n", "mean", "median", "p90", "max"}`` of the finite values (None when empty)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "p90": None, "max": None}
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def angle_stats(
    predicted_deg: np.ndarray, reference_deg: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, float | int | None]:
    """Agreement of one angle (degrees): Pearson correlation, mean abs error, mean signed error.

    Differences are wrapped to [-180, 180). The correlation is None with fewer than 3 samples or
    a constant series (e.g. a baseline that always predicts 0).

    Args:
        predicted_deg: ``[M]`` degrees.
        reference_deg: ``[M]`` degrees.
        mask: Optional ``[M]`` bool selection.

    Returns:
        ``{"n", "corr", "mae", "bias"}``.
    """
    p = np.asarray(predicted_deg, np.float64)
    r = np.asarray(reference_deg, np.float64)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"angle arrays must be [M] of equal length, got {p.shape} and {r.shape}")
    sel = np.isfinite(p) & np.isfinite(r)
    if mask is not None:
        sel &= np.asarray(mask, bool)
    p, r = p[sel], r[sel]
    if p.size == 0:
        return {"n": 0, "corr": None, "mae": None, "bias": None}
    diff = (p - r + 180.0) % 360.0 - 180.0
    return {
        "n": int(p.size),
        "corr": _pearson(p, r),
        "mae": float(np.abs(diff).mean()),
        "bias": float(diff.mean()),
    }


def jitter(
    predicted: Sequence[np.ndarray | None], reference: Sequence[np.ndarray | None]
) -> dict[str, float | int | None]:
    """Mean frame-to-frame landmark motion of a prediction and of the reference.

    Motion at frame t = mean over the 68 points of ``|l_t - l_{t-1}|`` divided by the reference
    eye distance at frame t; only pairs of consecutive frames where both the prediction and the
    reference exist at t-1 and t count, so both series see the same head motion.

    Args:
        predicted: Per frame ``[68, 2]`` or None.
        reference: Per frame ``[68, 2]`` or None (same length).

    Returns:
        ``{"n_pairs", "predicted", "reference", "excess"}`` (excess = predicted - reference).
    """
    if len(predicted) != len(reference):
        raise ValueError("predicted and reference must have one entry per frame")
    mp, mr = [], []
    for t in range(1, len(predicted)):
        p0, p1, r0, r1 = predicted[t - 1], predicted[t], reference[t - 1], reference[t]
        if p0 is None or p1 is None or r0 is None or r1 is None:
            continue
        d = eye_distance(r1)
        mp.append(float(np.linalg.norm(np.subtract(p1, p0), axis=1).mean()) / d)
        mr.append(float(np.linalg.norm(np.subtract(r1, r0), axis=1).mean()) / d)
    if not mp:
        return {"n_pairs": 0, "predicted": None, "reference": None, "excess": None}
    p, r = float(np.mean(mp)), float(np.mean(mr))
    return {"n_pairs": len(mp), "predicted": p, "reference": r, "excess": p - r}


def drift_ratio(
    errors: Sequence[float | None],
    since_init: Sequence[int | None],
    early: tuple[int, int] = (0, 5),
    late: tuple[int, int] = (20, 40),
) -> dict[str, float | int | None]:
    """Mean error ``late`` frames after a (re-)initialisation over that of the ``early`` frames.

    Args:
        errors: Per-frame NME (None where there is no prediction or no reference).
        since_init: Per-frame frames since the last (re-)initialisation (0 on the
            initialisation frame itself; None without a track).
        early: Inclusive range of ``since_init`` of the early window.
        late: Inclusive range of the late window.

    Returns:
        ``{"early", "late", "n_early", "n_late", "ratio"}`` (None where a window is empty).
    """
    if len(errors) != len(since_init):
        raise ValueError("errors and since_init must have one entry per frame")

    def window(lo: int, hi: int) -> list[float]:
        return [
            float(e)
            for e, k in zip(errors, since_init, strict=True)
            if e is not None and k is not None and lo <= k <= hi
        ]

    e, late_v = window(*early), window(*late)
    m_e = float(np.mean(e)) if e else None
    m_l = float(np.mean(late_v)) if late_v else None
    ratio = m_l / m_e if (m_e and m_l is not None) else None
    return {"early": m_e, "late": m_l, "n_early": len(e), "n_late": len(late_v), "ratio": ratio}
