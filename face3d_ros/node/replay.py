# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``face3d-replay``: run the face tracker over a recorded ROS 2 bag and write a new bag.

Example:
    python -m face3d_ros.node.replay in_bag out_bag --topic /camera/image_raw \
        --camera-info-topic /camera/camera_info

The input bag (sqlite3 or MCAP, read with rosbags' AnyReader) is read in recording order and the
images (sensor_msgs/Image, or sensor_msgs/CompressedImage JPEG/PNG: told by the topic's type in
the bag) are processed in header-stamp order (a reorder window of :data:`REORDER_WINDOW` frames);
every image goes through the same decoding, tracker and message builders as the live node
(face3d_ros.node), and each output is written with the input message's recording time and header,
so ``ros2 bag play``, Foxglove or rviz show it in sync with the input. Output topics (prefix
``--output-prefix``, default ``/face3d``): ``face_params``, ``displacement``, ``coarse_depth``,
``face_mesh``, ``overlay``; the input image and CameraInfo topics are copied unless
``--no-copy-inputs``. Unlike the node, no frame is dropped: every image is processed.

The FaceParams type is registered in the output bag from the package's own ``msg/FaceParams.msg``
(found in the installed share folder or the source tree), so readers need no build of this
package to decode it.

What a replay never does (docs/node.md, "Bag replay"): write into, over or around its input
(an output equal to, inside or containing the input is refused whatever the flags); replace
anything but an earlier output of its own with ``--overwrite`` (:mod:`face3d_ros.safe_output`);
leave an unreadable output behind: it writes ``<out>.partial`` and renames it when complete; an
interruption or an input that breaks off leaves ``<out>.partial`` closed (readable) and marked
incomplete, and the next run replaces it. Bad input (undecodable messages, rejected images,
unusable CameraInfo) is counted and logged (the first three of each kind) and the replay goes on;
an unreadable input bag is an ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import pathlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from face3d_ros.safe_output import (
    MARKER,
    OutputError,
    check_no_overlap,
    check_replaceable,
    read_marker,
    remove_own,
    write_marker,
)

__all__ = [
    "ReplayError",
    "ReplayInterruptedError",
    "ReplaySummary",
    "check_output",
    "find_face_params_msg",
    "main",
    "output_typestore",
    "partial_path",
    "replay_bag",
]

TOOL = "face3d-replay"
#: What a replay writes into its output folder (besides the marker): rosbags' metadata and one
#: storage file. ``--overwrite`` replaces a folder only when it holds nothing else.
LAYOUT = ("metadata.yaml", "*.mcap", "*.db3", "*.db3-shm", "*.db3-wal")
PARTIAL_SUFFIX = ".partial"
FACE_PARAMS_TYPE = "face3d_ros/msg/FaceParams"
FACE_ARRAY_TYPE = "face3d_ros/msg/FaceArray"
#: Image topic types a replay processes (the node's raw and compressed transports).
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
#: Images are processed in header-stamp order within this many frames of recording order.
REORDER_WINDOW = 30


class ReplayError(RuntimeError):
    """A replay that cannot run (bad paths, missing topic, ...); the message says why."""


class ReplayInterruptedError(ReplayError):
    """The replay was interrupted (SIGINT/SIGTERM); the message names the partial output."""


class ReplaySummary(dict):
    """Counts of one replay (frames, states, bad frames, output path), a plain dict."""


def find_face_params_msg() -> pathlib.Path:
    """Locate ``FaceParams.msg``: installed package share first, then the source tree.

    Raises:
        ReplayError: not found (the paths tried are listed).
    """
    from face3d_ros.node.share import share_file

    try:
        return share_file("msg/FaceParams.msg")
    except FileNotFoundError as exc:
        raise ReplayError(str(exc)) from exc


def output_typestore() -> Any:
    """A rosbags typestore (ROS 2 Kilted) with face3d_ros' FaceParams and FaceArray registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    face_params = find_face_params_msg()
    store.register(get_types_from_msg(face_params.read_text(), FACE_PARAMS_TYPE))
    array = face_params.with_name("FaceArray.msg")
    store.register(get_types_from_msg(array.read_text(), FACE_ARRAY_TYPE))
    return store


def partial_path(out: pathlib.Path) -> pathlib.Path:
    """Where a replay writes before its output is complete: ``<out>.partial`` beside ``out``."""
    out = pathlib.Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def check_output(in_bag: pathlib.Path, out: pathlib.Path, overwrite: bool) -> None:
    """Refuse outputs that must not be written (see the module docstring); no side effects.

    Raises:
        ReplayError: output equal to, inside or containing the input (whatever the flags); an
            existing output without ``overwrite``; with it, an output face3d-replay did not
            write; a ``.partial`` folder that is not a leftover of face3d-replay.
    """
    partial = partial_path(out)
    try:
        check_no_overlap(out, [in_bag])
        check_no_overlap(partial, [in_bag])
        check_replaceable(out, TOOL, LAYOUT, overwrite=overwrite)
    except OutputError as exc:
        raise ReplayError(str(exc)) from exc
    if partial.exists() or partial.is_symlink():
        marker = read_marker(partial) if partial.is_dir() and not partial.is_symlink() else None
        if marker is None or marker.get("tool") != TOOL or marker.get("complete"):
            raise ReplayError(
                f"{partial} exists and is not a leftover of an interrupted face3d-replay; move it "
                "away"
            )


def _remove_leftover(partial: pathlib.Path, log: Any) -> None:
    """Delete an interrupted replay's ``.partial`` output (checked by :func:`check_output`)."""
    if partial.exists():
        try:
            remove_own(partial, TOOL, LAYOUT)
        except OutputError as exc:
            raise ReplayError(str(exc)) from exc
        log(f"removed the partial output {partial} of an earlier interrupted replay")


class _Problems:
    """Counts bad input by kind and logs only the first :attr:`SHOWN` messages of each kind."""

    SHOWN = 3

    def __init__(self, log: Any) -> None:
        self._log = log
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, text: str) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= self.SHOWN:
            more = "; further ones are only counted" if n == self.SHOWN else ""
            self._log(f"{text}{more}")

def load_params_file(path: pathlib.Path | None) -> dict[str, Any]:
    """Read ``ros__parameters`` for face3d_node from a ROS parameter YAML (``/**`` or the name)."""
    if path is None:
        return {}
    import yaml

    doc = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    merged: dict[str, Any] = {}
    for key in ("/**", "face3d_node", "/face3d_node"):
        section = doc.get(key, {})
        merged.update((section or {}).get("ros__parameters", {}))
    return merged


def replay_bag(
    in_bag: pathlib.Path,
    out_bag: pathlib.Path,
    topic: str,
    *,
    camera_info_topic: str | None = None,
    overwrite: bool = False,
    copy_inputs: bool = True,
    output_prefix: str = "/face3d",
    storage: str = "mcap",
    params: dict[str, Any] | None = None,
    tracker: Any = None,
    model_data: Any = None,
    progress: bool = True,
    log: Any = None,
) -> ReplaySummary:
    """Run the tracker over ``topic`` of ``in_bag`` and write the outputs to ``out_bag``.

    The bag is written to ``<out_bag>.partial`` and renamed to ``out_bag`` once complete (an
    earlier output is replaced only then); on an interruption (KeyboardInterrupt, which the
    command line also raises on SIGTERM) or an input bag that cannot be read to its end, the
    partial bag is closed cleanly (readable, marked ``"complete": false`` in its
    :data:`~face3d_ros.safe_output.MARKER`) and the next run replaces it.

    Args:
        in_bag: input bag folder (or .mcap / .db3 file).
        out_bag: output bag folder (created; must not exist unless ``overwrite``).
        topic: sensor_msgs/Image or sensor_msgs/CompressedImage topic to process (the type
            is read from the bag; ``params["image_transport"]`` is not used).
        camera_info_topic: optional CameraInfo topic (metric mesh placement).
        overwrite: replace an earlier output of face3d-replay (never anything else).
        copy_inputs: copy the image (and CameraInfo) topics into the output bag.
        output_prefix: namespace of the output topics.
        storage: ``mcap`` or ``sqlite3``.
        params: node parameters (face3d.yaml keys) overriding the defaults.
        tracker: an already-built tracker (tests); built from ``params`` when None.
        model_data: the FaceModelData matching ``tracker`` (required with ``tracker``).
        progress: show a tqdm progress bar.
        log: callable for warnings (default: stderr).

    Returns:
        A summary: frames, per-state counts, bad frames (undecodable or rejected images),
        failed frames, bad CameraInfo messages, frames placed with assumed intrinsics although
        a CameraInfo was there (``camera_info_rejected``), output path.

    Raises:
        ReplayError: missing or unreadable input, an output that may not be written (see
            :func:`check_output`), missing topic (the topics present are listed), wrong
            message type, a tracker that cannot be loaded, or an input bag that breaks off
            (the frames before it are in the partial output).
        ReplayInterruptedError: interrupted; the partial output is named.
    """
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from tqdm import tqdm

    from face3d_ros.node.builders import ModelInfo, choose_intrinsics, published_state
    from face3d_ros.node.camera_info import StampCache, select, stamp_ns
    from face3d_ros.node.conversions import ImageConverter
    from face3d_ros.node.frame_outputs import FrameOutputs
    from face3d_ros.node.parameters import (
        PARAMETERS,
        NodeParams,
        invalid_parameters_in,
        multi_face_config,
    )
    from face3d_ros.node.topics import OUTPUT_TYPES, TF_TOPIC
    from face3d_ros.pipeline.multi import MultiFaceTracker
    from face3d_ros.pipeline.states import STATE_NAMES

    log = log or (lambda text: print(f"face3d-replay: {text}", file=sys.stderr))
    in_bag, out_bag = pathlib.Path(in_bag), pathlib.Path(out_bag)
    if not in_bag.exists():
        raise ReplayError(f"input bag {in_bag} does not exist")
    if storage not in ("mcap", "sqlite3"):
        raise ReplayError(f"storage must be mcap or sqlite3, got {storage!r}")
    values = {p.name: p.default for p in PARAMETERS}
    # use_sim_time and the node's QoS overrides have no meaning for a bag replay
    unknown = {
        k for k in (params or {}) if not k.startswith("qos_overrides.")
    } - set(values) - {"use_sim_time"}
    if unknown:
        raise ReplayError(f"unknown parameters: {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in (params or {}).items() if k in values})
    reasons = invalid_parameters_in(values)
    if reasons:
        raise ReplayError("invalid parameters: " + "; ".join(reasons))
    p = NodeParams(**values)
    check_output(in_bag, out_bag, overwrite)

    store = output_typestore()
    try:
        reader = AnyReader([in_bag], default_typestore=store)
        reader.open()
    except Exception as exc:  # rosbags, sqlite3 and mcap errors alike: an unreadable input
        raise ReplayError(f"cannot read input bag {in_bag}: {type(exc).__name__}: {exc}") from exc
    with contextlib.closing(reader):
        present = {c.topic: c.msgtype for c in reader.connections}
        if topic not in present:
            listing = ", ".join(f"{t} [{m}]" for t, m in sorted(present.items())) or "none"
            raise ReplayError(f"topic {topic!r} is not in {in_bag}; topics present: {listing}")
        if present[topic] not in IMAGE_TYPES:
            raise ReplayError(
                f"topic {topic!r} has type {present[topic]}, not {' or '.join(IMAGE_TYPES)}"
            )
        image_class = CompressedImage if present[topic] == IMAGE_TYPES[1] else Image
        if camera_info_topic is not None and camera_info_topic not in present:
            listing = ", ".join(sorted(present))
            raise ReplayError(
                f"camera info topic {camera_info_topic!r} is not in {in_bag}; topics present: "
                f"{listing}"
            )
        if tracker is None:
            from face3d_ros.node.tracking import TrackerLoadError, load_tracker

            try:
                tracker, model_data = load_tracker(p)
            except TrackerLoadError as exc:
                raise ReplayError(str(exc)) from exc
        model = ModelInfo.from_model_data(model_data)
        converter = ImageConverter("never", max_pixels=p.max_image_pixels)
        if not isinstance(tracker, MultiFaceTracker):
            tracker = MultiFaceTracker(tracker, multi_face_config(p))
        outputs = FrameOutputs(model)

        prefix = "/" + output_prefix.strip("/") if output_prefix.strip("/") else ""
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        in_conns = [c for c in reader.connections if c.topic in (topic, camera_info_topic)]
        counts = dict.fromkeys(STATE_NAMES.values(), 0)
        summary = ReplaySummary(frames=0, bad_frames=0, failed_frames=0, out_of_order=0,
                                bad_camera_info=0, camera_info_rejected=0, states=counts,
                                output=str(out_bag))
        problem = _Problems(log)
        cache = StampCache()
        warned = False
        total = sum(c.msgcount for c in reader.connections if c.topic == topic)
        partial = partial_path(out_bag)
        _remove_leftover(partial, log)
        stopped: BaseException | None = None  # why the replay ended early, if it did
        info = {"input": str(in_bag), "topic": topic}
        with Writer(partial, version=9, storage_plugin=plugin) as writer:
            write_marker(partial, TOOL, complete=False, reason="running", **info)
            out = {
                name: writer.add_connection(f"{prefix}/{name}", msgtype, typestore=store)
                for name, msgtype in OUTPUT_TYPES
            }
            out[TF_TOPIC[0]] = writer.add_connection(TF_TOPIC[0], TF_TOPIC[1], typestore=store)
            copies = {}
            if copy_inputs:
                for c in in_conns:
                    if c.topic not in copies:
                        copies[c.topic] = writer.add_connection(c.topic, c.msgtype, typestore=store)
            bar = tqdm(total=total, unit="frame", disable=not progress, desc="face3d-replay")

            def process(timestamp: int, msg: Any) -> None:
                nonlocal warned
                summary["frames"] += 1
                header = msg.header
                try:
                    rgb, msg = converter.decode(msg)  # msg: header, width, height
                except ValueError as exc:
                    summary["bad_frames"] += 1
                    problem("rejected", f"rejected image at {timestamp} ns: {exc}")
                    return
                try:
                    frame = tracker.step(rgb)
                except Exception as exc:  # one frame must not end the replay
                    summary["failed_frames"] += 1
                    problem("failed", f"tracker failed at {timestamp} ns: "
                                      f"{type(exc).__name__}: {exc}")
                    return
                counts[STATE_NAMES[published_state(frame.primary)]] += 1

                def intrinsics() -> Any:
                    nonlocal warned
                    slop_ns = int(p.camera_info_slop * 1e9)
                    cam_info = select(cache.messages(), stamp_ns(header.stamp), slop_ns)
                    cam, cam_problem = choose_intrinsics(cam_info, msg.width, msg.height,
                                                         p.assumed_focal_px)
                    if cam_problem is not None:
                        summary["camera_info_rejected"] += 1
                        problem("camera_info", f"{cam_problem}; the face_mesh at {timestamp} ns "
                                               f"is placed with assumed_focal_px="
                                               f"{p.assumed_focal_px}")
                    elif cam_info is None and not warned:
                        warned = True
                        log(f"no CameraInfo: face_mesh placed with assumed_focal_px="
                            f"{p.assumed_focal_px}")
                    return cam

                built = outputs.build(frame, rgb, header, (msg.width, msg.height), p,
                                      intrinsics, lambda name: True)
                if outputs.tf_without_frame and p.publish_tf:
                    problem("tf_frame", f"image at {timestamp} ns has an empty frame_id: no "
                                        "head poses on /tf")
                for name, out_msg in built:
                    data = out_msg if isinstance(out_msg, bytes) else serialize_message(out_msg)
                    writer.write(out[name], timestamp, data)

            def flush(keep: int) -> None:
                nonlocal last_done
                while len(pending) > keep:
                    stamp, _, ts, image = heapq.heappop(pending)
                    if stamp < last_done:
                        summary["out_of_order"] += 1
                    last_done = max(last_done, stamp)
                    process(ts, image)
                    bar.update(1)

            # Images go through a small reorder buffer so they are processed in header-stamp
            # order even when recording order differs slightly.
            pending: list[tuple[int, int, int, Any]] = []
            seq = 0
            last_done = -1
            messages = iter(reader.messages(connections=in_conns))
            try:
                while True:
                    try:
                        conn, timestamp, raw = next(messages)
                    except StopIteration:
                        break
                    except Exception as exc:  # a bag that breaks off (truncated, corrupt)
                        stopped = ReplayError(
                            f"input bag {in_bag} cannot be read past message {seq}: "
                            f"{type(exc).__name__}: {exc}"
                        )
                        break
                    if conn.topic in copies:
                        writer.write(copies[conn.topic], timestamp, raw)
                    if conn.topic == camera_info_topic:
                        try:
                            cache.add(deserialize_message(bytes(raw), CameraInfo))
                        except Exception as exc:  # undecodable bytes from the bag
                            summary["bad_camera_info"] += 1
                            problem("bad_camera_info", f"undecodable CameraInfo at {timestamp} "
                                                       f"ns: {type(exc).__name__}: {exc}")
                        continue
                    try:
                        image = deserialize_message(bytes(raw), image_class)
                    except Exception as exc:  # undecodable bytes from the bag
                        summary["frames"] += 1
                        summary["bad_frames"] += 1
                        problem("undecodable", f"undecodable image message at {timestamp} ns: "
                                               f"{type(exc).__name__}: {exc}")
                        bar.update(1)
                        continue
                    heapq.heappush(pending, (stamp_ns(image.header.stamp), seq, timestamp,
                                             image))
                    seq += 1
                    flush(REORDER_WINDOW)
                if stopped is None:
                    flush(0)
            except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM from main()
                stopped = exc
            bar.close()
            reason = "complete" if stopped is None else (
                "interrupted" if isinstance(stopped, KeyboardInterrupt) else str(stopped))
            write_marker(partial, TOOL, complete=stopped is None, reason=reason,
                         frames=summary["frames"], states=counts, **info)
        # the Writer is closed: the partial bag has its index and metadata, readable either way
    if stopped is not None:
        where = (f"the {summary['frames']} frames read are in {partial} (a readable bag "
                 f"marked partial in {MARKER}; the next run replaces it)")
        if isinstance(stopped, KeyboardInterrupt):
            raise ReplayInterruptedError(f"interrupted; {where}")
        raise ReplayError(f"{stopped}; {where}")
    if out_bag.exists() or out_bag.is_symlink():
        try:
            remove_own(out_bag, TOOL, LAYOUT)
        except OutputError as exc:
            raise ReplayError(f"{exc}; the new output is complete in {partial}") from exc
    partial.rename(out_bag)
    for kind, n in problem.counts.items():
        if n > _Problems.SHOWN:
            log(f"{n} frames with problem '{kind}' in all (first {_Problems.SHOWN} shown)")
    if summary["out_of_order"]:
        log(f"{summary['out_of_order']} images came more than {REORDER_WINDOW} frames after "
            "newer ones and were processed late (out of stamp order)")
    return summary

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="face3d-replay",
        description="Run face3d_ros over the image topic of a ROS 2 bag and write a new bag.",
        epilog=(
            "Guarantees: the output may not be, lie inside or contain the input (refused "
            "whatever the flags). The bag is written to OUT_BAG.partial and renamed to OUT_BAG "
            "when complete; on Ctrl-C / SIGTERM (exit 130) or an input bag that breaks off "
            "(exit 2) OUT_BAG.partial is closed as a readable bag, marked incomplete in its "
            f"{MARKER}, and the next run replaces it. --overwrite replaces only an earlier "
            f"output of face3d-replay (a folder with its {MARKER} and nothing but its bag "
            "files), after the new one is complete; anything else is refused and nothing is "
            "deleted. Images larger than max_image_pixels (parameter; default 4096 x 4096) and "
            "undecodable messages are counted as bad frames, and the replay goes on."
        ),
    )
    ap.add_argument("in_bag", type=pathlib.Path, help="input bag (folder, .mcap or .db3)")
    ap.add_argument("out_bag", type=pathlib.Path,
                    help="output bag folder (must not exist, or be empty, unless --overwrite)")
    ap.add_argument("--topic", required=True,
                    help="sensor_msgs/Image or sensor_msgs/CompressedImage (jpeg, png) topic to "
                         "process; the type is read from the bag")
    ap.add_argument("--camera-info-topic", default=None, help="sensor_msgs/CameraInfo topic")
    ap.add_argument("--params-file", type=pathlib.Path, default=None,
                    help="node parameter YAML (e.g. config/face3d.yaml)")
    ap.add_argument("--output-prefix", default="/face3d", help="namespace of the output topics")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    ap.add_argument("--no-copy-inputs", action="store_true",
                    help="do not copy the input image/CameraInfo topics into the output bag")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an earlier output of face3d-replay (never anything else)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Returns:
        0 on success, 2 on a ReplayError (message on stderr), 130 when interrupted by SIGINT
        or SIGTERM (the partial output is named).
    """
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        summary = replay_bag(
            args.in_bag,
            args.out_bag,
            args.topic,
            camera_info_topic=args.camera_info_topic,
            overwrite=args.overwrite,
            copy_inputs=not args.no_copy_inputs,
            output_prefix=args.output_prefix,
            storage=args.storage,
            params=load_params_file(args.params_file),
            progress=not args.no_progress,
        )
    except ReplayInterruptedError as exc:
        print(f"face3d-replay: {exc}", file=sys.stderr)
        return 130
    except ReplayError as exc:
        print(f"face3d-replay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("face3d-replay: interrupted before any output was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    states = ", ".join(f"{k} {v}" for k, v in summary["states"].items())
    print(
        f"face3d-replay: {summary['frames']} frames ({states}; bad {summary['bad_frames']}, "
        f"failed {summary['failed_frames']}, CameraInfo not used "
        f"{summary['camera_info_rejected']}) -> {summary['output']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
