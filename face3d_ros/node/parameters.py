# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Parameters of ``face3d_node``: declarations with descriptors, validation, typed snapshot.

One table (:data:`PARAMETERS`) drives the declarations, the on-set validation callback,
config/face3d.yaml and the parameter table in docs/node.md (a test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)

from face3d_ros.detection.interface import DEFAULT_DETECTOR, DETECTOR_NAMES

__all__ = [
    "BACKENDS",
    "PARAMETERS",
    "NodeParams",
    "ParamSpec",
    "declare_parameters",
    "invalid_parameters",
    "invalid_parameters_in",
    "validate",
]

BACKENDS = ("onnxruntime", "torch", "tensorrt")
CV_BRIDGE_MODES = ("auto", "never", "always")


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
        "backend", "onnxruntime", "Inference backend; applied on the next activation.",
        choices=BACKENDS,
    ),
    ParamSpec(
        "device", "cpu", "Inference device: cpu, cuda or cuda:N; applied on the next activation.",
    ),
    ParamSpec(
        "threads", 0, "Inference threads; 0 = the backend's default.", int_range=(0, 64),
    ),
    ParamSpec("use_fine", True, "Run the FineNet (displacement map) on tracked frames."),
    ParamSpec(
        "detector", DEFAULT_DETECTOR,
        "Face detector: blazeface (BlazeFace CNN, about 3 ms per frame, faces from about 12 % of "
        "the frame's longer side) or dlib (HOG, about 100 ms per 640x360 frame, smaller faces); "
        "both place the 68 landmarks with dlib's predictor. Applied on the next activation.",
        choices=DETECTOR_NAMES,
    ),
    ParamSpec(
        "keyframe_interval", 0,
        "Re-initialise from the Single-image CoarseNet every N tracked frames; 0 = never.",
        int_range=(0, 10000),
    ),
    ParamSpec(
        "min_confidence", 0.3,
        "Below this confidence the face is declared LOST and the tracker re-initialises.",
        float_range=(0.0, 1.0),
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
        "diagnostics_period", 1.0, "Seconds between /diagnostics messages.",
        read_only=True, float_range=(0.1, 60.0),
    ),
)

_BY_NAME = {p.name: p for p in PARAMETERS}


@dataclass(frozen=True)
class NodeParams:
    """Typed snapshot of the node's parameters (see :data:`PARAMETERS` for meanings)."""

    autostart: bool
    model_path: str
    weights_dir: str
    backend: str
    device: str
    threads: int
    use_fine: bool
    detector: str
    keyframe_interval: int
    min_confidence: float
    publish_mesh: bool
    publish_overlay: bool
    publish_depth: bool
    mesh_every_n: int
    mesh_frame: str
    assumed_focal_px: float
    camera_info_slop: float
    max_image_pixels: int
    use_cv_bridge: str
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
