# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for FaceParams and the nets' output layout declared by the contract (paper sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from face3d_ros.geometry.sh import default_gamma
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.nets.contract import DEFAULT_CONTRACT, output_groups
from face3d_ros.nets.heads import OutputSpec
from face3d_ros.params import FaceParams


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
    coarse = OutputSpec.standard(DEFAULT_CONTRACT.coarse.groups(100, 79))
    tracking = OutputSpec.standard(DEFAULT_CONTRACT.tracking.groups(100, 79, 100))
    assert coarse.size == 185  # paper: CoarseNet
    assert tracking.size == 312  # paper: tracking net
    sl = tracking.slices()
    assert sl["sh"] == slice(279, 306) and sl["d_rotation"] == slice(306, 309)
    assert sl["d_scale"] == slice(311, 312)
    assert coarse.slices()["scale"] == slice(184, 185)
    assert output_groups("fine", 100, 79) == (("displacement", 1),)
    with pytest.raises(ValueError, match="unknown net"):
        output_groups("other", 1, 1)


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


def test_face_params_dict_round_trip() -> None:
    p = _random_params((4, 3, 2))
    q = FaceParams.from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_array_equal(q.gamma, p.gamma)
    with pytest.raises(ValueError, match="lacks"):
        FaceParams.from_dict({"alpha_id": []})
