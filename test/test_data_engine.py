# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The real-photo data engine on photos that ship in registry packages.

Context padding, sources, gate, expression draws, augmentation, and the whole chain
(prepare -> fit -> gate -> three sets -> sheet).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from face3d_ros.model.default import load_default_model
from face3d_ros.model.morphable import MorphableModel
from training.data_engine.context import needed_padding, pad_with_context
from training.data_engine.gate import GateConfig, check_fit, summarise
from training.data_engine.sources import PhotoSource, list_photos, parse_source
from training.synth.augment import AugmentConfig, augment_crop
from training.synth.expressions import ExpressionConfig, draw_expression, expression_mode


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    """The shipped default model (its expression blendshapes are named)."""
    return MorphableModel(load_default_model())


def test_context_padding_keeps_pixels_and_has_no_black_border() -> None:
    """The photo is kept exactly; the added context continues its colours (no zero border)."""
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(150, 20, (60, 50, 3)), 0, 255).astype(np.uint8)
    lms = np.stack([rng.uniform(5, 45, 68), rng.uniform(5, 55, 68)], 1)
    pad = needed_padding(lms, img.shape, scale=2.2)
    assert min(pad) > 0
    out = pad_with_context(img, pad)
    top, bottom, left, right = pad
    assert out.shape == (60 + top + bottom, 50 + left + right, 3)
    np.testing.assert_array_equal(out[top : top + 60, left : left + 50], img)
    ring = np.ones(out.shape[:2], bool)
    ring[top : top + 60, left : left + 50] = False
    assert out[ring].min() > 60 and abs(float(out[ring].mean()) - 150) < 25
    assert needed_padding(np.array([[20.0, 20], [30, 30]]), (100, 100), 1.6) == (0, 0, 0, 0)
    with pytest.raises(ValueError):
        pad_with_context(img, (-1, 0, 0, 0))


def test_holdout_split_is_seeded_disjoint_and_order_free() -> None:
    from training.data_engine.stages import split_holdout

    names = [f"src-{i:03d}" for i in range(50)]
    train, held = split_holdout(names, 5, seed=0)
    assert len(held) == 5 and len(train) == 45 and not set(train) & set(held)
    assert train + held != names and sorted(train + held) == names
    assert split_holdout(names[::-1], 5, seed=0)[1] == held[::-1]  # same fits, any order
    assert split_holdout(names, 5, seed=1)[1] != held
    assert split_holdout(names, 0, seed=0) == (names, [])
    for bad in (-1, 50):
        with pytest.raises(ValueError):
            split_holdout(names, bad, seed=0)


def test_fit_min_yaw_selects_turned_prepared_photos(
    tmp_path, monkeypatch, model: MorphableModel
) -> None:
    from types import SimpleNamespace

    from training.benchmark_real.headpose import perspective_projection
    from training.data_engine.__main__ import turned_names
    from training.data_engine.prepare import prepared_yaw_deg, write_pts

    lm3d = model.shape_np(np.zeros(model.n_id), np.zeros(model.n_exp))
    lm3d = lm3d[model.landmark_indices.numpy()]
    photos, fits = tmp_path / "photos", tmp_path / "fits"
    photos.mkdir()
    fits.mkdir()
    for name, yaw in (("a-front", 5.0), ("a-turned", -35.0), ("a-fitted", 2.0)):
        pts = perspective_projection(
            lm3d, np.radians([0.0, yaw, 0.0]), (200.0, 150.0), 600.0, 2.5 * 400, (199.5, 149.5)
        )
        write_pts(photos / f"{name}.pts", pts)
        (photos / f"{name}.prep.json").write_text(json.dumps({"size": [300, 400]}))
    assert prepared_yaw_deg(photos, "a-turned", lm3d) == pytest.approx(-35.0, abs=1.5)
    import training.inverse_render.fit_result as fit_result

    # a complete fit is kept whatever its yaw
    monkeypatch.setattr(fit_result, "fit_is_complete", lambda d, n: n == "a-fitted")
    eng = SimpleNamespace(photos_dir=photos, fits_dir=fits, args=SimpleNamespace(model="default"))
    got = turned_names(eng, ["a-front", "a-turned", "a-fitted"], 20.0)
    assert got == ["a-turned", "a-fitted"]
    assert turned_names(eng, ["a-front", "a-turned"], 40.0) == []
    eng.args.model = "synthetic"
    with pytest.raises(ValueError, match="default face model"):
        turned_names(eng, ["a-front"], 20.0)


def test_sources_refuse_evaluation_sets_and_subsets_are_deterministic(tmp_path) -> None:
    """An FRL folder is refused; a limit gives the same seeded subset every time."""
    frl = tmp_path / "faces" / "frl" / "neutral"
    frl.mkdir(parents=True)
    with pytest.raises(ValueError, match="evaluation"):
        PhotoSource("x", frl)
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(10):
        (folder / f"p{i}.jpg").write_bytes(b"")
    src = parse_source(f"mine={folder}:4")
    assert src.limit == 4 and src.name == "mine"
    a, b = list_photos(src, seed=1), list_photos(src, seed=1)
    assert a == b and len(a) == 4 and all(n.startswith("mine-p") for n, _ in a)
    assert list_photos(src, seed=2) != a
    assert len(list_photos(parse_source(f"all={folder}"))) == 10
    with pytest.raises(ValueError):
        parse_source("no-equals-sign")


class _Fit:
    """The parts of a FitResult the gate reads."""

    def __init__(self, model: MorphableModel, **changes: np.ndarray) -> None:
        from face3d_ros.params import FaceParams

        rng = np.random.default_rng(0)
        lms = rng.uniform(80, 180, (68, 2)).astype(np.float32)
        lms[36], lms[45] = (90, 120), (170, 120)
        self.params = FaceParams(
            alpha_id=changes.get("alpha_id", np.zeros(model.n_id, np.float32)),
            alpha_exp=np.zeros(model.n_exp, np.float32),
            alpha_alb=np.zeros(model.n_alb, np.float32),
            gamma=np.zeros(27, np.float32),
            pose=np.array([0.1, -0.3, 0.0, 128, 128, 1.0], np.float32),
        )
        self.arrays = {
            "landmarks_detected": lms,
            "landmarks_fitted": changes.get("landmarks_fitted", lms + 1.0),
            "albedo_vertex": np.full((8, 3), 0.5, np.float32),
        }
        self.residuals = {"photo_rmse_stage1": float(changes.get("photo", 0.05))}


def test_gate_reasons(model: MorphableModel) -> None:
    """Each check rejects what it is for; a good fit passes with its metrics."""
    reasons, metrics = check_fit(_Fit(model))
    assert reasons == [] and abs(metrics["yaw"] + np.degrees(0.3)) < 1e-4
    assert metrics["landmark_nme"] == pytest.approx(np.sqrt(2) / 80, rel=1e-4)
    bad_lm = _Fit(model)
    bad_lm.arrays["landmarks_fitted"] = bad_lm.arrays["landmarks_detected"] + 10.0
    assert check_fit(bad_lm)[0] == ["landmark_error"]
    big = _Fit(model, alpha_id=np.full(model.n_id, 4.0, np.float32))
    assert check_fit(big)[0] == ["implausible_identity"]
    nan = _Fit(model)
    nan.params.gamma[3] = np.nan
    assert check_fit(nan)[0] == ["non_finite"]
    assert check_fit(_Fit(model, photo=0.3), GateConfig(max_photo_rmse=0.2))[0] == ["photo_error"]
    summary = summarise([metrics, metrics])
    assert summary["count"] == 2 and sum(summary["histograms"]["yaw_deg"]["counts"]) == 2


def test_expression_draws_make_open_mouths_smiles_and_asymmetry_common(model) -> None:
    """Over many draws: open mouths, smiles and one-sided expressions are each common."""
    assert expression_mode(model) == "designed"
    names = model.data.metadata["expression"]["designed_blendshapes"]
    jaw, sr, sl = names.index("jaw_open"), names.index("smile_r"), names.index("smile_l")
    rng = np.random.default_rng(0)
    draws = np.array([draw_expression(rng, model, ExpressionConfig())[0] for _ in range(600)])
    assert draws.shape == (600, model.n_exp) and np.abs(draws).max() <= 3.0
    assert (draws[:, jaw] > 1.0).mean() > 0.2
    assert (np.maximum(draws[:, sr], draws[:, sl]) > 1.0).mean() > 0.2
    assert (np.abs(draws[:, sr] - draws[:, sl]) > 0.5).mean() > 0.15
    a = draw_expression(np.random.default_rng(5), model, ExpressionConfig(), [draws[0]])
    b = draw_expression(np.random.default_rng(5), model, ExpressionConfig(), [draws[0]])
    np.testing.assert_array_equal(a[0], b[0])


def test_augmentation_bounds_and_identity() -> None:
    """Effects keep shape, dtype and range; AugmentConfig.none() changes nothing."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0.2, 0.8, (64, 64, 3)).astype(np.float32)
    everything = AugmentConfig(1.0, 1.0, 1.0, 1.0, (40.0, 80.0), 1.0, 1.0, 1.0)
    out = augment_crop(img, np.random.default_rng(1), everything)
    assert out.shape == img.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0 and np.abs(out - img).mean() > 0.02
    np.testing.assert_allclose(augment_crop(img, rng, AugmentConfig.none()), img, atol=1e-6)


def test_engine_chain_on_builtin_photos_resumes(tmp_path) -> None:
    """One command makes fits, the three sets and the sheet; a re-run refits only what was lost."""
    import cv2
    from skimage import data as skdata

    from training.data_engine.__main__ import main
    from training.datasets import ShardDataset

    photos = tmp_path / "photos"
    photos.mkdir()
    img = skdata.astronaut()[30:200, 125:295]  # public domain; a tight crop (needs context)
    cv2.imwrite(str(photos / "astro.png"), img[:, :, ::-1])
    cv2.imwrite(str(photos / "astro_flip.png"), img[:, ::-1, ::-1])
    cache = tmp_path / "cache"
    args = [
        "--source", f"built={photos}", "--cache", str(cache), "--jobs", "1",
        "--coarse-per-photo", "2", "--tracking-per-photo", "1", "--fine-per-photo", "1",
        "--videos", "--sheet", str(tmp_path / "sheet.png"),
    ]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((cache / "summary.json").read_text())
    st = summary["stages"]
    assert st["prepare"]["prepared"] == 2 and st["fit"]["fitted"] == 2
    assert st["gate"]["accepted"] == 2, st["gate"]
    assert "yaw_deg" in st["gate"]["accepted_distribution"]["histograms"]
    assert len(ShardDataset(cache / "sets" / "coarse", "coarse")) == 4
    assert len(ShardDataset(cache / "sets" / "tracking", "tracking")) == 2
    assert len(ShardDataset(cache / "sets" / "fine", "fine")) == 2
    assert (tmp_path / "sheet.png").stat().st_size > 20_000
    prepared = cv2.imread(str(cache / "photos" / "built-astro.jpg"))
    assert prepared.shape[0] > img.shape[0] and prepared.shape[1] > img.shape[1]  # context
    # interrupted: one fit lost -> only it is redone, the sets resume
    (cache / "fits" / "built-astro.fit.json").unlink()
    assert main([*args, "--overwrite-sheet", "--stages", "prepare,fit,gate"]) == 0
    again = json.loads((cache / "summary.json").read_text())["stages"]
    assert again["fit"]["fitted"] == 2 and len(again["fit"]["runs"]) == 2
    assert main([*args, "--stages", "nope"]) == 2
    # the tracking set regenerated with a motion-scale range: recorded in the summary and set
    assert st["tracking"]["motion_scale"] == [1.0, None]
    assert main([*args, "--stages", "tracking", "--overwrite-sets",
                 "--tracking-motion-scale", "1:8", "--expression", "p_fit=0.9",
                 "--expression", "amplitude=0.3,1.5"]) == 0  # fmt: skip
    tracking = json.loads((cache / "summary.json").read_text())["stages"]["tracking"]
    assert tracking["motion_scale"] == [1.0, 8.0] and tracking["samples"] == 2
    assert tracking["p_photo"] == 0.0
    assert tracking["expression"] == {"p_fit": 0.9, "amplitude": [0.3, 1.5]}
    index = json.loads((cache / "sets" / "tracking" / "index.json").read_text())
    assert index["attrs"]["config"]["coarse"]["expression"]["p_fit"] == 0.9
    # the coarse set regenerated as photo samples only: recorded in the summary and set
    assert st["coarse"]["p_photo"] == 0.0
    assert main([*args, "--stages", "coarse", "--overwrite-sets",
                 "--coarse-photo-fraction", "1", "--coarse-photo-roll", "15"]) == 0  # fmt: skip
    coarse = json.loads((cache / "summary.json").read_text())["stages"]["coarse"]
    assert coarse["p_photo"] == 1.0 and coarse["samples"] == 4
    assert coarse["photo_roll_deg"] == 15.0
    index = json.loads((cache / "sets" / "coarse" / "index.json").read_text())
    assert index["attrs"]["config"]["coarse"]["p_photo"] == 1.0
    assert index["attrs"]["config"]["coarse"]["photo_roll_deg"] == 15.0
    # one fit held out: the training set and sets/holdout/coarse share no identity; the split
    # cannot change under an existing set without --overwrite-sets
    assert main([*args, "--stages", "coarse", "--overwrite-sets", "--holdout-fits", "1"]) == 0
    coarse = json.loads((cache / "summary.json").read_text())["stages"]["coarse"]
    held = coarse["holdout"]["fits"]
    assert coarse["fits"] == 1 and coarse["samples"] == 2 and len(held) == 1
    assert coarse["holdout"]["samples"] == 2
    train_index = json.loads((cache / "sets" / "coarse" / "index.json").read_text())
    held_index = json.loads((cache / "sets" / "holdout" / "coarse" / "index.json").read_text())
    assert set(held_index["attrs"]["fit_digests"]) == set(held)
    assert not set(train_index["attrs"]["fit_digests"]) & set(held)
    assert len(ShardDataset(cache / "sets" / "holdout" / "coarse", "coarse")) == 2
    assert main([*args, "--stages", "coarse"]) == 2  # would train on the held-out fit
    assert main([*args, "--stages", "coarse", "--holdout-fits", "2"]) == 2  # none left
    with pytest.raises(SystemExit):
        main([*args, "--coarse-photo-fraction", "2"])
    with pytest.raises(SystemExit):
        main([*args, "--expression", "nope=1"])
    with pytest.raises(SystemExit):
        main([*args, "--tracking-motion-scale", "8:1"])


def test_yaw_check_fits_turned_photos_per_arm(tmp_path, capsys, model: MorphableModel) -> None:
    """yaw_check fits each arm on the turned prepared photos and reports it; arms parse."""
    import cv2

    from face3d_ros.geometry.sh import default_gamma
    from face3d_ros.params import FaceParams
    from training.data_engine.prepare import write_pts
    from training.data_engine.yaw_check import main, parse_arm
    from training.inverse_render.fit import projected_landmarks, render_face_region

    assert parse_arm("0.5") == {"contour_weight": 0.5}
    assert parse_arm("10:25") == {"contour_fade_deg": (10.0, 25.0)}
    for bad in ("-1", "25:10"):
        with pytest.raises(ValueError):
            parse_arm(bad)
    photos = tmp_path / "photos"
    photos.mkdir()
    assert main(["--cache", str(tmp_path), "--photos", "1"]) == 1  # nothing prepared
    truth = FaceParams(
        np.zeros(model.n_id, np.float32), np.zeros(model.n_exp, np.float32),
        np.zeros(model.n_alb, np.float32), default_gamma(),
        np.array([0.0, np.radians(30.0), 0.0, 150.0, 150.0, 1.2], np.float32),
    )
    rend = render_face_region(model, truth, 300, 300)
    image = np.where(rend["covered"][..., None], rend["image"], 0.4)
    cv2.imwrite(str(photos / "fairface-1.jpg"),
                (np.clip(image, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])
    write_pts(photos / "fairface-1.pts", projected_landmarks(model, truth))
    (photos / "fairface-1.prep.json").write_text(json.dumps({"size": [300, 300]}))
    out = tmp_path / "yaws.json"
    assert main(["--cache", str(tmp_path), "--photos", "1", "--arms", "0,10:25",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "arm        0" in printed and "arm    10:25" in printed
    rows = json.loads(out.read_text())
    for arm in ("0", "10:25"):
        (name, ref, fitted), = rows[arm]
        assert name == "fairface-1" and abs(ref) > 20 and abs(fitted - ref) < 6.0
