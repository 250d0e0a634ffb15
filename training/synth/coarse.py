# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CoarseNet training set: re-posed, re-expressed renders of fitted photos (paper Sec. 5.1).

For every fitted photo and sample ``k`` (own random stream, see
:func:`training.synth.common.unit_rng`):

1. draw a new (pitch, yaw, roll) uniformly within the configured ranges (the image position
   ``(tx, ty)`` and scale ``s`` of the fit are kept), new expression coefficients (the mixture
   of :mod:`training.synth.expressions`: another fit's expression, designed actions that make
   open mouths, smiles and one-sided expressions common, or the prior) and, with probability
   ``p_light_from_fits``, another fit's SH light;
2. inpaint the fitted face region out of the photo (:func:`training.synth.common.inpaint_face`)
   and warp the result so that the face control points (the 68 landmarks and the mesh-border
   vertices) move from their fitted projections to their new projections, with a fixed ring of
   points around the face (:mod:`training.synth.warp`);
3. crop ``image_size`` pixels around the new face (landmark crop as at run time, plus a little
   random jitter) and render the face in it with the photo's own blended albedo and fitted SH
   light, composited over the warped photo;
4. domain randomisation of the input image (:mod:`training.synth.augment`: blur, noise, JPEG,
   low resolution, occlusion, image border).

With probability ``p_photo`` (default 0: none) a sample is instead the fitted photo itself:
the run-time crop around the fitted landmarks (with the same jitter and domain randomisation),
labelled with the fit's own parameters, optionally rotated in the image plane
(``photo_roll_deg``; the label's roll follows exactly). Those samples carry real face pixels,
which no re-rendered sample does (a choice beyond the paper, whose set is re-rendered
throughout).

Labels are the parameters with the pose in the crop's pixels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from face3d_ros.nets.contract import DEFAULT_CONTRACT
from training.synth.augment import AugmentConfig, augment_crop
from training.synth.common import PhotoFit, boundary_vertices, render_textured, to_uint8, unit_rng
from training.synth.expressions import ExpressionConfig, draw_expression
from training.synth.warp import warp_background, warp_crop

__all__ = [
    "CoarseConfig",
    "CoarseFrame",
    "composite_in_crop",
    "draw_frame",
    "frame_in_crop",
    "generate_coarse",
    "is_photo_sample",
    "make_coarse_sample",
    "mouth_cavity",
    "photo_frame",
    "photo_in_crop",
    "sample_frame",
]


@dataclasses.dataclass(frozen=True)
class CoarseConfig:
    """Settings of the CoarseNet set.

    Attributes:
        per_photo: Samples per fitted photo (paper: 20).
        pitch_range_deg: New pitch uniform in ``[-r, r]`` degrees.
        yaw_range_deg: New yaw uniform in ``[-r, r]``.
        roll_range_deg: New roll uniform in ``[-r, r]``.
        expression: The expression mixture (:mod:`training.synth.expressions`).
        p_light_from_fits: Probability of another fit's SH light instead of the photo's own
            (light drawn from the fitted distribution; the ``gamma`` label follows).
        augment: Domain randomisation of the network input (:mod:`training.synth.augment`).
        image_size: Crop side of the samples (the CoarseNet contract's ``input_size``).
        crop_scale: Crop side / detector-box side (the CoarseNet contract's ``crop_scale``).
        crop_jitter: Random crop shift (fraction of the crop side) and relative size change.
        ring_scale: Radius of the fixed warp ring relative to the face control points.
        max_border_points: Mesh-border vertices used as warp control points (evenly subsampled).
        inpaint_face: Inpaint the original face region before warping the background (no ghost
            of the original face next to the re-posed one).
        p_photo: Probability that a sample is the fitted photo itself (its own pose,
            expression and light; no re-rendering), drawn from its own random stream so that
            the other samples do not change with it.
        photo_roll_deg: Photo samples are rotated in the image plane by a roll uniform in
            ``[-r, r]`` degrees, the label's roll following exactly (real photos are mostly
            upright; a robot's camera sees tilted heads).
    """

    per_photo: int = 20
    pitch_range_deg: float = 30.0
    yaw_range_deg: float = 60.0
    roll_range_deg: float = 30.0
    expression: ExpressionConfig = dataclasses.field(default_factory=ExpressionConfig)
    p_light_from_fits: float = 0.3
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    image_size: int = DEFAULT_CONTRACT.coarse.input_size
    crop_scale: float = DEFAULT_CONTRACT.coarse.crop_scale
    crop_jitter: float = 0.05
    ring_scale: float = 1.4
    max_border_points: int = 48
    inpaint_face: bool = True
    p_photo: float = 0.0
    photo_roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_photo <= 1.0:
            raise ValueError(f"p_photo must be in [0, 1], got {self.p_photo}")


@dataclasses.dataclass
class CoarseFrame:
    """A re-posed version of a fitted photo in full-photo coordinates.

    Attributes:
        params: New :class:`~face3d_ros.params.FaceParams` (pose in photo pixels).
        vertices: [N, 3] mm, the new shape (fitted identity, new expression).
        photo: [H, W, 3] float32, the photo the background is warped from (the original with
            its face region inpainted, by default).
        src_points: [M, 2] warp control points at their fitted positions (photo pixels).
        dst_points: [M, 2] the same points at the new pose.
        landmarks: [68, 2] projected model landmarks at the new pose (photo pixels).
        ring_scale: Fixed-ring radius factor of the warp.
        is_photo: The frame is the fitted photo itself (:func:`photo_frame`), not a re-posed
            draw: it is cropped as it is instead of having the face rendered over it.
    """

    params: Any
    vertices: np.ndarray
    photo: np.ndarray
    src_points: np.ndarray
    dst_points: np.ndarray
    landmarks: np.ndarray
    ring_scale: float = 1.4
    is_photo: bool = False

    def background(self) -> np.ndarray:
        """The whole warped photo, [H, W, 3] float32 (crops use :func:`warp_crop` directly)."""
        return warp_background(self.photo, self.src_points, self.dst_points, self.ring_scale)

    def background_crop(self, box: Any, size: int) -> np.ndarray:
        """The warped photo in crop ``box`` resampled to ``size`` x ``size``, [S, S, 3]."""
        return warp_crop(self.photo, self.src_points, self.dst_points, box, size, self.ring_scale)


def control_indices(model: Any, max_border_points: int) -> np.ndarray:
    """Vertex indices used as warp control points: landmarks + subsampled mesh border.

    Args:
        model: MorphableModel.
        max_border_points: Border vertices kept (evenly spaced in index order).

    Returns:
        [M] int64 vertex indices (unique).
    """
    key = (model.data.model_id, len(model.data.triangles), int(max_border_points))
    if key in _CONTROL_CACHE:
        return _CONTROL_CACHE[key]
    border = boundary_vertices(model.data.triangles)
    if len(border) > max_border_points:
        border = border[np.linspace(0, len(border) - 1, max_border_points).round().astype(int)]
    lm = np.asarray(model.data.landmark_indices, dtype=np.int64)
    _CONTROL_CACHE[key] = np.unique(np.concatenate([lm, border]))
    return _CONTROL_CACHE[key]


#: control_indices per (model id, triangle count, border points): the border search sorts
#: every edge of the mesh, once per process instead of once per sample.
_CONTROL_CACHE: dict[tuple[str, int, int], np.ndarray] = {}


def _shape(model: Any, alpha_id: np.ndarray, alpha_exp: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.shape(
            torch.from_numpy(np.asarray(alpha_id, np.float32))[None],
            torch.from_numpy(np.asarray(alpha_exp, np.float32))[None],
        )[0].numpy()


def draw_frame(
    pf: PhotoFit,
    model: Any,
    rng: np.random.Generator,
    cfg: CoarseConfig,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> CoarseFrame:
    """Draw a new pose, expression and light for a fitted photo and warp its background.

    Args:
        pf: The fitted photo.
        model: MorphableModel the fit was made with.
        rng: Random stream (consumed identically for identical inputs).
        cfg: Settings.
        other_expressions: ``alpha_exp`` of other fits to borrow from.
        other_lights: ``gamma`` [27] of other fits to borrow from.

    Returns:
        The :class:`CoarseFrame`.
    """
    from face3d_ros.geometry.camera import project_np

    p = pf.params
    ranges = np.radians([cfg.pitch_range_deg, cfg.yaw_range_deg, cfg.roll_range_deg])
    angles = rng.uniform(-ranges, ranges)
    alpha_exp, _ = draw_expression(rng, model, cfg.expression, other_expressions)
    use_light = rng.uniform() < cfg.p_light_from_fits
    light = int(rng.integers(0, max(len(other_lights), 1)))
    gamma = np.asarray(p.gamma, np.float32)
    if use_light and len(other_lights):
        gamma = np.asarray(other_lights[light], np.float32)
    pose = np.asarray(p.pose, dtype=np.float32).copy()
    pose[:3] = angles
    params = dataclasses.replace(
        p, alpha_exp=alpha_exp.astype(np.float32), pose=pose, gamma=gamma.copy()
    )
    vertices = _shape(model, p.alpha_id, alpha_exp)
    ctrl = control_indices(model, cfg.max_border_points)
    src = project_np(pf.vertices[ctrl], np.asarray(p.pose, np.float32))[:, :2]
    dst = project_np(vertices[ctrl], pose)[:, :2]
    lm = np.asarray(model.data.landmark_indices, dtype=np.int64)
    landmarks = project_np(vertices[lm], pose)[:, :2].astype(np.float32)
    return CoarseFrame(
        params=params,
        vertices=vertices,
        photo=pf.face_free_photo(model.data.triangles) if cfg.inpaint_face else pf.photo,
        src_points=src,
        dst_points=dst,
        landmarks=landmarks,
        ring_scale=cfg.ring_scale,
    )


def composite_in_crop(
    pf: PhotoFit, model: Any, frame: CoarseFrame, box: Any, size: int
) -> dict[str, np.ndarray]:
    """Crop the warped photo and render the re-posed face over it.

    Args:
        pf: The fitted photo (albedo).
        model: MorphableModel.
        frame: The re-posed frame.
        box: :class:`~face3d_ros.geometry.crop.CropBox` in photo pixels.
        size: Output side S.

    Returns:
        ``image`` [S, S, 3] float32 in [0, 1], ``mask`` [S, S] bool (rendered face),
        ``pose`` [6] float32 in crop pixels, ``render`` (the :func:`render_textured` dict).
    """
    from face3d_ros.geometry.crop import pose_to_crop

    pose_c = np.asarray(pose_to_crop(frame.params.pose, box, size), dtype=np.float32)
    bg = frame.background_crop(box, size)
    r = render_textured(
        frame.vertices, model.data.triangles, pf.albedo, frame.params.gamma, pose_c, size
    )
    face = r["image"]
    hole = mouth_cavity(model, frame.vertices, pose_c, size, r["mask"])
    if hole.any():  # the model has no mouth interior: an open mouth would show the background
        level = float(face[r["mask"]].mean()) if r["mask"].any() else 0.5
        face = face.copy()
        face[hole] = np.clip(np.float32([0.45, 0.16, 0.15]) * level, 0.0, 1.0)
    full = r["mask"] | hole
    mask = full.astype(np.float32)
    alpha = cv2.GaussianBlur(mask, (3, 3), 0.8) * mask  # feather inside the silhouette only
    image = bg * (1.0 - alpha[..., None]) + face * alpha[..., None]
    return {"image": image.astype(np.float32), "mask": r["mask"], "pose": pose_c, "render": r}


def mouth_cavity(
    model: Any, vertices: np.ndarray, pose: np.ndarray, size: int, face_mask: np.ndarray
) -> np.ndarray:
    """Pixels inside the inner-lip contour (landmarks 60-67) that the face mesh leaves open.

    Args:
        model: MorphableModel.
        vertices: [N, 3] mm, the shape.
        pose: [6] in the crop's pixels.
        size: Crop side.
        face_mask: [S, S] bool, the rendered face.

    Returns:
        [S, S] bool.
    """
    from face3d_ros.geometry.camera import project_np

    lm = np.asarray(model.data.landmark_indices, dtype=np.int64)[60:68]
    inner = project_np(np.asarray(vertices, np.float32)[lm], np.asarray(pose, np.float32))[:, :2]
    if not np.isfinite(inner).all():
        return np.zeros((size, size), bool)
    poly = np.zeros((size, size), np.uint8)
    cv2.fillPoly(poly, [np.round(inner * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return (poly > 0) & ~np.asarray(face_mask, bool)


def jittered_crop(
    landmarks: np.ndarray,
    rng: np.random.Generator,
    cfg: CoarseConfig,
    image_shape: tuple[int, int] | None = None,
) -> Any:
    """The run-time CoarseNet crop, randomly shifted / resized by up to ``cfg.crop_jitter``.

    As the tracker does at initialisation: a dlib-like detector box is derived from the 68
    landmarks (``box_from_landmarks``) and the crop is ``crop_from_points`` of its corners.

    Args:
        landmarks: [68, 2] photo pixels.
        rng: Random stream.
        cfg: Settings.
        image_shape: ``(H, W)`` of the photo (passed to ``crop_from_points``).

    Returns:
        A :class:`~face3d_ros.geometry.crop.CropBox`.
    """
    from face3d_ros.detection.detector import box_from_landmarks
    from face3d_ros.geometry.crop import CropBox, crop_from_points

    x0, y0, x1, y1 = box_from_landmarks(np.asarray(landmarks, np.float32))
    corners = np.array([[x0, y0], [x1, y1]], np.float32)
    box = crop_from_points(corners, scale=cfg.crop_scale, image_shape=image_shape)
    j = cfg.crop_jitter
    dx, dy, ds = rng.uniform(-j, j, size=3)
    size = float(box.size) * (1.0 + ds)
    cx = float(box.x0) + 0.5 * float(box.size) + dx * float(box.size)
    cy = float(box.y0) + 0.5 * float(box.size) + dy * float(box.size)
    return CropBox(x0=cx - 0.5 * size, y0=cy - 0.5 * size, size=size)


def make_coarse_sample(
    pf: PhotoFit,
    model: Any,
    k: int,
    cfg: CoarseConfig,
    seed: int,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Sample ``k`` of photo ``pf``.

    Args:
        pf: The fitted photo.
        model: MorphableModel.
        k: Sample number (selects the random stream).
        cfg: Settings.
        seed: Global seed.
        other_expressions: Expressions of other fits.
        other_lights: SH lights of other fits.

    Returns:
        ``(sample, extra)``: the ``coarse`` sample dict (architecture keys) and extra data for
        tests and the contact sheet (``frame``, ``box``, ``mask``).
    """
    frame, rng = sample_frame(pf, model, k, cfg, seed, other_expressions, other_lights)
    box = jittered_crop(frame.landmarks, rng, cfg, pf.photo.shape[:2])
    out = frame_in_crop(pf, model, frame, box, cfg.image_size)
    p = frame.params
    sample = {
        "image": to_uint8(augment_crop(out["image"], rng, cfg.augment)),
        "alpha_id": np.asarray(p.alpha_id, dtype=np.float32),
        "alpha_exp": np.asarray(p.alpha_exp, dtype=np.float32),
        "pose": out["pose"],
        "alpha_alb": np.asarray(p.alpha_alb, dtype=np.float32),
        "gamma": np.asarray(p.gamma, dtype=np.float32),
    }
    return sample, {"frame": frame, "box": box, "mask": out["mask"]}


def sample_frame(
    pf: PhotoFit,
    model: Any,
    k: int,
    cfg: CoarseConfig,
    seed: int,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> tuple[CoarseFrame, np.random.Generator]:
    """The frame of sample ``k``: the fitted photo (``cfg.p_photo``) or a re-posed draw.

    Shared by the CoarseNet set and the tracking set, whose sample ``k`` shows the same frame.

    Returns:
        ``(frame, rng)``: the frame (``frame.is_photo`` tells which kind) and the sample's
        random stream as the frame left it (it goes on to draw the crop jitter and the domain
        randomisation).
    """
    if is_photo_sample(pf.name, k, cfg, seed):
        rng = unit_rng(seed, "coarse-photo", pf.name, k)
        roll = np.radians(cfg.photo_roll_deg) * rng.uniform(-1.0, 1.0)
        return photo_frame(pf, model, float(roll)), rng
    rng = unit_rng(seed, "coarse", pf.name, k)
    return draw_frame(pf, model, rng, cfg, other_expressions, other_lights), rng


def frame_in_crop(
    pf: PhotoFit, model: Any, frame: CoarseFrame, box: Any, size: int
) -> dict[str, np.ndarray]:
    """:func:`photo_in_crop` for a photo frame, else :func:`composite_in_crop` (same keys)."""
    if frame.is_photo:
        return photo_in_crop(pf, model, frame, box, size)
    return composite_in_crop(pf, model, frame, box, size)


def is_photo_sample(name: str, k: int, cfg: CoarseConfig, seed: int) -> bool:
    """Whether sample ``k`` of fit ``name`` is the fitted photo itself (``cfg.p_photo``).

    Drawn from a stream of its own: with ``p_photo = 0`` no number is drawn and every sample
    is bit for bit what it was before the option existed.
    """
    if cfg.p_photo <= 0.0:
        return False
    return bool(unit_rng(seed, "coarse-photo-choice", name, k).uniform() < cfg.p_photo)


def photo_frame(pf: PhotoFit, model: Any, roll: float = 0.0) -> CoarseFrame:
    """The fitted photo as a :class:`CoarseFrame`: the fit's parameters, no re-rendering.

    Args:
        pf: The fitted photo.
        model: MorphableModel.
        roll: In-plane rotation in radians about the fitted face's origin ``(tx, ty)``
            (positive: counter-clockwise on screen, the direction of a positive roll). The
            photo is rotated (mirrored borders) and the label's roll grows by exactly ``roll``:
            ``R = Rz(roll) Ry(yaw) Rx(pitch)``, and an image rotation about ``(tx, ty)`` is a
            camera-axis rotation that leaves ``(tx, ty)`` and the scale as they are.

    Returns:
        The frame (identity warp: ``src_points == dst_points``, the 68 landmarks).
    """
    from face3d_ros.geometry.camera import project_np

    pose = np.asarray(pf.params.pose, np.float32).copy()
    photo = pf.photo
    params = pf.params
    if roll != 0.0:
        center = (float(pose[3]), float(pose[4]))
        rot = cv2.getRotationMatrix2D(center, float(np.degrees(roll)), 1.0)
        h, w = photo.shape[:2]
        photo = cv2.warpAffine(
            np.asarray(photo, np.float32), rot, (w, h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        pose[2] = pose[2] + np.float32(roll)
        params = dataclasses.replace(pf.params, pose=pose)
    lm = np.asarray(model.data.landmark_indices, dtype=np.int64)
    landmarks = project_np(pf.vertices[lm], pose)[:, :2].astype(np.float32)
    return CoarseFrame(
        params=params,
        vertices=pf.vertices,
        photo=photo,
        src_points=landmarks.copy(),
        dst_points=landmarks.copy(),
        landmarks=landmarks,
        is_photo=True,
    )


def photo_in_crop(
    pf: PhotoFit, model: Any, frame: CoarseFrame, box: Any, size: int
) -> dict[str, np.ndarray]:
    """The photo of a :func:`photo_frame` cropped to ``box`` (the input of a photo sample).

    Returns:
        As :func:`composite_in_crop`: ``image`` [S, S, 3] float32 (the photo's pixels),
        ``mask`` [S, S] bool (the fitted face's silhouette), ``pose`` [6] in crop pixels and
        ``render`` (the fitted face rendered in the crop, for the mask and contact sheets).
    """
    from face3d_ros.geometry.crop import crop_image, pose_to_crop

    p = frame.params
    pose_c = np.asarray(pose_to_crop(p.pose, box, size), dtype=np.float32)
    r = render_textured(frame.vertices, model.data.triangles, pf.albedo, p.gamma, pose_c, size)
    image = crop_image(np.asarray(frame.photo, np.float32), box, size)
    return {"image": image, "mask": r["mask"], "pose": pose_c, "render": r}


def generate_coarse(
    pf: PhotoFit,
    model: Any,
    cfg: CoarseConfig,
    seed: int,
    other_expressions: Sequence[np.ndarray] = (),
    other_lights: Sequence[np.ndarray] = (),
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the ``cfg.per_photo`` coarse samples of one photo (see :func:`make_coarse_sample`)."""
    for k in range(cfg.per_photo):
        yield make_coarse_sample(pf, model, k, cfg, seed, other_expressions, other_lights)[0]
