# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""BFM 2009 / Exp_Pca.bin and FLAME converters on tiny files in the real formats."""

from __future__ import annotations

import os
import pathlib
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from face3d_ros.model.bfm import convert_bfm, read_exp_pca_bin, read_landmark_indices
from face3d_ros.model.convert import main as convert_main
from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.flame import UnsafePickleError, convert_flame, load_flame_pickle
from face3d_ros.model.io import load_face_model
from face3d_ros.model.synthetic import make_synthetic_model

N_EXTRA = 7  # BFM vertices outside the expression mesh (back of the head)


@pytest.fixture(scope="module")
def synth() -> FaceModelData:
    """A small synthetic face that the fake files encode."""
    return make_synthetic_model(n_id=4, n_exp=3, n_alb=3, resolution=12, seed=3)


def _write_bfm(root: pathlib.Path, synth: FaceModelData, *, mirror: bool = False) -> dict:
    """Write a tiny fake BFM 2009 set; return the paths and the ground truth."""
    rng = np.random.default_rng(0)
    n = synth.n_vertices
    n_bfm = n + N_EXTRA
    # BFM vertex order: a permutation of the face vertices, extra vertices appended.
    perm = rng.permutation(n)  # bfm vertex perm[i] holds face vertex i
    mean_face = synth.mean_shape.astype(np.float64) * (np.array([-1.0, 1, 1]) if mirror else 1)
    mean_bfm = np.zeros((n_bfm, 3))
    mean_bfm[perm] = mean_face
    mean_bfm[n:] = rng.normal(size=(N_EXTRA, 3)) * 50 + np.array([0, 0, -80.0])
    k_id, k_alb = 6, 5
    shape_pc = np.linalg.qr(rng.normal(size=(3 * n_bfm, k_id)))[0]
    tex_pc = np.linalg.qr(rng.normal(size=(3 * n_bfm, k_alb)))[0]
    shape_ev = np.linspace(4e4, 1e4, k_id)  # micrometres
    tex_ev = np.linspace(30.0, 5.0, k_alb)
    tris = perm[synth.triangles]  # face triangles in BFM numbering
    if mirror:
        tris = tris[:, [0, 2, 1]]
    extra_tris = np.array([[n, n + 1, n + 2], [n + 3, n + 4, 0]])
    tl = np.concatenate([tris, extra_tris]) + 1
    tex_mu = np.full(3 * n_bfm, 150.0)
    scipy.io.savemat(
        root / "01_MorphableModel.mat",
        {
            "shapeMU": (mean_bfm * 1000.0).reshape(-1, 1),
            "shapePC": shape_pc,
            "shapeEV": shape_ev.reshape(-1, 1),
            "texMU": tex_mu.reshape(-1, 1),
            "texPC": tex_pc,
            "texEV": tex_ev.reshape(-1, 1),
            "tl": tl.astype(np.float64),
        },
    )
    # Expression mesh = trimmed BFM: trim[j] (1-based) is the BFM vertex of expression vertex j.
    trim = perm[rng.permutation(n)]
    scipy.io.savemat(root / "BFM_exp_idx.mat", {"trimIndex": (trim + 1).reshape(-1, 1)})
    n_exp = 4
    exp_pc = rng.normal(size=(n_exp, 3 * n)).astype(np.float32)  # component-major on disk
    exp_mu = rng.normal(size=3 * n).astype(np.float32)
    with open(root / "Exp_Pca.bin", "wb") as fh:
        fh.write(np.array([n_exp], "<i4").tobytes())
        fh.write(exp_mu.astype("<f4").tobytes())
        fh.write(exp_pc.astype("<f4").tobytes())
    exp_ev = np.array([3000.0, 2000.0, 1000.0, 500.0])
    (root / "std_exp.txt").write_text("\n".join(f"{e:.6f}" for e in exp_ev))
    # Landmarks in output (expression-mesh) numbering: output j = BFM trim[j].
    face_to_out = np.empty(n, np.int64)
    face_to_out[np.argsort(perm)[trim]] = np.arange(n)
    lms = face_to_out[synth.landmark_indices]
    (root / "lm68.txt").write_text(" ".join(str(i) for i in lms))
    return {
        "perm": perm,
        "trim": trim,
        "shape_pc": shape_pc,
        "shape_ev": shape_ev,
        "exp_pc": exp_pc,
        "exp_ev": exp_ev,
        "lms": lms,
        "tex_pc": tex_pc,
        "tex_ev": tex_ev,
    }


def _bfm_paths(root: pathlib.Path) -> tuple:
    return (
        root / "01_MorphableModel.mat",
        root / "Exp_Pca.bin",
        root / "std_exp.txt",
        root / "BFM_exp_idx.mat",
        root / "lm68.txt",
    )


def test_bfm_conversion_matches_the_source(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    truth = _write_bfm(tmp_path, synth)
    data = convert_bfm(*_bfm_paths(tmp_path), n_id=None, n_exp=None, n_alb=None)
    trim = truth["trim"]
    assert data.n_vertices == synth.n_vertices
    assert (data.n_id, data.n_exp, data.n_alb) == (6, 4, 5)
    # Mean: micrometres -> mm, in expression-mesh order.
    face_of_out = np.argsort(truth["perm"])[trim]
    np.testing.assert_allclose(data.mean_shape, synth.mean_shape[face_of_out], atol=1e-3)
    # Identity: basis * sigma == shapePC * shapeEV / 1000 on the selected rows.
    rows = (3 * trim[:, None] + np.arange(3)).reshape(-1)
    want = (truth["shape_pc"][rows] * truth["shape_ev"] / 1000.0).T.reshape(6, -1, 3)
    got = data.id_basis * data.id_sigma[:, None, None]
    np.testing.assert_allclose(got, want, atol=1e-4)
    # Expression: the file is component-major: component k is exp_pc[k] (rows of the file).
    want_e = truth["exp_pc"].reshape(4, -1, 3) * (truth["exp_ev"] / 1000.0)[:, None, None]
    np.testing.assert_allclose(data.exp_basis * data.exp_sigma[:, None, None], want_e, atol=1e-4)
    np.testing.assert_allclose(data.mean_albedo, 150.0 / 255.0, atol=1e-6)
    np.testing.assert_array_equal(data.landmark_indices, truth["lms"])
    assert data.triangles.shape[0] == synth.n_triangles  # triangles on extra vertices dropped
    np.testing.assert_allclose(
        data.mean_shape[data.landmark_indices], synth.mean_shape[synth.landmark_indices], atol=1e-3
    )
    assert data.metadata["mirrored_x"] is False
    assert 0.0 < data.face_mask.mean() <= 1.0


def test_bfm_mirrored_input_is_put_in_model_axes(
    tmp_path: pathlib.Path, synth: FaceModelData
) -> None:
    _write_bfm(tmp_path, synth, mirror=True)
    data = convert_bfm(*_bfm_paths(tmp_path), n_id=None, n_exp=None, n_alb=None)
    lm = data.mean_shape[data.landmark_indices]
    assert data.metadata["mirrored_x"] is True
    assert lm[36, 0] < lm[45, 0]
    v = data.mean_shape[data.triangles]
    nz = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])[:, 2]
    assert (nz > 0).mean() > 0.9


def test_bfm_cli_and_truncation(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    _write_bfm(tmp_path, synth)
    mat, exp, std, idx, lm = _bfm_paths(tmp_path)
    out = tmp_path / "bfm.npz"
    args = [
        "bfm",
        "--mat",
        str(mat),
        "--exp",
        str(exp),
        "--exp-std",
        str(std),
        "--exp-idx",
        str(idx),
        "--landmarks",
        str(lm),
        "--out",
        str(out),
        "--n-id",
        "3",
        "--n-exp",
        "all",
        "--n-alb",
        "2",
    ]
    assert convert_main(args) == 0
    data = load_face_model(out)
    assert (data.n_id, data.n_exp, data.n_alb) == (3, 4, 2)
    assert convert_main(args) == 2  # refuses to overwrite
    assert convert_main([*args, "--overwrite"]) == 0
    assert convert_main([*args[:-6], "--n-id", "99", "--overwrite"]) == 2


def test_exp_pca_bin_errors(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    _write_bfm(tmp_path, synth)
    n = synth.n_vertices
    mu, pc = read_exp_pca_bin(tmp_path / "Exp_Pca.bin", n)
    assert mu.shape == (3 * n,) and pc.shape == (3 * n, 4)
    raw = (tmp_path / "Exp_Pca.bin").read_bytes()
    (tmp_path / "trunc.bin").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_exp_pca_bin(tmp_path / "trunc.bin", n)
    with pytest.raises(ValueError, match="trailing bytes"):
        read_exp_pca_bin(tmp_path / "Exp_Pca.bin", n - 1)
    (tmp_path / "bad.bin").write_bytes(np.array([-5], "<i4").tobytes() + raw[4:])
    with pytest.raises(ValueError, match="implausible"):
        read_exp_pca_bin(tmp_path / "bad.bin", n)
    with pytest.raises(FileNotFoundError):
        read_exp_pca_bin(tmp_path / "nope.bin", n)


def test_bfm_file_errors(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    _write_bfm(tmp_path, synth)
    mat, exp, std, idx, lm = _bfm_paths(tmp_path)
    with pytest.raises(ValueError, match="n_id=100 outside"):
        convert_bfm(mat, exp, std, idx, lm)  # paper default 100 > 6 in this tiny file
    raw = scipy.io.loadmat(mat)
    del raw["texEV"]
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {k: v for k, v in raw.items() if not k.startswith("__")})
    with pytest.raises(ValueError, match="texEV"):
        convert_bfm(bad, exp, std, idx, lm)
    raw = scipy.io.loadmat(mat)
    raw["shapeEV"] = raw["shapeEV"][:-1]
    scipy.io.savemat(bad, {k: v for k, v in raw.items() if not k.startswith("__")})
    with pytest.raises(ValueError, match="shapeEV"):
        convert_bfm(bad, exp, std, idx, lm)
    (tmp_path / "junk.mat").write_bytes(b"MATLAB junk" * 3)
    with pytest.raises(ValueError, match="cannot read"):
        convert_bfm(tmp_path / "junk.mat", exp, std, idx, lm)
    (tmp_path / "std3.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="3 values"):
        convert_bfm(mat, exp, tmp_path / "std3.txt", idx, lm)
    (tmp_path / "lm5.txt").write_text("1 2 3 4 5")
    with pytest.raises(ValueError, match="expected 68 landmark"):
        convert_bfm(mat, exp, std, idx, tmp_path / "lm5.txt", n_id=None, n_exp=None, n_alb=None)
    (tmp_path / "lmbig.txt").write_text(" ".join(["100000"] * 68))
    with pytest.raises(ValueError, match="output vertices"):
        convert_bfm(mat, exp, std, idx, tmp_path / "lmbig.txt", n_id=None, n_exp=None, n_alb=None)
    scipy.io.savemat(tmp_path / "idx_bad.mat", {"wrong": np.arange(3)})
    with pytest.raises(ValueError, match="trimIndex"):
        convert_bfm(mat, exp, std, tmp_path / "idx_bad.mat", lm, n_id=None, n_exp=None, n_alb=None)


def test_landmark_file_formats(tmp_path: pathlib.Path) -> None:
    idx = np.arange(68) * 3
    scipy.io.savemat(tmp_path / "kp.mat", {"keypoints": (idx + 1).reshape(1, -1)})
    np.testing.assert_array_equal(read_landmark_indices(tmp_path / "kp.mat"), idx)
    np.save(tmp_path / "kp.npy", idx + 1)
    np.testing.assert_array_equal(read_landmark_indices(tmp_path / "kp.npy", one_based=True), idx)
    (tmp_path / "kp.txt").write_text(" ".join(str(i + 0.5) for i in idx))
    with pytest.raises(ValueError, match="integers"):
        read_landmark_indices(tmp_path / "kp.txt")


# ------------------------------------------------------------------------------------ FLAME
def _fake_chumpy(monkeypatch: pytest.MonkeyPatch) -> type:
    """Register a fake ``chumpy.ch.Ch`` class (as FLAME pickles reference it)."""
    chumpy = types.ModuleType("chumpy")
    ch_mod = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy: the array lives in the instance dict as 'x' + other terms
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = set()
            self._parents = {}

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_mod.Ch = Ch  # type: ignore[attr-defined]
    chumpy.ch = ch_mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch_mod)
    return Ch


def _write_flame(
    path: pathlib.Path, synth: FaceModelData, monkeypatch: pytest.MonkeyPatch, protocol: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Write a FLAME-like pickle with chumpy and scipy.sparse objects; return v and shapedirs."""
    ch = _fake_chumpy(monkeypatch)
    rng = np.random.default_rng(1)
    n = synth.n_vertices
    v = synth.mean_shape.astype(np.float64) / 1000.0  # metres
    shapedirs = rng.normal(size=(n, 3, 14)) * 1e-3
    model = {
        "v_template": ch(v),
        "shapedirs": ch(shapedirs),
        "f": synth.triangles.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(rng.random((5, n)) > 0.9),
        "posedirs": rng.normal(size=(n, 3, 4)),
        "bs_style": "lbs",
        "kintree_table": np.zeros((2, 5)),
    }
    with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=protocol)
    monkeypatch.delitem(sys.modules, "chumpy")  # the loader must not need chumpy
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    return v, shapedirs


@pytest.mark.parametrize("protocol", [2, 5])
def test_flame_conversion(
    tmp_path: pathlib.Path, synth: FaceModelData, monkeypatch: pytest.MonkeyPatch, protocol: int
) -> None:
    pkl = tmp_path / "generic_model.pkl"
    v, shapedirs = _write_flame(pkl, synth, monkeypatch, protocol)
    lm = tmp_path / "flame_lm.txt"
    lm.write_text("\n".join(str(i) for i in synth.landmark_indices))
    loaded = load_flame_pickle(pkl)
    np.testing.assert_array_equal(loaded["v_template"], v)
    data = convert_flame(pkl, lm, n_shape=10, n_id=None)
    assert (data.n_id, data.n_exp) == (10, 4)
    np.testing.assert_allclose(data.mean_shape, synth.mean_shape, atol=1e-3)
    want = np.moveaxis(shapedirs[:, :, 10:], 2, 0) * 1000.0
    np.testing.assert_allclose(data.exp_basis * data.exp_sigma[:, None, None], want, atol=1e-4)
    np.testing.assert_array_equal(data.landmark_indices, synth.landmark_indices)
    assert data.n_alb == 3 and data.metadata["units"].startswith("mm")
    out = tmp_path / "flame.npz"
    assert (
        convert_main(
            [
                "flame",
                "--pkl",
                str(pkl),
                "--landmarks",
                str(lm),
                "--n-shape",
                "10",
                "--n-id",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert load_face_model(out).n_id == 5


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_flame_refuses_arbitrary_globals_and_bad_files(
    tmp_path: pathlib.Path, synth: FaceModelData, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_flame_pickle(evil)
    pkl = tmp_path / "generic_model.pkl"
    _write_flame(pkl, synth, monkeypatch)
    trunc = tmp_path / "trunc.pkl"
    trunc.write_bytes(pkl.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable"):
        load_flame_pickle(trunc)
    nokey = tmp_path / "nokey.pkl"
    nokey.write_bytes(pickle.dumps({"v_template": np.zeros((4, 3))}, protocol=2))
    lm = tmp_path / "lm.txt"
    lm.write_text(" ".join(["0"] * 68))
    with pytest.raises(ValueError, match="shapedirs"):
        convert_flame(nokey, lm)
    with pytest.raises(ValueError, match="n_shape"):
        convert_flame(pkl, lm, n_shape=14)
    assert (
        convert_main(
            ["flame", "--pkl", str(evil), "--landmarks", str(lm), "--out", str(tmp_path / "x.npz")]
        )
        == 2
    )
    assert not (tmp_path / "x.npz").exists()
