# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``face3d-replay``: run the face tracker over a recorded ROS 2 bag and write a new bag.

Example:
    python -m face3d_ros.replay in_bag out_bag --topic /camera/image_raw \
        --camera-info-topic /camera/camera_info

The input bag (sqlite3 or MCAP, read with rosbags' AnyReader) is read in recording order and the
images are processed in header-stamp order (a reorder window of :data:`REORDER_WINDOW` frames);
every image goes through the same decoding, tracker and message builders as the live node
(face3d_ros.node), and each output is written with the input message's recording time and header,
so ``ros2 bag play``, Foxglove or rviz show it in sync with the input. Output topics (prefix
``--output-prefix``, default ``/face3d``): ``face_params``, ``displacement``, ``coarse_depth``,
``face_mesh``, ``overlay``; the input image and CameraInfo topics are copied unless
``--no-copy-inputs``. Unlike the node, no frame is dropped: every image is processed.

The FaceParams type is registered in the output bag from the package's own ``msg/FaceParams.msg``
(found in the installed share folder or the source tree), so readers need no build of this
package to decode it.
"""

from __future__ import annotations

import argparse
import heapq
import pathlib
import shutil
import struct
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ReplayError",
    "ReplaySummary",
    "find_face_params_msg",
    "main",
    "output_typestore",
    "replay_bag",
]

FACE_PARAMS_TYPE = "face3d_ros/msg/FaceParams"
#: Images are processed in header-stamp order within this many frames of recording order.
REORDER_WINDOW = 30


class ReplayError(RuntimeError):
    """A replay that cannot run (bad paths, missing topic, ...); the message says why."""


class ReplaySummary(dict):
    """Counts of one replay (frames, states, bad frames, output path), a plain dict."""


def find_face_params_msg() -> pathlib.Path:
    """Locate ``FaceParams.msg``: installed package share first, then the source tree.

    Raises:
        ReplayError: not found (the paths tried are listed).
    """
    tried: list[pathlib.Path] = []
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )

        try:
            tried.append(
                pathlib.Path(get_package_share_directory("face3d_ros")) / "msg" / "FaceParams.msg"
            )
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    here = pathlib.Path(__file__).resolve().parent
    tried += [here.parent / "msg" / "FaceParams.msg", here / "msg" / "FaceParams.msg"]
    for path in tried:
        if path.is_file():
            return path
    raise ReplayError(
        "cannot find FaceParams.msg; tried: " + ", ".join(str(p) for p in tried)
    )


def output_typestore() -> Any:
    """A rosbags typestore (ROS 2 Kilted) with face3d_ros/msg/FaceParams registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    text = find_face_params_msg().read_text()
    store.register(get_types_from_msg(text, FACE_PARAMS_TYPE))
    return store


def _check_output(out: pathlib.Path, overwrite: bool) -> None:
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise ReplayError(f"output {out} exists; pass --overwrite to replace it")
        if not (out.is_dir() and not out.is_symlink()) or not (
            not any(out.iterdir()) or (out / "metadata.yaml").is_file()
        ):
            raise ReplayError(
                f"refusing to replace {out}: it is not a bag folder (no metadata.yaml)"
            )


def _prepare_output(out: pathlib.Path, overwrite: bool) -> None:
    _check_output(out, overwrite)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)


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

    Args:
        in_bag: input bag folder (or .mcap / .db3 file).
        out_bag: output bag folder (created; must not exist unless ``overwrite``).
        topic: sensor_msgs/Image topic to process.
        camera_info_topic: optional CameraInfo topic (metric mesh placement).
        overwrite: replace an existing output bag folder.
        copy_inputs: copy the image (and CameraInfo) topics into the output bag.
        output_prefix: namespace of the output topics.
        storage: ``mcap`` or ``sqlite3``.
        params: node parameters (face3d.yaml keys) overriding the defaults.
        tracker: an already-built tracker (tests); built from ``params`` when None.
        model_data: the FaceModelData matching ``tracker`` (required with ``tracker``).
        progress: show a tqdm progress bar.
        log: callable for warnings (default: stderr).

    Returns:
        A summary: frames, per-state counts, bad frames, output path.

    Raises:
        ReplayError: missing input, existing output, missing topic (the topics present are
            listed), wrong message type, or a tracker that cannot be loaded.
    """
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from sensor_msgs.msg import CameraInfo, Image
    from tqdm import tqdm

    from face3d_ros.node.builders import (
        CameraIntrinsics,
        InitCounter,
        ModelInfo,
        build_depth_image,
        build_face_params,
        build_overlay,
        published_state,
        serialize_mesh_marker,
    )
    from face3d_ros.node.camera_info import StampCache, select, stamp_ns
    from face3d_ros.node.conversions import image_to_rgb8, numpy_to_image
    from face3d_ros.node.parameters import PARAMETERS, NodeParams, invalid_parameters_in

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

    store = output_typestore()
    with AnyReader([in_bag], default_typestore=store) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        if topic not in present:
            listing = ", ".join(f"{t} [{m}]" for t, m in sorted(present.items())) or "none"
            raise ReplayError(f"topic {topic!r} is not in {in_bag}; topics present: {listing}")
        if present[topic] != "sensor_msgs/msg/Image":
            raise ReplayError(
                f"topic {topic!r} has type {present[topic]}, not sensor_msgs/msg/Image"
            )
        if camera_info_topic is not None and camera_info_topic not in present:
            listing = ", ".join(sorted(present))
            raise ReplayError(
                f"camera info topic {camera_info_topic!r} is not in {in_bag}; topics present: "
                f"{listing}"
            )
        _check_output(out_bag, overwrite)
        if tracker is None:
            from face3d_ros.node.tracking import TrackerLoadError, load_tracker

            try:
                tracker, model_data = load_tracker(p)
            except TrackerLoadError as exc:
                raise ReplayError(str(exc)) from exc
        model = ModelInfo.from_model_data(model_data)
        _prepare_output(out_bag, overwrite)

        prefix = "/" + output_prefix.strip("/") if output_prefix.strip("/") else ""
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        in_conns = [c for c in reader.connections if c.topic in (topic, camera_info_topic)]
        counts = {"INITIALISING": 0, "TRACKING": 0, "LOST": 0}
        summary = ReplaySummary(frames=0, bad_frames=0, failed_frames=0, out_of_order=0,
                                states=counts, output=str(out_bag))
        cache = StampCache()
        init_counter = InitCounter()
        warned = False
        total = sum(c.msgcount for c in reader.connections if c.topic == topic)
        with Writer(out_bag, version=9, storage_plugin=plugin) as writer:
            out = {
                name: writer.add_connection(f"{prefix}/{name}", msgtype, typestore=store)
                for name, msgtype in (
                    ("face_params", FACE_PARAMS_TYPE),
                    ("displacement", "sensor_msgs/msg/Image"),
                    ("coarse_depth", "sensor_msgs/msg/Image"),
                    ("face_mesh", "visualization_msgs/msg/Marker"),
                    ("overlay", "sensor_msgs/msg/Image"),
                )
            }
            copies = {}
            if copy_inputs:
                for c in in_conns:
                    if c.topic not in copies:
                        copies[c.topic] = writer.add_connection(c.topic, c.msgtype, typestore=store)
            bar = tqdm(total=total, unit="frame", disable=not progress, desc="face3d-replay")
            def process(timestamp: int, raw: bytes) -> None:
                nonlocal warned
                bar.update(1)
                summary["frames"] += 1
                msg = deserialize_message(raw, Image)
                header = msg.header
                try:
                    rgb = image_to_rgb8(msg)
                except ValueError as exc:
                    summary["bad_frames"] += 1
                    log(f"rejected image at {timestamp} ns: {exc}")
                    return
                try:
                    result = tracker.step(rgb)
                except Exception as exc:  # one frame must not end the replay
                    summary["failed_frames"] += 1
                    log(f"tracker failed at {timestamp} ns: {type(exc).__name__}: {exc}")
                    return
                counts[("INITIALISING", "TRACKING", "LOST")[published_state(result)]] += 1
                outputs = [
                    ("face_params", build_face_params(result, header, model, msg.width,
                                                      msg.height, init_counter.update(result))),
                    ("overlay", numpy_to_image(build_overlay(rgb, result, model), "rgb8", header)),
                ]
                if result.displacement is not None:
                    outputs.append(("displacement", build_depth_image(result.displacement, header)))
                if result.coarse_depth is not None:
                    outputs.append(("coarse_depth", build_depth_image(result.coarse_depth, header)))
                slop_ns = int(p.camera_info_slop * 1e9)
                info = select(cache.messages(), stamp_ns(header.stamp), slop_ns)
                if info is None:
                    if not warned:
                        warned = True
                        log(f"no CameraInfo: face_mesh placed with assumed_focal_px="
                            f"{p.assumed_focal_px}")
                    cam = CameraIntrinsics.assumed_for(msg.width, msg.height, p.assumed_focal_px)
                else:
                    cam = CameraIntrinsics.from_camera_info(info)
                for name, out_msg in outputs:
                    writer.write(out[name], timestamp, serialize_message(out_msg))
                mesh = serialize_mesh_marker(result, header, model, cam, frame_id=p.mesh_frame)
                writer.write(out["face_mesh"], timestamp, mesh)

            # Images go through a small reorder buffer so they are processed in header-stamp
            # order even when recording order differs slightly (the CDR header stamp is read
            # straight from the raw bytes: encapsulation, int32 sec, uint32 nanosec).
            pending: list[tuple[int, int, int, bytes]] = []
            seq = 0
            last_done = -1
            for conn, timestamp, raw in reader.messages(connections=in_conns):
                if conn.topic in copies:
                    writer.write(copies[conn.topic], timestamp, raw)
                if conn.topic == camera_info_topic:
                    cache.add(deserialize_message(bytes(raw), CameraInfo))
                    continue
                sec, nsec = struct.unpack_from("<iI", raw, 4)
                heapq.heappush(pending, (sec * 1_000_000_000 + nsec, seq, timestamp, bytes(raw)))
                seq += 1
                while len(pending) > REORDER_WINDOW:
                    stamp, _, ts, data = heapq.heappop(pending)
                    if stamp < last_done:
                        summary["out_of_order"] += 1
                    last_done = max(last_done, stamp)
                    process(ts, data)
            while pending:
                stamp, _, ts, data = heapq.heappop(pending)
                if stamp < last_done:
                    summary["out_of_order"] += 1
                last_done = max(last_done, stamp)
                process(ts, data)
            bar.close()
    if summary["out_of_order"]:
        log(f"{summary['out_of_order']} images came more than {REORDER_WINDOW} frames after "
            "newer ones and were processed late (out of stamp order)")
    return summary


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="face3d-replay",
        description="Run face3d_ros over the image topic of a ROS 2 bag and write a new bag.",
    )
    ap.add_argument("in_bag", type=pathlib.Path, help="input bag (folder, .mcap or .db3)")
    ap.add_argument("out_bag", type=pathlib.Path, help="output bag folder (must not exist)")
    ap.add_argument("--topic", required=True, help="sensor_msgs/Image topic to process")
    ap.add_argument("--camera-info-topic", default=None, help="sensor_msgs/CameraInfo topic")
    ap.add_argument("--params-file", type=pathlib.Path, default=None,
                    help="node parameter YAML (e.g. config/face3d.yaml)")
    ap.add_argument("--output-prefix", default="/face3d", help="namespace of the output topics")
    ap.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    ap.add_argument("--no-copy-inputs", action="store_true",
                    help="do not copy the input image/CameraInfo topics into the output bag")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0 on success, 2 on a ReplayError (message on stderr)."""
    args = _parser().parse_args(argv)
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
    except ReplayError as exc:
        print(f"face3d-replay: error: {exc}", file=sys.stderr)
        return 2
    states = ", ".join(f"{k} {v}" for k, v in summary["states"].items())
    print(
        f"face3d-replay: {summary['frames']} frames ({states}; bad {summary['bad_frames']}, "
        f"failed {summary['failed_frames']}) -> {summary['output']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
