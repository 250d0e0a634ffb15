# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every output message of one processed frame, built once for the node and the bag replay.

:class:`FrameOutputs` turns a :class:`~face3d_ros.pipeline.multi.MultiTrackResult` into
``(topic, message)`` pairs: ``face_params`` (the primary face) and ``faces`` (all) on every
frame; ``displacement`` / ``coarse_depth`` (primary face), ``face_mesh`` (one marker per face,
id = person id, serialised bytes), ``overlay`` (all faces with their ids), ``face_poses`` and
``/tf`` (:data:`~face3d_ros.node.topics.TF_TOPIC`) when switched on and wanted. The node asks
for an output only while it has a subscriber; the replay asks for all of them. Keeping it in
one place keeps the two from drifting apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from face3d_ros.node.builders import (
    CameraIntrinsics,
    InitCounter,
    ModelInfo,
    build_depth_image,
    build_face_array,
    build_face_params,
    build_overlay,
    serialize_mesh_marker,
)
from face3d_ros.node.conversions import numpy_to_image
from face3d_ros.node.head_pose import build_head_transforms, build_pose_array
from face3d_ros.node.topics import TF_TOPIC

__all__ = ["FrameOutputs"]


class FrameOutputs:
    """Per-stream output state (per-face ``frames_since_init``, mesh decimation) and builder.

    Args:
        model: The loaded face model's description.
    """

    def __init__(self, model: ModelInfo) -> None:
        """Start a stream."""
        self.model = model
        self._counters: dict[int, InitCounter] = {}
        self._mesh_frames = 0  # frames with a face (mesh_every_n decimation)
        #: True when the last frame had faces but no frame to put them in on TF (an empty
        #: image frame_id and no ``mesh_frame``): ``/tf`` was left out.
        self.tf_without_frame = False

    def build(
        self,
        frame: Any,
        rgb: np.ndarray,
        header: Any,
        size: tuple[int, int],
        p: Any,
        intrinsics: Callable[[], CameraIntrinsics],
        wanted: Callable[[str], bool],
        stages: dict[str, float] | None = None,
    ) -> list[tuple[str, Any]]:
        """The frame's outputs, in publishing order.

        Args:
            frame: ``MultiTrackResult`` of the frame.
            rgb: ``[H, W, 3]`` uint8 input image (overlay).
            header: the input's ``std_msgs/Header`` (copied to every output).
            size: ``(width, height)`` of the input image.
            p: :class:`~face3d_ros.node.parameters.NodeParams` (``publish_*``, ``mesh_every_n``,
                ``mesh_frame``, ``publish_tf``, ``face_frame_prefix``).
            intrinsics: called (at most once) when an output needs the camera intrinsics.
            wanted: whether an output topic is wanted (e.g. has a subscriber); ``face_params``
                and ``faces`` are always built, ``/tf`` whenever ``publish_tf`` is set.
            stages: optional dict receiving the build seconds of ``face_params`` (with
                ``faces``), ``depth``, ``mesh``, ``overlay`` and ``tf``.

        Returns:
            ``(topic, message)`` pairs; the topic is an output name of
            :data:`~face3d_ros.node.topics.OUTPUT_TOPICS` or ``/tf``; ``face_mesh`` messages are
            serialised bytes (publishable and writable as they are).

        Raises:
            ValueError: a head pose that cannot be placed (non-positive scale).
        """
        stages = {} if stages is None else stages
        clock = time.perf_counter
        model, width, height = self.model, size[0], size[1]
        out: list[tuple[str, Any]] = []
        cam: list[CameraIntrinsics] = []

        def camera() -> CameraIntrinsics:
            if not cam:
                cam.append(intrinsics())
            return cam[0]

        t = clock()
        counts = {f.face_id: self._counters.setdefault(f.face_id, InitCounter()).update(f.result)
                  for f in frame.faces}
        for gone in frame.lost:
            self._counters.pop(gone.face_id, None)
        result = frame.primary
        out.append(("face_params", build_face_params(result, header, model, width, height,
                                                     counts.get(frame.primary_id, 0))))
        out.append(("faces", build_face_array(frame.faces, header, model, width, height,
                                              counts)))
        stages["face_params"] = (t1 := clock()) - t
        if p.publish_depth:
            for name in ("displacement", "coarse_depth"):
                image = getattr(result, name)
                if image is not None and wanted(name):
                    out.append((name, build_depth_image(image, header)))
        stages["depth"] = (t := clock()) - t1
        if frame.faces:
            self._mesh_frames += 1
        if p.publish_mesh and wanted("face_mesh"):
            due = bool(frame.faces) and (self._mesh_frames - 1) % p.mesh_every_n == 0
            # a DELETE for each face lost on this frame; on a frame without any face at least
            # one (id 0 when none was lost), so a viewer gets a marker on every face-less frame
            deleted = frame.lost or ([] if frame.faces else [None])
            for entry in (*(frame.faces if due else ()), *deleted):
                face = result if entry is None else entry.result
                marker_cam = camera() if face.params is not None else None
                out.append(("face_mesh", serialize_mesh_marker(
                    face, header, model, marker_cam, frame_id=p.mesh_frame,
                    marker_id=0 if entry is None else entry.face_id,
                )))
        stages["mesh"] = (t1 := clock()) - t
        if p.publish_overlay and wanted("overlay"):
            overlay = build_overlay(rgb, result, model, faces=frame.faces)
            out.append(("overlay", numpy_to_image(overlay, "rgb8", header)))
        stages["overlay"] = (t := clock()) - t1
        poses_wanted = wanted("face_poses")
        if p.publish_tf or poses_wanted:
            entries = [(str(f.face_id), np.asarray(f.result.params.pose)) for f in frame.faces]
            self.tf_without_frame = bool(entries) and not (p.mesh_frame or header.frame_id)
            if p.publish_tf and entries and not self.tf_without_frame:
                out.append((TF_TOPIC[0], build_head_transforms(
                    entries, header, camera(), parent_frame=p.mesh_frame,
                    prefix=p.face_frame_prefix,
                )))
            if poses_wanted:
                out.append(("face_poses", build_pose_array(
                    entries, header, camera() if entries else None, parent_frame=p.mesh_frame
                )))
        stages["tf"] = clock() - t
        return out
