# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Publisher process of test_msg_roundtrip: publish one FaceParams over DDS until stopped.

Usage: ``python roundtrip_publisher.py TOPIC VALUES_JSON [TIMEOUT_S]``. VALUES_JSON holds the
message as nested plain values (field name -> value, lists for arrays, dicts for nested messages).
The message is published every 50 ms with reliable QoS until the process is terminated or
TIMEOUT_S (default 60) passes; a timeout exits with status 3.
"""

from __future__ import annotations

import json
import pathlib
import signal
import sys
import time
from typing import Any


def fill_message(message: Any, values: dict[str, Any]) -> Any:
    """Set the fields of a ROS message from nested plain values.

    Args:
        message: A ROS message instance (modified in place).
        values: Field name -> value; nested messages as dicts, arrays as lists.

    Returns:
        ``message``.

    Raises:
        KeyError: If ``values`` names a field the message does not have.
    """
    fields = message.get_fields_and_field_types()
    for name, value in values.items():
        if name not in fields:
            raise KeyError(f"{type(message).__name__} has no field {name!r}")
        current = getattr(message, name)
        if hasattr(type(current), "get_fields_and_field_types"):
            fill_message(current, value)
        else:
            setattr(message, name, value)
    return message


def main(argv: list[str]) -> int:
    """Publish the message given on the command line until terminated.

    Args:
        argv: ``[TOPIC, VALUES_JSON, TIMEOUT_S?]``.

    Returns:
        Process exit status.
    """
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    from face3d_ros.msg import FaceParams

    topic, values_path = argv[0], pathlib.Path(argv[1])
    timeout_s = float(argv[2]) if len(argv) > 2 else 60.0
    message = fill_message(FaceParams(), json.loads(values_path.read_text()))

    stop = {"requested": False}

    def on_signal(signum: int, frame: object) -> None:
        del signum, frame
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    rclpy.init(args=None)
    node = rclpy.create_node("face3d_roundtrip_publisher")
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
    )
    publisher = node.create_publisher(FaceParams, topic, qos)
    print("publishing", flush=True)
    deadline = time.monotonic() + timeout_s
    status = 3
    while time.monotonic() < deadline:
        if stop["requested"]:
            status = 0
            break
        publisher.publish(message)
        time.sleep(0.05)
    node.destroy_node()
    rclpy.shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
