# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The quality gate of dataset A: which fits may become training samples, and why not.

Each fit is checked for (a fit may fail several checks; every failed check is counted):

* ``non_finite``: a parameter or the blended albedo is NaN/inf;
* ``landmark_error``: the RMS distance between the fitted model's projected landmarks and the
  detected ones, normalised by the detected outer-eye-corner distance (0-based points 36, 45),
  exceeds ``max_landmark_nme``: the model does not explain the face (or the detection is wrong);
* ``implausible_identity`` / ``implausible_expression``: RMS coefficient (sigma units) above
  ``max_coeff_rms`` or one coefficient beyond ``max_coeff_abs`` (re-posed renders of such a
  shape are distorted);
* ``photo_error``: the RMS colour error of the stage-1 render exceeds ``max_photo_rmse``
  (occluded or badly lit faces, a wrong light or albedo);
* ``face_too_small``: eye-corner distance below ``min_eye_px`` in the photo.

:func:`summarise` gives the accepted fits' distributions (yaw / pitch / roll, expression
energy) for the data engine's summary.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["GateConfig", "check_fit", "histogram", "summarise"]


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """Thresholds of the quality gate (see the module docstring)."""

    max_landmark_nme: float = 0.06
    max_coeff_rms: float = 2.5
    max_coeff_abs: float = 6.0
    max_photo_rmse: float = 0.14
    min_eye_px: float = 24.0


def _rms(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def check_fit(fit: Any, cfg: GateConfig | None = None) -> tuple[list[str], dict[str, float]]:
    """Apply the gate to one :class:`~training.inverse_render.fit_result.FitResult`.

    Returns:
        ``(reasons, metrics)``: the failed checks (empty = accepted) and the measured values
        (``landmark_nme``, ``id_rms``, ``exp_rms``, ``photo_rmse``, ``eye_px``, angles in
        degrees ``pitch``/``yaw``/``roll``).
    """
    cfg = cfg or GateConfig()
    p = fit.params
    reasons: list[str] = []
    arrays = [p.alpha_id, p.alpha_exp, p.alpha_alb, p.gamma, p.pose, fit.arrays["albedo_vertex"]]
    det = np.asarray(fit.arrays["landmarks_detected"], np.float64)
    fitted = np.asarray(fit.arrays["landmarks_fitted"], np.float64)
    if not all(np.all(np.isfinite(np.asarray(a, np.float64))) for a in [*arrays, fitted]):
        return ["non_finite"], {}
    eye = float(np.linalg.norm(det[45] - det[36]))
    nme = float(np.sqrt(np.mean(np.sum((fitted - det) ** 2, axis=1)))) / max(eye, 1e-6)
    metrics = {
        "landmark_nme": nme,
        "id_rms": _rms(p.alpha_id),
        "exp_rms": _rms(p.alpha_exp),
        "photo_rmse": float(fit.residuals.get("photo_rmse_stage1", 0.0)),
        "eye_px": eye,
        "pitch": float(np.degrees(p.pose[0])),
        "yaw": float(np.degrees(p.pose[1])),
        "roll": float(np.degrees(p.pose[2])),
    }
    if eye < cfg.min_eye_px:
        reasons.append("face_too_small")
    if nme > cfg.max_landmark_nme:
        reasons.append("landmark_error")
    if metrics["id_rms"] > cfg.max_coeff_rms or np.abs(p.alpha_id).max() > cfg.max_coeff_abs:
        reasons.append("implausible_identity")
    if metrics["exp_rms"] > cfg.max_coeff_rms or np.abs(p.alpha_exp).max() > cfg.max_coeff_abs:
        reasons.append("implausible_expression")
    if metrics["photo_rmse"] > cfg.max_photo_rmse:
        reasons.append("photo_error")
    return reasons, metrics


def histogram(values: list[float], edges: list[float]) -> dict[str, Any]:
    """Counts of ``values`` in the bins ``edges`` (values outside go to the end bins)."""
    v = np.clip(np.asarray(values, np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(v, bins=np.asarray(edges, np.float64))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def summarise(metrics: list[dict[str, float]]) -> dict[str, Any]:
    """Distributions of the accepted fits: angles (deg), expression / identity RMS, NME."""
    if not metrics:
        return {}

    def col(key: str) -> list[float]:
        return [m[key] for m in metrics]

    def stats(key: str) -> dict[str, float]:
        x = np.asarray(col(key), np.float64)
        q = np.percentile(x, [5, 50, 95])
        return {
            "mean": round(float(x.mean()), 4),
            "std": round(float(x.std()), 4),
            "p5": round(float(q[0]), 4),
            "median": round(float(q[1]), 4),
            "p95": round(float(q[2]), 4),
        }

    angle_edges = [float(e) for e in range(-90, 91, 10)]
    return {
        "count": len(metrics),
        "stats": {
            k: stats(k) for k in ("yaw", "pitch", "roll", "exp_rms", "id_rms", "landmark_nme")
        },
        "histograms": {
            "yaw_deg": histogram(col("yaw"), angle_edges),
            "pitch_deg": histogram(col("pitch"), angle_edges),
            "roll_deg": histogram(col("roll"), angle_edges),
            "exp_rms_sigma": histogram(col("exp_rms"), [i * 0.25 for i in range(13)]),
            "landmark_nme": histogram(col("landmark_nme"), [i * 0.01 for i in range(11)]),
        },
    }
