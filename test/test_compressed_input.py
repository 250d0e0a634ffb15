# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Compressed camera input (issue 14): sensor_msgs/CompressedImage in the node and the replay.

Decoding (``face3d_ros.node.conversions.compressed_to_rgb8``) is tested on its own: JPEG, PNG,
image_transport's ``format`` strings, corrupt data, the ``max_image_pixels`` bound. Then the
acceptance criterion: the same frame as a raw Image and as a JPEG (quality 95) CompressedImage
gives the same FaceParams within JPEG noise, through the node as a process (the transport
switched by its parameter and a re-activation, the topic found by image_transport's rule) and
through the bag replay (the type read from the bag).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/, test_node
    if _path not in sys.path:
        sys.path.insert(0, _path)

import test_node  # noqa: E402  (the node-process helpers; its tests are not collected here)
import test_replay  # noqa: E402
from fixtures.make_test_bag import (  # noqa: E402
    COMPRESSED_TOPIC,
    IMAGE_TOPIC,
    INFO_TOPIC,
    write_sample_bag,
)
from fixtures.stand_ins import FaceLessRecorder  # noqa: E402

from face3d_ros.node import conversions  # noqa: E402
from face3d_ros.node.conversions import (  # noqa: E402
    FrameInfo,
    ImageConverter,
    compressed_size,
    compressed_to_rgb8,
    numpy_to_image,
    rgb8_to_compressed,
    transport_topic,
)

#: Fixtures shared with the node and replay tests: model + weights for the node process, and
#: replay parameters selecting them.
assets = test_node.assets
params = test_replay.params

#: Differences accepted between the FaceParams of a raw frame and of its JPEG (quality 95), on
#: faces about 100 px across. Measured with the shipped nets: landmarks 0.3-1.8 px apart on
#: average, at most 1.5-3.0 px; yaw 0.03 rad, other angles 0.012; tx, ty 1.5 px; scale 1.8 %;
#: coefficients 0.35 standard deviations.
LANDMARK_MAX_PX = 4.0
LANDMARK_MEAN_PX = 2.5
ANGLE_TOL_RAD = 0.06
SHIFT_TOL_PX = 3.0
SCALE_TOL = 0.04
COEFF_TOL = 0.6


def _frame(width: int = 320, height: int = 240) -> np.ndarray:
    """The first 320x240 sample frame with the bundled face (RGB uint8), resized if asked."""
    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    cfg = SampleSequenceConfig(n_frames=1, width=320, height=240, faceless_start=-1,
                               base_scale=1.0)
    image = sample_frame(0, cfg).image
    if (width, height) != (320, 240):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def _msg(data: bytes, fmt: str) -> Any:
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    msg.format = fmt
    msg.data = data
    return msg


def _encode(array: np.ndarray, ext: str, *options: int) -> bytes:
    ok, data = cv2.imencode(ext, array, list(options))
    assert ok
    return data.tobytes()


# ------------------------------------------------------------------ decoding


def test_jpeg_decodes_to_the_raw_paths_rgb_within_jpeg_noise() -> None:
    rgb = _frame()
    msg = rgb8_to_compressed(rgb, "jpeg", quality=95)
    assert msg.format == "rgb8; jpeg compressed bgr8"  # as image_transport's plugin writes it
    assert bytes(msg.data[:3]) == b"\xff\xd8\xff"
    out = compressed_to_rgb8(msg)
    raw = ImageConverter("never").to_rgb8(numpy_to_image(rgb, "rgb8"))
    assert out.shape == raw.shape == (240, 320, 3) and out.dtype == np.uint8
    assert out.flags["C_CONTIGUOUS"]
    err = np.abs(out.astype(np.int16) - raw.astype(np.int16))
    assert err.mean() < 2.5, err.mean()
    # channel order: swapping R and B would be far off on this photo
    assert np.abs(out[..., ::-1].astype(np.int16) - raw).mean() > 4 * err.mean()
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    got = compressed_to_rgb8(rgb8_to_compressed(red, "jpeg")).reshape(-1, 3).mean(axis=0)
    assert got[0] > 240 and got[1] < 15 and got[2] < 15, got


def test_png_is_lossless_and_grey_16bit_alpha_are_converted() -> None:
    rgb = _frame(64, 48)
    msg = rgb8_to_compressed(rgb, "png")
    assert msg.format == "rgb8; png compressed bgr8"
    assert np.array_equal(compressed_to_rgb8(msg), rgb)
    grey = rgb[..., 1].copy()
    out = compressed_to_rgb8(_msg(_encode(grey, ".png"), "mono8; png compressed mono8"))
    assert np.array_equal(out, np.repeat(grey[..., None], 3, axis=2))
    deep = (grey.astype(np.uint16) << 8) | 0x7F  # mono16: the high byte is kept, as raw mono16
    out16 = compressed_to_rgb8(_msg(_encode(deep, ".png"), "mono16; png compressed mono16"))
    raw16 = ImageConverter("never").to_rgb8(numpy_to_image(deep, "mono16"))
    assert np.array_equal(out16, raw16)
    bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 9, np.uint8)])
    out4 = compressed_to_rgb8(_msg(_encode(bgra, ".png"), "bgra8; png compressed bgra8"))
    assert np.array_equal(out4, rgb)


@pytest.mark.parametrize(
    ("fmt", "stored"),
    [
        ("jpeg", "bgr"), ("jpg", "bgr"), ("JPEG", "bgr"), ("png", "bgr"),
        ("rgb8; jpeg compressed bgr8", "bgr"), ("bgr8; jpeg compressed bgr8", "bgr"),
        ("rgb8; png compressed bgr8", "bgr"), ("bgr8; png compressed bgr8", "bgr"),
        ("rgb8; png compressed rgb8", "rgb"), ("rgb8; jpeg compressed rgb8", "rgb"),
        ("bgra8; png compressed rgba8", "rgb"),
    ],
)
def test_format_strings_give_rgb(fmt: str, stored: str) -> None:
    """Channel order as image_transport's compressed subscriber reads ``format``."""
    rgb = _frame(64, 48)
    pixels = rgb[..., ::-1] if stored == "bgr" else rgb  # what OpenCV's encoder was given
    ext = ".png" if "png" in fmt.lower() else ".jpg"
    out = compressed_to_rgb8(_msg(_encode(np.ascontiguousarray(pixels), ext), fmt))
    tol = 0 if ext == ".png" else 3.0
    assert np.abs(out.astype(np.int16) - rgb).mean() <= tol


@pytest.mark.parametrize(
    "fmt", ["", "tiff", "16UC1; compressedDepth png", "rgb8; theora compressed bgr8", "x" * 500]
)
def test_unsupported_formats_are_refused(fmt: str) -> None:
    data = _encode(_frame(32, 24)[..., ::-1], ".png")
    with pytest.raises(ValueError, match="unsupported compressed image format") as info:
        compressed_to_rgb8(_msg(data, fmt))
    assert len(str(info.value)) < 250  # the sender's text is quoted cut short


def test_corrupt_data_is_a_clear_value_error() -> None:
    rgb = _frame(64, 48)
    jpeg = bytes(rgb8_to_compressed(rgb, "jpeg").data)
    png = bytes(rgb8_to_compressed(rgb, "png").data)
    noise = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    cases = {
        "not JPEG data": (noise, "jpeg"),
        "not PNG data": (jpeg, "png"),
        "truncated JPEG data": (jpeg[: len(jpeg) // 2], "rgb8; jpeg compressed bgr8"),
        "corrupt JPEG data": (jpeg[:2] + b"\xff\xc4\x00\x01" + jpeg[2:], "jpeg"),
        "corrupt PNG data": (png[: len(png) // 2], "png"),
    }
    bad_crc = bytearray(png)
    bad_crc[60] ^= 0xFF  # inside IDAT: libpng's CRC check fails
    cases["corrupt PNG data "] = (bytes(bad_crc), "png")
    for needle, (data, fmt) in cases.items():
        with pytest.raises(ValueError, match=needle.strip()):
            compressed_to_rgb8(_msg(data, fmt))
    with pytest.raises(ValueError, match="corrupt JPEG data .*: no frame header"):
        compressed_to_rgb8(_msg(b"\xff\xd8\xff\xd9" + bytes(8), "jpeg"))  # SOI, EOI
    with pytest.raises(ValueError, match="truncated JPEG data .*ends before its frame header"):
        compressed_to_rgb8(_msg(jpeg[:40], "jpeg"))
    with pytest.raises(ValueError, match="not PNG data"):
        compressed_to_rgb8(_msg(b"", "png"))
    with pytest.raises(ValueError, match="zero-size image: width=0 height=48"):
        compressed_to_rgb8(_msg(png[:16] + bytes(4) + png[20:], "png"))
    assert compressed_size(jpeg, "jpeg") == compressed_size(png, "png") == (64, 48)


def test_oversize_is_refused_before_and_after_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = rgb8_to_compressed(_frame(), "jpeg")
    assert compressed_to_rgb8(msg, max_pixels=320 * 240).shape == (240, 320, 3)

    def no_decode(*args: Any) -> None:
        raise AssertionError("decoded although the header is over the bound")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    with pytest.raises(ValueError, match=r"image too large: 320x240 = 76800 pixels > "
                                         r"max_image_pixels 76799"):
        compressed_to_rgb8(msg, max_pixels=320 * 240 - 1)
    # a PNG header announcing 100000 x 100000 pixels with no data behind it: refused at once
    png = bytes(rgb8_to_compressed(_frame(32, 24), "png").data)
    huge = png[:16] + (100_000).to_bytes(4, "big") * 2 + png[24:40]
    with pytest.raises(ValueError, match="image too large: 100000x100000"):
        ImageConverter("never", max_pixels=4096 * 4096).decode(_msg(huge, "png"))
    # a decoder that returns more than the header said: refused after decoding
    monkeypatch.setattr(cv2, "imdecode", lambda *a: np.zeros((480, 640, 3), np.uint8))
    with pytest.raises(ValueError, match="image too large: 640x480"):
        compressed_to_rgb8(msg, max_pixels=320 * 240)
    with pytest.raises(ValueError, match=r"decoded 640x480, its header says 320x240"):
        compressed_to_rgb8(msg)


def test_converter_decode_gives_header_and_size_like_the_raw_path() -> None:
    from face3d_ros.node.sample_player import make_header

    header = make_header(12.25, "cam_frame")
    rgb = _frame(64, 48)
    conv = ImageConverter("never", max_pixels=10_000)
    out, info = conv.decode(rgb8_to_compressed(rgb, "png", header))
    assert isinstance(info, FrameInfo) and (info.width, info.height) == (64, 48)
    assert info.header.stamp.sec == 12 and info.header.stamp.nanosec == 250_000_000
    assert info.header.frame_id == "cam_frame"
    raw = numpy_to_image(rgb, "rgb8", header)
    out_raw, info_raw = conv.decode(raw)
    assert info_raw is raw and np.array_equal(out, out_raw)
    with pytest.raises(ValueError, match="image too large"):
        ImageConverter("never", max_pixels=100).decode(rgb8_to_compressed(rgb, "jpeg"))


def test_topic_rule_and_parameter() -> None:
    from face3d_ros.node.parameters import PARAMETERS, validate

    assert transport_topic("/camera/color/image_raw", "compressed") == (
        "/camera/color/image_raw/compressed")
    assert transport_topic("/camera/color/image_raw", "raw") == "/camera/color/image_raw"
    with pytest.raises(ValueError, match="raw, compressed"):
        transport_topic("/cam", "theora")
    spec = {p.name: p for p in PARAMETERS}["image_transport"]
    assert spec.default == "raw" and spec.choices == conversions.IMAGE_TRANSPORTS
    assert validate("image_transport", "compressed") is None
    assert "must be one of raw, compressed" in validate("image_transport", "theora")


def test_demo_starts_the_node_on_the_compressed_topic() -> None:
    from face3d_ros.node.demo import IMAGE_TOPIC as DEMO_TOPIC
    from face3d_ros.node.demo import node_command

    raw = node_command(pathlib.Path("p.yaml"))
    assert "image_transport:=compressed" not in raw
    assert f"qos_overrides.{DEMO_TOPIC}.subscription.reliability:=reliable" in raw
    cmd = node_command(pathlib.Path("p.yaml"), ["-p", "use_fine:=false"], "compressed")
    assert cmd[cmd.index("image_transport:=compressed") - 1] == "-p"
    assert f"image:={DEMO_TOPIC}" in cmd  # the base topic is remapped, the rule adds the suffix
    assert f"qos_overrides.{DEMO_TOPIC}/compressed.subscription.reliability:=reliable" in cmd
    assert cmd[-2:] == ["-p", "use_fine:=false"]


# ------------------------------------------------------------------ FaceParams: raw vs JPEG


def _assert_close_landmarks(la: np.ndarray, lb: np.ndarray) -> None:
    la, lb = np.asarray(la).reshape(-1, 2), np.asarray(lb).reshape(-1, 2)
    assert la.shape == lb.shape and la.size
    assert np.abs(la - lb).max() < LANDMARK_MAX_PX, np.abs(la - lb).max()
    assert np.linalg.norm(la - lb, axis=1).mean() < LANDMARK_MEAN_PX


def _assert_same_face_params(a: Any, b: Any) -> None:
    """``b`` (from JPEG) equals ``a`` (from the raw image) within JPEG noise."""
    assert (a.state, a.source) == (b.state, b.source) == (1, 1), (a.state, b.state)
    assert (a.image_width, a.image_height) == (b.image_width, b.image_height)
    la = np.asarray(a.landmarks_2d).reshape(-1, 2)
    lb = np.asarray(b.landmarks_2d).reshape(-1, 2)
    assert la.shape == lb.shape == (68, 2)
    _assert_close_landmarks(la, lb)
    for angle in ("pitch", "yaw", "roll"):
        assert abs(getattr(a, angle) - getattr(b, angle)) < ANGLE_TOL_RAD, angle
    assert abs(a.tx - b.tx) < SHIFT_TOL_PX and abs(a.ty - b.ty) < SHIFT_TOL_PX
    assert abs(a.scale - b.scale) < SCALE_TOL * a.scale
    for coeffs in ("alpha_id", "alpha_exp"):
        ca, cb = np.asarray(getattr(a, coeffs)), np.asarray(getattr(b, coeffs))
        assert ca.shape == cb.shape and np.abs(ca - cb).max() < COEFF_TOL, coeffs


def _lifecycle(node: Any, executor: Any, transition: int) -> None:
    from lifecycle_msgs.srv import ChangeState

    client = node.create_client(ChangeState, "/face3d_node/change_state")
    assert client.wait_for_service(timeout_sec=10.0)
    req = ChangeState.Request()
    req.transition.id = transition
    future = client.call_async(req)
    executor.spin_until_future_complete(future, timeout_sec=60.0)
    assert future.done() and future.result().success, f"transition {transition} failed"


def _set_parameter(node: Any, executor: Any, name: str, value: str) -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    client = node.create_client(SetParameters, "/face3d_node/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)
    value_msg = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    future = client.call_async(SetParameters.Request(parameters=[Parameter(name=name,
                                                                           value=value_msg)]))
    executor.spin_until_future_complete(future, timeout_sec=10.0)
    assert future.done() and future.result().results[0].successful, future.result()


def test_node_compressed_input_gives_the_raw_face_params(
    assets: list[str], tmp_path: pathlib.Path
) -> None:
    """Raw frame -> FaceParams; image_transport:=compressed + re-activation; JPEG -> same."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from rclpy.executors import SingleThreadedExecutor

    from face3d_ros.node.sample_player import SamplePlayer

    spin, base = test_node._spin_until, test_node.IMAGE_TOPIC
    log_path = tmp_path / "node.log"
    proc = test_node._start_node(["-p", "min_confidence:=0.0", *assets], log_path)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("face3d_compressed_driver", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    raw_player = SamplePlayer(node, base, test_node.INFO_TOPIC, focal_px=500.0)
    jpeg_player = SamplePlayer(node, base, None, transport="compressed", quality=95)
    collector = test_node._Collector(node)
    ros = {"proc": proc, "node": node, "executor": executor, "player": raw_player,
           "out": collector, "log": log_path}
    try:
        ok = spin(executor, raw_player.subscribers_ready, 90.0, proc)
        assert ok, f"node did not subscribe; log:\n{log_path.read_text()[-3000:]}"
        rgb = _frame()
        from_raw = test_node._send(ros, rgb, 500.0)
        assert from_raw is not None, log_path.read_text()[-3000:]

        _set_parameter(node, executor, "image_transport", "compressed")
        _lifecycle(node, executor, Transition.TRANSITION_DEACTIVATE)
        _lifecycle(node, executor, Transition.TRANSITION_ACTIVATE)  # a fresh tracker
        assert spin(executor, jpeg_player.subscribers_ready, 30.0, proc)
        assert spin(executor, lambda: not raw_player.subscribers_ready(), 10.0, proc)
        ros["player"] = jpeg_player
        from_jpeg = test_node._send(ros, rgb, 501.0)
        assert from_jpeg is not None, log_path.read_text()[-3000:]
        assert (from_jpeg.header.stamp.sec, from_jpeg.header.stamp.nanosec) == (501, 0)
        assert from_jpeg.header.frame_id == from_raw.header.frame_id == "camera_optical_frame"
        _assert_same_face_params(from_raw, from_jpeg)
        key = (501, 0)
        assert spin(executor, lambda: key in collector.by_topic["/overlay"], 10.0, proc)
        overlay = collector.by_topic["/overlay"][key]
        assert (overlay.width, overlay.height) == (320, 240)

        # a corrupt frame is a rejected (bad) frame; the node goes on
        from face3d_ros.node.sample_player import make_header

        cut = rgb8_to_compressed(rgb, "jpeg", make_header(502.0))
        cut.data = bytes(cut.data)[: len(cut.data) // 3]
        jpeg_player.publish_raw(cut)
        spin(executor, lambda: False, 0.5)
        assert test_node._send(ros, rgb, 503.0) is not None, "node stopped after a corrupt frame"
        assert (502, 0) not in collector.by_topic["/face_params"]
        log = log_path.read_text()
        topic = transport_topic(base, "compressed")
        assert f"image input: compressed (CompressedImage on {topic})" in log, log[-3000:]
        assert "rejected image (stamp 502.000000000): truncated JPEG data" in log, log[-3000:]
        assert proc.poll() is None
    finally:
        test_node._stop(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_replay_compressed_bag_gives_the_raw_face_params(
    params: dict, tmp_path: pathlib.Path
) -> None:
    """The same 4 frames as raw, JPEG and PNG bags: the same FaceParams (JPEG: within noise)."""
    from rosbags.highlevel import AnyReader

    from face3d_ros.node.replay import replay_bag

    stamps = write_sample_bag(tmp_path / "raw", 4, encoding="rgb8")
    assert write_sample_bag(tmp_path / "jpeg", 4, compression="jpeg", quality=95) == stamps
    assert write_sample_bag(tmp_path / "png", 4, compression="png") == stamps
    outputs = {}
    for name, topic in (("raw", IMAGE_TOPIC), ("jpeg", COMPRESSED_TOPIC),
                        ("png", COMPRESSED_TOPIC)):
        summary = replay_bag(tmp_path / name, tmp_path / f"out_{name}", topic,
                             camera_info_topic=INFO_TOPIC, params=params, progress=False)
        assert summary["frames"] == 4 and summary["bad_frames"] == 0, summary
        found: dict[int, Any] = {}
        with AnyReader([tmp_path / f"out_{name}"]) as reader:
            types = {c.topic: c.msgtype for c in reader.connections}
            for conn, _, raw in reader.messages():
                if conn.topic == "/face3d/face_params":
                    msg = reader.deserialize(raw, conn.msgtype)
                    found[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = msg
        assert types[topic] == ("sensor_msgs/msg/Image" if name == "raw"
                                else "sensor_msgs/msg/CompressedImage")  # input copied as is
        assert sorted(found) == stamps
        outputs[name] = found
    states = [outputs["raw"][s].state for s in stamps]
    assert states == [outputs["jpeg"][s].state for s in stamps]
    assert states[0] == 1 and outputs["raw"][stamps[0]].source == 1, states
    _assert_same_face_params(outputs["raw"][stamps[0]], outputs["jpeg"][stamps[0]])
    for s in stamps[1:]:  # tracked frames: landmarks still within JPEG noise
        a, b = outputs["raw"][s], outputs["jpeg"][s]
        assert a.state == b.state == 1 and a.source == b.source
        _assert_close_landmarks(a.landmarks_2d, b.landmarks_2d)
        assert (b.image_width, b.image_height) == (320, 240)
    # PNG is lossless: the same pixels, so exactly the same FaceParams as the raw bag
    for s in stamps:
        a, b = outputs["raw"][s], outputs["png"][s]
        assert (a.state, a.source, a.image_width, a.image_height) == (
            b.state, b.source, b.image_width, b.image_height)
        assert np.array_equal(a.landmarks_2d, b.landmarks_2d) and a.yaw == b.yaw
        assert np.array_equal(a.alpha_id, b.alpha_id) and a.scale == b.scale


def test_replay_counts_corrupt_compressed_frames(tmp_path: pathlib.Path) -> None:
    """A truncated and a PNG-in-a-jpeg-format message are bad frames; the others go through."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.node.replay import replay_bag
    from face3d_ros.node.sample_player import make_header

    store = get_typestore(Stores.ROS2_KILTED)
    messages = []
    for i in range(4):
        img = np.full((8, 12, 3), 40 * i, np.uint8)
        messages.append(rgb8_to_compressed(img, "png", make_header(i)))
    cut = rgb8_to_compressed(np.zeros((8, 12, 3), np.uint8), "jpeg", make_header(4))
    cut.data = bytes(cut.data)[:40]
    wrong = rgb8_to_compressed(np.zeros((8, 12, 3), np.uint8), "png", make_header(5))
    wrong.format = "jpeg"
    messages += [cut, wrong]
    with Writer(tmp_path / "in", version=9) as writer:
        conn = writer.add_connection(COMPRESSED_TOPIC, "sensor_msgs/msg/CompressedImage",
                                     typestore=store)
        for k, msg in enumerate(messages):
            writer.write(conn, 1_000_000 * k, serialize_message(msg))

    logged: list[str] = []
    rec = FaceLessRecorder(lambda rgb: (int(rgb[0, 0, 0]), rgb.shape))
    summary = replay_bag(tmp_path / "in", tmp_path / "out", COMPRESSED_TOPIC, tracker=rec,
                         model_data=make_synthetic_model(), progress=False, log=logged.append)
    assert rec.seen == [(40 * i, (8, 12, 3)) for i in range(4)]
    assert summary["frames"] == 6 and summary["bad_frames"] == 2, summary
    text = "\n".join(logged)
    assert "truncated JPEG data" in text and "not JPEG data" in text, text
