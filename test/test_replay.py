# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""face3d-replay: bag in -> tracker -> bag out (rosbags), stamps kept; errors are clear."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fixtures.make_test_bag import IMAGE_TOPIC, INFO_TOPIC, write_sample_bag  # noqa: E402
from fixtures.stand_ins import FaceLessRecorder  # noqa: E402

from face3d_ros.node.replay import ReplayError, find_face_params_msg, main, replay_bag  # noqa: E402


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Node parameters selecting shipped assets, or untrained test nets when none ship."""
    from fixtures.weights import cached_untrained_assets, package_assets_present

    if package_assets_present():
        return {"min_confidence": 0.0}
    model_path, wdir = cached_untrained_assets(tmp_path_factory.getbasetemp())
    return {"model_path": str(model_path), "weights_dir": str(wdir), "min_confidence": 0.0,
            "threads": 1}


@pytest.fixture(scope="module")
def in_bag(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, list[int]]:
    """A 6-frame MCAP bag of the sample sequence (2 face-less frames) with CameraInfo."""
    path = tmp_path_factory.mktemp("bags") / "input"
    stamps = write_sample_bag(path, 6, faceless=(3, 2))
    return path, stamps


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_replay_writes_readable_bag(
    in_bag: tuple[pathlib.Path, list[int]], params: dict, tmp_path: pathlib.Path, storage: str
) -> None:
    from rosbags.highlevel import AnyReader

    src, stamps = in_bag
    out = tmp_path / "out"
    summary = replay_bag(src, out, IMAGE_TOPIC, camera_info_topic=INFO_TOPIC, storage=storage,
                         params=params, progress=False)
    assert summary["frames"] == 6 and summary["bad_frames"] == 0
    seen: dict[str, list[int]] = {}
    states = []
    with AnyReader([out]) as reader:  # types come from the definitions stored in the bag
        topics = {c.topic for c in reader.connections}
        assert {"/face3d/face_params", "/face3d/overlay", "/face3d/face_mesh",
                IMAGE_TOPIC, INFO_TOPIC} <= topics
        tf_children: set[str] = set()
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/tf":  # no header: one stamp per transform, the image's
                for t in msg.transforms:
                    ns = t.header.stamp.sec * 1_000_000_000 + t.header.stamp.nanosec
                    assert ns in stamps and t.header.frame_id
                    tf_children.add(t.child_frame_id)
                continue
            ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            seen.setdefault(conn.topic, []).append(ns)
            if conn.topic == "/face3d/faces":
                assert conn.msgtype == "face3d_ros/msg/FaceArray"
                assert len(msg.ids) == len(msg.faces)
            if conn.topic == "/face3d/face_params":
                assert conn.msgtype == "face3d_ros/msg/FaceParams"
                assert msg.image_width == 320 and msg.image_height == 240
                states.append(msg.state)
    assert seen["/face3d/face_params"] == stamps
    assert seen["/face3d/overlay"] == stamps
    assert seen["/face3d/face_mesh"] == stamps
    assert seen["/face3d/faces"] == stamps and seen["/face3d/face_poses"] == stamps
    assert seen[IMAGE_TOPIC] == stamps
    assert tf_children and all(c.startswith("face_") for c in tf_children), tf_children
    assert states[3:5] != [1, 1], f"face-less frames must not be TRACKING: {states}"


def test_refuses_to_overwrite(in_bag: tuple[pathlib.Path, list[int]], tmp_path: pathlib.Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    src, _ = in_bag
    out = tmp_path / "exists"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ReplayError, match="is not empty; pass --overwrite"):
        replay_bag(src, out, IMAGE_TOPIC, progress=False)
    assert main([str(src), str(out), "--topic", IMAGE_TOPIC]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # --overwrite never deletes something face3d-replay did not write
    assert main([str(src), str(out), "--topic", IMAGE_TOPIC, "--overwrite"]) == 2
    assert "not written by face3d-replay" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_missing_topic_lists_topics(in_bag: tuple[pathlib.Path, list[int]],
                                    tmp_path: pathlib.Path) -> None:
    src, _ = in_bag
    with pytest.raises(ReplayError) as info:
        replay_bag(src, tmp_path / "o", "/nope/image", progress=False)
    text = str(info.value)
    assert "'/nope/image' is not in" in text and IMAGE_TOPIC in text and "/chatter" in text
    assert not (tmp_path / "o").exists()
    with pytest.raises(ReplayError, match="not sensor_msgs/msg/Image"):
        replay_bag(src, tmp_path / "o", "/chatter", progress=False)
    with pytest.raises(ReplayError, match="does not exist"):
        replay_bag(tmp_path / "missing", tmp_path / "o", IMAGE_TOPIC, progress=False)


def test_bad_parameters_and_msg_location(in_bag: tuple[pathlib.Path, list[int]],
                                         tmp_path: pathlib.Path) -> None:
    src, _ = in_bag
    with pytest.raises(ReplayError, match="backend must be one of"):
        replay_bag(src, tmp_path / "o", IMAGE_TOPIC, params={"backend": "tflite"}, progress=False)
    with pytest.raises(ReplayError, match="unknown parameters: bogus"):
        replay_bag(src, tmp_path / "o", IMAGE_TOPIC, params={"bogus": 1}, progress=False)
    assert find_face_params_msg().name == "FaceParams.msg"


def test_missing_weights_is_a_clear_error(in_bag: tuple[pathlib.Path, list[int]],
                                          params: dict, tmp_path: pathlib.Path) -> None:
    src, _ = in_bag
    bad = dict(params, weights_dir=str(tmp_path / "none"))
    with pytest.raises(ReplayError, match=r"weights .*none.*does not exist"):
        replay_bag(src, tmp_path / "o", IMAGE_TOPIC, params=bad, progress=False)
    assert not (tmp_path / "o").exists()


def test_images_processed_in_stamp_order(tmp_path: pathlib.Path) -> None:
    """Images recorded out of stamp order reach the tracker sorted by header stamp."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.node.conversions import numpy_to_image
    from face3d_ros.node.sample_player import make_header

    store = get_typestore(Stores.ROS2_KILTED)
    order = [0, 2, 1, 3, 5, 4]
    with Writer(tmp_path / "in", version=9) as writer:
        conn = writer.add_connection(IMAGE_TOPIC, "sensor_msgs/msg/Image", typestore=store)
        for k, i in enumerate(order):
            img = numpy_to_image(np.full((8, 8, 3), 10 * i, np.uint8), "rgb8", make_header(i))
            writer.write(conn, 1_000_000 * k, serialize_message(img))

    rec = FaceLessRecorder(lambda rgb: int(rgb[0, 0, 0]) // 10)
    summary = replay_bag(tmp_path / "in", tmp_path / "out", IMAGE_TOPIC, tracker=rec,
                         model_data=make_synthetic_model(), progress=False)
    assert rec.seen == sorted(order) and summary["out_of_order"] == 0
    assert summary["states"]["INITIALISING"] == len(order)


def test_corrupt_weights_is_a_clear_error(in_bag: tuple[pathlib.Path, list[int]],
                                          params: dict, tmp_path: pathlib.Path) -> None:
    import shutil

    from face3d_ros.runtime.bundle import default_weights_dir

    src, _ = in_bag
    wdir = tmp_path / "weights"
    shutil.copytree(params.get("weights_dir") or default_weights_dir(), wdir)
    data = (wdir / "coarse.onnx").read_bytes()
    (wdir / "coarse.onnx").write_bytes(data[: len(data) // 2])  # truncated download
    bad = dict(params, weights_dir=str(wdir))
    with pytest.raises(ReplayError, match=r"weights .*coarse"):
        replay_bag(src, tmp_path / "o", IMAGE_TOPIC, params=bad, progress=False)
