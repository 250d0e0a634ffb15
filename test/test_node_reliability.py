# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""face3d_node under hostile or unlucky input (issue 12 items 5, 10, 11, 12, 15, 16).

Most tests build the node in this process (its own rclpy context) with a stand-in tracker, so
they are fast and deterministic; the shutdown test runs the node as a process, as a launch
file does, and signals it like a terminal's Ctrl-C under ``ros2 launch``.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "face3d.yaml"
for _path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fixtures.stand_ins import OneFaceTrackerBase  # noqa: E402


class _Tracker(OneFaceTrackerBase):
    """Stand-in tracker: TRACKING with the synthetic model's mean face; can block in step."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def warmup(self) -> None:
        """Nothing to compile."""

    def step(self, rgb: np.ndarray) -> Any:
        from face3d_ros.params import FaceParams
        from face3d_ros.pipeline import TrackResult, TrackState

        self.entered.set()
        self.release.wait(30.0)
        m = self.model
        h, w = rgb.shape[:2]
        params = FaceParams.neutral(
            (m.n_id, m.n_exp, m.n_alb),
            pose=np.array([0.0, 0.0, 0.0, w / 2, h / 2, 0.1], np.float32),
        )
        return TrackResult(TrackState.TRACKING, params, np.zeros((68, 2), np.float32), None,
                           0.8, m.mean_shape, None, None)


def _context(args: list[str]) -> Any:
    import rclpy

    ctx = rclpy.context.Context()
    rclpy.init(args=["face3d_test", "--ros-args", *args], context=ctx)
    return ctx


@pytest.fixture
def make_node() -> Iterator[Any]:
    """``make_node(args)``: a Face3dNode in its own context, destroyed afterwards."""
    import rclpy

    made: list[tuple[Any, Any]] = []

    def make(args: list[str] = ()) -> Any:
        from face3d_ros.node.face3d_node import Face3dNode

        args = list(args)
        ctx = _context(args)
        node = Face3dNode(context=ctx, startup_args=["x", "--ros-args", *args])
        made.append((node, ctx))
        return node

    yield make
    for node, ctx in made:
        node._stop_inference_thread()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


# ------------------------------------------------------------------ item 5: start-up values


BAD_STARTUP = {
    "threads_negative": (["-p", "threads:=-5"], "threads"),
    "keyframe_huge": (["-p", "keyframe_interval:=100000"], "keyframe_interval"),
    "confidence_nan": (["-p", "min_confidence:=.nan"], "min_confidence"),
    "yaml_out_of_range": (None, "min_confidence"),
    "typed_override_after_yaml": (["--params-file", str(CONFIG), "-p", "threads:=two"],
                                  "threads must be int, got 'two'"),
}


@pytest.mark.parametrize("case", sorted(BAD_STARTUP))
def test_bad_startup_values_fail_configure_with_the_reason(
    case: str, make_node: Any, tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No crash before configure: configure fails naming the value; a valid set then fixes it."""
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    args, needle = BAD_STARTUP[case]
    if args is None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("/**:\n  ros__parameters:\n    min_confidence: 2.0\n")
        args = ["--params-file", str(bad)]
    node = make_node(args)  # used to raise InvalidParameterValueException here
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    err = capfd.readouterr().err
    assert "invalid parameter" in err and needle in err, err
    name = {"threads_negative": "threads", "keyframe_huge": "keyframe_interval",
            "confidence_nan": "min_confidence", "yaml_out_of_range": "min_confidence",
            "typed_override_after_yaml": "threads"}[case]
    value = {"threads": 1, "keyframe_interval": 5, "min_confidence": 0.5}[name]
    assert node.set_parameters([Parameter(name, value=value)])[0].successful
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS


def test_valid_startup_values_configure(make_node: Any) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(["--params-file", str(CONFIG), "-p", "threads:=2"])
    assert node.get_parameter("threads").value == 2
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS


# ------------------------------------------------------------------ items 10, 11: bad frames


def _image(width: int, height: int, encoding: str = "rgb8", data: bytes = b"") -> Any:
    from sensor_msgs.msg import Image

    msg = Image()
    msg.width, msg.height, msg.encoding, msg.step = width, height, encoding, 3 * width
    msg.data = data
    return msg


def test_image_larger_than_max_image_pixels_rejected_before_decoding() -> None:
    from face3d_ros.node.conversions import ImageConverter
    from face3d_ros.node.parameters import PARAMETERS

    default = {p.name: p.default for p in PARAMETERS}["max_image_pixels"]
    assert default == 4096 * 4096
    conv = ImageConverter("never", max_pixels=default)
    # 8000x6000 announced with (almost) no data: refused on size, before anything else
    with pytest.raises(ValueError, match=r"image too large: 8000x6000 = 48000000 pixels"):
        conv.to_rgb8(_image(8000, 6000, data=b"\x00" * 16))
    ok = np.zeros((4, 5, 3), np.uint8)
    from face3d_ros.node.conversions import numpy_to_image

    assert conv.to_rgb8(numpy_to_image(ok, "rgb8")).shape == (4, 5, 3)


def _configured(make_node: Any, args: list[str] = ()) -> tuple[Any, _Tracker]:
    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.node.builders import ModelInfo

    node = make_node(["-p", "use_cv_bridge:=never", *args])
    node.trigger_configure()
    model = make_synthetic_model()
    tracker = _Tracker(model)
    node._tracker = tracker
    node._model_info = ModelInfo.from_model_data(model)
    return node, tracker


def test_rejected_frames_are_throttled_and_untrusted_text_cut(
    make_node: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """20 frames with a 100,000-character encoding: one short log line, all counted."""
    node, _ = _configured(make_node)
    capfd.readouterr()
    for _ in range(20):
        node._on_image(_image(4, 4, "x" * 100_000, b"\x00" * 48))
        node._process_pending()
    node._on_image(_image(9000, 9000))  # another kind of problem is logged at once
    node._process_pending()
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "rejected image" in line]
    assert len(lines) == 2, lines
    assert all(len(line) < 400 for line in lines), [len(line) for line in lines]
    assert "100000 characters" in lines[0] and "image too large" in lines[1]
    assert node._stats.bad == 21


def test_max_image_pixels_is_a_runtime_parameter(make_node: Any) -> None:
    from rclpy.parameter import Parameter

    from face3d_ros.node.conversions import numpy_to_image

    node, _ = _configured(make_node)
    assert node.set_parameters([Parameter("max_image_pixels", value=100)])[0].successful
    node._on_image(numpy_to_image(np.zeros((20, 20, 3), np.uint8), "rgb8"))
    node._process_pending()
    assert node._stats.bad == 1


# ------------------------------------------------------------------ item 15: broken cv_bridge


def _broken_cv_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cv_bridge whose Python module imports but whose compiled part cannot load."""

    class CvBridge:
        def imgmsg_to_cv2(self, msg: Any, desired_encoding: str = "passthrough") -> Any:
            raise ImportError("libboost_python311.so.1.83.0: cannot open shared object file")

    monkeypatch.setitem(sys.modules, "cv_bridge", types.SimpleNamespace(CvBridge=CvBridge))


def test_broken_cv_bridge_is_detected_at_configure(
    monkeypatch: pytest.MonkeyPatch, make_node: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    from face3d_ros.node.conversions import ImageConverter, numpy_to_image

    _broken_cv_bridge(monkeypatch)
    conv = ImageConverter("auto")
    assert conv.backend == "numpy" and "libboost_python" in conv.note
    frame = numpy_to_image(np.full((3, 4, 3), 7, np.uint8), "bgr8")
    assert conv.to_rgb8(frame).shape == (3, 4, 3)  # frames decode (built-in decoder)
    with pytest.raises(ImportError, match="cv_bridge is not usable"):
        ImageConverter("always")
    node = make_node([])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert "image decoding: numpy (cv_bridge is not usable" in capfd.readouterr().err
    always = make_node(["-p", "use_cv_bridge:=always"])
    assert always.trigger_configure() == TransitionCallbackReturn.FAILURE


# ------------------------------------------------------------------ item 16: deactivate


def test_deactivate_with_a_frame_in_flight_keeps_camera_info(
    monkeypatch: pytest.MonkeyPatch, make_node: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """The frame in flight finishes with its CameraInfo; no spurious "no CameraInfo" warning."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from visualization_msgs.msg import Marker

    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.node import face3d_node
    from face3d_ros.node.conversions import numpy_to_image
    from face3d_ros.node.sample_player import camera_info_for, make_header

    model = make_synthetic_model()
    tracker = _Tracker(model)
    monkeypatch.setattr(face3d_node, "load_tracker", lambda p: (tracker, model))
    node = make_node(["-p", "use_cv_bridge:=never", "-r", "face_mesh:=/t16/face_mesh"])
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    viewer = rclpy.create_node("t16_viewer", context=node.context)
    meshes: list[Any] = []
    viewer.create_subscription(Marker, "/t16/face_mesh", meshes.append, 5)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(viewer)
    try:
        end = time.monotonic() + 10
        while node._pubs["face_mesh"].get_subscription_count() == 0 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        header = make_header(5.0)
        if node._camera_info.backend != "built-in stamp cache":
            pytest.skip("message_filters installed: the cache is filled by its subscriber")
        node._camera_info._own.add(camera_info_for(header, 32, 24, 40.0))
        tracker.release.clear()
        node._on_image(numpy_to_image(np.zeros((24, 32, 3), np.uint8), "rgb8", header))
        assert tracker.entered.wait(10.0), "the inference thread did not take the frame"
        done = threading.Thread(target=node.trigger_deactivate)
        done.start()
        time.sleep(0.5)  # deactivation is under way while the frame is in flight
        tracker.release.set()
        done.join(30.0)
        assert not done.is_alive()
        err = capfd.readouterr().err
        assert "no CameraInfo" not in err, err
        assert not node._warned_no_camera_info
    finally:
        executor.shutdown()
        viewer.destroy_node()


# ------------------------------------------------------------------ items 12, 16: Ctrl-C


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from fixtures.weights import cached_untrained_assets, package_assets_present

    if package_assets_present():
        return []
    model_path, wdir = cached_untrained_assets(tmp_path_factory.getbasetemp())
    return ["-p", f"model_path:={model_path}", "-p", f"weights_dir:={wdir}"]


def test_ctrl_c_under_launch_exits_cleanly_with_a_frame_in_flight(
    assets: list[str], tmp_path: pathlib.Path
) -> None:
    """Repeated SIGINT (terminal + launch) while frames stream: exit 0, no error, no traceback."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy

    from face3d_ros.msg import FaceParams
    from face3d_ros.node.sample_player import SamplePlayer
    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    log_path = tmp_path / "node.log"
    cmd = [sys.executable, "-m", "face3d_ros.node.face3d_node", "--ros-args",
           "--params-file", str(CONFIG), "-r", "__node:=face3d_sigint",
           "-r", "image:=/t12/image", "-r", "camera_info:=/t12/camera_info",
           "-r", "face_params:=/t12/face_params", "-p", "threads:=1",
           "-p", "qos_overrides./t12/image.subscription.reliability:=reliable", *assets]
    env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("t12_driver", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    got: list[Any] = []
    node.create_subscription(FaceParams, "/t12/face_params", got.append,
                             QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE))
    player = SamplePlayer(node, "/t12/image", "/t12/camera_info")
    cfg = SampleSequenceConfig(n_frames=30, width=320, height=240, start_stamp=50.0,
                               faceless_start=-1, base_scale=1.0)
    try:
        end = time.monotonic() + 120
        while not player.subscribers_ready():
            executor.spin_once(timeout_sec=0.1)
            assert proc.poll() is None and time.monotonic() < end, log_path.read_text()[-3000:]
        i = 0
        while not got and time.monotonic() < end:  # frames flow
            player.publish_rgb(sample_frame(i % cfg.n_frames, cfg).image, 50.0 + i / 30)
            i += 1
            executor.spin_once(timeout_sec=0.03)
        assert got, log_path.read_text()[-3000:]
        for _ in range(5):  # keep the node busy: a frame is in flight when SIGINT comes
            player.publish_rgb(sample_frame(i % cfg.n_frames, cfg).image, 50.0 + i / 30)
            i += 1
            executor.spin_once(timeout_sec=0.02)
        stop = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < stop:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the terminal, then launch, ...
            time.sleep(0.05)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    text = log_path.read_text()
    assert code == 0, f"exit code {code}; log:\n{text[-3000:]}"
    for bad in ("processing failed", "RCLError", "Traceback", "context is invalid"):
        assert bad not in text, text[-3000:]
