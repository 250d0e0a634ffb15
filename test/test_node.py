# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""face3d_node as a real process: outputs, tracking states, bad input, missing weights.

The node is started exactly as a launch file would start it (``--ros-args --params-file
config/face3d.yaml -r image:=... -r camera_info:=...``). The test process publishes the bundled
sample sequence in lock-step (next frame once the node answered), so every frame is processed
whatever the machine's speed, and checks the stamps of every output.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "face3d.yaml"
IMAGE_TOPIC = "/test_cam/image_raw"
INFO_TOPIC = "/test_cam/camera_info"

INIT, TRACK, LOST = 0, 1, 2


def _stamp_key(stamp: Any) -> tuple[int, int]:
    return (int(stamp.sec), int(stamp.nanosec))


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Node ``-p`` arguments selecting the model and weights (shipped, or untrained test nets)."""
    for path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/
        if path not in sys.path:
            sys.path.insert(0, path)
    from fixtures.weights import cached_untrained_assets, package_assets_present

    if package_assets_present():
        return []
    model_path, wdir = cached_untrained_assets(tmp_path_factory.getbasetemp())
    return ["-p", f"model_path:={model_path}", "-p", f"weights_dir:={wdir}"]


def _start_node(extra: list[str], log_path: pathlib.Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "face3d_ros.node.face3d_node", "--ros-args",
        "--params-file", str(CONFIG),
        "-r", f"image:={IMAGE_TOPIC}", "-r", f"camera_info:={INFO_TOPIC}",
        "-p", "threads:=1", "-p", "diagnostics_period:=0.5", *extra,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    log = log_path.open("w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Collector:
    """Subscribes to every output and indexes messages by header stamp."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, QoSReliabilityPolicy
        from sensor_msgs.msg import Image
        from visualization_msgs.msg import Marker

        from face3d_ros.msg import FaceParams

        qos = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)
        self.by_topic: dict[str, dict[tuple[int, int], Any]] = defaultdict(dict)
        self.diagnostics: list[Any] = []
        for topic, mtype in (
            ("/face_params", FaceParams), ("/displacement", Image), ("/coarse_depth", Image),
            ("/face_mesh", Marker), ("/overlay", Image),
        ):
            node.create_subscription(mtype, topic, self._store(topic), qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def _store(self, topic: str) -> Callable[[Any], None]:
        def cb(msg: Any) -> None:
            self.by_topic[topic][_stamp_key(msg.header.stamp)] = msg

        return cb


def _spin_until(executor: Any, cond: Callable[[], bool], timeout: float, proc: Any = None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return False
    return cond()


@pytest.fixture(scope="module")
def ros(assets: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The node process, a test node with a SamplePlayer and an output collector."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from face3d_ros.node.sample_player import SamplePlayer

    log_path = tmp_path_factory.mktemp("node") / "node.log"
    proc = _start_node(["-p", "min_confidence:=0.0", *assets], log_path)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("face3d_test_driver", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    player = SamplePlayer(node, IMAGE_TOPIC, INFO_TOPIC, focal_px=500.0)
    collector = _Collector(node)
    try:
        def ready_or_failed() -> bool:
            return player.subscribers_ready() or "cannot activate" in log_path.read_text()

        _spin_until(executor, ready_or_failed, 90.0, proc)
        ready = player.subscribers_ready()
        assert ready, f"node did not subscribe; log:\n{log_path.read_text()[-3000:]}"
        yield {"proc": proc, "node": node, "executor": executor, "player": player,
               "out": collector, "log": log_path}
    finally:
        _stop(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def _send(ros: dict[str, Any], rgb: np.ndarray | None, stamp: float, raw: Any = None) -> Any:
    """Publish one frame and wait for its FaceParams (re-sent once if lost); returns it."""
    from face3d_ros.node.sample_player import make_header

    key = _stamp_key(make_header(stamp).stamp)
    got = ros["out"].by_topic["/face_params"]
    for _ in range(3):
        if raw is not None:
            ros["player"].publish_raw(raw)
        else:
            ros["player"].publish_rgb(rgb, stamp)
        if _spin_until(ros["executor"], lambda: key in got, 15.0, ros["proc"]):
            # let the other outputs of this frame arrive too
            _spin_until(ros["executor"], lambda: False, 0.15)
            return got[key]
        assert ros["proc"].poll() is None, ros["log"].read_text()[-3000:]
    return None


def test_sequence_states_and_outputs(ros: dict[str, Any]) -> None:
    """INITIALISING -> TRACKING -> LOST on face-less frames -> recovery; outputs share stamps."""
    from face3d_ros.msg import FaceParams
    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    cfg = SampleSequenceConfig(n_frames=14, width=320, height=240, start_stamp=100.0,
                               faceless_start=6, faceless_length=4, base_scale=1.0)
    states = []
    stamps = []
    for i in range(cfg.n_frames):
        frame = sample_frame(i, cfg)
        image = frame.image
        if i == 0:  # nothing to see on the first frame: the tracker is still searching
            image = cv2.GaussianBlur(image, (0, 0), sigmaX=25.0)
        msg = _send(ros, image, frame.stamp)
        assert msg is not None, f"no FaceParams for frame {i}"
        states.append(msg.state)
        stamps.append(_stamp_key(msg.header.stamp))
        assert msg.image_width == 320 and msg.image_height == 240
        assert msg.header.frame_id == "camera_optical_frame"
        if msg.state == FaceParams.STATE_TRACKING:
            assert msg.source in (FaceParams.SOURCE_SINGLE_IMAGE, FaceParams.SOURCE_TRACKING)
            assert len(msg.landmarks_2d) == 136 and msg.scale > 0
            assert msg.n_vertices > 0 and msg.n_triangles > 0 and msg.model_id
            assert 0.0 <= msg.confidence <= 1.0
        else:
            assert msg.source == FaceParams.SOURCE_NONE and len(msg.landmarks_2d) == 0
    assert states[0] == INIT, states
    first_track = states.index(TRACK)
    assert all(s == TRACK for s in states[first_track:6]), states
    assert LOST in states[6:11], states
    assert states[-1] == TRACK, f"no recovery after the face-less frames: {states}"

    out = ros["out"].by_topic

    def all_outputs() -> bool:
        return all(
            k in out["/overlay"] and k in out["/face_mesh"]
            and (s != TRACK or (k in out["/displacement"] and k in out["/coarse_depth"]))
            for k, s in zip(stamps, states, strict=True)
        )

    _spin_until(ros["executor"], all_outputs, 20.0, ros["proc"])
    for key, state in zip(stamps, states, strict=True):
        assert key in out["/overlay"] and key in out["/face_mesh"], key
        assert out["/overlay"][key].encoding == "rgb8"
        marker = out["/face_mesh"][key]
        if state == TRACK:
            assert key in out["/displacement"] and key in out["/coarse_depth"], key
            assert out["/displacement"][key].encoding == "32FC1"
            assert marker.type == marker.TRIANGLE_LIST and len(marker.points) > 0
            assert len(marker.colors) == len(marker.points)
            z = np.array([p.z for p in marker.points])
            assert np.all(z > 0), "mesh must lie in front of the camera (optical z forward)"
        else:
            assert marker.action == marker.DELETE


def test_bad_frames_logged_and_node_keeps_running(ros: dict[str, Any]) -> None:
    """A wrong step and an unsupported encoding are logged; later frames are still processed."""
    from face3d_ros.node.conversions import numpy_to_image
    from face3d_ros.node.sample_player import make_header
    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    cfg = SampleSequenceConfig(n_frames=3, width=320, height=240, start_stamp=200.0,
                               faceless_start=-1, base_scale=1.0)
    good = sample_frame(0, cfg).image
    wrong_step = numpy_to_image(good, "rgb8", make_header(199.0))
    wrong_step.step -= 7
    yuv = numpy_to_image(good, "rgb8", make_header(199.5))
    yuv.encoding = "yuv422"
    for bad in (wrong_step, yuv):
        ros["player"].publish_raw(bad)
        _spin_until(ros["executor"], lambda: False, 0.5)
    for i in range(2):
        frame = sample_frame(i, cfg)
        assert _send(ros, frame.image, frame.stamp) is not None, "node stopped publishing"
    assert ros["proc"].poll() is None
    bad_keys = {(199, 0), (199, 500_000_000)}
    assert not bad_keys & set(ros["out"].by_topic["/face_params"])
    log = ros["log"].read_text()
    assert "wrong step" in log and "unsupported image encoding 'yuv422'" in log, log[-3000:]
    ok = _spin_until(ros["executor"], lambda: len(ros["out"].diagnostics) > 0, 5.0)
    assert ok, "no /diagnostics"
    values = {kv.key: kv.value for kv in ros["out"].diagnostics[-1].status[0].values}
    assert int(values["bad_frames"]) >= 2
    assert {"frames_dropped_busy", "latency_mean_ms", "output_rate_hz", "tracker_state"} <= set(
        values
    )


def test_deactivate_frees_and_activate_reloads(ros: dict[str, Any]) -> None:
    """Lifecycle: deactivate (tracker freed, no outputs), activate again, frames flow again."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    node, executor = ros["node"], ros["executor"]
    change = node.create_client(ChangeState, "/face3d_node/change_state")
    get = node.create_client(GetState, "/face3d_node/get_state")
    assert change.wait_for_service(timeout_sec=10.0) and get.wait_for_service(timeout_sec=10.0)

    def call(client: Any, request: Any) -> Any:
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=60.0)
        assert future.done(), "lifecycle service did not answer"
        return future.result()

    req = ChangeState.Request()
    req.transition.id = Transition.TRANSITION_DEACTIVATE
    assert call(change, req).success
    assert call(get, GetState.Request()).current_state.label == "inactive"
    req.transition.id = Transition.TRANSITION_ACTIVATE
    assert call(change, req).success
    assert call(get, GetState.Request()).current_state.label == "active"
    _spin_until(executor, ros["player"].subscribers_ready, 30.0, ros["proc"])
    cfg = SampleSequenceConfig(n_frames=1, width=320, height=240, start_stamp=300.0,
                               faceless_start=-1, base_scale=1.0)
    frame = sample_frame(0, cfg)
    assert _send(ros, frame.image, frame.stamp) is not None, "no output after re-activation"


def test_missing_weights_is_an_error_and_node_stays_up(
    assets: list[str], tmp_path: pathlib.Path
) -> None:
    """Missing weights: activation fails with a logged reason, the node process keeps running."""
    import rclpy
    from lifecycle_msgs.srv import GetState
    from rclpy.executors import SingleThreadedExecutor

    log_path = tmp_path / "node.log"
    missing = tmp_path / "no_weights_here"
    model_args = [a for a in assets if a.startswith("model_path:=")]
    extra = ["-r", "__node:=face3d_missing", "-p", f"weights_dir:={missing}"]
    for arg in model_args:  # the model itself is fine: only the weights are missing
        extra += ["-p", arg]
    proc = _start_node(extra, log_path)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("face3d_test_lifecycle", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        client = node.create_client(GetState, "/face3d_missing/get_state")
        end = time.monotonic() + 60
        while not client.wait_for_service(timeout_sec=0.5):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < end, "lifecycle service never appeared"
        label = ""
        while time.monotonic() < end:
            future = client.call_async(GetState.Request())
            executor.spin_until_future_complete(future, timeout_sec=5.0)
            label = future.result().current_state.label if future.result() else ""
            if "cannot activate" in log_path.read_text():
                break
            time.sleep(0.3)
        log = log_path.read_text()
        assert "cannot activate" in log and str(missing) in log, log
        future = client.call_async(GetState.Request())
        executor.spin_until_future_complete(future, timeout_sec=5.0)
        label = future.result().current_state.label
        assert label == "inactive", label
        assert proc.poll() is None, "the node must keep running"
    finally:
        _stop(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


# ---------------------------------------------------------------- pure builders (no process)


def _fake_result(model: Any, state: int = 1, reinitialised: bool = False) -> Any:
    from types import SimpleNamespace

    from face3d_ros.params import FaceParams as CoreParams

    params = None
    if state == TRACK or reinitialised:
        params = CoreParams.neutral(
            (model.n_id, model.n_exp, model.n_alb),
            pose=np.array([0.0, 0.2, 0.0, 160.0, 120.0, 1.5], np.float32),
        )
    return SimpleNamespace(
        state=state, params=params, reinitialised=reinitialised, confidence=0.7,
        landmarks_2d=np.zeros((68, 2), np.float32) if params is not None else None,
        crop=None, vertices=model.mean_shape if params is not None else None,
        coarse_depth=None, displacement=None,
    )


def test_builders_fill_face_params_and_place_mesh() -> None:
    """FaceParams fields, single-image mapping, metric placement in the optical frame."""
    from rclpy.serialization import deserialize_message
    from visualization_msgs.msg import Marker

    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.msg import FaceParams
    from face3d_ros.node.builders import (
        CameraIntrinsics,
        InitCounter,
        ModelInfo,
        build_face_params,
        build_mesh_marker,
        camera_points_m,
        serialize_mesh_marker,
    )
    from face3d_ros.node.sample_player import make_header

    data = make_synthetic_model()
    model = ModelInfo.from_model_data(data)
    header = make_header(5.25)
    counter = InitCounter()
    first = _fake_result(data, state=INIT, reinitialised=True)
    msg = build_face_params(first, header, model, 320, 240, counter.update(first))
    assert msg.state == FaceParams.STATE_TRACKING and msg.source == FaceParams.SOURCE_SINGLE_IMAGE
    assert len(msg.alpha_alb) == 0 and not any(msg.sh_coefficients)
    assert msg.frames_since_init == 0 and msg.header.stamp.nanosec == 250_000_000
    nxt = _fake_result(data)
    msg = build_face_params(nxt, header, model, 320, 240, counter.update(nxt))
    assert msg.source == FaceParams.SOURCE_TRACKING and msg.frames_since_init == 1
    assert len(msg.alpha_id) == data.n_id and len(msg.alpha_alb) == data.n_alb
    assert msg.scale == pytest.approx(1.5) and msg.yaw == pytest.approx(0.2)
    assert msg.n_vertices == data.n_vertices and msg.n_triangles == len(data.triangles)
    lost = build_face_params(_fake_result(data, state=LOST), header, model, 320, 240)
    assert lost.state == FaceParams.STATE_LOST and lost.source == FaceParams.SOURCE_NONE

    cam = CameraIntrinsics(fx=600.0, fy=600.0, cx=159.5, cy=119.5)
    origin = camera_points_m(np.zeros((1, 3)), np.array([0, 0, 0, 159.5, 119.5, 2.0]), cam)
    np.testing.assert_allclose(origin[0], [0.0, 0.0, 0.3])  # z = fx / s = 300 mm
    up_left = camera_points_m(np.array([[10.0, 10.0, 10.0]]), np.array([0, 0, 0, 159.5, 119.5,
                                                                         2.0]), cam)
    np.testing.assert_allclose(up_left[0], [0.010, -0.010, 0.290])  # y up -> -y, z out -> -z
    marker = build_mesh_marker(nxt, header, model, cam, frame_id="face_cam")
    assert marker.header.frame_id == "face_cam" and marker.header.stamp == header.stamp
    assert header.frame_id == "camera_optical_frame", "the input header must not be modified"
    assert len(marker.points) == 3 * len(data.triangles) == len(marker.colors)
    gone = build_mesh_marker(_fake_result(data, state=LOST), header, model, cam)
    assert gone.action == gone.DELETE
    # the fast numpy serialisation the node publishes decodes to the very same Marker
    for frame in ("", "face_cam", "f"):
        fast = serialize_mesh_marker(nxt, header, model, cam, frame_id=frame)
        assert deserialize_message(fast, Marker) == build_mesh_marker(
            nxt, header, model, cam, frame_id=frame
        )
    lost = _fake_result(data, state=LOST)
    assert deserialize_message(serialize_mesh_marker(lost, header, model, cam), Marker) == gone


def test_camera_info_lookup_rule() -> None:
    """Closest stamp within slop, else newest older, else newest."""
    from face3d_ros.node.camera_info import select
    from face3d_ros.node.sample_player import camera_info_for, make_header

    infos = [camera_info_for(make_header(t), 320, 240, 500.0 + t) for t in (1.0, 2.0, 3.0)]
    pick = select(infos, int(2.04e9), int(0.1e9))
    assert pick.k[0] == 502.0
    assert select(infos, int(2.5e9), int(0.1e9)).k[0] == 502.0
    assert select(infos, int(0.5e9), int(0.1e9)).k[0] == 503.0
    assert select([], 0, 0) is None


def test_parameter_validation() -> None:
    """Choices, ranges and types are checked; the YAML defaults are valid."""
    from face3d_ros.node.parameters import PARAMETERS, invalid_parameters_in, validate

    assert invalid_parameters_in({p.name: p.default for p in PARAMETERS}) == []
    assert "backend must be one of" in validate("backend", "tflite")
    assert "device must be" in validate("device", "gpu0")
    assert validate("device", "cuda:1") is None
    assert "min_confidence must lie" in validate("min_confidence", 1.5)
    assert invalid_parameters_in({"threads": "two"}) == ["threads must be int, got 'two'"]


def test_camera_info_source_same_with_and_without_message_filters(rclpy_context: Any) -> None:
    """Both CameraInfo caches (message_filters.Cache where installed) answer identically."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo

    from face3d_ros.node.camera_info import CameraInfoSource
    from face3d_ros.node.sample_player import camera_info_for, make_header

    node = rclpy.create_node("face3d_test_caminfo", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    sources = [CameraInfoSource(node, "/caminfo_test", qos, prefer_message_filters=flag)
               for flag in (True, False)]
    assert sources[1].backend == "built-in stamp cache"
    pub = node.create_publisher(CameraInfo, "/caminfo_test", qos)
    try:
        _spin_until(executor, lambda: pub.get_subscription_count() >= 2, 10.0)
        for t in (1.0, 2.0, 3.0):
            pub.publish(camera_info_for(make_header(t), 320, 240, 500.0 + t))

        def all_three() -> bool:
            return all(s.lookup(make_header(3.0), 0.01) is not None for s in sources)

        assert _spin_until(executor, all_three, 10.0)
        for t in (0.5, 1.02, 2.5, 9.0):
            picks = [s.lookup(make_header(t), 0.1).k[0] for s in sources]
            assert picks[0] == picks[1], (t, picks)
    finally:
        for s in sources:
            s.destroy()
        executor.shutdown()
        node.destroy_node()


def test_demo_refuses_non_empty_output(tmp_path: pathlib.Path) -> None:
    """The demo never overwrites a non-empty output folder without --overwrite."""
    from face3d_ros.node.demo import main as demo_main

    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    assert demo_main(["--out", str(out), "--frames", "4"]) == 2
    assert (out / "keep.txt").read_text() == "keep"
