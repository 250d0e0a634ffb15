# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for FaceParams and ParamLayout (sizes, slices, packing, normalisation, JSON)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from face3d_ros.geometry.sh import default_gamma
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.params import FaceParams, ParamLayout


def _random_params(dims: tuple[int, int, int], seed: int = 0) -> FaceParams:
    rng = np.random.default_rng(seed)
    return FaceParams(
        alpha_id=rng.normal(size=dims[0]),
        alpha_exp=rng.normal(size=dims[1]),
        alpha_alb=rng.normal(size=dims[2]),
        gamma=rng.normal(size=27),
        pose=[0.1, -0.2, 0.05, 110.0, 120.0, 1.3],
    )


def test_paper_sizes() -> None:
    layout = ParamLayout(100, 79, 100)
    assert layout.coarse_size == 185  # paper: CoarseNet
    assert layout.tracking_size == 312  # paper: tracking net
    sl = layout.tracking_slices
    assert sl["gamma"] == slice(279, 306) and sl["pose"] == slice(306, 312)
    assert layout.coarse_slices["s"] == slice(184, 185)


def test_neutral_and_validation() -> None:
    model = MorphableModel(make_synthetic_model())
    p = FaceParams.neutral(model)
    assert p.dims == model.dims
    np.testing.assert_array_equal(p.gamma, default_gamma())
    assert p.pose.dtype == np.float32 and p.pose[5] == 1.0
    assert FaceParams.neutral((2, 3, 4), pose=np.ones(6)).pose.tolist() == [1.0] * 6
    with pytest.raises(ValueError, match="gamma"):
        p.copy(gamma=np.zeros(26))
    with pytest.raises(ValueError, match="scale"):
        p.copy(pose=[0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="non-finite"):
        p.copy(alpha_id=np.full(8, np.nan))
    with pytest.raises(ValueError, match="1-D"):
        p.copy(alpha_exp=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="match"):
        p.check_dims((1, 2, 3))
    src = np.zeros(8)
    q = p.copy(alpha_id=src)
    src[0] = 5.0
    assert q.alpha_id[0] == 0.0  # copied, not aliased


def test_coarse_and_tracking_round_trip() -> None:
    layout = ParamLayout(8, 6, 5)
    p = _random_params(layout.dims)
    v = layout.pack_coarse(p)
    assert v.shape == (layout.coarse_size,) and v.dtype == np.float32
    q = layout.unpack_coarse(v, template=p)
    for k in ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose"):
        np.testing.assert_array_equal(getattr(q, k), getattr(p, k))
    r = layout.unpack_coarse(v)
    assert (r.alpha_alb == 0).all()
    np.testing.assert_array_equal(r.gamma, default_gamma())
    prev = np.array([0.05, -0.1, 0.0, 100.0, 125.0, 1.2], np.float32)
    t = layout.pack_tracking(p, prev)
    np.testing.assert_allclose(t[layout.tracking_slices["pose"]], p.pose - prev, atol=1e-6)
    back = layout.unpack_tracking(t, prev)
    np.testing.assert_allclose(back.pose, p.pose, atol=1e-5)
    np.testing.assert_array_equal(back.gamma, p.gamma)
    with pytest.raises(ValueError, match="length"):
        layout.unpack_coarse(np.zeros(5))
    with pytest.raises(ValueError, match="match"):
        layout.pack_coarse(_random_params((1, 1, 1)))


def test_normalisation_numpy_torch_and_json(tmp_path: pathlib.Path) -> None:
    layout = ParamLayout(3, 2, 2)
    rng = np.random.default_rng(0)
    data = rng.normal(loc=5.0, scale=3.0, size=(500, layout.tracking_size))
    data[:, 0] = 1.0  # constant column: std floored, no division by zero
    layout.fit_statistics(data, "tracking")
    z = layout.normalize(data, "tracking")
    assert abs(z[:, 1:].mean()) < 1e-3 and abs(z[:, 1:].std() - 1) < 1e-2
    assert np.isfinite(z).all()
    np.testing.assert_allclose(layout.denormalize(z, "tracking"), data, rtol=1e-5, atol=1e-4)
    zt = layout.normalize(torch.from_numpy(data), "tracking")
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_allclose(zt.numpy(), z, rtol=1e-5, atol=1e-5)
    path = tmp_path / "layout.json"
    layout.save_json(path)
    json.loads(path.read_text())
    again = ParamLayout.load_json(path)
    np.testing.assert_array_equal(again.tracking_mean, layout.tracking_mean)
    np.testing.assert_array_equal(again.tracking_std, layout.tracking_std)
    assert again.dims == layout.dims
    with pytest.raises(FileExistsError):
        layout.save_json(path)
    with pytest.raises(ValueError, match="coarse_std"):
        ParamLayout(3, 2, 2, coarse_std=np.zeros(11))
    with pytest.raises(ValueError, match="kind"):
        layout.normalize(data, "fine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length"):
        layout.normalize(data[:, :5], "tracking")


def test_face_params_dict_round_trip() -> None:
    p = _random_params((4, 3, 2))
    q = FaceParams.from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_array_equal(q.gamma, p.gamma)
    with pytest.raises(ValueError, match="lacks"):
        FaceParams.from_dict({"alpha_id": []})
