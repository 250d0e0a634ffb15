# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``face3d_node``: the lifecycle node wrapping the ROS-free tracking pipeline.

Lifecycle:
    * ``__init__``: declares parameters (with descriptors and validation).
    * ``on_configure``: creates the (lifecycle) publishers.
    * ``on_activate``: loads the face model and the network weights, subscribes to ``image``
      (sensor_msgs/CompressedImage on ``<image>/compressed`` with ``image_transport:
      compressed``) and ``camera_info``. Missing or corrupt files -> logged error, FAILURE
      (the node stays inactive and keeps running; fix the files and activate again).
    * ``on_deactivate`` / ``on_cleanup``: unsubscribe and free the tracker / publishers.
    * ``autostart`` (default true): configure + activate on start, since there is no
      lifecycle manager here (launch_ros' LifecycleNode can still drive it when autostart is
      false).

Threading: the image callback only stores the newest message (counting those it replaces as
dropped) and wakes the node's own inference thread (started on activate, joined on
deactivate), so the executor stays free for parameter and lifecycle services. Inference used to
run as a guard-condition callback in a MutuallyExclusive callback group of the
MultiThreadedExecutor; while that callback was busy the executor's wait loop spun (about 2,000
wake-ups a second measured here, one core of Python holding the GIL), which roughly doubled the
in-node latency on two cores. With inference on its own thread no callback blocks, so one
executor thread is enough: the SingleThreadedExecutor, since rclpy's MultiThreadedExecutor's
threads competed with the inference thread for the GIL (measured figures in docs/node.md,
"Threading and dropping").
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from tf2_msgs.msg import TFMessage

from face3d_ros.node.builders import (
    CameraIntrinsics,
    ModelInfo,
    build_diagnostics,
    choose_intrinsics,
    published_state,
)
from face3d_ros.node.camera_info import CameraInfoSource
from face3d_ros.node.conversions import ImageConverter, transport_topic
from face3d_ros.node.frame_outputs import FrameOutputs
from face3d_ros.node.log_throttle import LogThrottle
from face3d_ros.node.parameters import (
    NodeParams,
    declare_parameters,
    invalid_parameters,
    multi_face_config,
)
from face3d_ros.node.stats import FrameStats
from face3d_ros.node.topics import OUTPUT_TYPES, TF_TOPIC, message_class
from face3d_ros.node.tracking import TrackerLoadError, load_tracker

__all__ = ["Face3dNode", "main", "sensor_qos"]


def sensor_qos() -> QoSProfile:
    """Newest frame only: best effort, volatile, KEEP_LAST depth 1 (sensor data, depth 1).

    A new object each time: QoS overrides from parameters modify the profile in place.
    """
    return QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=QoSReliabilityPolicy.BEST_EFFORT,
        durability=QoSDurabilityPolicy.VOLATILE,
    )


#: Outputs: reliable, depth 5 (compatible with reliable and best-effort subscribers).
OUTPUT_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST, depth=5, reliability=QoSReliabilityPolicy.RELIABLE
)
#: ``/tf``: what tf2_ros' TransformBroadcaster uses (reliable, volatile, depth 100).
TF_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST, depth=100, reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.VOLATILE,
)


class Face3dNode(LifecycleNode):
    """Dense 3D face reconstruction node (see the module docstring and docs/node.md)."""

    def __init__(
        self, node_name: str = "face3d_node", *, startup_args: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Declare parameters; nothing is loaded or subscribed before configure/activate.

        ``startup_args`` (default ``sys.argv``) are searched for start-up parameter values
        that rcl would drop silently; those and the values rclpy refuses are reported at
        configure (FAILURE) instead of ending the process.
        """
        super().__init__(node_name, **kwargs)
        self._startup_problems = declare_parameters(
            self, sys.argv if startup_args is None else startup_args
        )
        self._io_group = MutuallyExclusiveCallbackGroup()
        self._lock = threading.Lock()
        self._pending: Image | CompressedImage | None = None
        self._stats = FrameStats()
        self._pubs: dict[str, Any] = {}
        self._diag_pub = None
        self._diag_timer = None
        self._image_sub = None
        self._camera_info: CameraInfoSource | None = None
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._stop_worker = False
        self._tracker = None
        self._outputs: FrameOutputs | None = None
        self._tf_pub = None
        self._model_info: ModelInfo | None = None
        self._converter: ImageConverter | None = None
        self._warned_no_camera_info = False
        self._log_throttle = LogThrottle()
        self._state_name = "UNCONFIGURED"

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the publishers and the image decoder."""
        reasons = [*self._startup_problems.values(), *invalid_parameters(self)]
        if reasons:
            for reason in reasons:
                self.get_logger().error(f"invalid parameter: {reason}")
            self.get_logger().error(
                "not configured: fix the parameters (ros2 param set, or the start-up values) "
                "and configure again"
            )
            return TransitionCallbackReturn.FAILURE
        p = NodeParams.from_node(self)
        try:
            self._converter = ImageConverter(p.use_cv_bridge, p.max_image_pixels)
        except ImportError as exc:
            self.get_logger().error(f"use_cv_bridge=always but {exc}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f"image decoding: {self._converter.backend} ({self._converter.note})"
        )
        self._pubs = {
            name: self.create_lifecycle_publisher(message_class(kind), name, OUTPUT_QOS)
            for name, kind in OUTPUT_TYPES
        }
        self._tf_pub = self.create_lifecycle_publisher(TFMessage, TF_TOPIC[0], TF_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(
            p.diagnostics_period, self._publish_diagnostics, callback_group=self._io_group
        )
        self._state_name = "INACTIVE"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load model + weights and subscribe; FAILURE with a logged reason when they are bad."""
        p = NodeParams.from_node(self)
        try:
            tracker, model_data = load_tracker(p)
        except TrackerLoadError as exc:
            self.get_logger().error(f"cannot activate: {exc}")
            self._state_name = "INACTIVE (load failed)"
            return TransitionCallbackReturn.FAILURE
        try:
            tracker.warmup()  # JIT compilation and allocations before the first frame
        except Exception as exc:  # a net that cannot run is a load failure, not a frame error
            self.get_logger().error(f"cannot activate: warm-up failed: {type(exc).__name__}: {exc}")
            self._state_name = "INACTIVE (load failed)"
            return TransitionCallbackReturn.FAILURE
        from face3d_ros.pipeline.multi import MultiFaceTracker

        self._tracker = MultiFaceTracker(tracker, multi_face_config(p))
        self._model_info = ModelInfo.from_model_data(model_data)
        self._outputs = FrameOutputs(self._model_info)
        self.get_logger().info(
            f"loaded model {self._model_info.model_id!r} ({self._model_info.n_vertices} vertices),"
            f" backend {p.backend} on {p.device}"
        )
        with self._lock:
            self._stop_worker = False
        self._worker = threading.Thread(target=self._inference_loop, name="face3d_inference",
                                        daemon=True)
        self._worker.start()
        # image_transport's rule: the compressed stream is <resolved image topic>/compressed
        image_type, image_topic = (Image, "image") if p.image_transport == "raw" else (
            CompressedImage, transport_topic(self.resolve_topic_name("image"), "compressed"))
        self._image_sub = self.create_subscription(
            image_type, image_topic, self._on_image, sensor_qos(),
            callback_group=self._io_group,
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self.get_logger().info(
            f"image input: {p.image_transport} ({image_type.__name__} on "
            f"{self._image_sub.topic_name})"
        )
        self._camera_info = CameraInfoSource(self, "camera_info", sensor_qos(), self._io_group)
        self.get_logger().info(f"CameraInfo lookup: {self._camera_info.backend}")
        self._stats.reset()
        self._state_name = "ACTIVE"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and free the tracker (networks, model)."""
        self._release_inputs()
        self._tracker = None
        self._state_name = "INACTIVE"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers."""
        self._release_outputs()
        self._state_name = "UNCONFIGURED"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        self._release_inputs()
        self._tracker = None
        self._release_outputs()
        self._state_name = "FINALIZED"
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self.get_logger().error("error during a transition; releasing resources")
        return self.on_shutdown(state)

    def _release_inputs(self) -> None:
        # The frame in flight finishes first, with its CameraInfo source still there (no
        # spurious "no CameraInfo" warning); then the subscriptions go.
        self._stop_inference_thread()
        if self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None
        if self._camera_info is not None:
            self._camera_info.destroy()
            self._camera_info = None
        with self._lock:
            self._pending = None  # one may have arrived while the thread was stopping

    def _stop_inference_thread(self) -> None:
        """Drop the pending frame, stop the inference thread and wait for its current frame."""
        with self._lock:
            self._pending = None
            self._stop_worker = True
            self._wake.notify_all()
        worker, self._worker = self._worker, None
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    def _release_outputs(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        if self._tf_pub is not None:
            self.destroy_lifecycle_publisher(self._tf_pub)
            self._tf_pub = None
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None

    # ------------------------------------------------------------------ data path
    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Keep only the newest frame; one still waiting when another arrives is dropped."""
        with self._lock:
            if self._pending is not None:
                self._stats.dropped += 1
            self._pending = msg
            self._stats.received += 1
            self._wake.notify()

    def _inference_loop(self) -> None:
        """The inference thread: process the newest pending frame until told to stop."""
        while True:
            with self._lock:
                while self._pending is None and not self._stop_worker:
                    self._wake.wait()
                if self._stop_worker:
                    return
            self._process_pending()

    def _process_pending(self) -> None:
        with self._lock:
            msg, self._pending = self._pending, None
        tracker = self._tracker  # a deactivation may clear the attribute meanwhile
        if msg is None or tracker is None:
            return
        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        try:
            self._converter.max_pixels = self.get_parameter("max_image_pixels").value
            rgb, frame = self._converter.decode(msg)  # frame: header, width, height
        except ValueError as exc:
            self._stats.bad += 1
            reason = str(exc)
            held = self._log_throttle.check(reason)
            if held is not None:
                more = f" ({held} similar frames rejected since the last message)" if held else ""
                self.get_logger().warning(f"rejected image (stamp {msg.header.stamp.sec}."
                                          f"{msg.header.stamp.nanosec:09d}): {reason}{more}")
            return
        stages["decode"] = time.perf_counter() - t0
        try:
            self._process(frame, rgb, tracker, stages)
        except Exception as exc:  # keep running whatever a single frame does
            if not self.context.ok():  # shutting down (SIGINT): the frame in flight is dropped
                return
            self._stats.failed += 1
            self.get_logger().error(f"processing failed: {type(exc).__name__}: {exc}")
            return
        self._stats.add_latency(time.perf_counter() - t0)
        self._stats.add_stages(stages)

    def _intrinsics(self, msg: Image, p: NodeParams) -> CameraIntrinsics:
        info = None if self._camera_info is None else self._camera_info.lookup(
            msg.header, p.camera_info_slop
        )
        cam, problem = choose_intrinsics(info, msg.width, msg.height, p.assumed_focal_px)
        if problem is not None:
            self.get_logger().warning(
                f"{problem}; the face_mesh is placed with assumed_focal_px="
                f"{p.assumed_focal_px}", throttle_duration_sec=10.0,
            )
        elif info is None and not self._warned_no_camera_info:
            self._warned_no_camera_info = True
            self.get_logger().warning(
                f"no CameraInfo on {self.resolve_topic_name('camera_info')}: the face_mesh is "
                f"placed with assumed_focal_px={p.assumed_focal_px}"
            )
        return cam

    def _process(self, msg: Any, rgb: Any, tracker: Any, stages: dict[str, float]) -> None:
        """Track the faces of one frame and publish its outputs (seconds per stage in ``stages``).

        ``msg`` carries the input's ``header``, ``width`` and ``height``; ``tracker`` is the
        :class:`~face3d_ros.pipeline.multi.MultiFaceTracker`. Stages: ``track``
        (MultiFaceTracker.step, its ``timings_ms`` summed over the faces as ``track_<stage>``),
        the build of ``face_params`` (with ``faces``), ``depth``, ``mesh``, ``overlay`` and
        ``tf`` (:class:`~face3d_ros.node.frame_outputs.FrameOutputs`; 0 when not built), and
        ``publish`` (all of them). The depth maps, the meshes, the overlay and the poses are
        built only while their topic has a subscriber (image_pipeline's depth_image_proc
        pattern), the meshes on every ``mesh_every_n``-th frame with a face (the DELETE of a
        lost face always).
        """
        p = NodeParams.from_node(self)
        clock = time.perf_counter
        t = clock()
        frame = tracker.step(rgb)
        stages["track"] = clock() - t
        stages.update({f"track_{k}": v / 1000.0 for k, v in frame.timings_ms.items()
                       if k != "total"})
        self._stats.set_state(published_state(frame.primary))
        outputs = self._outputs.build(
            frame, rgb, msg.header, (msg.width, msg.height), p,
            lambda: self._intrinsics(msg, p), self._subscribed, stages,
        )
        if self._outputs.tf_without_frame and p.publish_tf:
            self.get_logger().warning(
                "input image has an empty frame_id (and mesh_frame is not set): no head "
                "poses on /tf", throttle_duration_sec=10.0,
            )
        t = clock()
        for name, out_msg in outputs:
            (self._tf_pub if name == TF_TOPIC[0] else self._pubs[name]).publish(out_msg)
        stages["publish"] = clock() - t
        self._stats.published += 1

    def _subscribed(self, name: str) -> bool:
        """Whether the output ``name`` has at least one subscriber (else it is not built)."""
        return self._pubs[name].get_subscription_count() > 0

    def _publish_diagnostics(self) -> None:
        if self._diag_pub is None:
            return
        snap = self._stats.snapshot()
        level = DiagnosticStatus.OK
        message = f"{self._state_name}, tracker {snap['tracker_state']}"
        if self._state_name != "ACTIVE":
            level = DiagnosticStatus.WARN
        elif snap["bad_frames"] or snap["failed_frames"]:
            level = DiagnosticStatus.WARN
            message += ", bad input seen"
        self._diag_pub.publish(
            build_diagnostics(
                self.get_clock().now().to_msg(),
                f"{self.get_name()}: face reconstruction",
                self.get_fully_qualified_name(),
                int.from_bytes(level, "little") if isinstance(level, bytes) else int(level),
                message,
                {"lifecycle_state": self._state_name, **snap},
            )
        )


def main(args: list[str] | None = None) -> int:
    """Run the node (``--ros-args`` accepted) until shutdown; returns the exit code."""
    argv = args if args is not None else sys.argv
    rclpy.init(args=argv)
    node = Face3dNode(startup_args=list(argv))
    executor = SingleThreadedExecutor()  # see the module doc (threading)
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A terminal's Ctrl-C reaches the whole process group, so under ros2 launch a second
        # SIGINT follows the first (from launch itself); it must not interrupt this clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        node._stop_inference_thread()  # finish the frame in flight before tearing down
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
