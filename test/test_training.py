# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A tiny training run decreases the loss, writes config/checkpoint/curves, and resumes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from face3d_ros.geometry.camera import project_np
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets.weights import load_checkpoint
from face3d_ros.render.rasterizer import rasterize
from training.datasets.shards import ShardWriter
from training.train.cli import main as cli_main
from training.train.config import TrainConfig, apply_overrides, parse_set
from training.train.loop import train

torch.set_num_threads(2)


def _face_image(model: MorphableModel, a_id, a_exp, pose, size: int) -> np.ndarray:
    """Depth-shaded render of the synthetic face (informative about pose and shape)."""
    with torch.no_grad():
        verts = model.shape(torch.from_numpy(a_id[None]), torch.from_numpy(a_exp[None]))[0]
    screen = project_np(verts.numpy(), pose)
    frags = rasterize(screen, model.triangles.numpy(), size, size)
    img = np.zeros((size, size, 3), np.float32)
    fg = frags.triangle_id >= 0
    d = frags.depth[fg]
    img[fg] = (0.3 + 0.7 * (d - d.min()) / max(float(np.ptp(d)), 1e-6))[:, None]
    return (img * 255).astype(np.uint8)


def _write(root, kind: str, n: int, seed: int = 0) -> None:
    """Write ``n`` tiny samples of ``kind`` with the synthetic model."""
    data = make_synthetic_model()
    model = MorphableModel(data)
    rng = np.random.default_rng(seed)
    size = 224 if kind == "coarse" else 256
    with ShardWriter(root, kind, samples_per_shard=3, attrs={"model_id": data.model_id}) as w:
        for _ in range(n):
            if kind == "fine":
                gray = rng.random((256, 256)).astype(np.float32)
                mask = np.zeros((256, 256), np.uint8)
                mask[64:192, 64:192] = 1
                depth = np.where(mask > 0, 100.0 + 20 * rng.random((256, 256)), 0.0)
                w.add(
                    {
                        "gray": gray,
                        "coarse_depth": depth.astype(np.float32),
                        "mask": mask,
                        "displacement": ((gray - 0.5) * 2.0 * mask).astype(np.float32),
                    }
                )
                continue
            a_id = (0.7 * rng.standard_normal(data.n_id)).astype(np.float32)
            a_exp = (0.7 * rng.standard_normal(data.n_exp)).astype(np.float32)
            pose = np.array(
                [*rng.uniform(-0.3, 0.3, 3), *(size / 2 + rng.uniform(-10, 10, 2)), 0.9],
                np.float32,
            )
            sample = {
                "image": _face_image(model, a_id, a_exp, pose, size),
                "alpha_id": a_id,
                "alpha_exp": a_exp,
                "pose": pose,
                "alpha_alb": (0.5 * rng.standard_normal(data.n_alb)).astype(np.float32),
                "gamma": (rng.normal(0, 0.1, 27) + np.eye(3, 9).reshape(27)).astype(np.float32),
            }
            if kind == "tracking":
                prev = pose + np.r_[rng.normal(0, 0.03, 3), rng.normal(0, 2, 2), 0.0]
                sample["prev_pose"] = prev.astype(np.float32)
                sample["pncc"] = _face_image(model, a_id * 0, a_exp * 0, sample["prev_pose"], size)
            w.add(sample)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Tiny coarse, tracking and fine shard sets."""
    root = tmp_path_factory.mktemp("shards")
    for kind, n in (("coarse", 4), ("tracking", 2), ("fine", 4)):
        _write(root / kind, kind, n)
    return root


def _config(datasets, tmp_path, net: str, **kw) -> TrainConfig:
    base = TrainConfig(
        net=net,
        data=str(datasets / net),
        model="synthetic",
        runs_dir=str(tmp_path / "runs"),
        steps=8,
        batch_size=2,
        log_every=2,
        ckpt_every=4,
        warmup_steps=0,
        max_pixels=256,
        augment=False,
        fine_channels=[8, 16, 32],
    )
    return apply_overrides(base, kw)


def _curve(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "curves.csv") as f:
        return list(csv.DictReader(f))


def test_fine_training_decreases_loss_writes_files_and_resumes(datasets, tmp_path):
    config = _config(datasets, tmp_path, "fine", steps=16, lr=3e-3, ckpt_every=8)
    result = train(config, progress=False, command="test")
    run = result.run_dir
    assert result.step == 16
    assert result.last_loss < result.first_loss
    for name in ("config.yaml", "checkpoint.pt", "curves.csv", "curves.png", "summary.json"):
        assert (run / name).is_file(), name
    assert yaml.safe_load((run / "config.yaml").read_text())["net"] == "fine"
    assert len(_curve(run)) == 8
    with pytest.raises(FileExistsError):
        train(config, progress=False)

    resumed = train(apply_overrides(config, {"steps": 20}), resume=True, progress=False)
    assert resumed.step == 20
    rows = _curve(run)
    assert [int(r["step"]) for r in rows][-3:] == [16, 18, 20]
    net, ckpt = load_checkpoint(run / "checkpoint.pt", net="fine")
    assert ckpt["step"] == 20 and ckpt["final"]
    assert json.loads((run / "summary.json").read_text())["step"] == 20


def test_coarse_proposed_loss_decreases(datasets, tmp_path):
    config = _config(datasets, tmp_path, "coarse", steps=10, lr=2e-3, log_every=5)
    result = train(config, progress=False, command="test")
    rows = _curve(result.run_dir)
    assert {"l_pose", "l_geo", "w_pose", "w_geo", "param_mse"} <= set(rows[0])
    assert result.last_loss < result.first_loss
    w = float(rows[-1]["w_pose"]) + float(rows[-1]["w_geo"])
    assert abs(w - 1.0) < 1e-5
    net, _ = load_checkpoint(result.run_dir / "checkpoint.pt", model=make_synthetic_model())
    assert net.output_size == 8 + 6 + 6


def test_training_starts_from_exported_onnx_weights(datasets, tmp_path):
    """init_from: <net>.onnx (the cache is gone, the committed weights are not)."""
    from training.export import export_onnx

    source = train(_config(datasets, tmp_path, "coarse", steps=10, lr=2e-3, name="src"),
                   progress=False)
    net, _ = load_checkpoint(source.run_dir / "checkpoint.pt", model=make_synthetic_model())
    onnx_path = tmp_path / "w" / "coarse.onnx"
    export_onnx(net, onnx_path, model=make_synthetic_model(), fp16=True)
    fresh = train(_config(datasets, tmp_path, "coarse", steps=1, name="fresh"), progress=False)
    warm = train(_config(datasets, tmp_path, "coarse", steps=1, name="warm",
                         init_from=str(onnx_path)), progress=False)
    assert warm.first_loss < fresh.first_loss, (warm.first_loss, fresh.first_loss)
    # the tracking net warm-starts from the CoarseNet (trunk, identity and expression heads)
    tracking = train(_config(datasets, tmp_path, "tracking", steps=1, name="track-warm",
                             init_from=str(onnx_path)), progress=False)
    tnet, _ = load_checkpoint(tracking.run_dir / "checkpoint.pt", model=make_synthetic_model())
    assert tnet.kind == "tracking"
    with pytest.raises(ValueError, match="coarse net"):  # not for the FineNet
        train(_config(datasets, tmp_path, "fine", steps=1, name="bad",
                      init_from=str(onnx_path)), progress=False)


def test_tracking_and_mse_baseline_run(datasets, tmp_path):
    config = _config(datasets, tmp_path, "tracking", steps=2, log_every=1, val_every=2,
                     val_samples=2, val_data=str(datasets / "tracking"))
    result = train(config, progress=False)
    rows = _curve(result.run_dir)
    assert {"l_pose", "l_geo", "l_col", "w_col"} <= set(rows[0])
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    with open(result.run_dir / "val.csv") as f:
        val = list(csv.DictReader(f))
    # held-out L_pose of keeping the previous pose: positive (the samples move), train-only absent
    assert float(val[-1]["l_pose_prev"]) > 0 and "l_pose_prev" not in rows[0]
    mse = train(
        _config(datasets, tmp_path, "coarse", steps=2, log_every=1, loss="mse", name="mse"),
        progress=False,
    )
    assert "w_pose" not in _curve(mse.run_dir)[0]


def test_cli_overrides_and_errors(datasets, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 0.01\nsteps: 3\nfine_channels: [8, 16]\n")
    args = ["--data", str(datasets / "fine"), "--config", str(cfg), "--set", "steps=5"]
    assert cli_main([*args, "--print-config"], net="fine") == 0
    out = yaml.safe_load(capsys.readouterr().out)
    assert out["lr"] == 0.01 and out["steps"] == 5 and out["fine_channels"] == [8, 16]
    assert cli_main([*args, "--set", "nope=1"], net="fine") == 2
    assert parse_set(["fine_channels=[4,8]"]) == {"fine_channels": [4, 8]}
    with pytest.raises(ValueError, match="steps"):
        apply_overrides(TrainConfig(), {"steps": "many"})
    with pytest.raises(FileNotFoundError, match="resume"):
        train(_config(datasets, tmp_path, "fine", name="none"), resume=True, progress=False)


def test_several_roots_read_as_one_set(datasets):
    from face3d_ros.model.morphable import MorphableModel
    from training.train.data import NetSamples

    model = MorphableModel(make_synthetic_model())
    both = NetSamples(f"{datasets / 'coarse'},{datasets / 'coarse'}", "coarse", model)
    assert len(both) == 8 and both[7]["input"].shape == (3, 224, 224)


def test_resume_keeps_the_schedule_and_skips_without_reading(datasets, tmp_path):
    """Resuming keeps the cosine, reads no skipped batch, keeps numbered checkpoints.

    A resumed run with another ``steps`` continues the same learning-rate curve.
    """
    from training.train.loop import EpochSampler

    config = _config(
        datasets, tmp_path, "fine", steps=6, lr=1e-3, log_every=1, ckpt_every=2, ckpt_keep=2
    )
    full = train(apply_overrides(config, {"name": "full"}), progress=False)
    lr_full = [float(r["lr"]) for r in _curve(full.run_dir)]
    part = apply_overrides(config, {"name": "part", "steps": 3})
    train(apply_overrides(part, {"schedule_steps": 6}), progress=False)
    # the horizon recorded at the start (6) is kept although the resumed run says steps=5
    train(apply_overrides(part, {"steps": 5}), resume=True, progress=False)
    lr_part = [float(r["lr"]) for r in _curve(full.run_dir.parent / "part")]
    np.testing.assert_allclose(lr_part, lr_full[:5], rtol=1e-6)
    assert lr_full[4] > lr_full[5] > 0  # still decaying: the resumed run did not restart it
    kept = sorted(p.name for p in (full.run_dir / "checkpoints").glob("step-*.pt"))
    assert kept == ["step-0000004.pt", "step-0000006.pt"]

    sampler = EpochSampler(10, seed=3)
    sampler.set_epoch(2)
    whole = list(sampler)
    sampler.set_epoch(2, start=4)
    assert list(sampler) == whole[4:] and len(sampler) == 6 and sorted(whole) == list(range(10))
    sampler.set_epoch(3)
    assert list(sampler) != whole


def test_component_correlation_scores_recovered_coefficients():
    from training.evaluate import component_correlation

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(64, 10))
    assert component_correlation(truth, truth) == pytest.approx(1.0)
    assert component_correlation(-2.0 * truth + 1.0, truth) == pytest.approx(-1.0)
    # A constant prediction (the mean face) recovers nothing: 0, not NaN.
    assert component_correlation(np.zeros_like(truth), truth) == 0.0
    # Half the components recovered, half noise: about 0.5.
    half = np.concatenate([truth[:, :5], rng.normal(size=(64, 5))], axis=1)
    assert 0.35 < component_correlation(half, truth) < 0.65
    with pytest.raises(ValueError):
        component_correlation(truth[:1], truth[:1])


def test_geometric_output_weights_follow_each_coefficients_effect(datasets, tmp_path):
    from face3d_ros.nets.contract import output_groups
    from training.train.losses import geometric_output_weights

    model = MorphableModel(make_synthetic_model())
    groups = output_groups("tracking", *model.dims)
    sizes = dict(groups)
    n = sum(sizes.values())
    w = geometric_output_weights(model, groups, torch.ones(n))
    n_id, n_exp = sizes["id"], sizes["exp"]
    shaped = w[: n_id + n_exp]
    assert shaped.mean().item() == pytest.approx(1.0, rel=1e-5)
    assert torch.all(w[n_id + n_exp :] == 1.0)  # albedo, SH, pose deltas untouched
    # the weight is the face-region RMS displacement of one normalised unit, up to the common
    # normalisation: doubling a component's output std doubles its weight relative to the rest
    mask = model.face_mask / model.face_mask.sum()
    rms = ((model.exp_basis.reshape(n_exp, -1, 3).square().sum(-1) * mask).sum(-1)).sqrt()
    ratio = w[n_id : n_id + n_exp] / rms
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-4)
    std = torch.ones(n)
    std[n_id] = 2.0
    w2 = geometric_output_weights(model, groups, std)
    before, after = (w[n_id] / w[n_id + 1]).item(), (w2[n_id] / w2[n_id + 1]).item()
    assert after == pytest.approx(2 * before, rel=1e-5)
    with pytest.raises(ValueError, match="output_std"):
        geometric_output_weights(model, groups, torch.ones(n + 1))

    # a run with the weighting trains and reports the weighted MSE
    result = train(_config(datasets, tmp_path, "coarse", steps=2, log_every=1,
                           param_reg=1.0, param_weighting="geometry"), progress=False)
    assert all(np.isfinite(float(r["param_mse"])) for r in _curve(result.run_dir))
    with pytest.raises(ValueError, match="param_weighting"):
        apply_overrides(TrainConfig(data="x"), {"param_weighting": "nope"}).validate()


def test_gradient_shares_show_each_terms_pull(datasets, tmp_path, capsys):
    from training.train.loop import gradient_shares

    config = _config(datasets, tmp_path, "coarse", param_reg=2.0)
    groups, shares = gradient_shares(config, batches=1)
    assert groups[:3] == ["id", "exp", "exp[0:10]"] and "rotation" in groups
    assert set(shares) == {"pose", "geo", "param"}
    # L_pose moves only the pose, L_geo only the shape; the parameter term pulls on everything
    assert shares["pose"]["id"] == 0.0 and shares["pose"]["rotation"] > 0
    assert shares["geo"]["rotation"] == 0.0 and shares["geo"]["exp"] > 0
    assert all(shares["param"][g] > 0 for g in ("id", "exp", "rotation")), shares["param"]
    ten_x = gradient_shares(apply_overrides(config, {"param_reg": 20.0}), batches=1)[1]
    assert ten_x["param"]["id"] == pytest.approx(10 * shares["param"]["id"], rel=1e-4)
    # the CLI prints the table and trains nothing
    args = ["--data", str(datasets / "coarse"), "--runs-dir", str(tmp_path / "cli"),
            "--model", "synthetic", "--set", "batch_size=2", "--set", "max_pixels=256",
            "--gradients", "1"]
    assert cli_main(args, net="coarse") == 0
    out = capsys.readouterr().out
    assert "geo" in out and "exp[0:10]" in out
    assert not (tmp_path / "cli").exists()
    with pytest.raises(ValueError, match="coarse and tracking"):
        gradient_shares(_config(datasets, tmp_path, "fine"), batches=1)


def test_plot_curves_draws_train_heldout_and_real_panels(tmp_path) -> None:
    from training.train.plot_curves import main, read_csv

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("batch_size: 16\n")
    rows = ["step,loss,l_pose,l_geo,vertex_mm"]
    rows += [
        f"{s},{30 - s / 10},{20 - s / 20},{10 - s / 40},{4 - s / 100}" for s in range(20, 220, 20)
    ]
    (run / "curves.csv").write_text("\n".join(rows) + "\n")
    (run / "val.csv").write_text(
        "step,loss,l_pose,l_geo,vertex_mm\n100,25,18,9,3.5\n200,22,15,8,3.2\n"
    )
    real = tmp_path / "real.csv"
    real.write_text("presentations,FRL NME\n1600,0.07\n3200,0.065\n")
    assert read_csv(run / "val.csv")["step"].tolist() == [100.0, 200.0]
    out = tmp_path / "curve.png"
    assert main([str(run), "--out", str(out), "--real", str(real)]) == 0
    assert out.stat().st_size > 10_000
    before = out.read_bytes()
    assert main([str(run), "--out", str(out)]) == 2  # never replaced without --overwrite
    assert out.read_bytes() == before
    assert main([str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2  # no curves.csv
