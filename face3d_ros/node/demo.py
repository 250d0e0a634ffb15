# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The README's main job: the real node on the bundled sample sequence, recorded to a bag.

Run (after ``source tools/env.sh``)::

    python -m face3d_ros.node.demo [--out out/demo] [--frames 90] [--rate 10] [--overwrite] \
        [--image-transport compressed]

What happens, with no camera and no ROS install beyond this package's environment:

1. ``face3d_node`` is started as a separate process, exactly as a launch file would start it:
   ``python -m face3d_ros.node.face3d_node --ros-args --params-file config/face3d.yaml
   -r image:=/camera/image_raw -r camera_info:=/camera/camera_info`` plus the QoS override
   ``qos_overrides./camera/image_raw.subscription.reliability:=reliable`` (the demo's
   publisher is reliable; see docs/node.md). With ``--image-transport compressed`` the frames
   are published as JPEG sensor_msgs/CompressedImage on ``/camera/image_raw/compressed`` and the
   node runs with ``image_transport:=compressed`` (the QoS override names that topic); the bag
   then records that CompressedImage topic, which ``face3d_ros.node.replay`` reads as well.
2. This process publishes the sample sequence (:mod:`face3d_ros.sample_data`: the astronaut
   photo moving, with a run of face-less frames) with CameraInfo at a fixed rate, and records
   the inputs and all of the node's outputs into a ROS 2 bag (rosbags writer; MCAP by default).
3. It writes ``overlay.mp4`` (the node's overlay images), ``contact_sheet.png``, ``node.log``
   and ``summary.json`` next to the bag, and prints a summary (frames in/out, dropped frames,
   states seen, latency).

The output folder holds a marker, ``face3d_output.json`` (``"complete": true`` once the demo
finished). ``--overwrite`` replaces only such a folder holding nothing but the demo's own files;
any other non-empty folder is refused and nothing in it is deleted.

The bag plays back with ``ros2 bag play`` (where installed) or opens in Foxglove; the
``face3d_ros/msg/FaceParams`` definition is stored in it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "DemoError",
    "find_config",
    "main",
    "node_command",
    "prepare_out",
    "run_demo",
    "sample_config",
    "set_ros_domain",
    "start_node",
    "stop_node",
    "wait_for_node",
]

TOOL = "face3d-demo"
#: Everything the demo writes into its output folder (besides its marker file); --overwrite
#: replaces a folder only when it holds nothing else.
LAYOUT = ("bag", "node.log", "overlay.mp4", "contact_sheet.png", "summary.json")
IMAGE_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"


class DemoError(RuntimeError):
    """The demo cannot run or the node failed; the message says why."""


def find_config(name: str = "face3d.yaml") -> pathlib.Path:
    """Locate ``config/<name>`` in the installed package share, else in the source tree.

    Raises:
        DemoError: not found (paths tried listed).
    """
    from face3d_ros.node.share import share_file

    try:
        return share_file(f"config/{name}")
    except FileNotFoundError as exc:
        raise DemoError(str(exc)) from exc


def node_command(
    params_file: pathlib.Path, node_args: Sequence[str] = (), image_transport: str = "raw"
) -> list[str]:
    """The command line that starts ``face3d_node`` as a launch file would.

    The node gets ``params_file``, the remappings ``image:=/camera/image_raw`` and
    ``camera_info:=/camera/camera_info`` and the QoS override that makes its image
    subscription reliable (the sample publisher is reliable; depth stays 1, newest frame
    only), then ``node_args`` (e.g. ``["-p", "use_fine:=false"]``). With ``image_transport``
    ``compressed`` it also gets ``image_transport:=compressed`` and the override names
    ``/camera/image_raw/compressed``.

    Args:
        params_file: node parameter YAML.
        node_args: extra ``--ros-args`` items.
        image_transport: ``raw`` or ``compressed``.

    Returns:
        ``argv`` for :func:`subprocess.Popen`.
    """
    from face3d_ros.node.conversions import transport_topic

    topic = transport_topic(IMAGE_TOPIC, image_transport)
    transport = [] if image_transport == "raw" else ["-p", f"image_transport:={image_transport}"]
    return [
        sys.executable, "-m", "face3d_ros.node.face3d_node", "--ros-args",
        "--params-file", str(params_file),
        "-r", f"image:={IMAGE_TOPIC}", "-r", f"camera_info:={INFO_TOPIC}", *transport,
        "-p", f"qos_overrides.{topic}.subscription.reliability:=reliable", *node_args,
    ]


def start_node(
    params_file: pathlib.Path, node_args: Sequence[str], log_path: pathlib.Path,
    image_transport: str = "raw",
) -> subprocess.Popen:
    """Start :func:`node_command` as a separate process, stdout + stderr into ``log_path``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("w") as log_file:
        return subprocess.Popen(node_command(params_file, node_args, image_transport),
                                stdout=log_file, stderr=subprocess.STDOUT, env=env)


def wait_for_node(
    proc: subprocess.Popen, player: Any, executor: Any, log_path: pathlib.Path,
    timeout: float = 120.0,
) -> None:
    """Spin ``executor`` until the node subscribes to the player's image topic.

    Args:
        proc: the node process (:func:`start_node`).
        player: the :class:`face3d_ros.node.sample_player.SamplePlayer`.
        executor: executor of the player's node.
        log_path: the node's log file (searched for ``cannot activate``).
        timeout: seconds to wait for the node to load its model and subscribe.

    Raises:
        DemoError: the node exited, failed to activate, or did not subscribe in time.
    """
    end = time.monotonic() + timeout
    while not player.subscribers_ready():
        executor.spin_once(timeout_sec=0.1)
        log_text = log_path.read_text()
        failed = proc.poll() is not None or "cannot activate" in log_text
        if failed or time.monotonic() > end:
            raise DemoError(f"face3d_node did not start; node.log:\n{log_text[-2000:]}")
    time.sleep(0.5)  # let discovery settle for the output subscriptions too


def stop_node(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGINT the node process (a clean shutdown), kill it after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def set_ros_domain(domain_id: int | None = None) -> int:
    """Set ``ROS_DOMAIN_ID`` for this process and the node it starts; returns it.

    ``domain_id`` None: ``$ROS_DOMAIN_ID``, else ``1 + pid % 100`` (so concurrent runs do not
    see each other). Discovery is kept on this machine unless the environment says otherwise.
    """
    domain = domain_id if domain_id is not None else int(
        os.environ.get("ROS_DOMAIN_ID", 1 + os.getpid() % 100))
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


def sample_config(frames: int, rate: float, width: int = 640, height: int = 480) -> Any:
    """The demo's sample sequence: ``frames`` at ``rate``, a face-less run in the middle."""
    from face3d_ros.sample_data import SampleSequenceConfig

    return SampleSequenceConfig(
        n_frames=frames, width=width, height=height, fps=rate,
        start_stamp=float(int(time.time())),
        faceless_start=frames // 2, faceless_length=max(1, frames // 8),
    )


def prepare_out(out: pathlib.Path, overwrite: bool) -> None:
    """Create the output folder; with ``overwrite``, replace only an earlier demo output.

    ``--overwrite`` deletes a folder only when it holds the demo's marker
    (:data:`face3d_ros.safe_output.MARKER`) and nothing but the demo's own files
    (:data:`LAYOUT`); those files are deleted one by one. Anything else is refused and kept.

    Raises:
        DemoError: ``out`` is a file, a non-empty folder without ``overwrite``, or (with it) a
            folder the demo did not write or with files the demo did not write.
    """
    from face3d_ros.safe_output import OutputError, check_replaceable, remove_own, write_marker

    out = pathlib.Path(out)
    try:
        if check_replaceable(out, TOOL, LAYOUT, overwrite=overwrite):
            remove_own(out, TOOL, LAYOUT)
    except OutputError as exc:
        raise DemoError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, TOOL, complete=False, reason="running")


def _contact_sheet(frames: list[tuple[int, np.ndarray, str]], cols: int = 4) -> np.ndarray:
    """Grid of labelled RGB thumbnails (320 px wide)."""
    import cv2

    thumbs = []
    for index, rgb, label in frames:
        h, w = rgb.shape[:2]
        t = cv2.resize(rgb, (320, max(1, int(round(h * 320 / w)))), interpolation=cv2.INTER_AREA)
        t = np.ascontiguousarray(t)
        cv2.rectangle(t, (0, t.shape[0] - 22), (t.shape[1], t.shape[0]), (0, 0, 0), -1)
        cv2.putText(t, f"#{index} {label}", (6, t.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
        thumbs.append(t)
    th, tw = thumbs[0].shape[:2]
    rows = (len(thumbs) + cols - 1) // cols
    sheet = np.full((rows * th, cols * tw, 3), 32, np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, cols)
        sheet[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = t[:th, :tw]
    return sheet


def run_demo(
    out: pathlib.Path,
    *,
    frames: int = 90,
    rate: float = 10.0,
    width: int = 640,
    height: int = 480,
    params_file: pathlib.Path | None = None,
    node_args: Sequence[str] = (),
    storage: str = "mcap",
    overwrite: bool = False,
    startup_timeout: float = 120.0,
    image_transport: str = "raw",
) -> dict[str, Any]:
    """Run the demo (see the module docstring) and return its summary.

    Args:
        out: output folder (created; must be empty unless ``overwrite``).
        frames: number of sample frames published.
        rate: publishing rate in Hz (frames arriving while the node is busy are dropped by it).
        width: frame width.
        height: frame height.
        params_file: node parameter YAML (default: the package's config/face3d.yaml).
        node_args: extra ``--ros-args`` items for the node (e.g. ``-p``, ``use_fine:=false``).
        storage: bag storage, ``mcap`` or ``sqlite3``.
        overwrite: replace an earlier output of the demo (never anything else).
        startup_timeout: seconds to wait for the node to load its model and subscribe.
        image_transport: ``raw`` (sensor_msgs/Image) or ``compressed`` (JPEG CompressedImage
            on ``/camera/image_raw/compressed``, recorded as such).

    Returns:
        The summary dict (also written to ``summary.json``).

    Raises:
        DemoError: existing output, missing config, or the node failing to start/activate.
    """
    import cv2
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from sensor_msgs.msg import Image

    from face3d_ros.msg import FaceParams
    from face3d_ros.node.conversions import image_to_numpy, transport_topic
    from face3d_ros.node.replay import output_typestore
    from face3d_ros.node.sample_player import SamplePlayer, camera_info_for
    from face3d_ros.node.topics import OUTPUT_TOPICS, OUTPUT_TYPES, message_class
    from face3d_ros.pipeline.states import STATE_NAMES
    from face3d_ros.sample_data import sample_frame

    out = pathlib.Path(out)
    params_file = pathlib.Path(params_file) if params_file else find_config()
    if not params_file.is_file():
        raise DemoError(f"parameter file {params_file} does not exist")
    prepare_out(out, overwrite)
    cfg = sample_config(frames, rate, width, height)
    log_path = out / "node.log"
    # The demo's own publisher is reliable, so the node's image subscription is switched to
    # reliable too (a QoS override parameter; the node's default is best effort, which a
    # loaded machine's Fast DDS drops most 640x480 frames with). Depth stays 1: newest only.
    types = {name: message_class(kind) for name, kind in OUTPUT_TYPES}
    type_names = dict(OUTPUT_TYPES)
    store = output_typestore()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    received: dict[str, int] = dict.fromkeys(OUTPUT_TOPICS, 0)
    sent_at: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    states: dict[tuple[int, int], int] = {}
    overlays: dict[tuple[int, int], np.ndarray] = {}
    index_of: dict[tuple[int, int], int] = {}
    last_diag: dict[str, str] = {}

    proc = start_node(params_file, node_args, log_path, image_transport)
    context = rclpy.context.Context()
    rclpy.init(args=["face3d_demo"], context=context)  # never parse this process's argv
    node = rclpy.create_node("face3d_demo", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        with Writer(out / "bag", version=9, storage_plugin=plugin) as writer:
            conns = {
                name: writer.add_connection(
                    f"/{name}", type_names.get(name, "sensor_msgs/msg/Image"), typestore=store
                )
                for name in OUTPUT_TOPICS
            }
            in_type = "Image" if image_transport == "raw" else "CompressedImage"
            in_img = writer.add_connection(transport_topic(IMAGE_TOPIC, image_transport),
                                           f"sensor_msgs/msg/{in_type}", typestore=store)
            in_info = writer.add_connection(
                INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store
            )

            def recorder(name: str) -> Any:
                def cb(raw: bytes) -> None:
                    # Every output starts with std_msgs/Header: read its stamp from the CDR
                    # bytes (4-byte encapsulation, int32 sec, uint32 nanosec) instead of
                    # deserialising, which costs ~1 s for a large face_mesh Marker.
                    key = struct.unpack_from("<iI", raw, 4)
                    stamp_ns = key[0] * 1_000_000_000 + key[1]
                    writer.write(conns[name], stamp_ns, raw)
                    received[name] += 1
                    if name == "face_params":
                        states[key] = deserialize_message(raw, FaceParams).state
                        if key in sent_at:
                            latencies.append(time.monotonic() - sent_at[key])
                    elif name == "overlay":
                        overlays[key] = image_to_numpy(deserialize_message(raw, Image))

                return cb

            qos = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)
            for name in OUTPUT_TOPICS:
                node.create_subscription(types[name], f"/{name}", recorder(name), qos, raw=True)
            diag_conn = writer.add_connection(
                "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", typestore=store
            )

            def on_diagnostics(raw: bytes) -> None:
                msg = deserialize_message(raw, DiagnosticArray)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                writer.write(diag_conn, stamp, raw)
                for status in msg.status:
                    if status.name.startswith("face3d_node"):
                        last_diag.clear()
                        last_diag.update({kv.key: kv.value for kv in status.values})

            node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10, raw=True)
            player = SamplePlayer(node, IMAGE_TOPIC, INFO_TOPIC, transport=image_transport)

            wait_for_node(proc, player, executor, log_path, startup_timeout)
            period = 1.0 / rate
            t0 = time.monotonic()
            for i in range(frames):
                frame = sample_frame(i, cfg)
                while time.monotonic() < t0 + i * period:
                    executor.spin_once(timeout_sec=max(0.0, min(0.01, t0 + i * period
                                                               - time.monotonic())))
                header = player.publish_rgb(frame.image, frame.stamp)
                key = (header.stamp.sec, header.stamp.nanosec)
                sent_at[key] = time.monotonic()
                index_of[key] = i
                ns = key[0] * 1_000_000_000 + key[1]
                writer.write(in_info, ns, serialize_message(
                    camera_info_for(header, width, height, player.focal_px)))
                writer.write(in_img, ns, serialize_message(player.last_message))
            last = time.monotonic()
            seen = -1
            while time.monotonic() - last < 3.0 and time.monotonic() - t0 < frames * period + 120:
                executor.spin_once(timeout_sec=0.1)
                total = sum(received.values())
                if total != seen:
                    seen, last = total, time.monotonic()
    finally:
        stop_node(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)

    names = STATE_NAMES
    state_counts = {names[s]: 0 for s in names}
    for s in states.values():
        state_counts[names.get(s, str(s))] = state_counts.get(names.get(s, str(s)), 0) + 1
    order = sorted(overlays)
    if order:
        h, w = overlays[order[0]].shape[:2]
        video = cv2.VideoWriter(str(out / "overlay.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                float(rate), (w, h))
        if not video.isOpened():
            raise DemoError("OpenCV cannot write overlay.mp4 (mp4v codec unavailable)")
        for key in order:
            video.write(cv2.cvtColor(overlays[key], cv2.COLOR_RGB2BGR))
        video.release()
        picks = {order[int(round(k))] for k in np.linspace(0, len(order) - 1, 11)}
        lost = [k for k in order if states.get(k) == 2]
        if lost:  # always show one frame without a face
            picks.add(lost[0])
        picks = sorted(picks)
        sheet = _contact_sheet([(index_of.get(k, -1), overlays[k], names.get(states.get(k, -1),
                                 "?")) for k in picks])
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    summary = {
        "frames_published": frames,
        "rate_hz": rate,
        "image_transport": image_transport,
        "frames_processed": received["face_params"],
        "frames_not_processed": frames - received["face_params"],
        "outputs_received": received,
        "states": state_counts,
        "state_sequence": "".join("ITL"[states[k]] for k in sorted(states)),
        "latency_mean_ms": float(1000 * np.mean(latencies)) if latencies else None,
        "latency_max_ms": float(1000 * np.max(latencies)) if latencies else None,
        "output": str(out),
        "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()),
        "node_exit_code": proc.returncode,
        "node_diagnostics": dict(last_diag),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["files"].append("summary.json")
    from face3d_ros.safe_output import write_marker

    write_marker(out, TOOL, complete=True, reason="complete")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints the summary. Returns 0, or 2 on a DemoError."""
    from face3d_ros.node.conversions import IMAGE_TRANSPORTS

    ap = argparse.ArgumentParser(
        prog="face3d-demo", description=__doc__.split("\n\n")[0],
        epilog=("Guarantees: --out is created with a face3d_output.json marker. --overwrite "
                "replaces only an earlier demo output (that marker and nothing but bag/, "
                "node.log, overlay.mp4, contact_sheet.png, summary.json); any other non-empty "
                "folder is refused (exit 2) and nothing in it is deleted. The node rejects "
                "frames larger than its max_image_pixels parameter (default 4096 x 4096) "
                "before decoding."),
    )
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("out") / f"demo-{stamp}",
                    help="output folder (default: out/demo-<timestamp>)")
    ap.add_argument("--frames", type=int, default=90, help="sample frames to publish")
    ap.add_argument("--rate", type=float, default=10.0, help="publishing rate (Hz)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--params-file", type=pathlib.Path, default=None,
                    help="node parameter YAML (default: config/face3d.yaml)")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    ap.add_argument("--image-transport", choices=IMAGE_TRANSPORTS, default="raw",
                    help="compressed: publish JPEG CompressedImage on "
                         f"{IMAGE_TOPIC}/compressed and run the node with "
                         "image_transport:=compressed")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an earlier output of the demo in --out (a folder with its "
                         "face3d_output.json and only the demo's files); anything else is "
                         "refused and nothing is deleted")
    ap.add_argument("--domain-id", type=int, default=None,
                    help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else 1 + pid %% 100)")
    ap.add_argument("node_args", nargs="*",
                    help="extra --ros-args for the node after '--', e.g. -- -p use_fine:=false")
    args = ap.parse_args(argv)
    if args.frames < 2 or args.rate <= 0:
        ap.error("--frames must be >= 2 and --rate > 0")
    domain = set_ros_domain(args.domain_id)
    print(f"face3d demo: ROS_DOMAIN_ID={domain}, {args.frames} frames at {args.rate} Hz "
          f"-> {args.out}", flush=True)
    try:
        s = run_demo(args.out, frames=args.frames, rate=args.rate, width=args.width,
                     height=args.height, params_file=args.params_file,
                     node_args=args.node_args, storage=args.storage, overwrite=args.overwrite,
                     image_transport=args.image_transport)
    except DemoError as exc:
        print(f"face3d demo: error: {exc}", file=sys.stderr)
        return 2
    lat = "n/a" if s["latency_mean_ms"] is None else f"{s['latency_mean_ms']:.1f} ms"
    states = ", ".join(f"{k} {v}" for k, v in s["states"].items())
    print(
        f"frames in: {s['frames_published']}, processed (FaceParams out): "
        f"{s['frames_processed']}, not processed: {s['frames_not_processed']} (the node "
        f"keeps only the newest frame: dropped while busy, or lost by best-effort transport; "
        f"see frames_received / frames_dropped_busy below)\n"
        f"states: {states}\nstate sequence: {s['state_sequence']}\n"
        f"mean latency (publish -> FaceParams): {lat}\n"
        f"outputs: {s['outputs_received']}\nnode diagnostics: {s['node_diagnostics']}\n"
        f"files in {s['output']}: {', '.join(s['files'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
