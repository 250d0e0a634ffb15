# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The shipped default model loads, has its documented dimensions and is a plausible face."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial import cKDTree

from face3d_ros.model.default import default_model_path, load_default_model
from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.morphable import MorphableModel


@pytest.fixture(scope="module")
def model() -> FaceModelData:
    """The shipped default model."""
    return load_default_model()


def _exp(model: FaceModelData, name: str) -> np.ndarray:
    """1-sigma displacement [N, 3] of a named designed blendshape."""
    names = model.metadata["expression"]["designed_blendshapes"]
    k = names.index(name)
    return model.exp_basis[k] * model.exp_sigma[k]


def test_file_and_dimensions(model: FaceModelData) -> None:
    path = default_model_path()
    assert path.name == "face3d_default.npz"
    assert path.stat().st_size < 25e6
    assert (model.n_id, model.n_exp, model.n_alb) == (100, 79, 100)
    assert 3000 <= model.n_vertices <= 12000
    assert model.model_id == "face3d-default-v1"
    assert model.metadata["units"] == "mm"
    assert "licence" in model.metadata
    assert (path.parent / "PROVENANCE.md").is_file()


def test_left_right_symmetric(model: FaceModelData) -> None:
    v = model.mean_shape
    dist, _ = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert dist.max() < 3.0
    assert abs(v[:, 0].mean()) < 1.0


def test_plausible_size(model: FaceModelData) -> None:
    v = model.mean_shape
    lm = v[model.landmark_indices]
    width = np.ptp(v[:, 0])
    assert 140.0 <= width <= 170.0  # ear to ear front face
    assert 140.0 <= np.linalg.norm(lm[1] - lm[15]) <= 160.0  # ~bizygomatic/tragion width
    assert 80.0 <= np.linalg.norm(lm[36] - lm[45]) <= 105.0  # ex-ex
    assert 25.0 <= np.linalg.norm(lm[39] - lm[42]) <= 42.0  # en-en
    assert 40.0 <= np.linalg.norm(lm[48] - lm[54]) <= 65.0  # ch-ch
    assert 100.0 <= lm[27, 1] - lm[8, 1] <= 145.0  # n-gn height
    # Origin near the head centre: the face is in front of it.
    assert 60.0 <= lm[30, 2] <= 130.0


def test_landmarks_where_their_names_say(model: FaceModelData) -> None:
    v = model.mean_shape
    idx = model.landmark_indices
    lm = v[idx]
    assert int(np.argmax(lm[:, 2])) == 30  # nose tip closest to the camera
    assert int(np.argmin(lm[:, 1])) == 8  # chin lowest
    assert lm[36, 0] < -20.0 and lm[45, 0] > 20.0  # subject's right eye corner at x < 0
    np.testing.assert_allclose(lm[36] * [-1, 1, 1], lm[45], atol=2.0)
    assert lm[[48, 51, 54, 57, 62, 66], 1].max() < lm[33, 1]  # mouth below the nose
    assert lm[[17, 21, 22, 26], 1].min() > lm[36:48, 1].max()  # brows above the eyes
    used = np.zeros(model.n_vertices, bool)
    used[model.triangles.ravel()] = True
    assert used[idx].all()  # every landmark vertex is part of the surface
    assert (model.face_mask[idx[17:]] > 0.9).all()


def test_triangles_face_the_camera(model: FaceModelData) -> None:
    v = model.mean_shape
    t = model.triangles
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    centre = np.abs(v[t].mean(1)[:, 0]) < 30.0
    assert (n[centre, 2] > 0).mean() > 0.95


def test_expressions_move_the_right_regions(model: FaceModelData) -> None:
    v = model.mean_shape
    idx = model.landmark_indices
    jaw = _exp(model, "jaw_open")
    assert jaw[idx[8], 1] < -4.0  # chin down
    forehead = v[:, 1] > v[idx[19], 1] + 5.0
    assert np.abs(jaw[forehead]).max() < 1e-3
    assert np.abs(jaw[idx[62]]).max() < 1.0  # upper inner lip nearly still
    assert jaw[idx[66], 1] < jaw[idx[62], 1] - 4.0  # the lips part
    close_r = _exp(model, "eye_close_r")
    assert close_r[idx[[37, 38]], 1].max() < -1.0  # right upper lid down
    assert np.abs(close_r[idx[[43, 44]]]).max() < 0.1  # left eye untouched
    assert np.abs(close_r[idx[48:68]]).max() < 0.1
    brow = _exp(model, "brow_inner_raise_l")
    assert brow[idx[22], 1] > 1.0 and abs(brow[idx[21], 1]) < 0.5 * brow[idx[22], 1]
    smile = _exp(model, "smile_l")
    assert smile[idx[54], 1] > 1.0 and smile[idx[54], 0] > 0.5
    assert np.abs(smile[idx[48]]).max() < 0.5 * np.abs(smile[idx[54]]).max()


def _umbrella(model: FaceModelData) -> sp.csr_matrix:
    """Graph Laplacian (degree-normalised) of the mesh."""
    f = model.triangles
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    n = model.n_vertices
    a = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(float)
    d = np.asarray(a.sum(1)).ravel()
    return sp.eye(n) - sp.diags(1.0 / d) @ a


def test_identity_modes_are_smooth(model: FaceModelData) -> None:
    lap = _umbrella(model)

    def roughness(field: np.ndarray) -> float:
        return float(np.linalg.norm(lap @ field) / np.linalg.norm(field))

    rough = [roughness(model.id_basis[k]) for k in range(20)]
    noise = roughness(np.random.default_rng(0).normal(size=(model.n_vertices, 3)))
    assert max(rough) < 0.05 * noise
    # sigma sorted (PCA) and the leading modes are a few mm per vertex (RMS)
    assert np.all(np.diff(model.id_sigma) <= 1e-3)
    rms = model.id_sigma[0] * np.sqrt((model.id_basis[0] ** 2).sum(-1).mean())
    assert 1.0 < rms < 10.0


def test_albedo_is_skin_like(model: FaceModelData) -> None:
    skin = model.face_mask > 0.9
    mean = model.mean_albedo[skin].mean(0)
    assert mean[0] > mean[1] > mean[2]  # reddish skin, linear RGB
    assert 0.05 < mean.mean() < 0.7
    assert model.wrinkle_mask.max() == pytest.approx(1.0, abs=0.05)
    v = model.mean_shape
    forehead = v[:, 1] > v[model.landmark_indices[19], 1] + 25.0
    assert model.wrinkle_mask[forehead & skin].mean() > 0.8
    chin = v[:, 1] < v[model.landmark_indices[57], 1]
    assert model.wrinkle_mask[chin].max() < 0.05


def test_morphable_model_on_default(model: FaceModelData) -> None:
    mm = MorphableModel(model, n_id=80, n_exp=64, n_alb=80)
    a_id, a_exp = torch.zeros(4, 80), torch.zeros(4, 64)
    mm.shape(a_id, a_exp)
    t0 = time.process_time()
    v = mm.shape(a_id, a_exp)
    elapsed = time.process_time() - t0
    assert v.shape == (4, model.n_vertices, 3)
    assert elapsed < 0.5
    np.testing.assert_allclose(v[0].numpy(), model.mean_shape, atol=1e-4)


def test_expression_basis_is_well_conditioned(model: FaceModelData) -> None:
    e = model.exp_basis.reshape(model.n_exp, -1)
    s = np.linalg.svd(e, compute_uv=False)
    assert s[0] / s[-1] < 100.0  # no two components (nearly) the same motion
    names = model.metadata["expression"]["designed_blendshapes"]
    assert len(names) == len(set(names)) and names[0] == "jaw_open"
    idx = model.landmark_indices
    pucker = _exp(model, "pucker")
    assert pucker[idx[51], 2] > 1.0 and pucker[idx[57], 2] > 1.0  # lips forward
    assert np.abs(pucker[idx[[17, 26, 36, 45]]]).max() < 0.1
