# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure functions that turn a pipeline ``TrackResult`` into ROS messages.

Nothing here needs a running node: every builder takes numpy data plus a ``std_msgs/Header``
and returns a message, so the node, the bag replay tool and the tests share one code path.

Metric mesh placement (the ``face_mesh`` marker) is an approximation, documented in
docs/node.md: the network estimates a *weak-perspective* pose (scale ``s`` in pixels per
millimetre, image position ``(tx, ty)`` of the model origin). A pinhole camera with focal
length ``fx`` images an object at distance ``Z`` with ``fx / Z`` pixels per millimetre, so the
head origin is placed at ``Z = fx / s`` millimetres, ``X = (tx - cx) Z / fx``,
``Y = (ty - cy) Z / fy``; the rotated model points are added around it (model y up / z towards
the camera become optical y down / z forward). Depth variation inside the face and lens
distortion are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.normals import vertex_normals_np
from face3d_ros.geometry.rotation import euler_to_matrix_np
from face3d_ros.model.morphable import linear_combination_np
from face3d_ros.node.conversions import numpy_to_image
from face3d_ros.pipeline.states import STATE_NAMES

__all__ = [
    "CameraIntrinsics",
    "InitCounter",
    "ModelInfo",
    "build_depth_image",
    "build_diagnostics",
    "build_face_array",
    "build_face_params",
    "build_mesh_marker",
    "build_overlay",
    "camera_points_m",
    "choose_intrinsics",
    "mesh_marker_arrays",
    "published_state",
    "serialize_mesh_marker",
    "source_of",
    "vertex_colors",
]

#: Plausible focal lengths, as multiples of the larger image side.
FOCAL_RANGE = (0.05, 100.0)


@dataclass(frozen=True)
class ModelInfo:
    """What the builders need to know about the loaded face model.

    Attributes:
        model_id: ``FaceModelData.model_id``.
        triangles: ``[F, 3]`` int triangle indices (counter-clockwise seen from +z).
        mean_albedo: ``[N, 3]`` linear RGB in [0, 1].
        albedo_basis: ``[K, N, 3]`` unit-variance directions (may be truncated to K).
        albedo_sigma: ``[K]``.
        landmark_indices: ``[68]`` vertex indices.
    """

    model_id: str
    triangles: np.ndarray
    mean_albedo: np.ndarray
    albedo_basis: np.ndarray
    albedo_sigma: np.ndarray
    landmark_indices: np.ndarray

    @property
    def n_vertices(self) -> int:
        """Number of mesh vertices."""
        return int(self.mean_albedo.shape[0])

    @property
    def n_triangles(self) -> int:
        """Number of mesh triangles."""
        return int(self.triangles.shape[0])

    @classmethod
    def from_model_data(cls, data: Any) -> ModelInfo:
        """Build from a ``FaceModelData`` (face3d_ros.model.face_model)."""
        return cls(
            model_id=str(data.model_id),
            triangles=np.asarray(data.triangles, dtype=np.int64),
            mean_albedo=np.asarray(data.mean_albedo, dtype=np.float32),
            albedo_basis=np.asarray(data.albedo_basis, dtype=np.float32),
            albedo_sigma=np.asarray(data.albedo_sigma, dtype=np.float32),
            landmark_indices=np.asarray(data.landmark_indices, dtype=np.int64),
        )


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels (from CameraInfo ``k`` or assumed)."""

    fx: float
    fy: float
    cx: float
    cy: float
    assumed: bool = False

    @classmethod
    def from_camera_info(
        cls, info: Any, width: int | None = None, height: int | None = None
    ) -> CameraIntrinsics:
        """Read ``k = [fx 0 cx; 0 fy cy; 0 0 1]`` from a sensor_msgs/CameraInfo.

        With the image size given, the intrinsics must also be plausible for that image: the
        CameraInfo's own ``width``/``height`` (when set) equal to it, ``fx`` and ``fy`` between
        :data:`FOCAL_RANGE` times the larger image side (a horizontal field of view of about
        0.6 to 170 degrees), ``fy / fx`` within [0.2, 5], and the principal point no further
        than half an image outside the image.

        Raises:
            ValueError: non-finite or non-positive focal lengths (an uncalibrated camera, K all
                zeros), or intrinsics implausible for the image (the message says which).
        """
        k = [float(v) for v in info.k]
        if len(k) != 9:
            raise ValueError(f"CameraInfo k has {len(k)} values, expected 9")
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
        if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
            raise ValueError(f"CameraInfo has no valid intrinsics: fx={fx:.6g} fy={fy:.6g}")
        if width is not None and height is not None:
            w, h = int(width), int(height)
            iw, ih = int(info.width), int(info.height)
            if iw > 0 and ih > 0 and (iw, ih) != (w, h):
                raise ValueError(f"CameraInfo is for {iw}x{ih} images but the image is {w}x{h}")
            side = max(w, h)
            lo, hi = FOCAL_RANGE
            for name, f in (("fx", fx), ("fy", fy)):
                if not lo * side <= f <= hi * side:
                    raise ValueError(
                        f"CameraInfo {name}={f:.6g} px is implausible for a {w}x{h} image "
                        f"(expected {lo:g}..{hi:g} x {side} px)"
                    )
            if not 0.2 <= fy / fx <= 5.0:
                raise ValueError(f"CameraInfo fy/fx = {fy / fx:.3g} is implausible")
            if not (-0.5 * w <= cx <= 1.5 * w and -0.5 * h <= cy <= 1.5 * h):
                raise ValueError(
                    f"CameraInfo principal point ({cx:.6g}, {cy:.6g}) lies far outside the "
                    f"{w}x{h} image"
                )
        return cls(fx, fy, cx, cy, assumed=False)

    @classmethod
    def assumed_for(cls, width: int, height: int, focal_px: float) -> CameraIntrinsics:
        """Intrinsics with an assumed focal length and the principal point at the centre."""
        return cls(focal_px, focal_px, (width - 1) / 2.0, (height - 1) / 2.0, assumed=True)


def choose_intrinsics(
    info: Any | None, width: int, height: int, assumed_focal_px: float
) -> tuple[CameraIntrinsics, str | None]:
    """The intrinsics for one image: its CameraInfo when usable, else the assumed ones.

    The one rule of the node and the replay tool.

    Args:
        info: the CameraInfo picked for the image (None when there is none).
        width: image width.
        height: image height.
        assumed_focal_px: focal length used without a usable CameraInfo.

    Returns:
        ``(intrinsics, problem)``: ``problem`` is None when ``info`` was used or absent, else
        why it was not (the caller warns, throttled); ``intrinsics.assumed`` tells which.
    """
    if info is not None:
        try:
            return CameraIntrinsics.from_camera_info(info, width, height), None
        except (ValueError, TypeError) as exc:
            problem = str(exc)
    else:
        problem = None
    return CameraIntrinsics.assumed_for(width, height, assumed_focal_px), problem


def camera_points_m(vertices: np.ndarray, pose: np.ndarray, cam: CameraIntrinsics) -> np.ndarray:
    """Place model-space vertices metrically in the camera optical frame (metres).

    Args:
        vertices: ``[N, 3]`` mm, model space (x image-right, y up, z towards the camera).
        pose: ``[6]`` (pitch, yaw, roll, tx, ty, s) in input-image pixels.
        cam: intrinsics of the input image.

    Returns:
        ``[N, 3]`` float64 metres in the optical frame (x right, y down, z forward).

    Raises:
        ValueError: a non-positive or non-finite scale.
    """
    pitch, yaw, roll, tx, ty, s = (float(v) for v in pose)
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"cannot place the mesh metrically: weak-perspective scale {s}")
    z0 = cam.fx / s  # mm
    x0 = (tx - cam.cx) * z0 / cam.fx
    y0 = (ty - cam.cy) * z0 / cam.fy
    R = euler_to_matrix_np(np.array([pitch, yaw, roll], dtype=np.float64))
    c = np.asarray(vertices, dtype=np.float64) @ np.asarray(R, dtype=np.float64).T
    optical = np.stack([x0 + c[:, 0], y0 - c[:, 1], z0 - c[:, 2]], axis=1)
    return optical / 1000.0


def vertex_colors(model: ModelInfo, alpha_alb: np.ndarray | None) -> np.ndarray:
    """Per-vertex albedo ``[N, 3]`` in [0, 1] (mean albedo when ``alpha_alb`` is empty/None)."""
    colors = model.mean_albedo
    if alpha_alb is not None and len(alpha_alb) > 0 and np.any(alpha_alb):
        k = min(len(alpha_alb), model.albedo_basis.shape[0])
        coeff = np.asarray(alpha_alb[:k], dtype=np.float32) * model.albedo_sigma[:k]
        flat = model.albedo_basis[:k].reshape(k, -1)  # float32 [K, N*3]
        colors = linear_combination_np(colors, flat, coeff)
    return np.clip(colors, 0.0, 1.0).astype(np.float64)


class InitCounter:
    """Counts frames since the tracker last (re-)initialised from a single image.

    ``update`` is called once per processed frame, in order: it returns 0 on a frame whose
    parameters come from the Single-image CoarseNet (``result.reinitialised``), then 1, 2, ...
    on the following tracked frames, and 0 whenever there is no face.
    """

    def __init__(self) -> None:
        """Start with no track."""
        self.count = 0

    def update(self, result: Any) -> int:
        """Advance with one TrackResult and return ``frames_since_init`` for it."""
        if published_state(result) != 1 or result.reinitialised:
            self.count = 0
        else:
            self.count += 1
        return self.count


def published_state(result: Any) -> int:
    """FaceParams ``state`` for a TrackResult.

    The message defines TRACKING as "face found; parameters are valid". The tracker reports
    INITIALISING on the frame where a fresh detection + Single-image CoarseNet produced
    parameters; that frame is published as TRACKING with ``source`` SINGLE_IMAGE. Otherwise the
    tracker's state is published unchanged (INITIALISING = no face yet, LOST = face gone).
    """
    if result.params is not None and int(result.state) in (0, 1):
        return 1
    return 2 if int(result.state) == 2 else 0


def source_of(result: Any) -> int:
    """FaceParams ``source``: SINGLE_IMAGE (1) on re-initialisation, TRACKING (2), NONE (0)."""
    if published_state(result) != 1:
        return 0
    return 1 if result.reinitialised else 2


def build_face_params(
    result: Any,
    header: Any,
    model: ModelInfo,
    image_width: int,
    image_height: int,
    frames_since_init: int = 0,
) -> Any:
    """Fill every field of ``face3d_ros/FaceParams`` from a ``TrackResult``.

    Coefficients, pose, lighting and landmarks are filled only when the state is TRACKING;
    otherwise they stay empty/zero and ``source`` is SOURCE_NONE (as the .msg says).

    Args:
        result: ``face3d_ros.pipeline.TrackResult``.
        header: input image header (copied unchanged).
        model: loaded model description.
        image_width: input width in pixels.
        image_height: input height in pixels.
        frames_since_init: from :class:`InitCounter`.

    Returns:
        ``face3d_ros.msg.FaceParams``.
    """
    from face3d_ros.msg import FaceParams

    msg = FaceParams()
    msg.header = header
    msg.state = published_state(result)
    msg.model_id = model.model_id
    msg.n_vertices = model.n_vertices
    msg.n_triangles = model.n_triangles
    msg.image_width = int(image_width)
    msg.image_height = int(image_height)
    msg.frames_since_init = int(frames_since_init)
    msg.confidence = float(np.clip(result.confidence, 0.0, 1.0)) if result.confidence else 0.0
    crop = getattr(result, "crop", None)
    if crop is not None:
        x0, y0 = max(0, int(round(crop.x0))), max(0, int(round(crop.y0)))
        size = max(0, int(round(crop.size)))
        msg.crop.x_offset = x0
        msg.crop.y_offset = y0
        msg.crop.width = max(0, min(size, int(image_width) - x0))
        msg.crop.height = max(0, min(size, int(image_height) - y0))
    params = result.params
    if msg.state != FaceParams.STATE_TRACKING or params is None:
        msg.source = FaceParams.SOURCE_NONE
        return msg
    msg.source = source_of(result)
    msg.alpha_id = np.asarray(params.alpha_id, dtype=np.float32).ravel().tolist()
    msg.alpha_exp = np.asarray(params.alpha_exp, dtype=np.float32).ravel().tolist()
    if msg.source == FaceParams.SOURCE_SINGLE_IMAGE:
        msg.alpha_alb = []
        msg.sh_coefficients = [0.0] * 27
    else:
        msg.alpha_alb = np.asarray(params.alpha_alb, dtype=np.float32).ravel().tolist()
        msg.sh_coefficients = np.asarray(params.gamma, dtype=np.float32).ravel().tolist()
    pitch, yaw, roll, tx, ty, s = (float(v) for v in np.asarray(params.pose).ravel())
    msg.pitch, msg.yaw, msg.roll, msg.tx, msg.ty, msg.scale = pitch, yaw, roll, tx, ty, s
    lm = getattr(result, "landmarks_2d", None)
    if lm is not None:
        msg.landmarks_2d = np.asarray(lm, dtype=np.float32).reshape(-1).tolist()
    return msg


def build_face_array(
    faces: Any,
    header: Any,
    model: ModelInfo,
    image_width: int,
    image_height: int,
    frames_since_init: dict[int, int],
) -> Any:
    """``face3d_ros/FaceArray``: every tracked face of a frame with its person id.

    Args:
        faces: ``TrackedFace`` entries (``face_id``, ``result``) of
            :class:`face3d_ros.pipeline.multi.MultiTrackResult` ``.faces``.
        header: input image header (copied unchanged).
        model: loaded model description.
        image_width: input width in pixels.
        image_height: input height in pixels.
        frames_since_init: person id -> frames since that face's (re-)initialisation.

    Returns:
        The message (``ids[i]`` is the id of ``faces[i]``).
    """
    from face3d_ros.msg import FaceArray

    msg = FaceArray()
    msg.header = header
    msg.ids = [str(f.face_id) for f in faces]
    msg.faces = [
        build_face_params(f.result, header, model, image_width, image_height,
                          frames_since_init.get(f.face_id, 0))
        for f in faces
    ]
    return msg


def build_depth_image(array: np.ndarray, header: Any) -> Any:
    """A 32FC1 ``sensor_msgs/Image`` from a float map (NaN kept, e.g. outside the face)."""
    return numpy_to_image(np.asarray(array, dtype=np.float32), "32FC1", header)


def _marker_shell(
    result: Any, header: Any, frame_id: str, namespace: str, marker_id: int = 0
) -> tuple[Any, bool]:
    """The Marker without points/colours, and whether it is an ADD (face present)."""
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker

    marker = Marker()
    # a new Header: the input header object is shared with the other outputs of the frame
    marker.header = Header(stamp=header.stamp, frame_id=frame_id or header.frame_id)
    marker.ns = namespace
    marker.id = int(marker_id)
    if published_state(result) != 1 or result.vertices is None:
        marker.action = Marker.DELETE
        return marker, False
    marker.type = Marker.TRIANGLE_LIST
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = 1.0
    marker.color.a = 1.0
    return marker, True


def mesh_marker_arrays(
    result: Any, model: ModelInfo, cam: CameraIntrinsics
) -> tuple[np.ndarray, np.ndarray]:
    """TRIANGLE_LIST points ``[3F, 3]`` float64 (metres, optical frame) and colours ``[3F, 4]``."""
    points = camera_points_m(result.vertices, np.asarray(result.params.pose), cam)
    colors = vertex_colors(model, getattr(result.params, "alpha_alb", None))
    idx = model.triangles.reshape(-1)
    rgba = np.concatenate([colors[idx], np.ones((idx.size, 1))], axis=1)
    return points[idx], rgba.astype(np.float32)


def build_mesh_marker(
    result: Any,
    header: Any,
    model: ModelInfo,
    cam: CameraIntrinsics,
    *,
    frame_id: str = "",
    namespace: str = "face3d",
    marker_id: int = 0,
) -> Any:
    """A ``visualization_msgs/Marker`` TRIANGLE_LIST of the reconstructed face.

    When the state is not TRACKING (or no vertices/pose are available) the marker is a DELETE
    action with the same header, namespace and id, so viewers remove the stale mesh. Building
    the Python Point objects is slow for large meshes (about 1 s for 17k triangles); the node
    and the replay tool publish :func:`serialize_mesh_marker`'s bytes instead (identical).

    Args:
        result: ``TrackResult`` (``vertices`` in model-space mm, ``params.pose`` in pixels).
        header: input image header (stamp copied; frame_id unless ``frame_id`` is given).
        model: loaded model description (triangles, albedo).
        cam: intrinsics used for the metric placement (see the module docstring).
        frame_id: optional frame override (parameter ``mesh_frame``).
        namespace: marker namespace.
        marker_id: marker id (the node uses the person id of the face).

    Returns:
        The Marker (points in metres, one colour per point).
    """
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA

    marker, add = _marker_shell(result, header, frame_id, namespace, marker_id)
    if add:
        points, colors = mesh_marker_arrays(result, model, cam)
        marker.points = [Point(x=p[0], y=p[1], z=p[2]) for p in points.tolist()]
        marker.colors = [ColorRGBA(r=c[0], g=c[1], b=c[2], a=c[3]) for c in colors.tolist()]
    return marker


def serialize_mesh_marker(
    result: Any,
    header: Any,
    model: ModelInfo,
    cam: CameraIntrinsics,
    *,
    frame_id: str = "",
    namespace: str = "face3d",
    marker_id: int = 0,
) -> bytes:
    """The CDR bytes of :func:`build_mesh_marker`'s Marker, built with numpy (fast).

    A one-point Marker shell is serialised by rclpy with a sentinel coordinate; the prefix
    before the points sequence and the suffix after the (empty) colours sequence are cut out
    around it and the two sequences are spliced in as raw little-endian arrays. (CDR padding
    bytes are not initialised by the serializer, so byte-for-byte comparison is meaningless;
    the test compares the deserialised message with :func:`build_mesh_marker`'s.)

    Returns:
        Serialized ``visualization_msgs/Marker`` (publishable with ``publisher.publish(bytes)``).
    """
    import struct

    from geometry_msgs.msg import Point
    from rclpy.serialization import serialize_message

    marker, add = _marker_shell(result, header, frame_id, namespace, marker_id)
    if not add:
        return serialize_message(marker)
    sentinel = struct.pack("<d", -1.2345678901234567e-300)
    marker.points = [Point(x=-1.2345678901234567e-300)]
    shell = serialize_message(marker)
    if shell[:2] != b"\x00\x01":
        raise RuntimeError("expected little-endian CDR from rclpy")
    start = shell.find(sentinel)
    length_at = start - 4 if shell[start - 4:start] == b"\x01\x00\x00\x00" else start - 8
    if start < 0 or shell[length_at:length_at + 4] != b"\x01\x00\x00\x00":
        raise RuntimeError("cannot locate the points sequence in the serialised Marker")
    points, colors = mesh_marker_arrays(result, model, cam)
    n = len(points)
    return b"".join(
        (
            shell[:length_at],
            struct.pack("<I", n),
            b"\x00" * (start - length_at - 4),  # alignment of the first double
            np.ascontiguousarray(points, dtype="<f8").tobytes(),
            struct.pack("<I", n),
            np.ascontiguousarray(colors, dtype="<f4").tobytes(),
            shell[start + 24 + 4:],  # after the sentinel point and the empty colours length
        )
    )


def _shaded_face(
    image: np.ndarray, vertices: np.ndarray, pose: np.ndarray, model: ModelInfo,
    alpha_alb: np.ndarray | None, opacity: float,
) -> None:
    """Blend the mesh, rasterised with albedo x Lambert shading (light at the camera), in place."""
    from face3d_ros.render.rasterizer import rasterize

    h, w = image.shape[:2]
    tris = model.triangles
    screen = project_np(np.asarray(vertices, np.float32), np.asarray(pose, np.float32))
    frags = rasterize(screen.astype(np.float32), tris, h, w)
    inside = frags.triangle_id >= 0
    if not inside.any():
        return
    # vertex normals (area-weighted face normals), rotated into the camera's view
    vn = vertex_normals_np(vertices, tris)
    R = np.asarray(euler_to_matrix_np(np.asarray(pose[:3], np.float64)), np.float64)
    facing = np.clip((vn @ R.T)[:, 2], 0.0, 1.0)  # model z points at the camera
    shade = 0.35 + 0.65 * facing
    colour = vertex_colors(model, alpha_alb) ** (1.0 / 2.2) * shade[:, None]  # display gamma
    tid = frags.triangle_id[inside]
    bary = frags.barycentric[inside].astype(np.float64)
    pix = np.einsum("pk,pkc->pc", bary, colour[tris[tid]])
    blended = (1 - opacity) * image[inside] + opacity * 255.0 * np.clip(pix, 0.0, 1.0)
    image[inside] = np.round(blended).astype(np.uint8)
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(image, contours, -1, (0, 200, 255), 1, cv2.LINE_AA)


def build_overlay(
    image_rgb: np.ndarray,
    result: Any,
    model: ModelInfo | None,
    *,
    opacity: float = 0.6,
    faces: Any = None,
) -> np.ndarray:
    """Draw the reconstructed faces (shaded, blended), their 68 landmarks, ids and the state.

    Args:
        image_rgb: ``[H, W, 3]`` uint8 input image (not modified).
        result: ``TrackResult`` of the primary face (its state and confidence are written in
            the corner; its face is drawn when ``faces`` is None).
        model: model description (triangles, albedo); None draws landmarks and state only.
        opacity: weight of the rendered face over the image.
        faces: optional ``TrackedFace`` entries (``face_id``, ``result``) of every tracked face:
            each is drawn with its id above it.

    Returns:
        ``[H, W, 3]`` uint8 RGB overlay.
    """
    out = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    state = published_state(result)
    colour = {0: (255, 200, 0), 1: (0, 255, 0), 2: (255, 0, 0)}.get(state, (255, 255, 255))
    scale = max(0.5, out.shape[1] / 800.0)
    thickness = max(1, int(round(scale)))
    drawn = [(None, result)] if faces is None else [(f.face_id, f.result) for f in faces]
    for face_id, face in drawn:
        if published_state(face) != 1 or face.params is None:
            continue
        if model is not None and face.vertices is not None:
            _shaded_face(out, face.vertices, np.asarray(face.params.pose), model,
                         getattr(face.params, "alpha_alb", None), opacity)
        lm = getattr(face, "landmarks_2d", None)
        if lm is None:
            continue
        points = np.asarray(lm, dtype=np.float64).reshape(-1, 2)
        for u, v in points:
            if math.isfinite(u) and math.isfinite(v):
                cv2.circle(out, (int(round(u)), int(round(v))), 2, (255, 255, 0), -1)
        if face_id is not None and np.isfinite(points).all():
            u0, v0 = points[:, 0].min(), points[:, 1].min()
            primary = face is result
            cv2.putText(out, f"id {face_id}" + (" *" if primary else ""),
                        (int(u0), max(int(v0 - 8 * scale), int(14 * scale))),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 255, 0) if primary
                        else (255, 255, 255), thickness, cv2.LINE_AA)
    label = f"{STATE_NAMES.get(state, str(state))} conf={float(result.confidence or 0):.2f}"
    if faces is not None:
        label += f" faces={sum(1 for _, f in drawn if published_state(f) == 1)}"
    cv2.putText(out, label, (8, int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour,
                thickness, cv2.LINE_AA)
    return out


def build_diagnostics(
    stamp: Any, name: str, hardware_id: str, level: int, message: str, values: dict[str, Any]
) -> Any:
    """A ``diagnostic_msgs/DiagnosticArray`` with one status.

    Args:
        stamp: ``builtin_interfaces/Time`` for the array header.
        name: status name (e.g. ``face3d_node: tracking``).
        hardware_id: e.g. the input frame id.
        level: ``DiagnosticStatus.OK/WARN/ERROR/STALE`` (int).
        message: one-line summary.
        values: key -> value (formatted with ``str``; floats with 3 decimals).

    Returns:
        The DiagnosticArray.
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus()
    status.level = bytes([int(level)])
    status.name = name
    status.message = message
    status.hardware_id = hardware_id
    status.values = [
        KeyValue(key=str(k), value=(f"{v:.3f}" if isinstance(v, float) else str(v)))
        for k, v in values.items()
    ]
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr
