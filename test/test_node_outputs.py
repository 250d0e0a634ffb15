# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""face3d_node builds an output only while it has a subscriber; mesh_every_n decimation.

The node runs in-process with fake publishers (subscriber counts set by the test) and a fake
tracker, so the test checks which outputs are built without DDS timing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

OUTPUTS = ("face_params", "faces", "displacement", "coarse_depth", "face_mesh", "overlay",
           "face_poses")
#: Published on every frame whatever the subscribers.
ALWAYS = ("face_params", "faces")


class _FakePub:
    def __init__(self) -> None:
        self.subscribers = 0
        self.sent: list[Any] = []

    def get_subscription_count(self) -> int:
        return self.subscribers

    def publish(self, msg: Any) -> None:
        self.sent.append(msg)


def _result(model: Any, has_face: bool) -> Any:
    from face3d_ros.params import FaceParams as CoreParams

    params = None
    if has_face:
        params = CoreParams.neutral(
            (model.n_id, model.n_exp, model.n_alb),
            pose=np.array([0.0, 0.2, 0.0, 160.0, 120.0, 1.5], np.float32),
        )
    maps = np.zeros((256, 256), np.float32) if has_face else None
    return SimpleNamespace(
        state=1 if has_face else 2,
        params=params,
        reinitialised=False,
        confidence=0.7,
        has_face=has_face,
        crop=None,
        landmarks_2d=np.zeros((68, 2), np.float32) if has_face else None,
        vertices=model.mean_shape if has_face else None,
        coarse_depth=maps,
        displacement=maps,
        timings_ms={"total": 1.0},
    )


@pytest.fixture
def node(rclpy_context: Any) -> Any:
    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.node.builders import ModelInfo
    from face3d_ros.node.face3d_node import Face3dNode

    n = Face3dNode("face3d_outputs_test", context=rclpy_context)
    data = make_synthetic_model()
    n._model_info = ModelInfo.from_model_data(data)
    n._pubs = {name: _FakePub() for name in OUTPUTS}
    n._tf_pub = _FakePub()
    from face3d_ros.node.frame_outputs import FrameOutputs

    n._outputs = FrameOutputs(n._model_info)
    n.test_model = data
    try:
        yield n
    finally:
        n.destroy_node()


def _run(node: Any, faces: list[bool]) -> None:
    from sensor_msgs.msg import Image

    from face3d_ros.node.sample_player import make_header

    msg = Image(header=make_header(1.0), width=320, height=240, encoding="rgb8")
    rgb = np.zeros((240, 320, 3), np.uint8)
    for has_face in faces:
        tracker = SimpleNamespace(step=lambda _rgb, f=has_face: _frame(_result(node.test_model, f)))
        node._process(msg, rgb, tracker, {})


def _frame(result: Any, face_id: int = 1) -> Any:
    """The MultiTrackResult of one face (tracked, or lost on this frame)."""
    from face3d_ros.pipeline.multi import MultiTrackResult, TrackedFace

    entry = TrackedFace(face_id, result)
    faces, lost = ([entry], []) if result.has_face else ([], [entry])
    return MultiTrackResult(faces, lost, result, face_id if result.has_face else None, 0,
                            dict(result.timings_ms))


def test_unsubscribed_outputs_are_not_built(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import face3d_ros.node.frame_outputs as mod

    built = []
    for name in ("build_overlay", "build_depth_image", "serialize_mesh_marker"):
        real = getattr(mod, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            built.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(mod, name, spy)
    _run(node, [True, True, False])
    pubs = node._pubs
    assert all(len(pubs[n].sent) == 3 for n in ALWAYS)  # always published
    assert built == [] and all(not pubs[n].sent for n in OUTPUTS if n not in ALWAYS)
    pubs["overlay"].subscribers = 1
    pubs["displacement"].subscribers = 2
    _run(node, [True])
    assert sorted(built) == ["build_depth_image", "build_overlay"]
    assert len(pubs["overlay"].sent) == 1 and len(pubs["displacement"].sent) == 1
    assert not pubs["coarse_depth"].sent and not pubs["face_mesh"].sent


def test_mesh_every_n(node: Any) -> None:
    from rclpy.parameter import Parameter
    from rclpy.serialization import deserialize_message
    from visualization_msgs.msg import Marker

    assert node.set_parameters([Parameter("mesh_every_n", value=3)])[0].successful
    mesh = node._pubs["face_mesh"]
    mesh.subscribers = 1
    # 7 frames with a face, one without, 2 with: the meshes of the 1st, 4th and 7th face
    # frames are sent, and the DELETE of the face-less frame (the 8th and 9th faces are not due).
    _run(node, [True] * 7 + [False] + [True] * 2)
    actions = [deserialize_message(m, Marker).action for m in mesh.sent]
    assert actions == [Marker.ADD, Marker.ADD, Marker.ADD, Marker.DELETE]
    assert not node.set_parameters([Parameter("mesh_every_n", value=0)])[0].successful


def test_detector_parameter(node: Any) -> None:
    from rclpy.parameter import Parameter

    from face3d_ros.detection import DEFAULT_DETECTOR

    assert node.get_parameter("detector").value == DEFAULT_DETECTOR
    assert node.set_parameters([Parameter("detector", value="dlib")])[0].successful
    bad = node.set_parameters([Parameter("detector", value="haar")])[0]
    assert not bad.successful and "blazeface" in bad.reason
