# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Real-time face tracker: detection + single-image CoarseNet, tracking CoarseNet, FineNet.

ROS-free (no rclpy): the node converts messages and calls :meth:`Tracker.step` once per frame.

Per frame (paper Sec. 6, "tracking"):

Crop sides and crop scales come from the nets' train/run contracts
(:mod:`face3d_ros.nets.contract`, read from the weight files; defaults 224 / 256 and 1.6).

* **Initialisation** (first frame, after a loss): the face detector runs on the whole frame; the
  single-image CoarseNet sees a crop (side: its contract's ``input_size``) around the largest
  detection box (square box of side ``crop_scale`` times the box side) and predicts identity,
  expression and a pose in crop pixels, which :func:`~face3d_ros.geometry.crop.pose_from_crop`
  maps to image pixels.
* **Tracking** (every following frame): the frame is cropped around the previous
  reconstruction's 68 projected landmarks (:func:`~face3d_ros.geometry.crop.crop_from_points`);
  the previous mesh is rendered as a PNCC image with the previous pose expressed in that crop;
  the tracking CoarseNet sees ``[RGB crop | PNCC]`` (6 channels) and predicts identity,
  expression, albedo, lighting and pose *deltas*, which are added to the previous pose in crop
  coordinates and mapped back to image pixels.
* **FineNet** (optional): the coarse mesh's depth map is rendered in the same crop and,
  with the gray crop, gives the per-pixel displacement map (mm along the normal).
* **Loss detection**: every ``verify_interval`` tracking frames the face detector runs on a small
  copy of the crop. No face there means the track is lost; a face whose 68 landmarks disagree
  with the projected ones (confidence below ``min_confidence``) means drift, and the track is
  re-anchored on that detection with the single-image CoarseNet in the same frame
  (``reanchor_on_drift``, else lost). Non-finite net outputs, a non-positive scale, a face
  leaving the image or an implausible landmark jump also lose the track. A lost frame reports
  :attr:`TrackState.LOST`; the next frame re-initialises from a full-frame detection.
* **Keyframes**: every ``keyframe_interval`` tracking frames the single-image CoarseNet re-anchors
  the track on a fresh detection (against drift); 0 turns this off. The default, 1, is the
  single-image CoarseNet on every frame (the shipped tracking net drifts; see
  :class:`TrackerConfig`). With ``keyframe_on_detection`` off, a keyframe that falls between
  verifications runs the single-image CoarseNet in the box of the previous frame's
  reconstructed landmarks instead, so the detector runs only every ``verify_interval`` frames.

States reported in :attr:`TrackResult.state`:

* ``INITIALISING``: this frame's parameters come from a fresh detection + single-image CoarseNet,
  or (``params is None``) no face has been found yet since start / :meth:`Tracker.reset`.
* ``TRACKING``: parameters from the tracking CoarseNet (or a keyframe re-anchoring).
* ``LOST``: the face was being tracked and is gone (``params is None``) until re-acquired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from face3d_ros.detection.detector import box_from_landmarks
from face3d_ros.detection.interface import DEFAULT_DETECTOR, DETECTOR_NAMES
from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import (
    CropBox,
    crop_from_points,
    crop_image,
    points_from_crop,
    pose_from_crop,
    pose_to_crop,
)
from face3d_ros.geometry.sh import default_gamma
from face3d_ros.nets.contract import NetContract
from face3d_ros.params import FaceParams
from face3d_ros.pipeline.net_inputs import PnccRenderer, tracking_input
from face3d_ros.pipeline.states import STATE_NAMES, TrackState
from face3d_ros.render.maps import render_depth
from face3d_ros.render.rasterizer import rasterize
from face3d_ros.runtime.backend import BACKEND_KINDS

__all__ = [
    "STAGES",
    "STATE_NAMES",
    "TrackResult",
    "TrackState",
    "Tracker",
    "TrackerConfig",
    "detection_area",
    "landmark_distance",
    "validate_image",
]

#: Keys of :attr:`TrackResult.timings_ms` (always all present; 0.0 for stages not run).
STAGES: tuple[str, ...] = (
    "detect",
    "crop",
    "coarse",
    "pncc",
    "tracking",
    "depth",
    "fine",
    "total",
)


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings.

    Attributes:
        backend: Inference backend (a key of :data:`face3d_ros.runtime.backend.BACKENDS`) used
            by :meth:`Tracker.load`.
        threads: Intra-op threads for the nets (used when building the NetBundle; None = default).
        precision: ``"fp32"`` or ``"int8"`` (onnxruntime only; see
            :mod:`face3d_ros.runtime.quantize`), used by :meth:`Tracker.load`.
        fine_precision: FineNet's precision when it differs from ``precision`` (None = same).
        use_fine: Run FineNet (displacement map) on every frame with a face.
        keyframe_interval: Re-anchor with the single-image CoarseNet every this many tracking
            frames (0 = never: the tracking CoarseNet runs between drift re-anchors). The
            default, 1, runs the single-image CoarseNet on every frame (in the crop the track
            follows, on the verification's detection) and never the tracking net: on the
            real-face benchmark's videos the shipped tracking net drifts (NME 0.21 against
            0.07 for the single-image net; README, "Accuracy"). Set 0 for tracking weights
            that beat the single-image net there.
        keyframe_on_detection: A keyframe runs the detector in the crop and places the
            single-image CoarseNet on its box (True, the default). False: only every
            ``verify_interval``-th frame is verified (and re-anchored on the detection); the
            keyframes between run the CoarseNet in the box of the previous frame's
            reconstructed landmarks (``box_from_landmarks``, as a detection's box is made),
            which saves the detector's time on ``verify_interval - 1`` of ``verify_interval``
            frames; such frames keep the landmark-jump check. Same as True when
            ``verify_interval`` is 1.
        crop_scale: Side of the square crop as a multiple of the face extent (landmark or
            detection box side). None (default) = the crop scale the nets were trained with
            (their contracts); a value that differs from it is refused at construction.
        min_confidence: Below this landmark-agreement confidence the track is lost.
        max_landmark_error: Mean landmark distance (as a fraction of the face size) at which the
            confidence reaches 0 (``confidence = 1 - error / max_landmark_error``, clipped).
        max_landmark_jump: Largest plausible mean landmark motion between consecutive frames, as
            a fraction of the face size; larger jumps lose the track.
        min_inside_fraction: Fraction of projected landmarks that must lie inside the image.
        min_face_size: Smallest face (landmark extent, pixels) that is tracked.
        verify_interval: Run the detector in the crop every this many tracking frames to check
            that a face is there and agrees with the reconstruction (1 = every frame, the
            default, so that a TRACKING frame always had a face; N > 1 saves the check on N - 1
            of N frames, which are then TRACKING unverified: a face that vanished is reported
            up to N - 1 frames late; 0 = never: only NaN / out-of-image / jump checks).
        reanchor_on_drift: When a verification finds the face but its landmarks disagree with
            the reconstruction (confidence below ``min_confidence``), re-anchor on that detection
            with the single-image CoarseNet in the same frame (state stays TRACKING) instead of
            declaring the track lost.
        verify_crop_size: Side in pixels of the crop copy the detector sees during verification
            (the face is about ``verify_crop_size / crop_scale`` pixels there; keep it >= 80 px
            for a dlib detector with ``upsample=0``).
        detect_max_faces: Consider at most this many detections at initialisation (the largest
            is used).
        mask_displacement: Zero the displacement map outside the rendered face.
        detector: Face detector :meth:`Tracker.load` builds when none is given (a name of
            :data:`face3d_ros.detection.DETECTOR_NAMES`: ``blazeface``, the BlazeFace CNN, or
            ``dlib``, the HOG detector; both with dlib's 68-point predictor).
    """

    backend: str = "onnxruntime"
    threads: int | None = 2
    precision: str = "fp32"
    fine_precision: str | None = None
    use_fine: bool = True
    keyframe_interval: int = 1
    keyframe_on_detection: bool = True
    crop_scale: float | None = None
    min_confidence: float = 0.3
    max_landmark_error: float = 0.3
    max_landmark_jump: float = 0.5
    min_inside_fraction: float = 0.6
    min_face_size: float = 24.0
    verify_interval: int = 1
    reanchor_on_drift: bool = True
    verify_crop_size: int = 128
    detect_max_faces: int = 8
    mask_displacement: bool = True
    detector: str = DEFAULT_DETECTOR

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            ValueError: On an out-of-range setting (the message names it).
        """
        if self.backend not in BACKEND_KINDS:
            raise ValueError(
                f"backend must be one of {', '.join(BACKEND_KINDS)}, got {self.backend!r}"
            )
        for name in ("precision", "fine_precision"):
            value = getattr(self, name)
            if value not in ("fp32", "int8") and not (name == "fine_precision" and value is None):
                raise ValueError(f"{name} must be fp32 or int8, got {value!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
        if self.keyframe_interval < 0:
            raise ValueError(f"keyframe_interval must be >= 0, got {self.keyframe_interval}")
        if self.crop_scale is not None and not 1.0 <= self.crop_scale <= 4.0:
            raise ValueError(f"crop_scale must be in [1, 4], got {self.crop_scale}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not self.max_landmark_error > 0:
            raise ValueError(f"max_landmark_error must be > 0, got {self.max_landmark_error}")
        if not self.max_landmark_jump > 0:
            raise ValueError(f"max_landmark_jump must be > 0, got {self.max_landmark_jump}")
        if not 0.0 <= self.min_inside_fraction <= 1.0:
            raise ValueError(
                f"min_inside_fraction must be in [0, 1], got {self.min_inside_fraction}"
            )
        if self.min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1, got {self.min_face_size}")
        if self.verify_interval < 0:
            raise ValueError(f"verify_interval must be >= 0, got {self.verify_interval}")
        if self.verify_crop_size < 32:
            raise ValueError(f"verify_crop_size must be >= 32, got {self.verify_crop_size}")
        if self.detect_max_faces < 1:
            raise ValueError(f"detect_max_faces must be >= 1, got {self.detect_max_faces}")
        if self.detector not in DETECTOR_NAMES:
            raise ValueError(
                f"detector must be one of {', '.join(DETECTOR_NAMES)}, got {self.detector!r}"
            )


@dataclass
class TrackResult:
    """Outcome of one :meth:`Tracker.step`.

    Attributes:
        state: Tracker state after this frame.
        params: Face parameters (pose in input-image pixels) or None when no face.
        landmarks_2d: ``[68, 2]`` float32 projected landmarks (image pixels) or None when no face.
        crop: The square crop (image pixels) the nets saw and in which ``coarse_depth`` and
            ``displacement`` are defined, or None when no face.
        confidence: Landmark-agreement confidence in [0, 1] of the last verification (carried
            over on frames without one); 0 when no face.
        vertices: ``[N, 3]`` float32 mesh in model space (mm, identity + expression) or None.
        coarse_depth: ``[S, S]`` float32 depth of the coarse mesh in the crop (S = FineNet's
            contract ``input_size``, default 256; pixels of that crop, larger = closer, 0 outside
            the face) or None (no face / FineNet off).
        displacement: ``[S, S]`` float32 FineNet displacement (mm along the normal; 0 outside
            the face) or None.
        timings_ms: Milliseconds per stage, keys :data:`STAGES` (0.0 for stages not run).
        frame_index: Number of frames stepped before this one since construction.
        reinitialised: True when ``params`` come from the single-image CoarseNet this frame.
        reason: Why the track was lost / not found ("" otherwise).
    """

    state: TrackState
    params: FaceParams | None
    landmarks_2d: np.ndarray | None
    crop: CropBox | None
    confidence: float
    vertices: np.ndarray | None
    coarse_depth: np.ndarray | None
    displacement: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    frame_index: int = 0
    reinitialised: bool = False
    reason: str = ""

    @property
    def has_face(self) -> bool:
        """Whether this result carries a reconstruction."""
        return self.params is not None

    @classmethod
    def without_face(
        cls, state: TrackState, reason: str, timings: dict[str, float] | None = None
    ) -> TrackResult:
        """A result with no reconstruction (state INITIALISING or LOST, and why)."""
        return cls(
            state=state,
            params=None,
            landmarks_2d=None,
            crop=None,
            confidence=0.0,
            vertices=None,
            coarse_depth=None,
            displacement=None,
            timings_ms={} if timings is None else timings,
            reason=reason,
        )


def landmark_distance(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance of ``[68, 2]`` landmarks from ``reference`` in reference face sizes.

    The face size is the reference's landmark extent (at least 1 pixel). The Tracker's measure
    of drift (against the detector's landmarks) and of frame-to-frame jumps, and the tracking
    set's bound on simulated previous poses (``training.synth.tracking``).
    """
    size = max(float(np.ptp(reference, axis=0).max()), 1.0)
    return float(np.linalg.norm(points - reference, axis=1).mean()) / size


def detection_area(detection: Any) -> float:
    """Area in square pixels of a detection's box (the largest face is the one tracked)."""
    x0, y0, x1, y1 = detection.box
    return float((x1 - x0) * (y1 - y0))


def validate_image(image_rgb: Any) -> np.ndarray:
    """Check a frame and return it as C-contiguous uint8 ``[H, W, 3]``.

    Accepted: uint8 ``[H, W, 3]`` RGB, or float32/float64 ``[H, W, 3]`` RGB with finite values in
    [0, 1] (converted to uint8).

    Args:
        image_rgb: The frame.

    Returns:
        uint8 ``[H, W, 3]`` (the input itself when already C-contiguous uint8).

    Raises:
        ValueError: Not an array, wrong rank or channel count, zero size, unsupported dtype,
            non-finite or out-of-range float values.
    """
    if not isinstance(image_rgb, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(image_rgb).__name__}")
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(
            f"frame must be RGB [H, W, 3], got shape {list(image_rgb.shape)} "
            "(convert gray / RGBA / BGR frames to RGB first)"
        )
    if image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
        raise ValueError(f"frame has zero size: shape {list(image_rgb.shape)}")
    if image_rgb.dtype == np.uint8:
        return np.ascontiguousarray(image_rgb)
    if image_rgb.dtype in (np.float32, np.float64):
        if not np.isfinite(image_rgb).all():
            raise ValueError("frame contains NaN or infinite values")
        lo, hi = float(image_rgb.min()), float(image_rgb.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float frames must be in [0, 1], got values in [{lo:g}, {hi:g}]")
        return np.ascontiguousarray(np.rint(image_rgb * 255.0).astype(np.uint8))
    raise ValueError(f"frame dtype must be uint8 (or float in [0, 1]), got {image_rgb.dtype}")


def _net_contract(net: Any, kind: str) -> NetContract:
    """The checked contract of a loaded net (``net.contract``, or read from ``net.meta``).

    Raises:
        ValueError: A net of another kind or a contract the Tracker cannot feed (names the field).
    """
    contract = getattr(net, "contract", None)
    if not isinstance(contract, NetContract):
        from face3d_ros.nets.weights import contract_of

        contract = contract_of(getattr(net, "meta", None) or {"net": kind}, f"{kind} net")
    if contract.net != kind:
        raise ValueError(f"the NetBundle's {kind} slot holds a {contract.net} net")
    contract.check_runnable(f"{kind} net")
    return contract


def _group_slices(meta: Any, contract: NetContract, dims: tuple[int, int, int]) -> dict:
    """Slices of the output groups of a net.

    The sidecar's ``output_spec`` groups (checked against the contract's layout for the model's
    dims), or the contract's layout when there is no sidecar.
    """
    want = contract.groups(*dims)
    groups = meta.get("output_spec", {}).get("groups") if isinstance(meta, dict) else None
    pairs = tuple((str(n), int(k)) for n, k in groups) if groups else want
    if pairs != want:
        raise ValueError(
            f"{contract.net} net output groups {[list(p) for p in pairs]} differ from the "
            f"contract's layout for this face model {[list(p) for p in want]}"
        )
    out, start = {}, 0
    for name, size in pairs:
        out[name] = slice(start, start + size)
        start += size
    return out


@dataclass
class _RawParams:
    """Unvalidated network outputs (FaceParams rejects NaN / s <= 0 on construction)."""

    alpha_id: np.ndarray
    alpha_exp: np.ndarray
    alpha_alb: np.ndarray
    gamma: np.ndarray
    pose: np.ndarray

    def packed(self) -> np.ndarray:
        return np.concatenate(
            [self.alpha_id, self.alpha_exp, self.alpha_alb, self.gamma, self.pose]
        )


class Tracker:
    """Per-frame 3D face tracker (ROS-free).

    Args:
        config: Settings.
        model: The :class:`~face3d_ros.model.morphable.MorphableModel` the nets were trained for
            (``nets.model``); a ``FaceModelData`` is wrapped and cut to the nets' dims.
        nets: The loaded nets (:class:`~face3d_ros.runtime.bundle.NetBundle`).
        detector: A face detector with ``detect(image_rgb) -> list[Detection]`` (68 landmarks).

    Raises:
        ValueError: ``use_fine`` without a FineNet, or nets whose dims do not fit the model.
    """

    def __init__(self, config: TrackerConfig, model: Any, nets: Any, detector: Any) -> None:
        """Prepare buffers and precompute model arrays."""
        if config.use_fine and nets.fine is None:
            raise ValueError("TrackerConfig.use_fine is set but the NetBundle has no FineNet")
        from face3d_ros.model.morphable import MorphableModel

        if not isinstance(model, MorphableModel):  # FaceModelData: cut to the nets' dims
            dims = nets.tracking.meta.get("model_dims", {}) if nets.tracking.meta else {}
            model = MorphableModel(
                model, n_id=dims.get("n_id"), n_exp=dims.get("n_exp"), n_alb=dims.get("n_alb")
            )
        self.config = config
        self.model = model
        self.nets = nets
        self.detector = detector
        n_id, n_exp, n_alb = int(model.n_id), int(model.n_exp), int(model.n_alb)
        self._dims = (n_id, n_exp, n_alb)
        self.contracts: dict[str, NetContract] = {
            "coarse": _net_contract(nets.coarse, "coarse"),
            "tracking": _net_contract(nets.tracking, "tracking"),
        }
        if config.use_fine:
            self.contracts["fine"] = _net_contract(nets.fine, "fine")
        for kind, contract in self.contracts.items():
            if config.crop_scale is not None and config.crop_scale != contract.crop_scale:
                raise ValueError(
                    f"TrackerConfig.crop_scale={config.crop_scale:g} but the {kind} net was "
                    f"trained with crop_scale={contract.crop_scale:g} (its contract); leave "
                    "crop_scale unset to use the nets' framing"
                )
        fine_contract = self.contracts.get("fine")
        if fine_contract is not None:
            scale = self.contracts["tracking"].crop_scale
            if fine_contract.crop_scale != scale:
                raise ValueError(
                    f"fine net contract field 'crop_scale' is {fine_contract.crop_scale:g}, but "
                    f"it runs in the tracking crop of crop_scale {scale:g}"
                )
        self._coarse_size = self.contracts["coarse"].input_size
        self._track_size = self.contracts["tracking"].input_size
        self._fine_size = fine_contract.input_size if fine_contract else self._track_size
        self._coarse_scale = self.contracts["coarse"].crop_scale
        self._track_scale = self.contracts["tracking"].crop_scale
        self._coarse_slices = _group_slices(
            nets.coarse.meta, self.contracts["coarse"], self._dims
        )
        self._tracking_slices = _group_slices(
            nets.tracking.meta, self.contracts["tracking"], self._dims
        )
        # Model arrays in numpy (the per-frame work is numpy / numba, not autograd).
        self._np_model = model.numpy()
        self._triangles = np.ascontiguousarray(
            model.triangles.detach().cpu().numpy().astype(np.int32)
        )
        self._landmark_idx = model.landmark_indices.detach().cpu().numpy().astype(np.int64)
        self._gamma0 = np.asarray(default_gamma(), dtype=np.float32).reshape(27)
        self._pncc = PnccRenderer(model)
        # Reused network input buffers.
        self._coarse_in = np.zeros((1, *self.contracts["coarse"].input_shape), np.float32)
        self._track_in = np.zeros((1, *self.contracts["tracking"].input_shape), np.float32)
        self._fine_in = np.zeros((1, 2, self._fine_size, self._fine_size), np.float32)
        self._frame_index = 0
        #: Optional ``callback(net_name, input_array)`` called with every network input just
        #: before it is run (e.g. to collect INT8 calibration data); the array is a reused
        #: buffer, copy it to keep it.
        self.input_recorder: Callable[[str, np.ndarray], None] | None = None
        self.reset()

    @classmethod
    def load(
        cls,
        config: TrackerConfig,
        weights_dir: Any = None,
        *,
        model: Any = None,
        detector: Any = None,
        device: str = "cpu",
    ) -> Tracker:
        """Build a tracker from a weights directory using ``config.backend/threads/precision``.

        Args:
            config: Settings.
            weights_dir: Weights directory (default: the package's ``face3d_ros/weights``).
            model: FaceModelData (default: the package's default model).
            detector: Face detector (default: ``make_detector(config.detector)``).
            device: ``"cpu"`` or ``"cuda[:N]"``.

        Returns:
            The tracker.

        Raises:
            WeightFileError: Missing / corrupted / mismatching weights (see ``NetBundle.load``).
            FileNotFoundError: The dlib landmark predictor is missing.
        """
        from face3d_ros.runtime.bundle import NetBundle

        nets = NetBundle.load(
            weights_dir,
            backend=config.backend,
            device=device,
            threads=config.threads if config.backend != "tensorrt" else None,
            model=model,
            load_fine=config.use_fine,
            precision=config.precision,
            fine_precision=config.fine_precision,
        )
        if detector is None:
            from face3d_ros.detection.interface import make_detector

            detector = make_detector(config.detector)
        return cls(config, nets.model, nets, detector)

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> TrackState:
        """State after the last frame (INITIALISING before the first)."""
        return self._state

    def reset(self) -> None:
        """Forget the current track; the next frame starts with face detection."""
        self._state = TrackState.INITIALISING
        self._ever_found = False
        self._prev_params: FaceParams | None = None
        self._prev_vertices: np.ndarray | None = None
        self._prev_landmarks: np.ndarray | None = None
        self._confidence = 0.0
        self._frames_since_init = 0
        self._frames_since_verify = 0

    def warmup(self) -> None:
        """Run every net and the rasterizer once on dummy data (JIT compilation, allocations).

        Does not change the tracking state.
        """
        self.nets.coarse.run({self.nets.coarse.io.input_name: self._coarse_in})
        self.nets.tracking.run({self.nets.tracking.io.input_name: self._track_in})
        if self.config.use_fine and self.nets.fine is not None:
            self.nets.fine.run({self.nets.fine.io.input_name: self._fine_in})
        verts = self._vertices(np.zeros(self._dims[0], np.float32), np.zeros(self._dims[1]))
        extent = np.ptp(verts[:, :2], axis=0).max()
        side = self._track_size
        pose = np.array([0, 0, 0, side / 2, side / 2, 0.6 * side / extent])
        screen = project_np(verts, pose.astype(np.float32))
        self._pncc.render_into(screen, self._track_in[0, 3:])
        self._track_in[0, 3:] = 0.0
        rasterize(screen.astype(np.float32), self._triangles, self._fine_size, self._fine_size)

    # ------------------------------------------------------------------ helpers

    def _vertices(self, alpha_id: np.ndarray, alpha_exp: np.ndarray) -> np.ndarray:
        """Model-space mesh ``[N, 3]`` float32 (:meth:`MorphableModel.numpy`, einsum)."""
        return self._np_model.shape(alpha_id, alpha_exp)

    def _project_landmarks(self, vertices: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """``[68, 2]`` float32 image positions of the landmark vertices."""
        return project_np(vertices[self._landmark_idx], pose)[:, :2].astype(np.float32)

    def _box(self, points: np.ndarray, shape: tuple[int, ...], scale: float) -> CropBox:
        return crop_from_points(points, scale=scale, image_shape=shape[:2])

    def _fill_rgb(self, buffer: np.ndarray, crop_u8: np.ndarray) -> None:
        """Write an HxWx3 uint8 crop as CHW float32 in [0, 1] into ``buffer[0, :3]``."""
        np.multiply(
            crop_u8.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=buffer[0, :3], dtype=np.float32
        )

    def _face_size(self, landmarks: np.ndarray) -> float:
        return float(np.ptp(landmarks, axis=0).max())

    def _agreement(self, projected: np.ndarray, detected: np.ndarray) -> float:
        """Confidence in [0, 1] from the mean landmark distance relative to the face size."""
        error = landmark_distance(projected, detected)
        return float(np.clip(1.0 - error / self.config.max_landmark_error, 0.0, 1.0))

    def _lose(self, reason: str, timings: dict[str, float]) -> TrackResult:
        """Drop the track; this frame is LOST (or INITIALISING if nothing was ever found)."""
        state = TrackState.LOST if self._ever_found else TrackState.INITIALISING
        self._prev_params = None
        self._prev_vertices = None
        self._prev_landmarks = None
        self._confidence = 0.0
        self._state = state
        return TrackResult.without_face(state, reason, timings)

    def _check_plausible(self, landmarks: np.ndarray, shape: tuple[int, ...]) -> str:
        """Reason why a reconstruction is implausible, or "" when it is fine."""
        if not np.isfinite(landmarks).all():
            return "non-finite landmarks"
        size = self._face_size(landmarks)
        if size < self.config.min_face_size:
            return f"face too small ({size:.1f} px < {self.config.min_face_size:g})"
        h, w = shape[:2]
        inside = (
            (landmarks[:, 0] >= 0)
            & (landmarks[:, 0] <= w - 1)
            & (landmarks[:, 1] >= 0)
            & (landmarks[:, 1] <= h - 1)
        ).mean()
        if inside < self.config.min_inside_fraction:
            return f"face left the image ({inside:.0%} of landmarks inside)"
        if size > 4.0 * max(h, w):
            return f"face implausibly large ({size:.0f} px)"
        return ""

    # ------------------------------------------------------------------ stages

    def _coarse_from_box(
        self, image: np.ndarray, det_box: tuple[float, float, float, float], timings: dict
    ) -> tuple[CropBox, np.ndarray, np.ndarray, np.ndarray]:
        """Single-image CoarseNet on its contract's crop around a detection box.

        Returns:
            ``(crop box, alpha_id, alpha_exp, pose in image pixels)``.
        """
        t0 = time.perf_counter()
        corners = np.array([[det_box[0], det_box[1]], [det_box[2], det_box[3]]], np.float32)
        box = self._box(corners, image.shape, self._coarse_scale)
        crop = crop_image(image, box, self._coarse_size)
        self._fill_rgb(self._coarse_in, crop)
        if self.input_recorder is not None:
            self.input_recorder("coarse", self._coarse_in)
        t1 = time.perf_counter()
        out = self.nets.coarse.run({self.nets.coarse.io.input_name: self._coarse_in})
        vec = out[self.nets.coarse.io.output_name][0]
        t2 = time.perf_counter()
        timings["crop"] += (t1 - t0) * 1e3
        timings["coarse"] += (t2 - t1) * 1e3
        sl = self._coarse_slices
        pose_crop = np.concatenate(
            [vec[sl["rotation"]], vec[sl["translation"]], vec[sl["scale"]]]
        ).astype(np.float32)
        pose = np.asarray(pose_from_crop(pose_crop, box, self._coarse_size), np.float32)
        return box, vec[sl["id"]].astype(np.float32), vec[sl["exp"]].astype(np.float32), pose

    def _verify_in_crop(
        self, image: np.ndarray, box: CropBox, timings: dict
    ) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
        """Run the detector on a small crop of the tracking box.

        Returns:
            ``(landmarks [68, 2], box (x0, y0, x1, y1))`` in image pixels of the detection nearest
            the crop centre, or None when there is no face in the crop.
        """
        t0 = time.perf_counter()
        size = self.config.verify_crop_size
        small = crop_image(image, box, size, interpolation=cv2.INTER_AREA)
        detections = self.detector.detect(np.ascontiguousarray(small))
        timings["detect"] += (time.perf_counter() - t0) * 1e3
        if not detections:
            return None

        def dist(d: Any) -> float:
            x0, y0, x1, y1 = d.box
            return float(np.hypot((x0 + x1) / 2 - size / 2, (y0 + y1) / 2 - size / 2))

        best = min(detections, key=dist)
        landmarks = points_from_crop(np.asarray(best.landmarks, np.float64), box, size)
        corners = points_from_crop(np.asarray(best.box, np.float64).reshape(2, 2), box, size)
        det_box = (
            float(corners[0, 0]),
            float(corners[0, 1]),
            float(corners[1, 0]),
            float(corners[1, 1]),
        )
        return np.asarray(landmarks, np.float32), det_box

    def _fine(
        self, vertices: np.ndarray, pose_crop: np.ndarray, crop_u8: np.ndarray, timings: dict
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coarse depth map and FineNet displacement in the FineNet-side crop."""
        t0 = time.perf_counter()
        screen = project_np(vertices, pose_crop)
        depth, inside = render_depth(screen, self._triangles, self._fine_size, self._fine_size)
        gray = cv2.cvtColor(crop_u8, cv2.COLOR_RGB2GRAY)
        np.multiply(gray, np.float32(1.0 / 255.0), out=self._fine_in[0, 0], dtype=np.float32)
        self._fine_in[0, 1] = depth
        if self.input_recorder is not None:
            self.input_recorder("fine", self._fine_in)
        t1 = time.perf_counter()
        fine = self.nets.fine
        disp = fine.run({fine.io.input_name: self._fine_in})[fine.io.output_name][0, 0]
        disp = np.asarray(disp, np.float32)
        if self.config.mask_displacement:
            disp = np.where(inside, disp, np.float32(0.0)).astype(np.float32)
        t2 = time.perf_counter()
        timings["depth"] += (t1 - t0) * 1e3
        timings["fine"] += (t2 - t1) * 1e3
        return depth, disp

    # ------------------------------------------------------------------ step

    def step(self, image_rgb: np.ndarray) -> TrackResult:
        """Process one frame.

        Args:
            image_rgb: uint8 ``[H, W, 3]`` RGB (float in [0, 1] also accepted).

        Returns:
            The frame's :class:`TrackResult`.

        Raises:
            ValueError: Invalid frame (dtype, channels, zero size, non-finite values); the
                tracker's state is unchanged and it can keep stepping.
        """
        image = validate_image(image_rgb)
        t_start = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        index = self._frame_index
        self._frame_index += 1
        if self._prev_params is None:
            result = self._initialise(image, timings)
        else:
            result = self._track(image, timings)
        result.frame_index = index
        timings["total"] = (time.perf_counter() - t_start) * 1e3
        result.timings_ms = timings
        return result

    def start(self, image_rgb: np.ndarray, detection: Any) -> TrackResult:
        """Forget the current track and initialise a new one on a given detection.

        What :meth:`step` does on a frame without a track, with the detection chosen by the
        caller (multi-face tracking: :class:`face3d_ros.pipeline.multi.MultiFaceTracker`
        detects once per frame and hands each new face to its own tracker).

        Args:
            image_rgb: uint8 ``[H, W, 3]`` RGB (float in [0, 1] also accepted).
            detection: A :class:`~face3d_ros.detection.detector.Detection` in this image.

        Returns:
            The frame's :class:`TrackResult` (INITIALISING with parameters, or INITIALISING /
            LOST without when the reconstruction is implausible).

        Raises:
            ValueError: Invalid frame (see :meth:`step`); the state is then unchanged.
        """
        image = validate_image(image_rgb)
        t_start = time.perf_counter()
        self.reset()
        timings = dict.fromkeys(STAGES, 0.0)
        index = self._frame_index
        self._frame_index += 1
        result = self._start_from(image, detection, timings)
        result.frame_index = index
        timings["total"] = (time.perf_counter() - t_start) * 1e3
        result.timings_ms = timings
        return result

    def _initialise(self, image: np.ndarray, timings: dict) -> TrackResult:
        t0 = time.perf_counter()
        detections = self.detector.detect(image)[: self.config.detect_max_faces]
        timings["detect"] += (time.perf_counter() - t0) * 1e3
        if not detections:
            return self._lose("no face detected", timings)
        return self._start_from(image, max(detections, key=detection_area), timings)

    def _start_from(self, image: np.ndarray, det: Any, timings: dict) -> TrackResult:
        """Single-image CoarseNet on one detection: the first frame of a track."""
        box, a_id, a_exp, pose = self._coarse_from_box(image, det.box, timings)
        params = _RawParams(
            alpha_id=a_id,
            alpha_exp=a_exp,
            alpha_alb=np.zeros(self._dims[2], np.float32),
            gamma=self._gamma0.copy(),
            pose=pose,
        )
        detected = (np.asarray(det.landmarks, np.float32), det.box)
        return self._finish(image, params, box, None, detected, True, timings)

    def _reanchor(
        self,
        image: np.ndarray,
        detected: tuple[np.ndarray, tuple[float, float, float, float]] | None,
        timings: dict,
    ) -> TrackResult:
        """Re-initialise pose, identity and expression with the single-image CoarseNet.

        Used on keyframes and when the tracked landmarks drift away from the detector's; keeps
        the tracked albedo and lighting. The frame stays TRACKING (``reinitialised=True``).
        ``detected``: the detection in the tracking crop whose box the CoarseNet is placed on;
        None (a keyframe between verifications, ``keyframe_on_detection`` off): the box of the
        previous frame's landmarks.
        """
        prev = self._prev_params
        assert prev is not None
        if detected is not None:
            box = detected[1]
        else:
            assert self._prev_landmarks is not None
            box = box_from_landmarks(np.asarray(self._prev_landmarks, np.float64))
        init_box, a_id, a_exp, pose = self._coarse_from_box(image, box, timings)
        params = _RawParams(
            alpha_id=a_id,
            alpha_exp=a_exp,
            alpha_alb=prev.alpha_alb.copy(),
            gamma=prev.gamma.copy(),
            pose=pose,
        )
        return self._finish(image, params, init_box, None, detected, True, timings)

    def _track(self, image: np.ndarray, timings: dict) -> TrackResult:
        cfg = self.config
        prev = self._prev_params
        assert prev is not None and self._prev_landmarks is not None
        assert self._prev_vertices is not None
        t0 = time.perf_counter()
        try:
            box = self._box(self._prev_landmarks, image.shape, self._track_scale)
        except ValueError as exc:  # degenerate landmarks or a box off the image
            return self._lose(f"no usable tracking crop ({exc})", timings)
        timings["crop"] += (time.perf_counter() - t0) * 1e3

        self._frames_since_init += 1
        self._frames_since_verify += 1
        keyframe = cfg.keyframe_interval > 0 and self._frames_since_init >= cfg.keyframe_interval
        verify = (cfg.verify_interval > 0 and self._frames_since_verify >= cfg.verify_interval) or (
            keyframe and cfg.keyframe_on_detection
        )
        detected = None
        if verify:
            self._frames_since_verify = 0
            found = self._verify_in_crop(image, box, timings)
            if found is None:
                return self._lose("no face in the tracking crop", timings)
            detected = found

        if keyframe:
            return self._reanchor(image, detected, timings)

        # The tracking net's crop (a keyframe's CoarseNet crops around the detection instead).
        t0 = time.perf_counter()
        crop = crop_image(image, box, self._track_size)
        timings["crop"] += (time.perf_counter() - t0) * 1e3
        # [RGB crop | PNCC of the previous mesh with the previous pose, in this crop].
        t1 = time.perf_counter()
        _, prev_pose_crop = tracking_input(
            crop, box, self._prev_vertices, prev.pose, self._pncc, out=self._track_in[0]
        )
        if self.input_recorder is not None:
            self.input_recorder("tracking", self._track_in)
        t2 = time.perf_counter()
        net = self.nets.tracking
        vec = net.run({net.io.input_name: self._track_in})[net.io.output_name][0]
        t3 = time.perf_counter()
        timings["pncc"] += (t2 - t1) * 1e3
        timings["tracking"] += (t3 - t2) * 1e3

        sl = self._tracking_slices
        delta = np.concatenate(
            [vec[sl["d_rotation"]], vec[sl["d_translation"]], vec[sl["d_scale"]]]
        ).astype(np.float32)
        pose_crop = prev_pose_crop + delta
        pose = np.asarray(pose_from_crop(pose_crop, box, self._track_size), np.float32)
        params = _RawParams(
            alpha_id=vec[sl["id"]].astype(np.float32),
            alpha_exp=vec[sl["exp"]].astype(np.float32),
            alpha_alb=vec[sl["alb"]].astype(np.float32),
            gamma=vec[sl["sh"]].astype(np.float32),
            pose=pose,
        )
        return self._finish(
            image,
            params,
            box,
            crop,
            detected,
            False,
            timings,
            pose_crop=pose_crop,
        )

    def _finish(
        self,
        image: np.ndarray,
        raw: _RawParams,
        box: CropBox,
        crop_u8: np.ndarray | None,
        detected: tuple[np.ndarray, tuple[float, float, float, float]] | None,
        reinitialised: bool,
        timings: dict,
        *,
        pose_crop: np.ndarray | None = None,
    ) -> TrackResult:
        """Common tail: mesh, landmarks, plausibility, confidence, FineNet, state update."""
        cfg = self.config
        if not np.isfinite(raw.packed()).all():
            return self._lose("non-finite network output", timings)
        if not raw.pose[5] > 0:
            return self._lose(f"non-positive pose scale {raw.pose[5]:.3g}", timings)
        vertices = self._vertices(raw.alpha_id, raw.alpha_exp)
        landmarks = self._project_landmarks(vertices, raw.pose)
        reason = self._check_plausible(landmarks, image.shape)
        # A reconstruction anchored on a detection needs no motion check; one that follows the
        # track (tracking net, or a keyframe in the previous landmarks' box) does.
        anchored = reinitialised and detected is not None
        if not reason and not anchored and self._prev_landmarks is not None:
            jump = landmark_distance(landmarks, self._prev_landmarks)
            if jump > cfg.max_landmark_jump:
                reason = f"landmark jump {jump:.2f} > {cfg.max_landmark_jump:g} face sizes"
        if reason:
            return self._lose(reason, timings)
        if detected is not None:
            confidence = self._agreement(landmarks, detected[0])
            if not reinitialised and confidence < cfg.min_confidence:
                if cfg.reanchor_on_drift:
                    return self._reanchor(image, detected, timings)
                return self._lose(
                    f"landmark disagreement (confidence {confidence:.2f} < {cfg.min_confidence:g})",
                    timings,
                )
        else:
            confidence = self._confidence

        params = FaceParams(
            alpha_id=raw.alpha_id,
            alpha_exp=raw.alpha_exp,
            alpha_alb=raw.alpha_alb,
            gamma=raw.gamma,
            pose=raw.pose,
        )
        coarse_depth = displacement = None
        if cfg.use_fine:
            if crop_u8 is None or pose_crop is None or self._fine_size != self._track_size:
                t0 = time.perf_counter()
                crop_u8 = crop_image(image, box, self._fine_size)
                timings["crop"] += (time.perf_counter() - t0) * 1e3
                pose_crop = np.asarray(
                    pose_to_crop(params.pose, box, self._fine_size), np.float32
                )
            coarse_depth, displacement = self._fine(vertices, pose_crop, crop_u8, timings)

        # INITIALISING only for a fresh start (no track before this frame); a keyframe or drift
        # re-anchoring keeps a running track TRACKING, also with keyframe_interval=1.
        state = (
            TrackState.INITIALISING
            if reinitialised and self._prev_params is None
            else TrackState.TRACKING
        )
        if reinitialised:
            self._frames_since_init = 0
        if anchored:
            self._frames_since_verify = 0
        self._ever_found = True
        self._state = state
        self._prev_params = params
        self._prev_vertices = vertices
        self._prev_landmarks = landmarks
        self._confidence = confidence
        return TrackResult(
            state=state,
            params=params,
            landmarks_2d=landmarks,
            crop=box,
            confidence=confidence,
            vertices=vertices,
            coarse_depth=coarse_depth,
            displacement=displacement,
            reinitialised=reinitialised,
        )
