# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for training.benchmark_real (no ``../shared`` data needed).

The maths (NME, jitter, drift, angle agreement), every baseline on landmarks rendered from the
face model at a known pose, the PnP head-pose convention (model landmarks projected at a known
pose and recovered), and the command line on a tiny data folder built from scikit-image's
public-domain astronaut photo.
"""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest

from face3d_ros.detection.detector import box_from_landmarks
from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import pose_to_crop
from face3d_ros.geometry.rotation import euler_to_matrix_np
from training.benchmark_real import baselines as bl
from training.benchmark_real.headpose import perspective_projection, pnp_pose
from training.benchmark_real.metrics import (
    angle_stats,
    drift_ratio,
    eye_distance,
    jitter,
    mouth_ratio,
    nme,
    summary,
)
from training.benchmark_real.runner import MemoDetector, mouth_check


@pytest.fixture(scope="module")
def lm3d() -> np.ndarray:
    """The default model's mean-face landmarks ``[68, 3]`` mm."""
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.morphable import MorphableModel

    m = MorphableModel(load_default_model())
    verts = m.shape_np(np.zeros(m.n_id), np.zeros(m.n_exp))
    return np.asarray(verts[m.landmark_indices.numpy()], np.float64)


def _pose(pitch: float, yaw: float, roll: float, tx=224.0, ty=230.0, s=1.4) -> np.ndarray:
    return np.array([math.radians(pitch), math.radians(yaw), math.radians(roll), tx, ty, s])


def _render(lm3d: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``project_np``'s camera in float64 (``project_np`` itself returns float32)."""
    c = lm3d @ euler_to_matrix_np(pose[:3]).T
    out = np.stack([pose[5] * c[:, 0] + pose[3], -pose[5] * c[:, 1] + pose[4]], 1)
    np.testing.assert_allclose(out, project_np(lm3d, pose)[:, :2], atol=1e-3)
    return out


# ---------------------------------------------------------------------------- metrics


def test_nme_is_mean_distance_over_eye_corner_distance(lm3d: np.ndarray) -> None:
    ref = _render(lm3d, _pose(0, 0, 0))
    d = eye_distance(ref)
    assert d == pytest.approx(np.linalg.norm(ref[36] - ref[45]))
    assert nme(ref, ref) == 0.0
    shifted = ref + np.array([0.3 * d, -0.4 * d])  # every point 0.5 eye distances away
    assert nme(shifted, ref) == pytest.approx(0.5)
    # Scale invariance: the same relative error at twice the size.
    assert nme(2 * shifted, 2 * ref) == pytest.approx(0.5)
    # One point off by 68 eye distances: mean error 1.
    one = ref.copy()
    one[10, 0] += 68 * d
    assert nme(one, ref) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="68, 2"):
        nme(ref[:60], ref[:60])
    bad = ref.copy()
    bad[45] = bad[36]
    with pytest.raises(ValueError, match="coincide"):
        nme(ref, bad)


def test_mouth_ratio_grows_when_corners_move_apart(lm3d: np.ndarray) -> None:
    ref = _render(lm3d, _pose(0, 0, 0))
    wide = ref.copy()
    wide[48, 0] -= 5.0
    wide[54, 0] += 5.0
    assert mouth_ratio(wide) > mouth_ratio(ref)
    assert mouth_ratio(3 * ref) == pytest.approx(mouth_ratio(ref))


def test_summary_and_angle_stats() -> None:
    s = summary([1.0, 2.0, None, float("nan"), 3.0])
    assert (s["n"], s["mean"], s["median"], s["max"]) == (3, 2.0, 2.0, 3.0)
    assert summary([])["mean"] is None
    # Wrap-around: 179 vs -179 degrees is 2 degrees apart.
    a = angle_stats(np.array([179.0, 10.0, 20.0]), np.array([-179.0, 10.0, 20.0]))
    assert a["mae"] == pytest.approx(2.0 / 3.0)
    ref = np.linspace(-40, 40, 9)
    good = angle_stats(2 * ref + 1, ref)
    assert good["corr"] == pytest.approx(1.0)
    assert angle_stats(np.zeros(9), ref)["corr"] is None  # constant prediction
    masked = angle_stats(ref + 5, ref, mask=np.abs(ref) <= 20)
    assert masked["n"] == 5 and masked["bias"] == pytest.approx(5.0)


def test_jitter_subtracts_the_reference_motion(lm3d: np.ndarray) -> None:
    base = _render(lm3d, _pose(0, 0, 0))
    d = eye_distance(base)
    ref = [base + np.array([2.0 * t, 0.0]) for t in range(6)]  # steady head motion
    same = [r + 1.0 for r in ref]  # constant offset: no extra jitter
    j = jitter(same, ref)
    assert j["n_pairs"] == 5
    assert j["reference"] == pytest.approx(2.0 / d)
    assert j["excess"] == pytest.approx(0.0, abs=1e-12)
    shaky = [r + np.array([0.0, 3.0 * (t % 2)]) for t, r in enumerate(ref)]
    assert jitter(shaky, ref)["excess"] > 0
    # Frames without a prediction or a reference break the pairs.
    gaps = [same[0], None, same[2], same[3], None, same[5]]
    assert jitter(gaps, ref)["n_pairs"] == 1


def test_drift_ratio_windows() -> None:
    since = list(range(45))
    errors = [0.1 if k <= 5 else (0.3 if 20 <= k <= 40 else 0.2) for k in since]
    d = drift_ratio(errors, since)
    assert (d["n_early"], d["n_late"]) == (6, 21)
    assert d["ratio"] == pytest.approx(3.0)
    none = drift_ratio([0.1, None], [0, None])
    assert none["late"] is None and none["ratio"] is None


def test_mouth_check_pairs_people_by_id() -> None:
    def rec(name: str, net: float, dlib: float) -> dict:
        return {"name": name, "detected": True, "mouth": {"net": net, "dlib": dlib}}

    neutral = [rec("001_03", 0.50, 0.50), rec("002_03", 0.50, 0.50), rec("003_03", 0.5, 0.5)]
    smiling = [rec("001_08", 0.55, 0.6), rec("002_08", 0.45, 0.6)]  # 003 has no smiling photo
    out = mouth_check(neutral, smiling)
    assert out["people"] == 2
    assert out["methods"]["net"]["fraction_wider"] == 0.5
    assert out["methods"]["dlib"]["fraction_wider"] == 1.0


def test_memo_detector_runs_once_per_image() -> None:
    class Counting:
        calls = 0
        upsample = 1

        def detect(self, image: np.ndarray) -> list:
            Counting.calls += 1
            return [float(image.sum())]

    memo = MemoDetector(Counting(), size=2)
    a, b, c = (np.full((8, 8, 3), v, np.uint8) for v in (1, 2, 3))
    assert memo.detect(a) == [float(a.sum())]
    memo.detect(a.copy())
    assert (Counting.calls, memo.hits, memo.misses) == (1, 1, 1)
    memo.detect(b)
    memo.detect(c)  # evicts a
    memo.detect(a)
    assert Counting.calls == 4
    assert memo.upsample == 1  # other attributes are the wrapped detector's


def test_matching_face_picks_the_reference_person() -> None:
    from types import SimpleNamespace as D

    from training.benchmark_real.runner import matching_face

    big, small = D(box=(100, 100, 300, 300)), D(box=(0, 0, 60, 60))
    assert matching_face([big, small], (5, 2, 62, 58)) is small  # not the largest face
    assert matching_face([big, small], (110, 90, 290, 310)) is big
    assert matching_face([big], (0, 0, 60, 60)) is None  # the reference's person not found
    assert matching_face([], (0, 0, 60, 60)) is None


# ---------------------------------------------------------------------------- baselines


def test_box_placement_reproduces_the_box_and_a_frontal_face(lm3d: np.ndarray) -> None:
    box = (100.0, 120.0, 300.0, 318.0)
    lm, pose = bl.box_placement(lm3d, box)
    got = box_from_landmarks(lm)
    side = 0.5 * ((box[2] - box[0]) + (box[3] - box[1]))
    centre = (0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]))
    assert got[2] - got[0] == pytest.approx(side)
    assert 0.5 * (got[0] + got[2]) == pytest.approx(centre[0])
    assert 0.5 * (got[1] + got[3]) == pytest.approx(centre[1])
    assert np.all(pose[:3] == 0)
    # A rendered frontal mean face placed by its own detector-like box is recovered exactly.
    truth = _render(lm3d, _pose(0, 0, 0, 321.0, 207.0, 2.1))
    placed, _ = bl.box_placement(lm3d, box_from_landmarks(truth))
    assert nme(placed, truth) < 1e-6


def test_prior_placement_puts_the_prior_pose_in_the_tracker_crop(lm3d: np.ndarray) -> None:
    from face3d_ros.geometry.crop import crop_from_points

    prior = np.array([0.0, 0.05, 0.0, 112.0, 90.0, 0.9])
    box = (200.0, 100.0, 330.0, 232.0)
    lm, pose = bl.prior_placement(lm3d, box, prior, 1.6, 224, (480, 640, 3))
    crop = crop_from_points(np.array([[200.0, 100.0], [330.0, 232.0]]), 1.6, (480, 640))
    np.testing.assert_allclose(pose_to_crop(pose, crop, 224), prior, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(lm, _render(lm3d, pose), atol=1e-3)


def test_similarity_fit_is_exact_on_a_similar_face(lm3d: np.ndarray) -> None:
    truth = _render(lm3d, _pose(0, 0, 23, 300.0, 180.0, 0.8))  # roll = in-plane rotation
    assert nme(bl.similarity_fit(lm3d, truth), truth) < 1e-9
    # A turned head is not a similarity of the frontal face.
    turned = _render(lm3d, _pose(0, 40, 0))
    assert nme(bl.similarity_fit(lm3d, turned), turned) > 0.05


@pytest.mark.parametrize("angles", [(12, -35, 8), (-20, 50, -15), (0, 0, 0), (5, 10, 170)])
def test_rigid_fit_recovers_a_rendered_mean_face(lm3d: np.ndarray, angles: tuple) -> None:
    truth_pose = _pose(*angles, tx=250.0, ty=190.0, s=1.7)
    truth = _render(lm3d, truth_pose)
    lm, pose = bl.rigid_fit(lm3d, truth)
    assert nme(lm, truth) < 1e-5
    np.testing.assert_allclose(np.degrees(pose[:3]), angles, atol=0.01)
    np.testing.assert_allclose(pose[3:], truth_pose[3:], rtol=1e-5)
    # It is never worse than the similarity fit (a frontal rigid pose is a similarity).
    sim = bl.similarity_fit(lm3d, truth)
    assert nme(lm, truth) <= nme(sim, truth) + 1e-9


def test_stage1_fit_baseline_recovers_a_rendered_face() -> None:
    import torch

    from face3d_ros.geometry.sh import default_gamma
    from face3d_ros.model.morphable import MorphableModel
    from face3d_ros.model.synthetic import make_synthetic_model
    from face3d_ros.params import FaceParams
    from training.inverse_render.fit import FitConfig, projected_landmarks, render_face_region

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = MorphableModel(make_synthetic_model(resolution=40))
        rng = np.random.default_rng(2)
        truth = FaceParams(
            alpha_id=(0.5 * rng.standard_normal(model.n_id)).astype(np.float32),
            alpha_exp=(0.5 * rng.standard_normal(model.n_exp)).astype(np.float32),
            alpha_alb=np.zeros(model.n_alb, np.float32),
            gamma=np.asarray(default_gamma(), np.float32).reshape(27),
            pose=_pose(-5, 15, 4, 170.0, 150.0, 1.3).astype(np.float32),
        )
        h, w = 300, 340
        rend = render_face_region(model, truth, h, w)
        photo = np.where(rend["covered"][..., None], rend["image"], 0.4)
        photo_u8 = np.round(255 * np.clip(photo, 0, 1)).astype(np.uint8)
        lm_truth = projected_landmarks(model, truth)
        lm, params = bl.stage1_fit(
            model, photo_u8, lm_truth, fit_config=FitConfig(n_iters=3, n_pixels=1500)
        )
        assert nme(lm, lm_truth) < 0.02
        assert np.degrees(np.abs(params.pose[:3] - truth.pose[:3])).max() < 3.0
        # The pose is in image pixels (mapped back from the crop).
        assert abs(params.pose[3] - truth.pose[3]) < 3.0
    finally:
        torch.set_num_threads(torch_threads)


# ---------------------------------------------------------------------------- head pose


@pytest.mark.parametrize(
    "angles", [(0, 0, 0), (10, 30, 5), (-15, -40, -10), (20, 60, 0), (-25, 10, 20)]
)
def test_pnp_recovers_the_pose_the_project_camera_rendered(lm3d: np.ndarray, angles: tuple) -> None:
    # The project's own weak-perspective camera (what the nets' poses mean) ...
    lm2 = _render(lm3d, _pose(*angles))
    # ... is the long-focal limit of the pinhole camera PnP assumes.
    got = np.degrees(pnp_pose(lm3d, lm2, (448, 448), focal_factor=200.0))
    np.testing.assert_allclose(got, angles, atol=0.3)


def test_pnp_with_perspective_and_noise(lm3d: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    for angles in [(8, 25, -5), (-10, -35, 12)]:
        lm2 = perspective_projection(
            lm3d, np.radians(angles), (200.0, 250.0), 600.0, 1120.0, (223.5, 223.5)
        )
        lm2 = lm2 + rng.normal(0.0, 1.0, lm2.shape)
        got = np.degrees(pnp_pose(lm3d, lm2, (448, 448), focal_factor=2.5))
        np.testing.assert_allclose(got, angles, atol=1.5)


def test_angle_signs_match_the_image(lm3d: np.ndarray) -> None:
    # Positive yaw turns the face towards image right: the nose tip (30) moves right of the
    # eye-corner midpoint; positive pitch turns it down: the nose tip moves down.
    for angles, axis in (((0, 30, 0), 0), ((30, 0, 0), 1)):
        lm2 = _render(lm3d, _pose(*angles))
        mid = 0.5 * (lm2[36] + lm2[45])
        front = _render(lm3d, _pose(0, 0, 0))
        mid0 = 0.5 * (front[36] + front[45])
        assert (lm2[30, axis] - mid[axis]) > (front[30, axis] - mid0[axis])
        est = np.degrees(pnp_pose(lm3d, lm2, (448, 448), focal_factor=50.0))
        assert est[1 if axis == 0 else 0] > 25.0


# ---------------------------------------------------------------------------- CLI


def _write_pts(path: pathlib.Path, pts: np.ndarray) -> None:
    rows = "\n".join(f"{u + 1:.3f} {v + 1:.3f}" for u, v in pts)
    path.write_text(f"version: 1\nn_points:  68\n{{\n{rows}\n}}\n")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A data root in the shared layout, made from the astronaut photo and a moving sequence."""
    import cv2

    from face3d_ros.detection.detector import FaceDetector
    from face3d_ros.sample_data import SampleSequenceConfig, astronaut_image, sample_frame

    root = tmp_path_factory.mktemp("bench_data")
    img = np.ascontiguousarray(astronaut_image())
    dets = FaceDetector().detect(img)
    assert dets, "dlib finds the astronaut"
    frl = root / "faces" / "frl"
    for sub in ("neutral", "canada", "composite", "smiling"):
        (frl / sub).mkdir(parents=True)
    for sub, name in (("neutral", "001_03"), ("canada", "001f"), ("composite", "f_all")):
        cv2.imwrite(str(frl / sub / f"{name}.png"), img[:, :, ::-1])
        _write_pts(frl / sub / f"{name}.pts", dets[0].landmarks)
    cv2.imwrite(str(frl / "smiling" / "001_08.png"), img[:, :, ::-1])
    ff = root / "faces" / "fairface-wide"
    ff.mkdir(parents=True)
    cv2.imwrite(str(ff / "fairface_0001.jpg"), cv2.resize(img, (448, 448))[:, :, ::-1])
    vid = root / "video"
    vid.mkdir()
    cfg = SampleSequenceConfig(n_frames=8, width=320, height=240, faceless_start=-1)
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        writer = cv2.VideoWriter(str(vid / name), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
        assert writer.isOpened()
        for i in range(cfg.n_frames):
            writer.write(np.ascontiguousarray(sample_frame(i, cfg).image[:, :, ::-1]))
        writer.release()
    return root


def test_cli_on_a_tiny_folder(tiny_data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from training.benchmark_real.cli import main

    out = tmp_path / "out"
    sheet = tmp_path / "sheet.png"
    cache = tmp_path / "cache"
    args = ["--data", str(tiny_data), "--out", str(out), "--sheet", str(sheet), "--no-stage1"]
    args += ["--cache", str(cache)]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    frl = res["frl"]["all"]
    assert (frl["photos"], frl["detected"]) == (3, 3)
    nm = {k: v["mean"] for k, v in frl["nme"].items()}
    # The .pts are dlib's own landmarks: the dlib row is exact (to the file's 3 decimals).
    assert nm["dlib"] < 1e-3
    assert {"net", "a_box", "a_prior", "b_similarity", "c_rigid"} <= set(nm)
    assert "d_stage1" not in nm
    assert nm["c_rigid"] <= nm["b_similarity"] + 1e-6
    assert res["smiling"]["mouth_check"]["people"] == 1
    pose = res["pose"]
    assert pose["detected"] == 1 and abs(pose["records"][0]["pnp_deg"][1]) < 45
    assert sum(c["n"] for c in pose["by_yaw"].values()) == 1
    assert "Yaw by the reference's abs(yaw)" in (out / "results.md").read_text()
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        v = res["video"][name]["summary"]
        assert v["frames"] == 8
        fr = v["fraction_tracking"] + v["fraction_lost"] + v["fraction_initialising"]
        assert fr == pytest.approx(1.0, abs=1e-3)
        assert len(res["video"][name]["frames"]) == 8
    assert res["meta"]["command"].startswith("python -m training.benchmark_real --data")
    md = (out / "results.md").read_text()
    assert "FRL, manual 68 landmarks" in md and "acceptance" in md
    assert sheet.stat().st_size > 1000

    # Nothing is replaced without --overwrite (refused before any work).
    before = (out / "results.json").read_bytes()
    assert main(args) == 2
    assert (out / "results.json").read_bytes() == before
    other = tmp_path / "out2"
    assert main(["--data", str(tiny_data), "--out", str(other), "--sheet", str(sheet)]) == 2
    assert not other.exists()

    # A second run reads the dlib reference detections from the disk cache: same figures.
    again = ["--data", str(tiny_data), "--out", str(other), "--sets", "frl", "--no-stage1"]
    assert main([*again, "--cache", str(cache)]) == 0
    res2 = json.loads((other / "results.json").read_text())
    dc = res2["meta"]["disk_cache"]
    assert dc["hits"] >= 1 and dc["misses"] == 0  # (the three photos are one image)
    assert res2["frl"]["all"]["nme"] == res["frl"]["all"]["nme"]


def test_disk_cache_roundtrip_and_damaged_files(tmp_path: pathlib.Path) -> None:
    from training.benchmark_real.cache import DiskCache, digest

    a = np.arange(6.0).reshape(2, 3)
    assert digest("x", a) == digest("x", a.copy())
    assert digest("x", a) != digest("x", a + 1) != digest("y", a)
    assert digest(a.astype(np.float32)) != digest(a)
    cache = DiskCache(tmp_path)
    key = digest("k", a)
    assert cache.get("fits", key) is None
    cache.put("fits", key, {"a": a})
    np.testing.assert_array_equal(cache.get("fits", key)["a"], a)
    (tmp_path / "fits" / f"{key}.npz").write_bytes(b"truncated")
    assert cache.get("fits", key) is None  # recomputed, never a crash
    assert (cache.hits, cache.misses) == (1, 2)
    off = DiskCache(None)
    off.put("fits", key, {"a": a})
    assert off.get("fits", key) is None


def test_cli_rejects_bad_options(tmp_path: pathlib.Path) -> None:
    from training.benchmark_real.cli import main

    with pytest.raises(SystemExit):
        main(["--sets", "frl,nope"])
    with pytest.raises(SystemExit):
        main(["--limit", "0"])
    missing = tmp_path / "nowhere"
    assert main(["--data", str(missing), "--out", str(tmp_path / "o"), "--sets", "frl"]) == 2


def test_tracker_set_parses_typed_overrides() -> None:
    from training.benchmark_real.cli import parse_args, tracker_overrides

    got = tracker_overrides(["keyframe_interval=1", "min_confidence=1", "use_fine=false"])
    assert got == {"keyframe_interval": 1, "min_confidence": 1.0, "use_fine": False}
    assert isinstance(got["min_confidence"], float)
    assert tracker_overrides(["fine_precision=int8"]) == {"fine_precision": "int8"}
    for bad in ("keyframe_interval", "nope=1", "keyframe_interval=1.5", "use_fine=3"):
        with pytest.raises(ValueError):
            tracker_overrides([bad])
    with pytest.raises(SystemExit):
        parse_args(["--tracker-set", "keyframe_interval=x"])
    assert parse_args(["--tracker-set", "keyframe_interval=2"]).tracker_overrides == {
        "keyframe_interval": 2
    }


def test_cli_tracker_set_reaches_the_tracker_and_the_report(
    tiny_data: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """Default (keyframe_interval 1): every tracking frame is the single-image net; 0: not."""
    from training.benchmark_real.cli import main

    def run(name: str, *extra: str) -> dict:
        out = tmp_path / name
        args = ["--data", str(tiny_data), "--out", str(out), "--sets", "video"]
        args += ["--no-baselines", "--no-cache", "--video-frames", "4", *extra]
        assert main(args) == 0
        res = json.loads((out / "results.json").read_text())
        res["md"] = (out / "results.md").read_text()
        return res

    default = run("default")
    assert "keyframe_interval" not in default["meta"]["tracker_config_vs_default"]
    for v in default["video"].values():
        tracking = [f for f in v["frames"] if f["state"] == "TRACKING"]
        assert tracking and all(f["reanchor"] for f in tracking)
        assert v["summary"]["tracking_net_frames"]["n"] == 0

    tracking_net = run("kf0", "--tracker-set", "keyframe_interval=0")
    assert tracking_net["meta"]["tracker_config_vs_default"]["keyframe_interval"] == [1, 0]
    assert "keyframe_interval 1 -> 0" in tracking_net["md"]
    assert sum(v["summary"]["tracking_net_frames"]["n"] for v in tracking_net["video"].values())


def test_cli_int8_needs_the_quantized_files(
    tiny_data: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--precision int8 loads <net>.int8.onnx; without them it fails with a clear error."""
    import shutil

    from face3d_ros.runtime.bundle import default_weights_dir
    from training.benchmark_real.cli import main

    weights = tmp_path / "weights"
    shutil.copytree(default_weights_dir(), weights, ignore=shutil.ignore_patterns("*.int8.*"))
    out = tmp_path / "out"
    args = ["--data", str(tiny_data), "--out", str(out), "--sets", "frl", "--no-stage1"]
    args += ["--weights", str(weights), "--precision", "int8", "--no-cache"]
    assert main(args) == 2
    assert "int8" in capsys.readouterr().err
    assert not out.exists()
