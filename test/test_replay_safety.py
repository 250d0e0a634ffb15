# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The offline tools never delete what a user gave, survive bad input, and end cleanly.

face3d-replay: output vs input (issue 12 item 1), interruption (6), undecodable messages (3),
unusable CameraInfo (4, 8), unreadable input bags (7). face3d-demo: what --overwrite may
replace (2). A stand-in tracker keeps these tests free of model loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import signal
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "test")):  # training/ and test/fixtures/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fixtures.make_test_bag import IMAGE_TOPIC, INFO_TOPIC, write_sample_bag  # noqa: E402
from fixtures.stand_ins import OneFaceTrackerBase  # noqa: E402

from face3d_ros.node import replay  # noqa: E402
from face3d_ros.node.replay import (  # noqa: E402
    ReplayError,
    ReplayInterruptedError,
    main,
    partial_path,
    replay_bag,
)
from face3d_ros.safe_output import MARKER, read_marker  # noqa: E402


def _digest(path: pathlib.Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (or of ``path`` itself), by relative name."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(f.relative_to(path.parent)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in files}


class _Tracker(OneFaceTrackerBase):
    """Stand-in tracker: TRACKING with the synthetic model's mean face (or raise on a frame)."""

    def __init__(self, model: object, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.model, self.interrupt_at, self.calls = model, interrupt_at, 0

    def step(self, rgb: np.ndarray) -> object:
        from face3d_ros.params import FaceParams
        from face3d_ros.pipeline import TrackResult, TrackState

        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls += 1
        m = self.model
        h, w = rgb.shape[:2]
        params = FaceParams.neutral(
            (m.n_id, m.n_exp, m.n_alb),
            pose=np.array([0.0, 0.0, 0.0, w / 2, h / 2, 0.1], np.float32),
        )
        return TrackResult(TrackState.TRACKING, params, np.zeros((68, 2), np.float32), None,
                           0.8, m.mean_shape, None, None)


@pytest.fixture(scope="module")
def model() -> object:
    from face3d_ros.model.synthetic import make_synthetic_model

    return make_synthetic_model()


@pytest.fixture
def bag(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "input"
    write_sample_bag(path, 4, width=96, height=64)
    return path


def _run(src: pathlib.Path, out: pathlib.Path, model: object, **kw: object) -> dict:
    tracker = kw.pop("tracker", None) or _Tracker(model)
    return replay_bag(src, out, IMAGE_TOPIC, tracker=tracker, model_data=model,
                      progress=False, log=kw.pop("log", lambda text: None), **kw)


# ------------------------------------------------------------------ item 1: output vs input


@pytest.mark.parametrize("case", ["same", "inside", "file_in_folder", "symlink", "parent"])
def test_output_overlapping_the_input_is_refused_and_input_kept(
    case: str, bag: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """IN IN --overwrite, IN/x.mcap IN --overwrite, ... refuse and delete nothing."""
    mcap = next(bag.glob("*.mcap"))
    src, out = {
        "same": (bag, bag),
        "inside": (bag, bag / "sub"),
        "file_in_folder": (mcap, bag),
        "symlink": (bag, tmp_path / "link"),
        "parent": (bag, tmp_path),
    }[case]
    if case == "symlink":
        out.symlink_to(bag, target_is_directory=True)
    before = _digest(bag)
    code = main([str(src), str(out), "--topic", IMAGE_TOPIC, "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "input" in err, err
    assert _digest(bag) == before, "the input bag was modified"
    assert not partial_path(out).exists()


def test_overwrite_replaces_only_own_output(
    bag: pathlib.Path, model: object, tmp_path: pathlib.Path
) -> None:
    """A bag folder face3d-replay did not write is never replaced, nor one holding user files."""
    from rosbags.highlevel import AnyReader

    out = tmp_path / "out"
    _run(bag, out, model)
    marker = read_marker(out)
    assert marker["tool"] == "face3d-replay" and marker["complete"] and marker["frames"] == 4
    with AnyReader([out]) as reader:  # the marker does not disturb bag readers
        assert sum(1 for _ in reader.messages()) > 0
    with pytest.raises(ReplayError, match="is not empty; pass --overwrite"):
        _run(bag, out, model)
    _run(bag, out, model, overwrite=True)  # its own output: replaced
    assert read_marker(out)["complete"]

    # someone else's bag (metadata.yaml, no marker): refused even with --overwrite
    other = tmp_path / "recorded"
    write_sample_bag(other, 2, width=96, height=64)
    before = _digest(other)
    with pytest.raises(ReplayError, match="not written by face3d-replay"):
        _run(bag, other, model, overwrite=True)
    assert _digest(other) == before

    # its own output with a user's file added: refused, the file kept
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ReplayError, match=r"entries face3d-replay did not write \(notes.txt\)"):
        _run(bag, out, model, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "metadata.yaml").is_file()


# ------------------------------------------------------------------ item 6: interruption


def test_interrupted_replay_leaves_a_readable_marked_partial_that_the_next_run_replaces(
    bag: pathlib.Path, model: object, tmp_path: pathlib.Path
) -> None:
    from rosbags.highlevel import AnyReader

    out = tmp_path / "out"
    with pytest.raises(ReplayInterruptedError, match=r"interrupted; .*out\.partial"):
        _run(bag, out, model, tracker=_Tracker(model, interrupt_at=2))
    partial = partial_path(out)
    assert not out.exists() and partial.is_dir()
    marker = read_marker(partial)
    assert marker["complete"] is False and marker["reason"] == "interrupted"
    with AnyReader([partial]) as reader:  # closed cleanly: footer and metadata are there
        stamps = [ts for c, ts, _ in reader.messages() if c.topic == "/face3d/face_params"]
    assert len(stamps) == 2
    # the next run, without --overwrite, replaces its own leftover and completes
    logged: list[str] = []
    _run(bag, out, model, log=logged.append)
    assert not partial.exists() and read_marker(out)["complete"]
    assert any("removed the partial output" in line for line in logged), logged


def test_partial_name_taken_by_something_else_is_refused(
    bag: pathlib.Path, model: object, tmp_path: pathlib.Path
) -> None:
    partial = partial_path(tmp_path / "out")
    partial.mkdir()
    (partial / "data.txt").write_text("not ours")
    with pytest.raises(ReplayError, match="not a leftover"):
        _run(bag, tmp_path / "out", model)
    assert (partial / "data.txt").read_text() == "not ours"


def test_sigterm_is_an_interruption_with_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """The command line turns SIGTERM into the same clean interruption as Ctrl-C."""
    import time

    def fake_replay(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5.0)  # the handler interrupts this
        raise AssertionError("SIGTERM did not interrupt the replay")

    monkeypatch.setattr(replay, "replay_bag", fake_replay)
    before = signal.getsignal(signal.SIGTERM)
    assert main([str(tmp_path), str(tmp_path / "o"), "--topic", "/t"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


# ------------------------------------------------------------------ items 3, 4, 8: bad messages


def _custom_bag(path: pathlib.Path, frames: list[tuple[bytes | None, object | None]]) -> None:
    """Images (None = a good 96x64 frame; bytes = that raw message) with optional CameraInfo."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    from face3d_ros.node.conversions import numpy_to_image
    from face3d_ros.node.sample_player import make_header

    store = get_typestore(Stores.ROS2_KILTED)
    with Writer(path, version=9) as writer:
        img = writer.add_connection(IMAGE_TOPIC, "sensor_msgs/msg/Image", typestore=store)
        inf = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store)
        for i, (raw, info) in enumerate(frames):
            header = make_header(10.0 + i)
            ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
            if info is not None:
                info.header = header
                writer.write(inf, ns, serialize_message(info))
            if raw is None:
                raw = serialize_message(
                    numpy_to_image(np.full((64, 96, 3), 100, np.uint8), "rgb8", header))
            writer.write(img, ns + 1000, raw)


def test_undecodable_image_message_is_counted_and_replay_goes_on(
    model: object, tmp_path: pathlib.Path
) -> None:
    _custom_bag(tmp_path / "in", [(None, None), (b"\x00\x01\x00\x00garbage", None),
                                  (os.urandom(64), None), (None, None)])
    logged: list[str] = []
    summary = _run(tmp_path / "in", tmp_path / "out", model, log=logged.append)
    assert summary["frames"] == 4 and summary["bad_frames"] == 2
    assert summary["states"]["TRACKING"] == 2
    assert any("undecodable image message" in line for line in logged), logged


def _info(fx: float, fy: float | None = None, width: int = 96, height: int = 64) -> object:
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.width, info.height = width, height
    fy = fx if fy is None else fy
    info.k = [fx, 0.0, 47.5, 0.0, fy, 31.5, 0.0, 0.0, 1.0]
    return info


BAD_INFOS = {
    "k_zero": lambda: _info(0.0),
    "nan": lambda: _info(float("nan")),
    "huge": lambda: _info(1e300),
    "tiny": lambda: _info(1e-300),
    "size": lambda: _info(80.0, width=640, height=480),
}


@pytest.mark.parametrize("case", sorted(BAD_INFOS))
def test_unusable_camera_info_falls_back_to_assumed_focal(case: str) -> None:
    """K = 0, NaN, absurd focal lengths, another image size: assumed intrinsics, with a reason."""
    from face3d_ros.node.builders import choose_intrinsics

    cam, problem = choose_intrinsics(BAD_INFOS[case](), 96, 64, 600.0)
    assert cam.assumed and cam.fx == 600.0 and problem, (case, problem)
    good, none = choose_intrinsics(_info(80.0), 96, 64, 600.0)
    assert none is None and not good.assumed and good.fx == 80.0


def test_replay_survives_unusable_camera_info(model: object, tmp_path: pathlib.Path) -> None:
    """The same inputs crash no replay; the mesh stays at a sane distance in front."""
    from rosbags.highlevel import AnyReader

    infos = [BAD_INFOS[c]() for c in sorted(BAD_INFOS)] + [_info(80.0)]
    _custom_bag(tmp_path / "in", [(None, info) for info in infos])
    logged: list[str] = []
    summary = replay_bag(tmp_path / "in", tmp_path / "out", IMAGE_TOPIC,
                         camera_info_topic=INFO_TOPIC, tracker=_Tracker(model),
                         model_data=model, progress=False, log=logged.append,
                         params={"camera_info_slop": 0.01})
    assert summary["frames"] == len(infos) and summary["camera_info_rejected"] == len(BAD_INFOS)
    assert len([line for line in logged if "assumed_focal_px" in line]) == 3  # then only counted
    with AnyReader([tmp_path / "out"]) as reader:
        for conn, _, raw in reader.messages():
            if conn.topic == "/face3d/face_mesh":
                pts = np.array([[p.x, p.y, p.z] for p in reader.deserialize(raw, conn.msgtype)
                                .points])
                assert np.all((pts[:, 2] > 0.01) & (pts[:, 2] < 10.0)), pts[:, 2].min()


# ------------------------------------------------------------------ item 7: unreadable bags


@pytest.mark.parametrize("case", ["truncated_mcap", "random_mcap", "truncated_db3",
                                  "missing_data_file", "empty_folder"])
def test_unreadable_input_bag_is_an_error_line_with_exit_2(
    case: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = "sqlite3" if "db3" in case else "mcap"
    src = tmp_path / "in"
    write_sample_bag(src, 3, width=96, height=64, storage=storage)
    data = next(p for p in src.iterdir() if p.name != "metadata.yaml")
    if case.startswith("truncated"):
        raw = data.read_bytes()
        data.write_bytes(raw[: len(raw) // 2])
        target = data
    elif case == "random_mcap":
        data.write_bytes(os.urandom(4096))
        target = data
    elif case == "missing_data_file":
        data.unlink()
        target = src
    else:
        target = tmp_path / "empty"
        target.mkdir()
    code = main([str(target), str(tmp_path / "out"), "--topic", IMAGE_TOPIC, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "face3d-replay: error:" in err and "Traceback" not in err, err
    if partial_path(tmp_path / "out").exists():  # broke off midway: marked partial
        assert read_marker(partial_path(tmp_path / "out"))["complete"] is False


# ------------------------------------------------------------------ item 2: demo --overwrite


def test_demo_overwrite_replaces_only_its_own_output(tmp_path: pathlib.Path) -> None:
    from face3d_ros.node.demo import DemoError, prepare_out
    from face3d_ros.node.demo import main as demo_main

    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"jpeg")
    assert demo_main(["--out", str(user), "--frames", "4", "--overwrite"]) == 2
    assert (user / "holiday.jpg").read_bytes() == b"jpeg"

    out = tmp_path / "demo"
    prepare_out(out, overwrite=False)  # a fresh demo output: marker, then the demo's files
    assert read_marker(out)["tool"] == "face3d-demo"
    (out / "bag").mkdir()
    (out / "bag" / "metadata.yaml").write_text("x")
    (out / "summary.json").write_text(json.dumps({}))
    with pytest.raises(DemoError, match="pass --overwrite"):
        prepare_out(out, overwrite=False)
    prepare_out(out, overwrite=True)  # its own layout: replaced
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(DemoError, match=r"did not write \(thesis.tex\)"):
        prepare_out(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "mine"
