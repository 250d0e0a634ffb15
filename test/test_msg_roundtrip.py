# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""FaceParams goes from one process to another over real DDS with every field intact.

The publisher is a separate Python process (``roundtrip_publisher.py``) with the same
environment; this process subscribes with rclpy. The comparison walks
``get_fields_and_field_types()``, so a field added to msg/FaceParams.msg fails here until the
test gives it a distinctive value and it round-trips.
"""

from __future__ import annotations

import array
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

PUBLISHER = pathlib.Path(__file__).with_name("roundtrip_publisher.py")
RECEIVE_TIMEOUT_S = 30.0
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def plain(value: Any) -> Any:
    """Convert a ROS message (or field value) into nested plain Python values.

    Args:
        value: A message, an array (list, array.array, numpy array) or a scalar.

    Returns:
        Dicts for messages (in field order), lists for arrays, Python scalars otherwise.
    """
    if hasattr(type(value), "get_fields_and_field_types"):
        return {name: plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (list, tuple, array.array, np.ndarray)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def leaves(values: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted field path, value) for every non-message field of plain message values.

    Args:
        values: Output of :func:`plain` for a message.
        prefix: Path of ``values`` inside the outer message.

    Yields:
        Pairs such as ``("header.stamp.sec", 12)``; arrays are single leaves.
    """
    for name, value in values.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def expected_message() -> Any:
    """Build a FaceParams with every field set to a distinctive, non-default value.

    Floats are multiples of 1/8 so they are exact in float32 and in JSON.

    Returns:
        The message.
    """
    from face3d_ros.msg import FaceParams

    message = FaceParams()
    message.header.stamp.sec = 1_700_000_123
    message.header.stamp.nanosec = 456_789_000
    message.header.frame_id = "roundtrip_camera_optical_frame"
    message.state = FaceParams.STATE_TRACKING
    message.source = FaceParams.SOURCE_TRACKING
    message.model_id = "face3d-roundtrip-model-v7"
    message.n_vertices = 35_709
    message.n_triangles = 70_789
    message.alpha_id = [0.125 * k - 0.5 for k in range(1, 8)]
    message.alpha_exp = [-0.25 * k for k in range(1, 6)]
    message.alpha_alb = [1.5, -2.25, 0.875]
    message.scale = 2.75
    message.pitch = 0.125
    message.yaw = -0.25
    message.roll = 0.375
    message.tx = 320.5
    message.ty = 240.25
    message.sh_coefficients = [0.5 + k / 8 for k in range(27)]
    message.landmarks_2d = [100.0 + 0.5 * k for k in range(136)]
    message.crop.x_offset = 11
    message.crop.y_offset = 22
    message.crop.height = 333
    message.crop.width = 334
    message.crop.do_rectify = True
    message.confidence = 0.875
    message.image_width = 640
    message.image_height = 480
    message.frames_since_init = 42
    return message


def test_constants() -> None:
    from face3d_ros.msg import FaceParams

    assert (FaceParams.STATE_INITIALISING, FaceParams.STATE_TRACKING, FaceParams.STATE_LOST) == (
        0,
        1,
        2,
    )
    assert (
        FaceParams.SOURCE_NONE,
        FaceParams.SOURCE_SINGLE_IMAGE,
        FaceParams.SOURCE_TRACKING,
    ) == (0, 1, 2)
    assert FaceParams().sh_coefficients.shape == (27,)


def test_every_field_is_distinctive() -> None:
    """Guards the round-trip test: an unset (default) field would round-trip trivially."""
    from face3d_ros.msg import FaceParams

    defaults = dict(leaves(plain(FaceParams())))
    sent = dict(leaves(plain(expected_message())))
    assert sent.keys() == defaults.keys()
    same = [path for path, value in sent.items() if value == defaults[path]]
    assert not same, f"give these fields non-default values in expected_message(): {same}"


def test_package_layout() -> None:
    """Generated msg and hand-written modules import together; sources are linked, not copied."""
    import face3d_ros
    import face3d_ros.msg

    msg_dir = pathlib.Path(face3d_ros.msg.__file__).parent
    assert (msg_dir / "_face_params.py").is_file()
    for module, relative in [
        ("face3d_ros", "face3d_ros/__init__.py"),
        ("face3d_ros.model", "face3d_ros/model/__init__.py"),
    ]:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, f"{module} not importable"
        origin = pathlib.Path(spec.origin)
        assert origin.resolve() == (REPO_ROOT / relative).resolve(), (
            f"{module} imported from {origin}, which is not (a link to) the checkout's file: "
            "edits would not be seen without a rebuild"
        )


def test_roundtrip_between_processes(rclpy_context: Any, tmp_path: pathlib.Path) -> None:
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from face3d_ros.msg import FaceParams

    sent = plain(expected_message())
    values_path = tmp_path / "face_params.json"
    values_path.write_text(json.dumps(sent))
    topic = f"/face3d_roundtrip_{uuid.uuid4().hex}"

    node = rclpy.create_node("face3d_roundtrip_subscriber", context=rclpy_context)
    received: list[Any] = []
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
    )
    node.create_subscription(FaceParams, topic, received.append, qos)
    executor = rclpy.executors.SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)

    publisher = subprocess.Popen(
        [sys.executable, str(PUBLISHER), topic, str(values_path), str(RECEIVE_TIMEOUT_S + 30)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
    finally:
        publisher.terminate()
        try:
            out, err = publisher.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            publisher.kill()
            out, err = publisher.communicate()
        executor.shutdown()
        node.destroy_node()

    assert received, (
        f"no FaceParams on {topic} within {RECEIVE_TIMEOUT_S} s; publisher exit "
        f"{publisher.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    )
    assert publisher.returncode == 0, f"publisher failed:\nstdout:\n{out}\nstderr:\n{err}"

    got = dict(leaves(plain(received[0])))
    want = dict(leaves(sent))
    field_paths = dict(leaves(plain(FaceParams()))).keys()
    assert got.keys() == field_paths
    mismatches = {
        path: (want.get(path), got[path]) for path in field_paths if got[path] != want.get(path)
    }
    assert not mismatches, f"fields changed in transit (sent, received): {mismatches}"
