# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Soak test: the real ``face3d_node`` fed at a fixed rate for minutes; its memory must stay flat.

Run (after ``source tools/env.sh``)::

    python benchmarks/soak_node.py [--minutes 10] [--rate 30] [--sample-s 15]
        [--bad-every 100] [--max-growth-mb 5]

The node is started as the demo starts it (:func:`face3d_ros.node.demo.start_node`). This process
publishes the demo's sample sequence (640x480, with its face-less run, so the node goes through
TRACKING, LOST and re-initialisation over and over) in a loop at ``--rate``, every
``--bad-every``-th frame a malformed one (a wrong ``step``: rejected and counted), and
subscribes to every output, so that all of them are built and published. Every ``--sample-s``
seconds it prints the node's resident memory (VmRSS from /proc), the FaceParams received and
the node's frames received / dropped / bad counters (and the publish errors of this
process's own DDS layer, which are counted and skipped). At the end it prints the RSS growth over
the second half of the run (last sample minus the sample at half time, and max minus min over
that half); the exit status is 1 when the growth exceeds ``--max-growth-mb``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (VmRSS), NaN when unreadable."""
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def soak(
    *, minutes: float, rate: float, sample_s: float, bad_every: int, log_path: pathlib.Path,
) -> list[tuple[float, float, int, dict[str, str]]]:
    """Run the soak; returns samples ``(seconds, rss MiB, FaceParams received, diagnostics)``."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy._rclpy_pybind11 import RCLError
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image
    from visualization_msgs.msg import Marker

    from face3d_ros.msg import FaceParams
    from face3d_ros.node.conversions import numpy_to_image
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
    from face3d_ros.node.sample_player import SamplePlayer, make_header
    from face3d_ros.sample_data import sample_frame

    cfg = sample_config(90, rate)
    images = [sample_frame(i, cfg).image for i in range(cfg.n_frames)]
    counts = {"face_params": 0, "publish_errors": 0}
    failures = 0
    last_diag: dict[str, str] = {}
    proc = start_node(find_config(), [], log_path)
    context = rclpy.context.Context()
    rclpy.init(args=["face3d_soak"], context=context)
    node = rclpy.create_node("face3d_soak", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def on_face_params(raw: bytes) -> None:
        counts["face_params"] += 1

    def on_diagnostics(raw: bytes) -> None:
        for status in deserialize_message(raw, DiagnosticArray).status:
            if status.name.startswith("face3d_node"):
                last_diag.clear()
                last_diag.update({kv.key: kv.value for kv in status.values})

    samples: list[tuple[float, float, int, dict[str, str]]] = []
    try:
        node.create_subscription(FaceParams, "/face_params", on_face_params, OUTPUT_QOS,
                                 raw=True)
        for topic, mtype in (("/displacement", Image), ("/coarse_depth", Image),
                             ("/face_mesh", Marker), ("/overlay", Image)):
            node.create_subscription(mtype, topic, lambda raw: None, OUTPUT_QOS, raw=True)
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10, raw=True)
        player = SamplePlayer(node, IMAGE_TOPIC, INFO_TOPIC)
        wait_for_node(proc, player, executor, log_path)
        period = 1.0 / rate
        t0 = time.monotonic()
        next_sample = t0
        end = t0 + 60.0 * minutes
        i = 0
        while time.monotonic() < end:
            while (wait := t0 + i * period - time.monotonic()) > 0:
                executor.spin_once(timeout_sec=min(0.005, wait))
            stamp = 1000.0 + i * period
            try:
                if bad_every and i % bad_every == bad_every - 1:
                    bad = numpy_to_image(images[0], "rgb8", make_header(stamp))
                    bad.step -= 7  # malformed: rejected by the node, counted as bad
                    player.publish_raw(bad)
                else:
                    player.publish_rgb(images[i % len(images)], stamp)
                failures = 0
            except RCLError as exc:  # the DDS layer of this (publishing) process, not the node
                counts["publish_errors"] += 1
                failures += 1
                if failures > 100:
                    raise RuntimeError(f"publishing keeps failing: {exc}") from exc
            i += 1
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - t0, rss_mb(proc.pid), counts["face_params"],
                                dict(last_diag)))
                d = samples[-1][3]
                print(f"t={now - t0:6.0f} s  node RSS {samples[-1][1]:7.1f} MiB  FaceParams "
                      f"{counts['face_params']:6d}  published {i:6d}  node: received "
                      f"{d.get('frames_received', '?')}, dropped busy "
                      f"{d.get('frames_dropped_busy', '?')}, bad {d.get('bad_frames', '?')}, "
                      f"failed {d.get('failed_frames', '?')}; publish errors here "
                      f"{counts['publish_errors']}", flush=True)
                next_sample += sample_s
            if proc.poll() is not None:
                raise RuntimeError(f"the node exited with {proc.returncode}; see {log_path}")
        samples.append((time.monotonic() - t0, rss_mb(proc.pid), counts["face_params"],
                        dict(last_diag)))
    finally:
        stop_node(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return samples


def growth(samples: Sequence[tuple[float, float, int, Any]]) -> tuple[float, float]:
    """RSS growth over the second half: (last - value at half time, max - min), MiB."""
    total = samples[-1][0]
    half = [s for s in samples if s[0] >= total / 2]
    values = [s[1] for s in half]
    return values[-1] - values[0], max(values) - min(values)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; 0 when the RSS growth stays within ``--max-growth-mb``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=30.0, help="publishing rate (Hz)")
    ap.add_argument("--sample-s", type=float, default=15.0, help="seconds between samples")
    ap.add_argument("--bad-every", type=int, default=100,
                    help="every N-th frame is malformed (0: none)")
    ap.add_argument("--max-growth-mb", type=float, default=5.0)
    ap.add_argument("--node-log", type=pathlib.Path, default=None)
    args = ap.parse_args(argv)
    from face3d_ros.node.demo import set_ros_domain

    set_ros_domain(None)
    log_path = args.node_log or pathlib.Path(tempfile.mkdtemp(prefix="face3d_soak_")) / "node.log"
    print(f"soak: {args.minutes} min at {args.rate} Hz, node log {log_path}", flush=True)
    samples = soak(minutes=args.minutes, rate=args.rate, sample_s=args.sample_s,
                   bad_every=args.bad_every, log_path=log_path)
    end_to_end, spread = growth(samples)
    first = samples[0][1]
    print(f"RSS: first sample {first:.1f} MiB, at half time "
          f"{[s for s in samples if s[0] >= samples[-1][0] / 2][0][1]:.1f} MiB, last "
          f"{samples[-1][1]:.1f} MiB; second half: growth {end_to_end:+.1f} MiB, max - min "
          f"{spread:.1f} MiB; FaceParams received {samples[-1][2]}")
    return 0 if end_to_end <= args.max_growth_mb else 1


if __name__ == "__main__":
    sys.exit(main())
