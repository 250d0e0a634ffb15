# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""tf2_msgs/TFMessage: upstream's type hash, works over DDS, comes from where bootstrap says.

tools/bootstrap.sh builds ros/tf2_msgs only when the venv has no tf2_msgs of its own.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
import uuid
from typing import Any

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"

#: RIHS01 hash of the real tf2_msgs/msg/TFMessage (the same from Humble's definitions to
#: Lyrical's: `ros2 topic info -v /tf` on Jazzy installs, other client libraries' hash tables)
#: and of the geometry_msgs/TransformStamped it contains. Both are also what the rosbags type
#: store computes from the Kilted definitions (checked below).
UPSTREAM_TF_MESSAGE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"
UPSTREAM_TRANSFORM_STAMPED_HASH = (
    "RIHS01_0a241f87d04668d94099cbb5ba11691d5ad32c2f29682e4eb5653424bd275206"
)
RECEIVE_TIMEOUT_S = 20.0


def generated_hash(package: str, name: str) -> str:
    """The RIHS01 hash rosidl generated for ``<package>/msg/<name>`` (share/.../msg/<name>.json)."""
    from ament_index_python.packages import get_package_share_directory

    path = pathlib.Path(get_package_share_directory(package)) / "msg" / f"{name}.json"
    hashes = json.loads(path.read_text())["type_hashes"]
    (entry,) = [h for h in hashes if h["type_name"] == f"{package}/msg/{name}"]
    return entry["hash_string"]


def test_tf_message_has_the_upstream_type_hash() -> None:
    from rosbags.typesys import Stores, get_typestore

    kilted = get_typestore(Stores.ROS2_KILTED)
    assert kilted.hash_rihs01("tf2_msgs/msg/TFMessage") == UPSTREAM_TF_MESSAGE_HASH
    assert (
        kilted.hash_rihs01("geometry_msgs/msg/TransformStamped")
        == UPSTREAM_TRANSFORM_STAMPED_HASH
    )
    # the same geometry_msgs as upstream's, so the TFMessage hash is comparable
    assert generated_hash("geometry_msgs", "TransformStamped") == UPSTREAM_TRANSFORM_STAMPED_HASH
    assert generated_hash("tf2_msgs", "TFMessage") == UPSTREAM_TF_MESSAGE_HASH


def test_tf_message_is_published_and_received_with_its_hash(rclpy_context: Any) -> None:
    import rclpy
    from geometry_msgs.msg import TransformStamped
    from rclpy.executors import SingleThreadedExecutor
    from tf2_msgs.msg import TFMessage

    topic = f"/face3d_tf_test_{uuid.uuid4().hex}"
    node = rclpy.create_node("face3d_tf2_msgs_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    received: list[Any] = []
    try:
        node.create_subscription(TFMessage, topic, received.append, 10)
        publisher = node.create_publisher(TFMessage, topic, 10)
        sent = TransformStamped(child_frame_id="face_7")
        sent.header.frame_id = "camera_optical_frame"
        sent.header.stamp.sec = 42
        sent.transform.translation.z = 0.75
        sent.transform.rotation.w = 1.0
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while not received and time.monotonic() < deadline:
            publisher.publish(TFMessage(transforms=[sent]))
            executor.spin_once(timeout_sec=0.1)
        infos = node.get_publishers_info_by_topic(topic)
    finally:
        executor.shutdown()
        node.destroy_node()
    assert received, f"no TFMessage on {topic} within {RECEIVE_TIMEOUT_S} s"
    assert received[0].transforms == [sent]
    assert [str(info.topic_type_hash) for info in infos] == [UPSTREAM_TF_MESSAGE_HASH]


def test_tf2_msgs_comes_from_ros_only_when_the_venv_has_none() -> None:
    import tf2_msgs

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    venv_has_it = (
        subprocess.run(
            [str(VENV_PYTHON), "-c", "import tf2_msgs.msg"], env=env, capture_output=True
        ).returncode
        == 0
    )
    ours = REPO_ROOT / "install" / "share" / "tf2_msgs" / "package.xml"
    if venv_has_it:
        assert not ours.exists(), "install/ still holds the tf2_msgs built from ros/tf2_msgs"
        assert not pathlib.Path(tf2_msgs.__file__).resolve().is_relative_to(REPO_ROOT)
    else:
        assert ours.read_text() == (REPO_ROOT / "ros/tf2_msgs/package.xml").read_text()
        assert pathlib.Path(tf2_msgs.__file__).is_relative_to(REPO_ROOT / "install")


def test_ros_definition_is_upstreams() -> None:
    # upstream ros2/geometry2 tf2_msgs/msg/TFMessage.msg, unchanged
    text = (REPO_ROOT / "ros/tf2_msgs/msg/TFMessage.msg").read_text()
    assert text == "geometry_msgs/TransformStamped[] transforms\n"
