# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The train/run contract: carried by the weight files, read by the runtime and the Tracker.

Acceptance test of issue 10: a CoarseNet trained (a few steps) at another input side than the
default (192 instead of 224) with ONE training-config change (``input_size``), exported, runs in
the Tracker end to end with no other change; weights whose contract disagrees with the running
code (or with the Tracker's settings) fail at load time with a message naming the field; the
shipped format-1 sidecars still load with their contract migrated.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets.contract import (
    DEFAULT_CONTRACT,
    ContractError,
    NetContract,
    contract_from_meta,
    recorded_crop_scale,
)
from face3d_ros.nets.weights import WeightFileError, contract_of, verify_weights
from face3d_ros.pipeline import Tracker, TrackerConfig, TrackState
from face3d_ros.runtime.bundle import NetBundle, default_weights_dir
from face3d_ros.sample_data import SampleSequenceConfig, sample_frame

torch.set_num_threads(2)
SEQ = SampleSequenceConfig(n_frames=6, faceless_start=100, faceless_length=0)


def test_contract_round_trip_and_errors():
    c = DEFAULT_CONTRACT.coarse
    assert c.input_shape == (3, 224, 224) and DEFAULT_CONTRACT.tracking.input_shape == (6, 256, 256)
    assert NetContract.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    bad = dict(c.to_dict(), version=99)
    with pytest.raises(ContractError, match="'version'"):
        NetContract.from_dict(bad)
    missing = {k: v for k, v in c.to_dict().items() if k != "crop_scale"}
    with pytest.raises(ContractError, match="crop_scale"):
        NetContract.from_dict(missing)
    with pytest.raises(ContractError, match="'crop_policy'"):
        c.replace(crop_policy="whole_frame")
    with pytest.raises(ContractError, match="field 'input_groups'"):
        c.replace(input_groups=(("bgr", 3, "rgb8/255"),)).check_runnable()
    # A sidecar whose recorded input shape disagrees with its contract.
    meta = {"net": "coarse", "contract": c.to_dict(), "input": {"shape": [None, 3, 200, 200]}}
    with pytest.raises(ContractError, match="input_size"):
        contract_from_meta(meta)
    assert recorded_crop_scale({"config": {"coarse": {"crop_scale": 1.4}}}, "coarse") == 1.4
    assert recorded_crop_scale({"config": {"crop_scale": 1.5}}, "fine") == 1.5
    assert recorded_crop_scale({"model_id": "x"}, "coarse") is None


def test_shipped_format1_sidecars_migrate():
    wdir = default_weights_dir()
    formats = set()
    for net in ("coarse", "tracking", "fine"):
        meta = verify_weights(wdir / f"{net}.onnx", net=net, check_hash=False)
        formats.add(meta["format_version"])
        if meta["format_version"] == 1:  # written before the contract: migrated in code
            assert "contract" not in meta
        else:
            assert "contract" in meta and "training_data" in meta
        assert contract_of(meta) == DEFAULT_CONTRACT[net]
    assert 1 in formats  # the tracking net and FineNet still ship format-1 sidecars


def _export_untrained(out: Path, model_data, nets: tuple[str, ...]) -> None:
    from face3d_ros.geometry.sh import default_gamma
    from face3d_ros.nets import FineNet, TrackingNet
    from training.export import export_onnx

    n_id, n_exp, n_alb = model_data.n_id, model_data.n_exp, model_data.n_alb
    t_mean = np.zeros(n_id + n_exp + n_alb + 33, np.float32)
    t_mean[n_id + n_exp + n_alb : n_id + n_exp + n_alb + 27] = default_gamma()
    make = {
        "tracking": lambda: TrackingNet(n_id, n_exp, n_alb, t_mean, np.ones_like(t_mean)),
        "fine": lambda: FineNet(channels=(8, 16, 32)),
    }
    for name in nets:
        export_onnx(make[name](), out / f"{name}.onnx", model=model_data, check_batch=1)


@pytest.fixture(scope="module")
def detector():
    from face3d_ros.detection.detector import FaceDetector

    try:
        return FaceDetector()
    except FileNotFoundError as exc:
        pytest.skip(f"dlib landmark predictor unavailable: {exc}")


@pytest.fixture(scope="module")
def weights_192(tmp_path_factory):
    """CoarseNet trained 4 steps at input side 192 on 224-pixel shards, exported with the rest."""
    from training.export import main as export_main
    from training.train.config import TrainConfig
    from training.train.loop import train
    from training.train.prior_data import write_prior_set

    root = tmp_path_factory.mktemp("contract192")
    data = make_synthetic_model()
    write_prior_set(str(root / "coarse"), "coarse", 6, MorphableModel(data), seed=0)
    config = TrainConfig(
        net="coarse",
        data=str(root / "coarse"),
        model="synthetic",
        runs_dir=str(root / "runs"),
        steps=4,
        batch_size=2,
        warmup_steps=0,
        max_pixels=128,
        log_every=2,
        ckpt_every=4,
        augment=False,
        input_size=192,  # the one training-config change
    )
    train(config)
    wdir = root / "weights"
    wdir.mkdir()
    ckpt = root / "runs" / "coarse" / "checkpoint.pt"
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(wdir / "coarse.onnx")]) == 0
    _export_untrained(wdir, data, ("tracking", "fine"))
    return wdir, data


def test_other_coarse_side_runs_end_to_end(weights_192, detector):
    wdir, data = weights_192
    side = json.loads((wdir / "coarse.json").read_text())
    assert side["format_version"] == 2
    assert side["contract"]["input_size"] == 192 and side["input"]["shape"] == [None, 3, 192, 192]
    assert side["contract"]["crop_scale"] == 1.6  # recorded by the prior-data generator
    assert side["training_data"]["samples"] == 6
    assert side["training_data"]["roots"][0]["generator"] == "training.train.prior_data"

    config = TrackerConfig(verify_interval=2, keyframe_interval=0)  # the tracking net runs too
    tracker = Tracker.load(config, wdir, model=data, detector=detector)
    assert tracker.nets.coarse.io.input_shape == (3, 192, 192)
    seen = []
    tracker.input_recorder = lambda net, x: seen.append((net, x.shape))
    results = [tracker.step(sample_frame(i, SEQ).image) for i in range(4)]
    assert results[0].has_face and results[0].reinitialised
    assert ("coarse", (1, 3, 192, 192)) in seen and ("tracking", (1, 6, 256, 256)) in seen
    assert all(r.has_face for r in results)
    assert results[-1].state == TrackState.TRACKING
    assert results[-1].displacement is not None and results[-1].displacement.shape == (256, 256)


def test_mismatching_contract_fails_at_load_naming_the_field(weights_192, detector, tmp_path):
    wdir, data = weights_192
    with pytest.raises(ValueError, match="crop_scale"):
        Tracker.load(TrackerConfig(crop_scale=2.0), wdir, model=data, detector=detector)
    Tracker.load(TrackerConfig(crop_scale=1.6, use_fine=False), wdir, model=data, detector=detector)

    bad = tmp_path / "bad"
    shutil.copytree(wdir, bad)
    side = json.loads((bad / "tracking.json").read_text())
    side["contract"]["pose"] = "absolute"  # the Tracker adds tracking outputs as deltas
    (bad / "tracking.json").write_text(json.dumps(side))
    with pytest.raises(WeightFileError, match="field 'pose'"):
        NetBundle.load(bad, model=data)

    side["contract"]["pose"] = "delta"
    side["output_spec"]["groups"][3][0] = "gamma"  # renamed output group
    (bad / "tracking.json").write_text(json.dumps(side))
    with pytest.raises(WeightFileError, match="output_spec.groups"):
        NetBundle.load(bad, model=data)

    fine = json.loads((wdir / "fine.json").read_text())
    fine["contract"]["crop_scale"] = 1.8
    (bad / "tracking.json").write_text((wdir / "tracking.json").read_text())
    (bad / "fine.json").write_text(json.dumps(fine))
    with pytest.raises(ValueError, match="fine net contract field 'crop_scale'"):
        Tracker.load(TrackerConfig(), bad, model=data, detector=detector)


def test_training_samples_resampled_to_the_net_side(weights_192):
    from face3d_ros.geometry.camera import project_np
    from training.train.data import NetSamples

    wdir, data = weights_192
    model = MorphableModel(data)
    full = NetSamples(str(wdir.parent / "coarse"), "coarse", model)
    small = NetSamples(str(wdir.parent / "coarse"), "coarse", model, input_size=192)
    assert full.crop_scale == small.crop_scale == 1.6
    a, b = full[0], small[0]
    assert a["input"].shape == (3, 224, 224) and b["input"].shape == (3, 192, 192)
    k = 192 / 224
    np.testing.assert_allclose(b["pose"][3:], a["pose"][3:] * k, rtol=1e-5)
    np.testing.assert_allclose(b["pose"][:3], a["pose"][:3])
    # The face lands on the same (scaled) place: centroid of the rendered face pixels.
    verts = model.shape_np(a["alpha_id"], a["alpha_exp"])
    uv_a = project_np(verts, a["pose"])[:, :2].mean(0)
    uv_b = project_np(verts, b["pose"])[:, :2].mean(0)
    np.testing.assert_allclose(uv_b, uv_a * k, atol=1e-3)
    # Ground-truth rows are computed at the net's side (pixels inside the 192 crop).
    assert b["rows_valid"].any() and b["rows_pixel"][b["rows_valid"]].max() < 192


def test_evaluate_feeds_each_net_at_its_contract_side(weights_192, tmp_path, capsys):
    from training.evaluate import main as evaluate_main

    wdir, _ = weights_192
    out = tmp_path / "eval.json"
    args = ["--model", "synthetic", "--n", "3", "--sequences", "1", "--frames", "3"]
    args += ["--coarse", str(wdir / "coarse.onnx"), "--tracking", str(wdir / "tracking.onnx")]
    args += ["--fine", str(wdir / "fine.onnx"), "--json", str(out)]
    assert evaluate_main(args) == 0
    res = json.loads(out.read_text())
    assert "224x224 crops" in capsys.readouterr().out  # held-out samples: default side
    assert np.isfinite(res["table2"]["proposed (Eq. 15)"]["l_pose"])
    assert set(res["sequences"]) == {"single", "tracking"}
    assert res["fine"]["samples"] == 3
