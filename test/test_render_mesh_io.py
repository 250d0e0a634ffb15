# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for OBJ/PLY export: write, parse back, compare; overwrite refusal; bad input."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from face3d_ros.model.synthetic import make_synthetic_model
from face3d_ros.render.mesh_io import read_obj, read_ply, write_obj, write_ply


@pytest.fixture(scope="module")
def mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = make_synthetic_model(resolution=10)
    return m.mean_shape, m.triangles, m.mean_albedo


def test_obj_round_trip(tmp_path: pathlib.Path, mesh) -> None:
    v, t, c = mesh
    path = tmp_path / "face.obj"
    write_obj(path, v, t, c)
    text = path.read_text().splitlines()
    assert sum(line.startswith("v ") and len(line.split()) == 7 for line in text) == len(v)
    v2, t2, c2 = read_obj(path)
    np.testing.assert_allclose(v2, v, rtol=1e-7)  # float32 values written with 9 digits
    np.testing.assert_array_equal(t2, t)
    np.testing.assert_allclose(c2, c, atol=1e-6)
    plain = tmp_path / "plain.obj"
    write_obj(plain, v, t)
    assert read_obj(plain)[2] is None


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(tmp_path: pathlib.Path, mesh, binary: bool) -> None:
    v, t, c = mesh
    path = tmp_path / "face.ply"
    write_ply(path, v, t, c, binary=binary)
    head = path.read_bytes()[:80]
    assert (b"binary_little_endian" in head) == binary
    v2, t2, c2 = read_ply(path)
    np.testing.assert_array_equal(v2, v.astype(np.float32))
    np.testing.assert_array_equal(t2, t)
    np.testing.assert_array_equal(c2, np.round(c * 255).astype(np.uint8))
    write_ply(tmp_path / "nc.ply", v, t, binary=binary)
    assert read_ply(tmp_path / "nc.ply")[2] is None


def test_overwrite_refused_then_allowed(tmp_path: pathlib.Path, mesh) -> None:
    v, t, c = mesh
    for writer, name in ((write_obj, "a.obj"), (write_ply, "a.ply")):
        path = tmp_path / name
        writer(path, v, t)
        before = path.read_bytes()
        with pytest.raises(FileExistsError):
            writer(path, v * 2, t)
        assert path.read_bytes() == before
        writer(path, v * 2, t, overwrite=True)
        assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.obj", "a.ply"]  # no temp files left


def test_uint8_colours_and_errors(tmp_path: pathlib.Path, mesh) -> None:
    v, t, c = mesh
    c8 = np.round(c * 255).astype(np.uint8)
    write_ply(tmp_path / "u.ply", v, t, c8)
    np.testing.assert_array_equal(read_ply(tmp_path / "u.ply")[2], c8)
    with pytest.raises(ValueError, match="colors"):
        write_obj(tmp_path / "x.obj", v, t, c * 2)
    with pytest.raises(ValueError, match="out of range"):
        write_obj(tmp_path / "x.obj", v, t + len(v))
    with pytest.raises(ValueError, match="vertices"):
        write_ply(tmp_path / "x.ply", v[:, :2], t)
    assert not (tmp_path / "x.obj").exists()
