# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Publish the bundled sample sequence (face3d_ros.sample_data) as Image + CameraInfo.

With ``transport="compressed"`` the frames go out as JPEG sensor_msgs/CompressedImage on
``<image topic>/compressed`` (image_transport's rule), as a camera driver with
image_transport's compressed plugin publishes them.

Used by the demo (fixed rate) and by the node tests (lock-step: the next frame is sent once the
node answered the previous one, so every frame is processed however slow the machine is).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from face3d_ros.node.conversions import (
    IMAGE_TRANSPORTS,
    numpy_to_image,
    rgb8_to_compressed,
    transport_topic,
)

__all__ = ["SamplePlayer", "camera_info_for", "make_header"]

#: Frame id used for the sample camera (also the rviz config's fixed frame).
SAMPLE_FRAME_ID = "camera_optical_frame"


def make_header(stamp_s: float, frame_id: str = SAMPLE_FRAME_ID) -> Header:
    """A Header with a stamp in seconds (non-negative)."""
    ns = int(round(stamp_s * 1e9))
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
                  frame_id=frame_id)


def camera_info_for(header: Header, width: int, height: int, focal_px: float) -> CameraInfo:
    """Ideal pinhole CameraInfo (principal point at the centre, no distortion)."""
    info = CameraInfo()
    info.header = header
    info.width, info.height = width, height
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [focal_px, 0.0, cx, 0.0, focal_px, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [focal_px, 0.0, cx, 0.0, 0.0, focal_px, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class SamplePlayer:
    """Publishers for a camera: ``image_topic`` (rgb8 by default) and ``camera_info_topic``.

    Args:
        node: an rclpy node owned by the caller.
        image_topic: Image topic (the base topic for the compressed transport).
        camera_info_topic: CameraInfo topic, or None to publish no CameraInfo.
        focal_px: focal length written into CameraInfo.
        transport: ``raw`` (sensor_msgs/Image on ``image_topic``) or ``compressed`` (JPEG
            sensor_msgs/CompressedImage on ``image_topic + "/compressed"``).
        quality: JPEG quality of the compressed transport.

    Attributes:
        last_message: the image message published last (None before the first).
    """

    def __init__(
        self,
        node: Any,
        image_topic: str = "/camera/image_raw",
        camera_info_topic: str | None = "/camera/camera_info",
        focal_px: float = 600.0,
        *,
        transport: str = "raw",
        quality: int = 95,
    ) -> None:
        qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
        self.node = node
        self.transport = transport
        self.quality = quality
        self.last_message: Any = None
        image_type = Image if transport == "raw" else CompressedImage
        self.image_pub = node.create_publisher(
            image_type, transport_topic(image_topic, transport), qos
        )
        self.info_pub = (
            node.create_publisher(CameraInfo, camera_info_topic, qos)
            if camera_info_topic
            else None
        )
        self.focal_px = focal_px

    def subscribers_ready(self) -> bool:
        """True when someone (the node) subscribes to the image topic."""
        return self.image_pub.get_subscription_count() > 0

    def publish_rgb(self, rgb: np.ndarray, stamp_s: float, encoding: str = "rgb8") -> Header:
        """Publish one RGB frame (as ``encoding``) and its CameraInfo; returns the header.

        The compressed transport publishes JPEG (``encoding`` must be rgb8 there).
        """
        header = make_header(stamp_s)
        if encoding == "rgb8":
            arr = rgb
        elif encoding == "bgr8" and self.transport == "raw":
            arr = rgb[..., ::-1]
        else:
            raise ValueError(f"SamplePlayer publishes rgb8 or bgr8 (raw), not {encoding!r}")
        height, width = rgb.shape[:2]
        if self.info_pub is not None:
            self.info_pub.publish(camera_info_for(header, width, height, self.focal_px))
        if self.transport == "raw":
            msg = numpy_to_image(arr, encoding, header)
        else:
            msg = rgb8_to_compressed(arr, "jpeg", header, quality=self.quality)
        self.image_pub.publish(msg)
        self.last_message = msg
        return header

    def publish_raw(self, msg: Image | CompressedImage) -> None:
        """Publish an arbitrary (possibly malformed, for tests) message of the transport's type."""
        self.image_pub.publish(msg)


def main(argv: list[str] | None = None) -> int:
    """Fake camera: publish the sample sequence at a fixed rate (``--loop`` to repeat).

    Example:
        python -m face3d_ros.node.sample_player --rate 10 --loop
    """
    import argparse
    import sys
    import time

    import rclpy
    from rclpy.utilities import remove_ros_args

    from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

    argv = list(sys.argv if argv is None else argv)
    ap = argparse.ArgumentParser(prog="face3d-sample-camera", description=main.__doc__)
    ap.add_argument("--image-topic", default="/camera/image_raw")
    ap.add_argument("--camera-info-topic", default="/camera/camera_info")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--transport", choices=IMAGE_TRANSPORTS, default="raw",
                    help="compressed: JPEG CompressedImage on <image topic>/compressed")
    args = ap.parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = rclpy.create_node("face3d_sample_camera")
    player = SamplePlayer(node, args.image_topic, args.camera_info_topic or None,
                          transport=args.transport)
    cfg = SampleSequenceConfig(n_frames=args.frames, fps=args.rate)
    t0 = time.time()
    try:
        i = 0
        while rclpy.ok() and (args.loop or i < args.frames):
            rgb = sample_frame(i % args.frames, cfg).image
            player.publish_rgb(rgb, t0 + i / args.rate)
            i += 1
            rclpy.spin_once(node, timeout_sec=max(0.0, t0 + i / args.rate - time.time()))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
