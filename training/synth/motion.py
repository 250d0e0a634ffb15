# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame-to-frame head-motion distributions used to simulate the tracking net's previous frame.

A motion file (JSON, written by :mod:`training.synth.estimate_motion` or shipped as
``training/synth/default_motion.json``) holds independent normal distributions of the change
from the previous frame to the current one (``delta = current - previous``):

=============  =========  ==============================================================
name           unit       meaning
=============  =========  ==============================================================
d_pitch        rad        pitch(t) - pitch(t-1)
d_yaw          rad        yaw(t) - yaw(t-1)
d_roll         rad        roll(t) - roll(t-1)
d_tx           mm         (tx(t) - tx(t-1)) / s(t-1): image-plane translation in model mm
d_ty           mm         (ty(t) - ty(t-1)) / s(t-1)
d_log_s        1          log(s(t) / s(t-1))
d_exp          sigma      alpha_exp(t) - alpha_exp(t-1), one (mean, std) for all components
=============  =========  ==============================================================

Translations are stored in millimetres (pixels divided by the scale) and the scale as a log
ratio, so the distributions do not depend on the image resolution or face size.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MOTION_FORMAT",
    "POSE_DELTA_NAMES",
    "MotionModel",
    "apply_pose_delta",
    "default_motion_path",
]

MOTION_FORMAT = "face3d_ros-motion"
POSE_DELTA_NAMES = ("d_pitch", "d_yaw", "d_roll", "d_tx", "d_ty", "d_log_s")


def default_motion_path() -> pathlib.Path:
    """The shipped default motion file (``training/synth/default_motion.json``)."""
    return pathlib.Path(__file__).resolve().parent / "default_motion.json"


@dataclass(frozen=True)
class MotionModel:
    """Independent normal distributions of the frame-to-frame parameter changes.

    Attributes:
        pose_mean: [6] means of ``POSE_DELTA_NAMES``.
        pose_std: [6] standard deviations of ``POSE_DELTA_NAMES``.
        exp_mean: Mean of every expression-coefficient delta (sigma units).
        exp_std: Standard deviation of every expression-coefficient delta.
        meta: The rest of the JSON file (source, units, sample counts).
    """

    pose_mean: np.ndarray
    pose_std: np.ndarray
    exp_mean: float
    exp_std: float
    meta: dict[str, Any]

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> MotionModel:
        """Build from the JSON structure written by :meth:`to_dict`.

        Raises:
            ValueError: Wrong format name or missing / negative entries.
        """
        if obj.get("format") != MOTION_FORMAT:
            raise ValueError(f"not a {MOTION_FORMAT} file (format={obj.get('format')!r})")
        params = obj.get("params", {})
        try:
            mean = np.array([params[n]["mean"] for n in POSE_DELTA_NAMES], dtype=np.float64)
            std = np.array([params[n]["std"] for n in POSE_DELTA_NAMES], dtype=np.float64)
            exp_mean = float(params["d_exp"]["mean"])
            exp_std = float(params["d_exp"]["std"])
        except KeyError as exc:
            raise ValueError(f"motion file lacks parameter entry {exc}") from exc
        if (std < 0).any() or exp_std < 0 or not np.isfinite(np.r_[mean, std]).all():
            raise ValueError("motion standard deviations must be finite and >= 0")
        meta = {k: v for k, v in obj.items() if k != "params"}
        return cls(mean, std, exp_mean, exp_std, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> MotionModel:
        """Load a motion JSON file (``None``: the shipped default).

        Raises:
            FileNotFoundError: The file does not exist.
            ValueError: See :meth:`from_dict`.
        """
        p = pathlib.Path(path) if path is not None else default_motion_path()
        if not p.is_file():
            raise FileNotFoundError(f"motion file {p} not found")
        return cls.from_dict(json.loads(p.read_text()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse of :meth:`from_dict`)."""
        params = {
            n: {"mean": float(m), "std": float(s)}
            for n, m, s in zip(POSE_DELTA_NAMES, self.pose_mean, self.pose_std, strict=True)
        }
        params["d_exp"] = {"mean": float(self.exp_mean), "std": float(self.exp_std)}
        return {**self.meta, "format": MOTION_FORMAT, "params": params}

    def sample(self, rng: np.random.Generator, n_exp: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw one frame-to-frame change.

        Args:
            rng: Random generator.
            n_exp: Number of expression coefficients.

        Returns:
            ``(pose_delta [6] float64 in POSE_DELTA_NAMES units, exp_delta [n_exp] float64)``.
        """
        pose_delta = rng.normal(self.pose_mean, self.pose_std)
        exp_delta = rng.normal(self.exp_mean, self.exp_std, size=n_exp)
        return pose_delta, exp_delta


def apply_pose_delta(pose: np.ndarray, delta: np.ndarray, *, inverse: bool = False) -> np.ndarray:
    """Move a pose by a frame-to-frame change (or undo the change).

    With ``inverse=False`` the result is the pose one frame *later* (``current`` from
    ``previous``); with ``inverse=True`` it is the pose one frame *earlier*. The two are exact
    inverses of each other.

    Args:
        pose: [6] (pitch, yaw, roll, tx, ty, s), image pixels.
        delta: [6] change in ``POSE_DELTA_NAMES`` units (translations in mm of the earlier
            frame's scale, scale as a log ratio).
        inverse: Undo the change instead of applying it.

    Returns:
        [6] float32 pose.
    """
    p = np.asarray(pose, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    out = p.copy()
    if not inverse:
        out[:3] = p[:3] + d[:3]
        out[3:5] = p[3:5] + d[3:5] * p[5]
        out[5] = p[5] * np.exp(d[5])
    else:
        s_prev = p[5] * np.exp(-d[5])
        out[:3] = p[:3] - d[:3]
        out[3:5] = p[3:5] - d[3:5] * s_prev
        out[5] = s_prev
    return out.astype(np.float32)
