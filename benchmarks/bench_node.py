# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sustained rate and latency of the real ``face3d_node`` under a fixed-rate publisher.

Run (after ``source tools/env.sh``)::

    python benchmarks/bench_node.py [--rate 30] [--frames 300] [--no-fine]
        [--no-mesh] [--no-overlay] [--threads N]

The node is started as a separate process exactly as the demo starts it
(:func:`face3d_ros.node.demo.start_node`: ``config/face3d.yaml``, the remappings and the reliable
image-subscription override, plus ``-p`` items for the options above). This process publishes
the demo's sample sequence (:func:`face3d_ros.node.demo.sample_config`, with its face-less run in
the middle) at ``--rate`` with :class:`face3d_ros.node.sample_player.SamplePlayer`, subscribes
to ``/face_params``, ``/diagnostics`` and the outputs named by ``--subscribe`` (default: all of
``displacement``, ``coarse_depth``, ``face_mesh``, ``overlay``; the node builds an output only
while it has a subscriber; raw subscriptions, nothing is decoded or recorded), and prints:

* frames published, FaceParams received, the sustained output rate (Hz);
* end-to-end latency publish -> FaceParams received, p50/p95, over the frames published in
  the first and in the last third of the run: a backlog would show as a rising latency;
* the node's own last diagnostics (frames received / dropped while busy, mean in-node
  latency and the mean time of each stage inside the node);
* the CPU count and load average (node, publisher and this subscriber share the cores).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

FACE_PARAMS_TOPIC = "/face_params"
DIAGNOSTICS_TOPIC = "/diagnostics"
#: Outputs ``--subscribe`` can name.
OUTPUT_NAMES = ("displacement", "coarse_depth", "face_mesh", "overlay")


def node_arguments(args: argparse.Namespace) -> list[str]:
    """Extra ``--ros-args`` items for the node from the command-line options.

    Args:
        args: parsed options (``use_fine``, ``mesh``, ``overlay``, ``threads``).

    Returns:
        ``-p name:=value`` items.
    """
    items = ["-p", f"use_fine:={str(args.use_fine).lower()}",
             "-p", f"publish_mesh:={str(args.mesh).lower()}",
             "-p", f"publish_overlay:={str(args.overlay).lower()}"]
    if args.threads is not None:
        items += ["-p", f"threads:={args.threads}"]
    return items


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all threads) from /proc; NaN elsewhere."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles_ms(values: Sequence[float]) -> str:
    """``p50 X ms, p95 Y ms (n=N)`` of latencies in seconds, or ``n/a`` when empty."""
    if not values:
        return "n/a (no FaceParams)"
    arr = 1000.0 * np.asarray(values, dtype=np.float64)
    return (f"p50 {np.percentile(arr, 50):6.1f} ms, p95 {np.percentile(arr, 95):6.1f} ms "
            f"(n={arr.size})")


def run_benchmark(
    *,
    rate: float,
    frames: int,
    node_args: Sequence[str],
    log_path: pathlib.Path,
    params_file: pathlib.Path | None = None,
    startup_timeout: float = 120.0,
    subscribe: Sequence[str] = (),
) -> dict[str, Any]:
    """Start the node, publish ``frames`` sample frames at ``rate`` and collect the answers.

    Args:
        rate: publishing rate (Hz).
        frames: number of frames published.
        node_args: extra ``--ros-args`` items for the node.
        log_path: the node's log file.
        params_file: node parameter YAML (default: the package's config/face3d.yaml).
        startup_timeout: seconds to wait for the node to load and subscribe.
        subscribe: further outputs to subscribe to (names of :data:`OUTPUT_NAMES`).

    Returns:
        ``sent`` (frame index -> publish time), ``received`` (frame index -> FaceParams
        receipt time), ``diagnostics`` (the node's last status values) and ``publish_span``
        (seconds from the first to the last publish).

    Raises:
        face3d_ros.node.demo.DemoError: the node did not start.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import Marker

    from face3d_ros.msg import FaceParams
    from face3d_ros.node.demo import (
        IMAGE_TOPIC,
        INFO_TOPIC,
        find_config,
        sample_config,
        start_node,
        stop_node,
        wait_for_node,
    )
    from face3d_ros.node.face3d_node import OUTPUT_QOS
    from face3d_ros.node.sample_player import SamplePlayer
    from face3d_ros.sample_data import sample_frame

    types = {"displacement": Image, "coarse_depth": Image, "face_mesh": Marker, "overlay": Image}
    params_file = pathlib.Path(params_file) if params_file else find_config()
    cfg = sample_config(frames, rate)
    # Frames are rendered before the run so that publishing keeps the rate.
    images = [sample_frame(i, cfg) for i in range(frames)]
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    index_of: dict[tuple[int, int], int] = {}
    last_diag: dict[str, str] = {}

    proc = start_node(params_file, node_args, log_path)
    context = rclpy.context.Context()
    rclpy.init(args=["face3d_bench_node"], context=context)  # never parse this argv
    node = rclpy.create_node("face3d_bench_node", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def on_face_params(raw: bytes) -> None:
        now = time.monotonic()
        # std_msgs/Header first: 4-byte CDR encapsulation, int32 sec, uint32 nanosec.
        key = struct.unpack_from("<iI", raw, 4)
        if key in index_of:
            received.setdefault(index_of[key], now)

    def on_diagnostics(raw: bytes) -> None:
        msg = deserialize_message(raw, DiagnosticArray)
        for status in msg.status:
            if status.name.startswith("face3d_node"):
                last_diag.clear()
                last_diag.update({kv.key: kv.value for kv in status.values})

    try:
        node.create_subscription(FaceParams, FACE_PARAMS_TOPIC, on_face_params, OUTPUT_QOS,
                                 raw=True)
        node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, on_diagnostics, 10,
                                 raw=True)
        for name in subscribe:
            node.create_subscription(types[name], f"/{name}", lambda _raw: None, OUTPUT_QOS,
                                     raw=True)
        player = SamplePlayer(node, IMAGE_TOPIC, INFO_TOPIC)
        wait_for_node(proc, player, executor, log_path, startup_timeout)
        period = 1.0 / rate
        cpu_start = process_cpu_seconds(proc.pid)
        t0 = time.monotonic()
        for i, frame in enumerate(images):
            while (wait := t0 + i * period - time.monotonic()) > 0:
                executor.spin_once(timeout_sec=min(0.005, wait))
            header = player.publish_rgb(frame.image, frame.stamp)
            index_of[(header.stamp.sec, header.stamp.nanosec)] = i
            sent[i] = time.monotonic()
        publish_span = sent[frames - 1] - sent[0]
        # Drain: wait until no FaceParams for 3 s, then for one more diagnostics message.
        last, seen = time.monotonic(), -1
        while time.monotonic() - last < 3.0:
            executor.spin_once(timeout_sec=0.05)
            if len(received) != seen:
                seen, last = len(received), time.monotonic()
        cpu_used = process_cpu_seconds(proc.pid) - cpu_start  # incl. the idle 3 s
        cpu_wall = time.monotonic() - t0
        last_diag.clear()
        end = time.monotonic() + 3.0
        while not last_diag and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    finally:
        stop_node(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return {"sent": sent, "received": received, "diagnostics": dict(last_diag),
            "publish_span": publish_span, "node_cpu_s": cpu_used, "node_cpu_wall_s": cpu_wall}


def report(result: dict[str, Any], frames: int, rate: float) -> str:
    """The printed summary of :func:`run_benchmark`'s result."""
    sent, received = result["sent"], result["received"]
    lines = [f"frames published: {len(sent)} in {result['publish_span']:.2f} s "
             f"(target {rate:g} Hz, achieved {(len(sent) - 1) / result['publish_span']:.1f} Hz)"]
    lines.append(f"FaceParams received: {len(received)} ({len(sent) - len(received)} frames "
                 f"not processed: dropped while busy or in the depth-1 queue)")
    times = sorted(received.values())
    if len(times) > 1:
        lines.append(f"sustained output rate: {(len(times) - 1) / (times[-1] - times[0]):.1f} Hz "
                     f"(FaceParams, first to last)")
    third = frames // 3
    first = [received[i] - sent[i] for i in range(third) if i in received]
    last = [received[i] - sent[i] for i in range(frames - third, frames) if i in received]
    lines.append("latency publish -> FaceParams:")
    lines.append(f"  first third (frames 0-{third - 1}):  {percentiles_ms(first)}")
    lines.append(f"  last third (frames {frames - third}-{frames - 1}): {percentiles_ms(last)}")
    if first and last:
        growth = 1000.0 * (np.median(last) - np.median(first))
        lines.append(f"  p50 change first -> last third: {growth:+.1f} ms "
                     "(a backlog would grow with every frame)")
    cpu, wall = result["node_cpu_s"], result["node_cpu_wall_s"]
    if received and cpu == cpu:
        lines.append(f"node process CPU from first publish to drained: {cpu:.1f} s in {wall:.1f} s "
                     f"({100 * cpu / wall:.0f} % of one core), {1000 * cpu / len(received):.0f} ms "
                     "per processed frame (all threads, incl. receiving the dropped frames)")
    diag = result["diagnostics"]
    if diag:
        keys = ("frames_received", "frames_published", "frames_dropped_busy", "bad_frames",
                "failed_frames", "output_rate_hz", "latency_mean_ms", "latency_max_ms")
        lines.append("node diagnostics: " + ", ".join(f"{k} {diag[k]}" for k in keys
                                                      if k in diag))
        stages = {k[len("stage_"):-len("_ms")]: v for k, v in diag.items()
                  if k.startswith("stage_")}
        if stages:
            lines.append("node stages (mean ms over the last 50 processed frames): "
                         + ", ".join(f"{k} {v}" for k, v in stages.items()))
    else:
        lines.append("node diagnostics: none received")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    lines.append(f"CPUs: {os.cpu_count()} (usable by this process: {affinity}), load average "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; node, publisher and "
                 "subscriber share them")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0, or 2 when the node cannot start."""
    from face3d_ros.node.demo import DemoError, set_ros_domain

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=30.0, help="publishing rate (Hz)")
    ap.add_argument("--frames", type=int, default=300, help="frames to publish")
    ap.add_argument("--use-fine", dest="use_fine", action="store_true", default=True,
                    help="run FineNet (default)")
    ap.add_argument("--no-fine", dest="use_fine", action="store_false", help="coarse only")
    ap.add_argument("--no-mesh", dest="mesh", action="store_false",
                    help="publish_mesh:=false")
    ap.add_argument("--no-overlay", dest="overlay", action="store_false",
                    help="publish_overlay:=false")
    ap.add_argument("--threads", type=int, default=None,
                    help="node parameter threads (default: the config's, 0 = backend default)")
    ap.add_argument("--params-file", type=pathlib.Path, default=None,
                    help="node parameter YAML (default: config/face3d.yaml)")
    ap.add_argument("--node-log", type=pathlib.Path, default=None,
                    help="keep the node's log here (default: a temporary file)")
    ap.add_argument("--domain-id", type=int, default=None,
                    help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else 1 + pid %% 100)")
    ap.add_argument("--subscribe", default="all",
                    help="outputs to subscribe to besides face_params: all, none or a comma list "
                    f"of {', '.join(OUTPUT_NAMES)} (default: all)")
    args = ap.parse_args(argv)
    if args.subscribe in ("all", "none"):
        subscribe = list(OUTPUT_NAMES) if args.subscribe == "all" else []
    else:
        subscribe = [s.strip() for s in args.subscribe.split(",") if s.strip()]
        if bad := [s for s in subscribe if s not in OUTPUT_NAMES]:
            ap.error(f"--subscribe: unknown outputs {bad}; choose from {', '.join(OUTPUT_NAMES)}")
    if args.frames < 6 or args.rate <= 0:
        ap.error("--frames must be >= 6 and --rate > 0")
    domain = set_ros_domain(args.domain_id)
    extra = node_arguments(args)
    print(f"bench_node: ROS_DOMAIN_ID={domain}, {args.frames} frames at {args.rate:g} Hz, "
          f"node args: {' '.join(extra)}; subscribed: face_params"
          f"{''.join(', ' + s for s in subscribe)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="face3d_bench_node_") as tmp:
        log_path = args.node_log or pathlib.Path(tmp) / "node.log"
        try:
            result = run_benchmark(rate=args.rate, frames=args.frames, node_args=extra,
                                   log_path=log_path, params_file=args.params_file,
                                   subscribe=subscribe)
        except DemoError as exc:
            print(f"bench_node: error: {exc}", file=sys.stderr)
            return 2
    print(report(result, args.frames, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
