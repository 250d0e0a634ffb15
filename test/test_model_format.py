# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for FaceModelData validation, the .npz format, MorphableModel and the synthetic model."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
import zipfile

import numpy as np
import pytest
import torch

from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.io import FORMAT_VERSION, load_face_model, save_face_model
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model


@pytest.fixture(scope="module")
def synth() -> FaceModelData:
    """A small synthetic model shared by the tests."""
    return make_synthetic_model()


def test_synthetic_is_fast_deterministic_and_valid() -> None:
    make_synthetic_model()  # warm up imports
    best = np.inf
    for _ in range(10):  # best of ten, CPU time: the test machines are shared
        t0 = time.process_time()
        a = make_synthetic_model()
        best = min(best, time.process_time() - t0)
    assert best < 0.05
    b = make_synthetic_model()
    a.validate()
    assert (a.n_id, a.n_exp, a.n_alb, a.n_vertices) == (8, 6, 5, 24 * 24)
    np.testing.assert_array_equal(a.id_basis, b.id_basis)
    np.testing.assert_array_equal(a.landmark_indices, b.landmark_indices)
    c = make_synthetic_model(seed=1)
    assert not np.array_equal(a.id_basis, c.id_basis)
    assert a.mean_shape.dtype == np.float32 and a.triangles.dtype == np.int32


def test_synthetic_geometry_is_face_like(synth: FaceModelData) -> None:
    lm = synth.mean_shape[synth.landmark_indices]
    assert int(np.argmax(lm[:, 2])) == 30  # nose tip closest to the camera
    assert lm[8, 1] <= lm[:, 1].min() + 1e-3  # chin lowest (ties allowed)
    assert lm[36, 0] < 0 < lm[45, 0]  # iBUG 36 is the subject's right (x < 0)
    assert lm[57, 1] < lm[33, 1]  # mouth below nose
    # Triangles face +z (counter-clockwise seen from the front).
    v = synth.mean_shape[synth.triangles]
    nz = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])[:, 2]
    assert (nz > 0).all()
    # Jaw-open (exp 0) moves the chin down, not the forehead.
    d = synth.exp_basis[0] * synth.exp_sigma[0]
    assert d[synth.landmark_indices[8], 1] < -3.0
    assert abs(d[synth.landmark_indices[19], 1]) < 1e-6


def test_round_trip(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    path = tmp_path / "m.npz"
    save_face_model(synth, path)
    back = load_face_model(path)
    for f in dataclasses.fields(FaceModelData):
        a, b = getattr(synth, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
            assert a.dtype == b.dtype, f.name
        else:
            assert a == b, f.name
    with pytest.raises(FileExistsError):
        save_face_model(synth, path)
    save_face_model(synth, path, overwrite=True, basis_dtype="float16")
    half = load_face_model(path)
    assert half.id_basis.dtype == np.float32
    np.testing.assert_allclose(half.id_basis, synth.id_basis, atol=1e-3)
    with np.load(path, allow_pickle=False) as npz:
        assert npz["id_basis"].dtype == np.float16
        assert int(npz["format_version"]) == FORMAT_VERSION
        assert json.loads(str(npz["metadata_json"][0]))["units"] == "mm"


def _rewrite(path: pathlib.Path, out: pathlib.Path, **changes: object) -> None:
    """Copy an npz, replacing (value) or dropping (None) keys."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v  # type: ignore[assignment]
    np.savez(out, **arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": np.array(2, np.int32)}, "unsupported format_version 2"),
        ({"format_version": None}, "format_version"),
        ({"exp_sigma": None}, "exp_sigma"),
        ({"id_sigma": np.ones(3, np.float32)}, "id_sigma"),
        ({"triangles": np.array([[0, 1, 100000]], np.int32)}, "triangles"),
        ({"landmark_indices": np.arange(60, dtype=np.int32)}, "landmark_indices"),
        ({"mean_albedo": np.full((576, 3), 2.0, np.float32)}, "mean_albedo"),
        ({"metadata_json": np.array(["not json"])}, "metadata_json"),
        ({"mean_shape": np.zeros((576, 3), np.int32)}, "mean_shape"),
    ],
)
def test_load_rejects_bad_files(
    tmp_path: pathlib.Path, synth: FaceModelData, changes: dict, message: str
) -> None:
    good = tmp_path / "good.npz"
    save_face_model(synth, good)
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, **changes)
    with pytest.raises(ValueError, match=message):
        load_face_model(bad)


def test_load_rejects_missing_truncated_and_pickled(
    tmp_path: pathlib.Path, synth: FaceModelData
) -> None:
    with pytest.raises(FileNotFoundError):
        load_face_model(tmp_path / "nope.npz")
    good = tmp_path / "good.npz"
    save_face_model(synth, good)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable"):
        load_face_model(trunc)
    pick = tmp_path / "pickled.npz"
    _rewrite(good, pick, model_id=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load_face_model(pick)
    assert zipfile.is_zipfile(good)


def test_validate_names_the_field(synth: FaceModelData) -> None:
    bad = dataclasses.replace(synth, face_mask=synth.face_mask[:-1])
    with pytest.raises(ValueError, match="face_mask"):
        bad.validate()
    bad = dataclasses.replace(synth, metadata={"x": object()})
    with pytest.raises(ValueError, match="metadata"):
        bad.validate()


def test_morphable_model(synth: FaceModelData) -> None:
    m = MorphableModel(synth)
    assert (m.n_id, m.n_exp, m.n_alb, m.n_vertices) == (8, 6, 5, 576)
    assert set(dict(m.named_buffers())) >= {"mean_shape", "id_basis", "triangles"}
    assert m.triangles.dtype == torch.long and m.landmark_indices.shape == (68,)
    a_id = torch.randn(3, 8)
    a_exp = torch.randn(3, 6)
    v = m.shape(a_id, a_exp)
    assert v.shape == (3, 576, 3) and v.dtype == torch.float32
    ref = (
        synth.mean_shape
        + np.einsum("k,knc->nc", a_id[1].numpy() * synth.id_sigma, synth.id_basis)
        + np.einsum("k,knc->nc", a_exp[1].numpy() * synth.exp_sigma, synth.exp_basis)
    )
    np.testing.assert_allclose(v[1].numpy(), ref, atol=1e-3)
    np.testing.assert_allclose(m.shape_np(a_id[1].numpy(), a_exp[1].numpy()), ref, atol=1e-3)
    np.testing.assert_allclose(
        m.shape(torch.zeros(1, 8), torch.zeros(1, 6))[0].numpy(), synth.mean_shape
    )
    lm = m.landmarks(v)
    assert lm.shape == (3, 68, 3)
    np.testing.assert_allclose(lm[2].numpy(), v[2].numpy()[synth.landmark_indices])
    alb = m.albedo(torch.zeros(2, 5))
    np.testing.assert_allclose(alb[0].numpy(), synth.mean_albedo)
    # Gradients flow to the coefficients.
    a = torch.zeros(1, 8, requires_grad=True)
    m.shape(a).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="alpha_id"):
        m.shape(torch.zeros(1, 7))
    with pytest.raises(ValueError, match="alpha_exp"):
        m.shape(torch.zeros(1, 8), torch.zeros(6))


def test_morphable_truncation_and_from_file(tmp_path: pathlib.Path, synth: FaceModelData) -> None:
    m = MorphableModel(synth, n_id=3, n_exp=2, n_alb=0)
    assert m.dims == (3, 2, 0)
    full = MorphableModel(synth)
    a = torch.randn(1, 3)
    pad = torch.cat([a, torch.zeros(1, 5)], 1)
    np.testing.assert_allclose(m.shape(a).numpy(), full.shape(pad).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="n_id"):
        MorphableModel(synth, n_id=9)
    path = tmp_path / "m.npz"
    save_face_model(synth, path)
    m2 = MorphableModel.from_file(path, n_exp=4)
    assert m2.dims == (8, 4, 5)
