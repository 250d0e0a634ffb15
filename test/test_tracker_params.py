# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every user-tunable TrackerConfig field is a node parameter; one tracker factory."""

from __future__ import annotations

import dataclasses

import pytest

from face3d_ros.node import parameters as params_mod
from face3d_ros.node.parameters import (
    PARAMETERS,
    TRACKER_FIELDS_NOT_PARAMETERS,
    TRACKER_PARAMETERS,
    NodeParams,
    invalid_parameters_in,
    tracker_config,
)
from face3d_ros.pipeline import TrackerConfig
from face3d_ros.runtime.backend import BACKEND_KINDS


def _defaults(**changes) -> NodeParams:
    values = {p.name: p.default for p in PARAMETERS}
    values.update(changes)
    assert invalid_parameters_in(values) == []
    return NodeParams(**values)


def test_every_tracker_field_is_a_parameter_or_listed():
    names = {f.name for f in dataclasses.fields(TrackerConfig)}
    assert names == set(TRACKER_PARAMETERS) | set(TRACKER_FIELDS_NOT_PARAMETERS)
    assert not set(TRACKER_PARAMETERS) & set(TRACKER_FIELDS_NOT_PARAMETERS)
    assert {f.name for f in dataclasses.fields(NodeParams)} == {p.name for p in PARAMETERS}
    specs = {p.name: p for p in PARAMETERS}
    for f in dataclasses.fields(TrackerConfig):
        if f.name in ("threads", "fine_precision") or f.name not in specs:
            continue  # 0 / "" stand for None there
        assert specs[f.name].default == f.default, f.name
    assert specs["backend"].choices == BACKEND_KINDS
    assert set(specs["precision"].choices) == {"fp32", "int8"}


def test_tracker_config_from_parameters():
    assert tracker_config(_defaults()) == TrackerConfig(threads=None)
    cfg = tracker_config(
        _defaults(precision="int8", fine_precision="fp32", verify_interval=4, threads=3)
    )
    assert (cfg.precision, cfg.fine_precision, cfg.verify_interval, cfg.threads) == (
        "int8", "fp32", 4, 3,
    )
    assert cfg.crop_scale is None  # the nets' contract decides
    assert invalid_parameters_in({"precision": "fp16"})


def test_node_loads_through_tracker_load(monkeypatch):
    from face3d_ros.node import tracking
    from face3d_ros.pipeline import Tracker

    seen = {}

    def fake_load(config, weights_dir=None, *, model=None, detector=None, device="cpu"):
        seen.update(config=config, weights_dir=weights_dir, device=device, model=model)
        return "tracker"

    monkeypatch.setattr(Tracker, "load", classmethod(lambda cls, *a, **k: fake_load(*a, **k)))
    tracker, model = tracking.load_tracker(_defaults(precision="int8", detect_max_faces=2))
    assert tracker == "tracker" and seen["model"] is model
    assert seen["config"].precision == "int8" and seen["config"].detect_max_faces == 2
    assert seen["weights_dir"] is None and seen["device"] == "cpu"

    def failing(*a, **k):
        raise ValueError("precision='int8' is only available with the onnxruntime backend")

    monkeypatch.setattr(Tracker, "load", classmethod(lambda cls, *a, **k: failing()))
    with pytest.raises(tracking.TrackerLoadError, match="int8"):
        tracking.load_tracker(_defaults(precision="int8", backend="torch"))
    assert params_mod.BACKENDS == BACKEND_KINDS


def test_state_names_topics_and_share_files_declared_once():
    from face3d_ros.msg import FaceParams
    from face3d_ros.node.share import share_file
    from face3d_ros.node.topics import OUTPUT_TOPICS, OUTPUT_TYPES, message_class
    from face3d_ros.pipeline.states import STATE_NAMES, TrackState

    assert STATE_NAMES == {0: "INITIALISING", 1: "TRACKING", 2: "LOST"}
    for state in TrackState:
        assert getattr(FaceParams, f"STATE_{state.name}") == int(state)
    assert OUTPUT_TOPICS == ("face_params", "faces", "displacement", "coarse_depth", "face_mesh",
                             "overlay", "face_poses")
    assert message_class(dict(OUTPUT_TYPES)["face_params"]) is FaceParams
    from face3d_ros.msg import FaceArray

    assert message_class(dict(OUTPUT_TYPES)["faces"]) is FaceArray
    with pytest.raises(ValueError, match="message type"):
        message_class("sensor_msgs/Image")
    assert share_file("msg/FaceParams.msg").name == "FaceParams.msg"
    assert share_file("config/face3d.yaml").is_file()
    with pytest.raises(FileNotFoundError, match="tried"):
        share_file("config/nonexistent.yaml")
