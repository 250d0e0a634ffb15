# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the training-set synthesis (training/synth): Poisson transfer, warp, three sets, CLI.

Fits are faked with the synthetic test model: a small photo with a rendered face and a fit
result that matches it exactly (known parameters, a smooth made-up displacement map).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import cv2
import numpy as np
import pytest
import torch

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import crop_from_points, pose_from_crop, pose_to_crop
from face3d_ros.geometry.sh import default_gamma
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.params import FaceParams
from face3d_ros.render.maps import vertex_visibility
from training.datasets.shards import ShardDataset
from training.inverse_render.fit_result import FitResult, save_fit
from training.synth.coarse import CoarseConfig, make_coarse_sample
from training.synth.common import interpolate_np, load_photo_fit, render_textured
from training.synth.fine import FineConfig, make_fine_sample, wrinkle_scale
from training.synth.motion import MotionModel, apply_pose_delta
from training.synth.poisson import laplacian_4, poisson_transfer
from training.synth.tracking import TrackingConfig, make_tracking_sample
from training.synth.warp import warp_background

PHOTO = 128


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    """The synthetic test model (576 vertices)."""
    return MorphableModel(make_synthetic_model())


def make_fake_fit(out_dir: pathlib.Path, name: str, model: MorphableModel, seed: int) -> FitResult:
    """Render a face into a small noisy photo and save a consistent fit for it.

    Args:
        out_dir: Fits folder (the photo PNG is written there too).
        name: Fit name.
        model: The synthetic model.
        seed: Varies identity, expression, pose and the displacement pattern.

    Returns:
        The saved fit.
    """
    rng = np.random.default_rng(seed)
    n_id, n_exp, n_alb = model.dims
    pose = np.array([0.1 * rng.normal(), 0.2 * rng.normal(), 0.05, 64.0, 66.0, 0.32], np.float32)
    params = FaceParams(
        alpha_id=rng.normal(0, 0.5, n_id),
        alpha_exp=rng.normal(0, 0.5, n_exp),
        alpha_alb=np.zeros(n_alb),
        gamma=default_gamma(),
        pose=pose,
    )
    with torch.no_grad():
        verts = model.shape(
            torch.from_numpy(params.alpha_id)[None], torch.from_numpy(params.alpha_exp)[None]
        )[0].numpy()
    albedo = model.data.mean_albedo
    tris = model.data.triangles
    noise = cv2.GaussianBlur(rng.random((PHOTO, PHOTO, 3)).astype(np.float32), (0, 0), 3)
    full = render_textured(verts, tris, albedo, params.gamma, pose, PHOTO)
    photo = np.where(full["mask"][..., None], full["image"], noise)
    photo_path = out_dir / f"{name}.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(photo_path), cv2.cvtColor((photo * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
    )
    lm = project_np(verts[model.data.landmark_indices], pose)[:, :2]
    crop = crop_from_points(lm, 1.6)
    pose_c = pose_to_crop(pose, crop, 256)
    r = render_textured(verts, tris, albedo, params.gamma, pose_c, 256)
    mask = r["mask"]
    yy, xx = np.mgrid[:256, :256]
    f = rng.uniform(0.15, 0.3)
    disp_mm = (0.4 * np.sin(f * xx + seed) * np.cos(0.7 * f * yy)).astype(np.float32) * mask
    nz = np.maximum(r["normals"][..., 2], 0.3)
    arrays = {
        "landmarks_detected": lm,
        "landmarks_fitted": lm,
        "face_mask": mask.astype(np.uint8),
        "coarse_depth": r["depth"],
        "displacement": (disp_mm * pose_c[5] / nz).astype(np.float32),
        "displacement_mm": disp_mm,
        "albedo_map": interpolate_np(albedo, tris, r["fragments"]),
        "beta_map": np.zeros((256, 256), np.float32),
        "vertex_uv": r["screen"][:, :2],
        "vertex_visible": vertex_visibility(tris, r["fragments"], len(verts)).astype(np.uint8),
        "albedo_vertex": albedo,
    }
    fit = FitResult(
        name=name,
        source=str(photo_path),
        image_size=(PHOTO, PHOTO),
        model_id=model.data.model_id,
        params=params,
        crop=crop,
        crop_size=256,
        detection_box=(0.0, 0.0, 1.0, 1.0),
        detection_score=1.0,
        arrays=arrays,
        residuals={},
        timings={},
    )
    save_fit(fit, out_dir)
    return fit


@pytest.fixture(scope="module")
def fits_dir(tmp_path_factory: pytest.TempPathFactory, model: MorphableModel) -> pathlib.Path:
    """A folder with two fake fits."""
    d = tmp_path_factory.mktemp("fits")
    for i in range(2):
        make_fake_fit(d, f"face{i}", model, seed=i + 1)
    return d


def test_poisson_transfer_gradients_and_boundary() -> None:
    """Inside Omega the Laplacian is s_d x the source's; outside, the target is kept exactly."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :56]
    target = (np.sin(xx / 9.0) + np.cos(yy / 7.0)).astype(np.float32)  # smooth coarse shape
    source = cv2.GaussianBlur(rng.normal(size=(48, 56)).astype(np.float32), (0, 0), 1)  # details
    region = ((yy - 24) / 15.0) ** 2 + ((xx - 26) / 20.0) ** 2 < 1
    out = poisson_transfer(target, source, region, scale=1.25)
    assert out.dtype == np.float32 and out.shape == target.shape
    np.testing.assert_array_equal(out[~region], target[~region])
    np.testing.assert_allclose(
        laplacian_4(out)[region], 1.25 * laplacian_4(source)[region], atol=1e-4
    )
    # gradients inside Omega follow s_d x the source's (plus a smooth harmonic correction)
    inner = region[:, 1:] & region[:, :-1]
    gx_out, gx_src = np.diff(out, axis=1)[inner], np.diff(source, axis=1)[inner]
    slope = np.polyfit(gx_src, gx_out, 1)[0]
    assert abs(slope - 1.25) < 0.1 and np.corrcoef(gx_out, gx_src)[0, 1] > 0.9
    with pytest.raises(ValueError):
        poisson_transfer(target, source[:10], region)


def test_background_warp_keeps_size_and_moves_points() -> None:
    """The warp keeps the image size, moves control points, and is the identity far away."""
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.random((90, 120, 3)).astype(np.float32), (0, 0), 2)
    src = rng.uniform(40, 60, size=(20, 2))
    dst = src + np.array([6.0, -3.0])
    out = warp_background(img, src, dst)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_array_equal(warp_background(img, src, src), img)
    # a control point's new position shows the colour of its old position
    for (su, sv), (du, dv) in zip(src[:5], dst[:5], strict=True):
        want = cv2.getRectSubPix(img, (1, 1), (float(su), float(sv)))[0, 0]
        got = cv2.getRectSubPix(out, (1, 1), (float(du), float(dv)))[0, 0]
        np.testing.assert_allclose(got, want, atol=0.03)
    np.testing.assert_array_equal(out[:3, :3], img[:3, :3])


def test_coarse_sample_labels_match_render(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """Projecting the label parameters lands on the rendered face in the sample image."""
    pf = load_photo_fit(fits_dir, "face0", model)
    others = [np.zeros(model.n_exp, np.float32)]
    cfg = CoarseConfig(per_photo=2)
    for k in range(2):
        sample, extra = make_coarse_sample(pf, model, k, cfg, seed=3, other_expressions=others)
        assert sample["image"].shape == (224, 224, 3) and sample["image"].dtype == np.uint8
        for key, n in (
            ("alpha_id", model.n_id),
            ("alpha_exp", model.n_exp),
            ("alpha_alb", model.n_alb),
            ("gamma", 27),
            ("pose", 6),
        ):
            assert sample[key].shape == (n,) and sample[key].dtype == np.float32
        assert extra["frame"].background().shape == pf.photo.shape  # warp keeps the size
        from face3d_ros.geometry.crop import crop_image

        direct = extra["frame"].background_crop(extra["box"], 224)
        twice = crop_image(extra["frame"].background(), extra["box"], 224)
        assert np.abs(direct - twice)[16:-16, 16:-16].mean() < 0.02
        with torch.no_grad():
            verts = model.shape(
                torch.from_numpy(sample["alpha_id"])[None],
                torch.from_numpy(sample["alpha_exp"])[None],
            )[0].numpy()
        screen = project_np(verts, sample["pose"])
        mask = extra["mask"]
        assert mask.sum() > 500
        vv, uu = np.nonzero(mask)
        centroid = np.array([uu.mean(), vv.mean()])
        # visible-vertex centroid ~ mask centroid (the face fills the crop's centre)
        visible = screen[:, 2] > np.percentile(screen[:, 2], 30)
        assert np.linalg.norm(screen[visible, :2].mean(0) - centroid) < 12.0
        lm = screen[model.data.landmark_indices, :2].round().astype(int)
        inner = lm[17:]
        ok = (inner >= 0).all(1) & (inner < 224).all(1)
        assert mask[inner[ok, 1], inner[ok, 0]].mean() > 0.9
        # new pose within the configured ranges, same k -> same sample (deterministic)
        assert abs(np.degrees(sample["pose"][1])) <= 60.0 + 1e-3
    again, _ = make_coarse_sample(pf, model, 1, cfg, seed=3, other_expressions=others)
    np.testing.assert_array_equal(again["image"], sample["image"])


def test_coarse_photo_samples(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """p_photo: the fitted photo's own pixels with the fit's labels; other samples unchanged."""
    from face3d_ros.geometry.crop import crop_image

    pf = load_photo_fit(fits_dir, "face0", model)
    others = [np.zeros(model.n_exp, np.float32)]
    base = CoarseConfig(per_photo=6)
    mixed = CoarseConfig(per_photo=6, p_photo=0.5)
    kinds = []
    for k in range(6):
        plain, _ = make_coarse_sample(pf, model, k, base, seed=3, other_expressions=others)
        sample, extra = make_coarse_sample(pf, model, k, mixed, seed=3, other_expressions=others)
        is_photo = np.array_equal(extra["frame"].params.pose, pf.params.pose)
        kinds.append(is_photo)
        if not is_photo:  # a re-rendered sample is bit for bit the p_photo = 0 one
            np.testing.assert_array_equal(sample["image"], plain["image"])
            continue
        np.testing.assert_array_equal(sample["alpha_exp"], pf.params.alpha_exp)
        np.testing.assert_array_equal(sample["gamma"], pf.params.gamma)
        # the label pose is the fitted pose in the crop, and the pixels are the photo's
        from face3d_ros.geometry.crop import pose_from_crop

        np.testing.assert_allclose(
            pose_from_crop(sample["pose"], extra["box"], 224),
            pf.params.pose,
            rtol=1e-4,
            atol=1e-3,
        )
        assert extra["mask"].sum() > 500
        crop = crop_image(pf.photo, extra["box"], 224)
        # domain randomisation changes the pixels, but not beyond recognition
        corr = np.corrcoef(crop.mean(-1).ravel(), sample["image"].mean(-1).ravel())[0, 1]
        assert corr > 0.5
    assert any(kinds) and not all(kinds)
    # an in-plane rotation of the photo is exactly a change of the label's roll
    from training.synth.coarse import photo_frame

    lm_idx = np.asarray(model.data.landmark_indices)
    before = project_np(pf.vertices[lm_idx], pf.params.pose)[:, :2]
    frame = photo_frame(pf, model, np.radians(12.0))
    assert np.isclose(frame.params.pose[2] - pf.params.pose[2], np.radians(12.0), atol=1e-6)
    rot = cv2.getRotationMatrix2D(tuple(map(float, pf.params.pose[3:5])), 12.0, 1.0)
    moved = before @ rot[:, :2].T + rot[:, 2]
    np.testing.assert_allclose(frame.landmarks, moved, atol=1e-3)
    probe = tuple(int(v) for v in np.round(moved[30]))  # nose tip: the photo moved with it
    src = tuple(int(v) for v in np.round(before[30]))
    np.testing.assert_allclose(frame.photo[probe[1], probe[0]], pf.photo[src[1], src[0]], atol=0.15)
    rolled = CoarseConfig(per_photo=6, p_photo=1.0, photo_roll_deg=20.0)
    rolls = [
        make_coarse_sample(pf, model, k, rolled, seed=3)[0]["pose"][2] - pf.params.pose[2]
        for k in range(3)
    ]
    assert all(abs(r) <= np.radians(20.0) + 1e-5 for r in rolls) and np.ptp(rolls) > 0.01
    with pytest.raises(ValueError, match="p_photo"):
        CoarseConfig(p_photo=1.5)


def test_tracking_photo_samples(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """A photo coarse sample k makes a photo tracking sample k: the photo, the fit's labels."""
    from face3d_ros.geometry.crop import crop_image

    pf = load_photo_fit(fits_dir, "face1", model)
    motion = MotionModel.load()
    photo = CoarseConfig(per_photo=1, p_photo=1.0, photo_roll_deg=10.0)
    sample, extra = make_tracking_sample(pf, model, 0, photo, TrackingConfig(), motion, seed=5)
    assert extra["is_photo"]
    np.testing.assert_array_equal(sample["alpha_exp"], pf.params.alpha_exp)
    coarse, cextra = make_coarse_sample(pf, model, 0, photo, seed=5)
    # the same frame as the coarse sample (same roll), cropped where the previous pose says
    np.testing.assert_allclose(extra["pose_image"], cextra["frame"].params.pose, atol=1e-6)
    crop = crop_image(cextra["frame"].photo, extra["box"], 256)
    corr = np.corrcoef(crop.mean(-1).ravel(), sample["image"].mean(-1).ravel())[0, 1]
    assert corr > 0.5
    plain, pextra = make_tracking_sample(
        pf, model, 0, CoarseConfig(per_photo=1), TrackingConfig(), motion, seed=5
    )
    assert not pextra["is_photo"]


def test_tracking_sample_prev_pose_and_pncc(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """prev_pose = pose moved back by the drawn delta; the PNCC is rendered at prev_pose."""
    from face3d_ros.render.rasterizer import rasterize

    pf = load_photo_fit(fits_dir, "face1", model)
    motion = MotionModel.load()
    sample, extra = make_tracking_sample(
        pf, model, 0, CoarseConfig(per_photo=1), TrackingConfig(motion_scale=3.0), motion, seed=5
    )
    assert sample["image"].shape == (256, 256, 3) and sample["pncc"].shape == (256, 256, 3)
    assert sample["pncc"].dtype == np.uint8 and sample["prev_pose"].dtype == np.float32
    box = extra["box"]
    pose_img = pose_from_crop(sample["pose"], box, 256)
    prev_img = pose_from_crop(sample["prev_pose"], box, 256)
    np.testing.assert_allclose(pose_img, extra["pose_image"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        apply_pose_delta(prev_img, extra["pose_delta"]), pose_img, rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        sample["pose"][:3] - sample["prev_pose"][:3], extra["pose_delta"][:3], atol=1e-5
    )
    with torch.no_grad():
        prev_verts = model.shape(
            torch.from_numpy(sample["alpha_id"])[None],
            torch.from_numpy(extra["prev_alpha_exp"])[None],
        )[0].numpy()
    frags = rasterize(project_np(prev_verts, sample["prev_pose"]), model.data.triangles, 256, 256)
    pncc_mask = sample["pncc"].max(-1) > 0
    assert (pncc_mask == frags.mask).mean() > 0.995
    # the crop is the previous frame's: the previous face is centred, the current one is not
    cur = project_np(prev_verts, sample["pose"])[:, :2].mean(0)
    prev = project_np(prev_verts, sample["prev_pose"])[:, :2].mean(0)
    assert np.linalg.norm(prev - 128.0) < np.linalg.norm(cur - 128.0) + 1.0


def test_tracking_motion_scale_range(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """A motion-scale range draws one multiplier per sample; a fixed scale draws nothing."""
    pf = load_photo_fit(fits_dir, "face1", model)
    motion = MotionModel.load()
    cfg = TrackingConfig(motion_scale=2.0, motion_scale_max=16.0)
    scales = [
        make_tracking_sample(pf, model, k, CoarseConfig(per_photo=4), cfg, motion, seed=5)[1][
            "motion_scale"
        ]
        for k in range(4)
    ]
    assert all(2.0 <= v <= 16.0 for v in scales) and len(set(scales)) == 4
    again = make_tracking_sample(pf, model, 2, CoarseConfig(per_photo=4), cfg, motion, seed=5)
    assert again[1]["motion_scale"] == scales[2]  # deterministic per sample
    # a fixed scale keeps the sets of before the option bit for bit (no extra draw)
    fixed = TrackingConfig(motion_scale=3.0)
    a, _ = make_tracking_sample(pf, model, 0, CoarseConfig(per_photo=1), fixed, motion, seed=5)
    b, extra = make_tracking_sample(
        pf,
        model,
        0,
        CoarseConfig(per_photo=1),
        TrackingConfig(motion_scale=3.0, motion_scale_max=3.0),
        motion,
        seed=5,
    )
    np.testing.assert_array_equal(a["prev_pose"], b["prev_pose"])
    assert extra["motion_scale"] == 3.0
    with pytest.raises(ValueError, match="motion_scale_max"):
        TrackingConfig(motion_scale=2.0, motion_scale_max=1.0)
    with pytest.raises(ValueError, match="motion_scale"):
        TrackingConfig(motion_scale=0.0)


def test_fine_sample_shapes_and_transfer(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """Fine samples have the architecture keys; inside Omega the details are the source's."""
    from training.inverse_render.fit_result import fit_paths, load_fit

    target = load_photo_fit(fits_dir, "face0", model)
    sources = [load_fit(fit_paths(fits_dir, n)["json"]) for n in ("face0", "face1")]
    sample, extra = make_fine_sample(target, sources, model, 0, FineConfig(p_self=0.0), seed=1)
    want = {
        "gray": np.float32,
        "coarse_depth": np.float32,
        "mask": np.uint8,
        "displacement": np.float32,
    }
    assert set(sample) == set(want)
    for key, dtype in want.items():
        assert sample[key].shape == (256, 256) and sample[key].dtype == dtype
    assert extra["source"] == "face1" and 0.7 <= extra["scale"] <= 1.3
    mask = sample["mask"] > 0
    assert 0.0 <= sample["gray"].min() and sample["gray"].max() <= 1.0
    assert (sample["displacement"][~mask] == 0).all() and (sample["coarse_depth"][~mask] == 0).all()
    omega = extra["omega"]
    assert omega.sum() > 1000
    np.testing.assert_allclose(
        laplacian_4(sample["displacement"])[omega],
        extra["scale"] * laplacian_4(extra["source_disp"])[omega],
        atol=1e-3,
    )
    cfg = FineConfig()
    own = wrinkle_scale(target.fit.arrays["displacement_mm"], mask, cfg.detail_sigma, 1e9)
    own = np.clip(own, -cfg.detail_clip_mm, cfg.detail_clip_mm)
    edge = mask & ~omega
    edge &= cv2.dilate(omega.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    np.testing.assert_allclose(sample["displacement"][edge], own[edge], atol=1e-6)


def test_cli_resume_shard_and_overwrite(fits_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The CLI writes each kind, resumes (skips finished photos), splits by --shard."""
    from training.synth.__main__ import main

    out = tmp_path / "ds"
    common = [
        "--fits",
        str(fits_dir),
        "--out",
        str(out),
        "--model",
        "synthetic",
        "--per-photo",
        "1",
        "--no-progress",
    ]
    assert main(["coarse", *common]) == 0  # the other kinds: test_build_datasets_chain
    ds = ShardDataset(out / "coarse", "coarse")
    assert len(ds) == 2 and ds.model_id == "synthetic-v1"
    index = json.loads((out / "coarse" / "index.json").read_text())
    assert index["units_done"] == ["face0", "face1"]
    mtime = (out / "coarse" / "index.json").stat().st_mtime_ns
    assert main(["coarse", *common]) == 0  # resume: nothing left to do
    assert len(ShardDataset(out / "coarse")) == 2
    assert main(["coarse", *common[:-2], "2", "--no-progress"]) == 2  # other settings: refused
    assert main(["coarse", *common[:-2], "2", "--no-progress", "--overwrite"]) == 0
    assert len(ShardDataset(out / "coarse")) == 4
    assert mtime != (out / "coarse" / "index.json").stat().st_mtime_ns
    sharded = tmp_path / "sharded"
    for i in range(2):
        args = ["coarse", *common, "--shard", f"{i}/2"]
        args[args.index("--out") + 1] = str(sharded)
        assert main(args) == 0
    assert (sharded / "coarse" / "part-01-of-02" / "index.json").is_file()
    assert len(ShardDataset(sharded / "coarse")) == 2


def test_resume_refuses_changed_fits(
    fits_dir: pathlib.Path, model: MorphableModel, tmp_path: pathlib.Path
) -> None:
    """A dataset made from other versions of the fits is not silently extended."""
    import shutil

    from training.synth.__main__ import main

    fits = tmp_path / "fits"
    shutil.copytree(fits_dir, fits)
    args = [
        "coarse",
        "--fits",
        str(fits),
        "--out",
        str(tmp_path / "ds"),
        "--model",
        "synthetic",
        "--per-photo",
        "1",
        "--no-progress",
    ]
    assert main(args) == 0
    meta = json.loads((fits / "face1.fit.json").read_text())
    meta["residuals"] = {"refit": 1.0}
    (fits / "face1.fit.json").write_text(json.dumps(meta))
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 0


def test_motion_model_round_trip() -> None:
    """The shipped motion file loads, states its source, and pose deltas invert exactly."""
    motion = MotionModel.load()
    assert motion.meta.get("source"), "default_motion.json must state its source"
    again = MotionModel.from_dict(json.loads(json.dumps(motion.to_dict())))
    np.testing.assert_allclose(again.pose_std, motion.pose_std)
    pose = np.array([0.1, -0.2, 0.05, 100.0, 80.0, 2.0], np.float32)
    delta = np.array([0.01, 0.02, -0.01, 3.0, -2.0, 0.05])
    there = apply_pose_delta(pose, delta)
    np.testing.assert_allclose(apply_pose_delta(there, delta, inverse=True), pose, rtol=1e-5)
    with pytest.raises(ValueError):
        MotionModel.from_dict({"format": "nope"})


def test_landmark_pose_fitter_recovers_pose(model: MorphableModel) -> None:
    """The landmark-only fit used by estimate_motion recovers a known pose."""
    from training.synth.estimate_motion import LandmarkPoseFitter

    data = model.data
    pose = np.array([0.1, -0.3, 0.15, 320.0, 240.0, 1.5], np.float32)
    lm = project_np(data.mean_shape[data.landmark_indices], pose)[:, :2]
    got, _, _ = LandmarkPoseFitter(data, ridge=50.0).fit(lm)
    np.testing.assert_allclose(got[:3], pose[:3], atol=0.03)
    np.testing.assert_allclose(got[3:5], pose[3:5], atol=1.5)
    np.testing.assert_allclose(got[5], pose[5], rtol=0.03)


def test_dataclass_configs_are_json_friendly() -> None:
    """Configs go into index.json attrs."""
    for cfg in (CoarseConfig(), FineConfig(), TrackingConfig()):
        json.dumps(dataclasses.asdict(cfg))


def test_build_datasets_chain(fits_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The chain driver (from existing fits) writes the three sets, a summary and the sheet."""
    from training.build_datasets import main

    out = tmp_path / "datasets"
    args = [
        "--out",
        str(out),
        "--fits",
        str(fits_dir),
        "--model",
        "synthetic",
        "--per-photo",
        "1",
        "--sheet-rows",
        "1",
        "--no-progress",
    ]
    assert main(args) == 0
    for kind in ("coarse", "fine", "tracking"):
        assert len(ShardDataset(out / kind, kind)) == 2
    assert (out / "synth_contact_sheet.png").stat().st_size > 10_000
    summary = json.loads((out / "build_summary.json").read_text())
    assert summary["sets"]["tracking"]["samples"] == 2
    assert main(args) == 2  # the sheet exists: not replaced without --overwrite-sheet
    assert main([*args, "--overwrite-sheet"]) == 0
    assert len(json.loads((out / "build_summary.json").read_text())["history"]) == 1


def test_wrinkle_scale_removes_low_frequencies() -> None:
    """Stage 2's large-scale shading mismatch goes; wrinkle-scale detail stays (clipped)."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    mask = (xx - 64) ** 2 + (yy - 64) ** 2 < 50**2
    smooth = 8.0 * np.exp(-((xx - 64) ** 2 + (yy - 64) ** 2) / (2 * 30.0**2))  # +-8 mm blob
    wrinkles = 0.5 * np.sin(xx * 2 * np.pi / 4.0)  # 4-pixel period, 0.5 mm
    out = wrinkle_scale(smooth + wrinkles, mask, sigma=3.0, clip_mm=1.5)
    assert out.dtype == np.float32 and (out[~mask] == 0).all()
    inner = mask & ((xx - 64) ** 2 + (yy - 64) ** 2 < 40**2)
    np.testing.assert_allclose(out[inner], wrinkles[inner], atol=0.12)
    assert np.abs(out).max() <= 1.5
    np.testing.assert_array_equal(wrinkle_scale(smooth, mask, 0.0, 1.0), np.where(mask, smooth, 0))


def test_tracking_prev_offset_bounded(fits_dir: pathlib.Path, model: MorphableModel) -> None:
    """A change that moves the previous face too far is redrawn with half the multiplier."""
    pf = load_photo_fit(fits_dir, "face1", model)
    motion = MotionModel.load()
    coarse = CoarseConfig(per_photo=1)
    _, plain = make_tracking_sample(pf, model, 0, coarse, TrackingConfig(), motion, seed=5)
    assert plain["draws"] == 1 and plain["prev_offset"] < 0.3
    wild = TrackingConfig(motion_scale=200.0, max_prev_offset=0.2)
    sample, extra = make_tracking_sample(pf, model, 0, coarse, wild, motion, seed=5)
    assert extra["draws"] > 1 and extra["prev_offset"] <= 0.2
    assert extra["motion_scale"] == 200.0 * 0.5 ** (extra["draws"] - 1)
    again, _ = make_tracking_sample(pf, model, 0, coarse, wild, motion, seed=5)
    np.testing.assert_array_equal(sample["prev_pose"], again["prev_pose"])  # deterministic
    with pytest.raises(ValueError, match="max_prev_offset"):
        TrackingConfig(max_prev_offset=0.0)
