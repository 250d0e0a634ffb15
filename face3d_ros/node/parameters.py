# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Parameters of ``face3d_node``: declarations with descriptors, validation, typed snapshot.

One table (:data:`PARAMETERS`) drives the declarations, the on-set validation callback,
config/face3d.yaml and the parameter table in docs/node.md (a test checks they agree). Every
user-tunable :class:`~face3d_ros.pipeline.TrackerConfig` field is a parameter of the same name
whose default is the TrackerConfig default (:data:`TRACKER_PARAMETERS`; the fields that are not,
and why, are in :data:`TRACKER_FIELDS_NOT_PARAMETERS`); :func:`tracker_config` builds the
TrackerConfig from a :class:`NodeParams`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)

from face3d_ros.detection.interface import DETECTOR_NAMES
from face3d_ros.node.conversions import IMAGE_TRANSPORTS
from face3d_ros.pipeline.multi import PRIMARY_MODES, MultiFaceConfig
from face3d_ros.pipeline.tracker import TrackerConfig
from face3d_ros.runtime.backend import BACKEND_KINDS
from face3d_ros.runtime.bundle import PRECISIONS

__all__ = [
    "BACKENDS",
    "PARAMETERS",
    "TRACKER_FIELDS_NOT_PARAMETERS",
    "TRACKER_PARAMETERS",
    "NodeParams",
    "ParamSpec",
    "declare_parameters",
    "invalid_parameters",
    "invalid_parameters_in",
    "multi_face_config",
    "tracker_config",
    "validate",
]

#: Backend choices (the runtime's registry).
BACKENDS = BACKEND_KINDS
CV_BRIDGE_MODES = ("auto", "never", "always")
_TC = {f.name: f.default for f in dataclasses.fields(TrackerConfig)}
_MC = {f.name: f.default for f in dataclasses.fields(MultiFaceConfig)}
#: TrackerConfig fields that are not node parameters, and why.
TRACKER_FIELDS_NOT_PARAMETERS: dict[str, str] = {
    "crop_scale": "bound to the weights: the nets' contract gives it (a different value fails)",
}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default, description, optional range/choices, read-only flag."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "autostart", True,
        "Configure and activate the lifecycle node on start (no lifecycle manager needed).",
        read_only=True,
    ),
    ParamSpec(
        "model_path", "",
        "Face model .npz; empty = the model shipped in the package (face3d_ros/model/data).",
        read_only=True,
    ),
    ParamSpec(
        "weights_dir", "",
        "Folder with the exported networks and their JSON sidecars; empty = face3d_ros/weights.",
        read_only=True,
    ),
    ParamSpec(
        "backend", _TC["backend"], "Inference backend; applied on the next activation.",
        choices=BACKENDS,
    ),
    ParamSpec(
        "precision", _TC["precision"],
        "Weight precision of the nets: fp32 (the exported ONNX graphs) or int8 (onnxruntime "
        "only; <net>.int8.onnx files made by python -m face3d_ros.runtime.quantize). Applied on "
        "the next activation.",
        choices=PRECISIONS,
    ),
    ParamSpec(
        "fine_precision", "",
        "FineNet's weight precision when it differs from precision (e.g. fp32 with int8 coarse "
        "nets); empty = the same. Applied on the next activation.",
        choices=("", *PRECISIONS),
    ),
    ParamSpec(
        "device", "cpu", "Inference device: cpu, cuda or cuda:N; applied on the next activation.",
    ),
    ParamSpec(
        "threads", 0, "Inference threads; 0 = the backend's default.", int_range=(0, 64),
    ),
    ParamSpec("use_fine", _TC["use_fine"], "Run the FineNet (displacement map) on tracked frames."),
    ParamSpec(
        "detector", _TC["detector"],
        "Face detector: blazeface (BlazeFace CNN, about 3 ms per frame, faces from about 12 % of "
        "the frame's longer side) or dlib (HOG, about 100 ms per 640x360 frame, smaller faces); "
        "both place the 68 landmarks with dlib's predictor. Applied on the next activation.",
        choices=DETECTOR_NAMES,
    ),
    ParamSpec(
        "keyframe_interval", _TC["keyframe_interval"],
        "Re-anchor with the Single-image CoarseNet every N tracked frames: 1 = the single-image "
        "net on every frame (the shipped tracking net drifts); 0 = the Tracking CoarseNet "
        "between drift re-anchors.",
        int_range=(0, 10000),
    ),
    ParamSpec(
        "keyframe_on_detection", _TC["keyframe_on_detection"],
        "A keyframe runs the detector in the tracking crop and places the Single-image "
        "CoarseNet on its box (true); false = only every verify_interval-th frame runs the "
        "detector, the keyframes between place the CoarseNet in the box of the previous frame's "
        "landmarks (saves the detector on verify_interval - 1 of verify_interval frames).",
    ),
    ParamSpec(
        "min_confidence", _TC["min_confidence"],
        "Landmark-agreement confidence (0..1) below which a verified frame counts as drift: the "
        "track is re-anchored on the detection (reanchor_on_drift, the default) or declared LOST.",
        float_range=(0.0, 1.0),
    ),
    ParamSpec(
        "reanchor_on_drift", _TC["reanchor_on_drift"],
        "On drift (confidence below min_confidence) re-anchor with the Single-image CoarseNet in "
        "the same frame (stays TRACKING); false = declare the face LOST.",
    ),
    ParamSpec(
        "verify_interval", _TC["verify_interval"],
        "Run the face detector in the tracking crop every N tracked frames to check that a face "
        "is there and agrees with the reconstruction; 1 = every frame (a TRACKING frame always "
        "had a face), 0 = never (only NaN / out-of-image / jump checks).",
        int_range=(0, 10000),
    ),
    ParamSpec(
        "verify_crop_size", _TC["verify_crop_size"],
        "Side (pixels) of the crop copy the detector sees during verification (the face is "
        "about verify_crop_size / crop_scale pixels there).",
        int_range=(32, 2048),
    ),
    ParamSpec(
        "max_landmark_error", _TC["max_landmark_error"],
        "Mean landmark distance, as a fraction of the face size, at which the confidence "
        "reaches 0 (confidence = 1 - error / max_landmark_error).",
        float_range=(0.001, 10.0),
    ),
    ParamSpec(
        "max_landmark_jump", _TC["max_landmark_jump"],
        "Largest plausible mean landmark motion between frames, as a fraction of the face size; "
        "larger jumps lose the track.",
        float_range=(0.001, 10.0),
    ),
    ParamSpec(
        "min_inside_fraction", _TC["min_inside_fraction"],
        "Fraction of the projected landmarks that must lie inside the image, else LOST.",
        float_range=(0.0, 1.0),
    ),
    ParamSpec(
        "min_face_size", _TC["min_face_size"],
        "Smallest face (landmark extent, pixels) that is tracked.",
        float_range=(1.0, 100000.0),
    ),
    ParamSpec(
        "detect_max_faces", _TC["detect_max_faces"],
        "Consider at most this many detections of a full-frame detection (largest first).",
        int_range=(1, 1000),
    ),
    ParamSpec(
        "mask_displacement", _TC["mask_displacement"],
        "Zero the displacement map outside the rendered face.",
    ),
    ParamSpec(
        "max_faces", _MC["max_faces"],
        "Faces tracked at once, each with its own state and a person id (1 = single-face "
        "tracking). Applied on the next activation.",
        int_range=(1, 64),
    ),
    ParamSpec(
        "search_interval", _MC["search_interval"],
        "While fewer than max_faces faces are tracked, look for new faces with the full-frame "
        "detector every N frames (and on every frame while a lost face may come back); 0 = "
        "only when no face is tracked. Applied on the next activation.",
        int_range=(0, 10000),
    ),
    ParamSpec(
        "reid_window", _MC["reid_window"],
        "Frames during which a lost face's id is given back to a face reappearing near it "
        "that looks like it (position and colour histogram). Applied on the next activation.",
        int_range=(0, 100000),
    ),
    ParamSpec(
        "primary_face", _MC["primary"],
        "The face published on face_params, displacement and coarse_depth: oldest = the face "
        "followed until it is lost (a person stepping closer does not take over), largest = "
        "the largest face of each frame. Applied on the next activation.",
        choices=PRIMARY_MODES,
    ),
    ParamSpec(
        "publish_tf", True,
        "Publish each tracked face's head pose on /tf as <camera frame> -> "
        "<face_frame_prefix><id> (REP-155 axes).",
    ),
    ParamSpec(
        "face_frame_prefix", "face_",
        "Prefix of the TF frame of each face (followed by its person id).",
    ),
    ParamSpec("publish_mesh", True, "Publish the face_mesh Marker (TRIANGLE_LIST)."),
    ParamSpec("publish_overlay", True, "Publish the overlay image (rgb8)."),
    ParamSpec(
        "publish_depth", True, "Publish the displacement and coarse_depth images (32FC1).",
    ),
    ParamSpec(
        "mesh_every_n", 1,
        "Publish the face_mesh Marker on every N-th frame with a face (1 = every frame); a lost "
        "face's DELETE is always sent.",
        int_range=(1, 1000),
    ),
    ParamSpec(
        "mesh_frame", "",
        "frame_id of the face_mesh Marker; empty = the input image's frame_id.",
    ),
    ParamSpec(
        "assumed_focal_px", 600.0,
        "Focal length (pixels) used for the metric mesh while no CameraInfo has arrived.",
        float_range=(1.0, 100000.0),
    ),
    ParamSpec(
        "camera_info_slop", 0.1,
        "Max |stamp difference| (s) between an image and the CameraInfo used for it; "
        "beyond it the newest older CameraInfo is used.",
        float_range=(0.0, 10.0),
    ),
    ParamSpec(
        "max_image_pixels", 16_777_216,
        "Largest image (width x height) that is processed; larger frames are rejected, "
        "before decoding, as bad frames. The default is 4096 x 4096.",
        int_range=(1, 268_435_456),
    ),
    ParamSpec(
        "use_cv_bridge", "auto",
        "Image decoding: auto = cv_bridge when importable, never, always.",
        read_only=True, choices=CV_BRIDGE_MODES,
    ),
    ParamSpec(
        "image_transport", "raw",
        "Image input: raw = sensor_msgs/Image on image; compressed = sensor_msgs/CompressedImage "
        "(jpeg or png, decoded with OpenCV) on the resolved image topic + /compressed "
        "(image_transport's rule: image:=/cam/image_raw -> /cam/image_raw/compressed). Applied "
        "on the next activation.",
        choices=IMAGE_TRANSPORTS,
    ),
    ParamSpec(
        "diagnostics_period", 1.0, "Seconds between /diagnostics messages.",
        read_only=True, float_range=(0.1, 60.0),
    ),
)

_BY_NAME = {p.name: p for p in PARAMETERS}
#: Parameters that are TrackerConfig fields of the same name.
TRACKER_PARAMETERS: tuple[str, ...] = tuple(p.name for p in PARAMETERS if p.name in _TC)


def tracker_config(p: Any) -> TrackerConfig:
    """The TrackerConfig of a parameter snapshot (every field in :data:`TRACKER_PARAMETERS`).

    Args:
        p: :class:`NodeParams` (or any object with those attributes).

    Returns:
        The config (``threads`` 0 -> None, ``fine_precision`` "" -> None).

    Raises:
        ValueError: An invalid combination (TrackerConfig's own checks).
    """
    values = {name: getattr(p, name) for name in TRACKER_PARAMETERS}
    values["threads"] = values["threads"] or None
    values["fine_precision"] = values["fine_precision"] or None
    return TrackerConfig(**values)


def multi_face_config(p: Any) -> MultiFaceConfig:
    """The MultiFaceConfig of a parameter snapshot.

    Args:
        p: :class:`NodeParams` (or any object with ``max_faces``, ``search_interval``,
            ``reid_window`` and ``primary_face``).

    Returns:
        The config.

    Raises:
        ValueError: An out-of-range value (MultiFaceConfig's own checks).
    """
    return MultiFaceConfig(max_faces=p.max_faces, search_interval=p.search_interval,
                           reid_window=p.reid_window, primary=p.primary_face)


@dataclass(frozen=True)
class NodeParams:
    """Typed snapshot of the node's parameters (see :data:`PARAMETERS` for meanings)."""

    autostart: bool
    model_path: str
    weights_dir: str
    backend: str
    device: str
    precision: str
    fine_precision: str
    threads: int
    use_fine: bool
    detector: str
    keyframe_interval: int
    keyframe_on_detection: bool
    min_confidence: float
    reanchor_on_drift: bool
    verify_interval: int
    verify_crop_size: int
    max_landmark_error: float
    max_landmark_jump: float
    min_inside_fraction: float
    min_face_size: float
    detect_max_faces: int
    mask_displacement: bool
    max_faces: int
    search_interval: int
    reid_window: int
    primary_face: str
    publish_tf: bool
    face_frame_prefix: str
    publish_mesh: bool
    publish_overlay: bool
    publish_depth: bool
    mesh_every_n: int
    mesh_frame: str
    assumed_focal_px: float
    camera_info_slop: float
    max_image_pixels: int
    use_cv_bridge: str
    image_transport: str
    diagnostics_period: float

    @classmethod
    def from_node(cls, node: Any) -> NodeParams:
        """Read every parameter from a node that called :func:`declare_parameters`."""
        return cls(**{f.name: node.get_parameter(f.name).value for f in fields(cls)})


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = spec.description
    if spec.choices:
        desc += f" One of: {', '.join(spec.choices)}."
    d = ParameterDescriptor(description=desc, read_only=spec.read_only)
    if spec.int_range is not None:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1])]
    if spec.float_range is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1])
        ]
    return d


def validate(name: str, value: Any) -> str | None:
    """Check one parameter value beyond its type and range; returns a reason or None if valid."""
    spec = _BY_NAME.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time)
    if spec.choices is not None and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    if name == "device":
        ok = value == "cpu" or value == "cuda" or (
            isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit()
        )
        if not ok:
            return f"device must be cpu, cuda or cuda:N, got {value!r}"
    if spec.float_range is not None and not (
        spec.float_range[0] <= float(value) <= spec.float_range[1]
    ):
        return f"{name} must lie in [{spec.float_range[0]}, {spec.float_range[1]}], got {value}"
    if spec.int_range is not None and not (spec.int_range[0] <= int(value) <= spec.int_range[1]):
        return f"{name} must lie in [{spec.int_range[0]}, {spec.int_range[1]}], got {value}"
    return None


def declare_parameters(node: Any, argv: Any = None) -> dict[str, str]:
    """Declare every parameter with its descriptor and install the validation callback.

    Start-up values (YAML / command line) bypass the callback; :func:`invalid_parameters`
    checks them (the node does so in ``on_configure`` and refuses to configure). Start-up
    values rclpy itself refuses (out of range, NaN, wrong type) or rcl silently drops (a
    wrongly typed override after the YAML) do not end the process: the parameter keeps its
    default and the reason is returned (:mod:`face3d_ros.node.startup`).

    Args:
        node: the node.
        argv: the process arguments, searched for mistyped start-up values (None: skipped).

    Returns:
        name -> reason for each refused start-up value; a live dict: a later successful set
        of that parameter removes its entry.
    """
    from face3d_ros.node.startup import declare_checked, mistyped_startup_values

    problems: dict[str, str] = {}
    for spec in PARAMETERS:
        reason = declare_checked(node, spec.name, spec.default, _descriptor(spec))
        if reason is not None:
            problems[spec.name] = reason
    if argv is not None:
        defaults = {spec.name: spec.default for spec in PARAMETERS}
        for name, reason in mistyped_startup_values(argv, node.get_name(), defaults).items():
            problems.setdefault(name, reason)

    def _on_set(params: list[Any]) -> SetParametersResult:
        for p in params:
            reason = validate(p.name, p.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        for p in params:
            problems.pop(p.name, None)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_on_set)
    return problems


def invalid_parameters(node: Any) -> list[str]:
    """Reasons why the node's current parameter values are invalid (empty when all are fine)."""
    return invalid_parameters_in({s.name: node.get_parameter(s.name).value for s in PARAMETERS})


def invalid_parameters_in(values: dict[str, Any]) -> list[str]:
    """Like :func:`invalid_parameters` for a name -> value dict (types checked too)."""
    reasons = []
    for spec in PARAMETERS:
        value = values.get(spec.name, spec.default)
        expected = type(spec.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            reasons.append(f"{spec.name} must be {expected.__name__}, got {value!r}")
            continue
        reason = validate(spec.name, value)
        if reason is not None:
            reasons.append(reason)
    return reasons
