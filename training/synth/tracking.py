# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tracking-net training pairs: a simulated previous frame for every CoarseNet frame.

For CoarseNet sample ``k`` of a photo (re-created exactly from its random stream, see
:mod:`training.synth.coarse`) a frame-to-frame change is drawn from the motion distributions
(:class:`training.synth.motion.MotionModel`, by default ``default_motion.json``); the *previous*
parameters are the current ones with the change undone. As the pipeline does at run time, the
current frame is cropped by the crop derived from the previous parameters (previous landmarks
projected, ``crop_from_points``) and the previous shape is rendered there as a PNCC image.
When CoarseNet sample ``k`` is a photo sample (``CoarseConfig.p_photo``), so is the tracking
sample: the current frame is the fitted photo itself and only the previous pose is simulated.

Sample (architecture ``tracking`` keys, all poses in the 256 x 256 crop's pixels): ``image``
(current frame in the previous crop), ``pncc`` (previous pose), ``prev_pose``, and the current
``alpha_id``, ``alpha_exp``, ``alpha_alb``, ``gamma``, ``pose``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from face3d_ros.nets.contract import DEFAULT_CONTRACT
from training.synth.augment import augment_crop
from training.synth.coarse import CoarseConfig, _shape, frame_in_crop, sample_frame
from training.synth.common import PhotoFit, to_uint8, unit_rng
from training.synth.motion import MotionModel, apply_pose_delta

__all__ = ["TrackingConfig", "generate_tracking", "make_tracking_sample"]

#: Draws of a frame-to-frame change per sample before the last (``TrackingConfig.max_prev_offset``;
#: each redraw halves the multiplier, so the last draw is 2**-(n-1) of the first).
_MAX_DRAWS = 12


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Settings of the tracking set.

    Attributes:
        image_size: Crop side (the tracking contract's ``input_size``).
        crop_scale: Crop side / landmark extent (the tracking contract's ``crop_scale``).
        motion_scale: Multiplier on every motion standard deviation (1 = as measured).
        motion_scale_max: None (default) = every sample uses ``motion_scale``; a larger value =
            each sample draws its multiplier log-uniformly in ``[motion_scale,
            motion_scale_max]``. The net must correct the previous *estimate*, whose error at run
            time (the single-image CoarseNet's: yaw off by about 10 degrees on real faces) is
            one to two orders larger than the measured frame-to-frame motion (yaw std 0.5
            degrees); from the net's side a previous pose that is off by motion or by error
            is the same input.
        max_prev_offset: Largest mean distance between the previous and the current
            landmarks, as a fraction of the current face size (landmark extent), that a drawn
            change may make. A draw beyond it (or whose previous crop misses the image) is
            replaced by a new draw with half the multiplier (deterministic, from the sample's
            stream). At run time such a previous estimate does not reach the tracking net: the
            Tracker re-anchors when its landmarks are more than ``(1 - min_confidence) *
            max_landmark_error`` = 0.21 face sizes from the detector's
            (:class:`face3d_ros.pipeline.tracker.TrackerConfig`); with large multipliers
            (``motion_scale_max`` 20) an unbounded draw can move the previous face off the
            photo.
    """

    image_size: int = DEFAULT_CONTRACT.tracking.input_size
    crop_scale: float = DEFAULT_CONTRACT.tracking.crop_scale
    motion_scale: float = 1.0
    motion_scale_max: float | None = None
    max_prev_offset: float = 0.3

    def __post_init__(self) -> None:
        """Validate the motion scales.

        Raises:
            ValueError: A scale <= 0, or ``motion_scale_max`` below ``motion_scale``.
        """
        if not self.motion_scale > 0:
            raise ValueError(f"motion_scale must be > 0, got {self.motion_scale}")
        if self.motion_scale_max is not None and not self.motion_scale_max >= self.motion_scale:
            raise ValueError(
                f"motion_scale_max ({self.motion_scale_max}) must be >= motion_scale "
                f"({self.motion_scale})"
            )
        if not self.max_prev_offset > 0:
            raise ValueError(f"max_prev_offset must be > 0, got {self.max_prev_offset}")

    def draw_motion_scale(self, rng: np.random.Generator) -> float:
        """This sample's motion multiplier (draws from ``rng`` only for a range)."""
        if self.motion_scale_max is None or self.motion_scale_max == self.motion_scale:
            return float(self.motion_scale)
        lo, hi = np.log(self.motion_scale), np.log(self.motion_scale_max)
        return float(np.exp(rng.uniform(lo, hi)))


def make_tracking_sample(
    pf: PhotoFit,
    model: Any,
    k: int,
    coarse_cfg: CoarseConfig,
    cfg: TrackingConfig,
    motion: MotionModel,
    seed: int,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Tracking sample for CoarseNet sample ``k`` of photo ``pf``.

    Args:
        pf: The fitted photo.
        model: MorphableModel.
        k: Sample number (same frame as coarse sample ``k`` with the same seed/config).
        coarse_cfg: Settings of the CoarseNet set (they define the current frame).
        cfg: Tracking settings.
        motion: Frame-to-frame change distributions.
        seed: Global seed.
        other_expressions: Expressions of other fits (as for the coarse set).
        other_lights: SH lights of other fits (as for the coarse set).

    Returns:
        ``(sample, extra)``; ``extra`` holds ``pose_delta`` [6] and ``exp_delta`` [K_exp] (the
        drawn change, :mod:`training.synth.motion` units), ``motion_scale`` (its multiplier,
        after any halving), ``draws`` (changes drawn: 1 unless one went beyond
        ``cfg.max_prev_offset``), ``prev_offset`` (mean previous-to-current landmark distance per
        face size), ``is_photo`` (the current frame is the fitted photo itself),
        ``pose_image`` / ``prev_pose_image``
        (photo pixels), ``box`` (the previous-frame crop) and ``mask`` (rendered current face).
    """
    from face3d_ros.geometry.camera import project_np
    from face3d_ros.geometry.crop import crop_from_points
    from face3d_ros.pipeline.net_inputs import PnccRenderer, tracking_input
    from face3d_ros.pipeline.tracker import landmark_distance

    frame, _ = sample_frame(pf, model, k, coarse_cfg, seed, other_expressions, other_lights)
    rng = unit_rng(seed, "tracking", pf.name, k)
    factor = cfg.draw_motion_scale(rng)
    cur = frame.params
    lm = np.asarray(model.data.landmark_indices, dtype=np.int64)
    cur_lm = project_np(_shape(model, cur.alpha_id, cur.alpha_exp)[lm], cur.pose)[:, :2]
    for draw in range(_MAX_DRAWS):
        if draw:
            factor *= 0.5
        scaled = dataclasses.replace(
            motion,
            pose_std=motion.pose_std * factor,
            exp_std=motion.exp_std * factor,
        )
        pose_delta, exp_delta = scaled.sample(rng, model.n_exp)
        prev_pose = apply_pose_delta(cur.pose, pose_delta, inverse=True)
        prev_exp = (np.asarray(cur.alpha_exp, np.float64) - exp_delta).astype(np.float32)
        prev_vertices = _shape(model, cur.alpha_id, prev_exp)
        prev_lm = project_np(prev_vertices[lm], prev_pose)[:, :2]
        offset = landmark_distance(prev_lm, cur_lm)  # the Tracker's drift measure
        last = draw == _MAX_DRAWS - 1
        if offset > cfg.max_prev_offset and not last:
            continue
        try:
            box = crop_from_points(prev_lm, scale=cfg.crop_scale, image_shape=pf.photo.shape[:2])
        except ValueError:  # the previous face's crop misses the photo
            if last:
                raise
            continue
        break
    size = cfg.image_size
    out = frame_in_crop(pf, model, frame, box, size)
    x, prev_pose_c = tracking_input(  # the Tracker's input builder (PNCC of the previous pose)
        np.asarray(out["image"]), box, prev_vertices, prev_pose, PnccRenderer(model)
    )
    pncc = to_uint8(x[3:].transpose(1, 2, 0))
    sample = {
        "image": to_uint8(augment_crop(out["image"], rng, coarse_cfg.augment)),
        "pncc": pncc,
        "prev_pose": prev_pose_c,
        "alpha_id": np.asarray(cur.alpha_id, dtype=np.float32),
        "alpha_exp": np.asarray(cur.alpha_exp, dtype=np.float32),
        "alpha_alb": np.asarray(cur.alpha_alb, dtype=np.float32),
        "gamma": np.asarray(cur.gamma, dtype=np.float32),
        "pose": out["pose"],
    }
    extra = {
        "pose_delta": pose_delta,
        "exp_delta": exp_delta,
        "motion_scale": factor,
        "draws": draw + 1,
        "prev_offset": offset,
        "is_photo": frame.is_photo,
        "prev_alpha_exp": prev_exp,
        "pose_image": np.asarray(cur.pose, dtype=np.float32),
        "prev_pose_image": prev_pose,
        "box": box,
        "mask": out["mask"],
    }
    return sample, extra


def generate_tracking(
    pf: PhotoFit,
    model: Any,
    coarse_cfg: CoarseConfig,
    cfg: TrackingConfig,
    motion: MotionModel,
    seed: int,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> Iterator[dict[str, np.ndarray]]:
    """Yield one tracking sample per CoarseNet sample of the photo."""
    for k in range(coarse_cfg.per_photo):
        yield make_tracking_sample(
            pf, model, k, coarse_cfg, cfg, motion, seed, other_expressions, other_lights
        )[0]
