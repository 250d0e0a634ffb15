# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the numba rasterizer against a brute-force numpy reference and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from face3d_ros.render.rasterizer import (
    COVERAGE_EPS,
    Fragments,
    rasterize,
    rasterize_batch,
)


def _reference(verts: np.ndarray, tris: np.ndarray, h: int, w: int):
    """Every pixel against every triangle: all covering (triangle, depth, barycentrics)."""
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    best = np.full((h, w), -np.inf)
    cover = []
    for a, b, c in tris:
        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = verts[a], verts[b], verts[c]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-10:
            cover.append(None)
            continue
        w0 = ((x1 - jj) * (y2 - ii) - (x2 - jj) * (y1 - ii)) / area
        w1 = ((x2 - jj) * (y0 - ii) - (x0 - jj) * (y2 - ii)) / area
        w2 = ((x0 - jj) * (y1 - ii) - (x1 - jj) * (y0 - ii)) / area
        inside = (w0 >= -COVERAGE_EPS) & (w1 >= -COVERAGE_EPS) & (w2 >= -COVERAGE_EPS)
        z = w0 * z0 + w1 * z1 + w2 * z2
        cover.append((inside, z, np.stack([w0, w1, w2], -1)))
        best = np.where(inside, np.maximum(best, z), best)
    return best, cover


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 24, 31
    n = 25
    verts = np.stack(
        [rng.uniform(-6, w + 6, n), rng.uniform(-6, h + 6, n), rng.uniform(-20, 20, n)], 1
    )
    if seed % 2:  # exercise exact pixel-centre vertices and shared edges
        verts[:, :2] = np.round(verts[:, :2])
    tris = rng.integers(0, n, size=(40, 3))
    frag = rasterize(verts, tris, h, w)
    best, cover = _reference(verts, tris, h, w)
    covered = np.isfinite(best)
    np.testing.assert_array_equal(frag.triangle_id >= 0, covered)
    assert covered.sum() > 50
    np.testing.assert_allclose(frag.depth[covered], best[covered], rtol=1e-6, atol=1e-4)
    assert np.all(frag.depth[~covered] == -np.inf)
    for i, j in zip(*np.nonzero(covered), strict=True):
        f = frag.triangle_id[i, j]
        inside, z, bary = cover[f]
        # The chosen triangle covers the pixel and is (one of) the nearest: ties allowed.
        assert inside[i, j]
        assert z[i, j] >= best[i, j] - 1e-9
        np.testing.assert_allclose(frag.barycentric[i, j], bary[i, j], atol=1e-5)
    np.testing.assert_allclose(frag.barycentric.sum(-1)[covered], 1.0, atol=1e-5)
    assert np.all(frag.barycentric[~covered] == 0)


def test_pixel_centres_at_integers_and_edges_watertight() -> None:
    # A square [2, 6] x [3, 5] split into two triangles covers exactly 5 x 3 pixel centres.
    verts = np.array([[2.0, 3, 1], [6, 3, 1], [6, 5, 1], [2, 5, 1]])
    tris = np.array([[0, 2, 1], [0, 3, 2]])
    frag = rasterize(verts, tris, 8, 8)
    expected = np.zeros((8, 8), bool)
    expected[3:6, 2:7] = True
    np.testing.assert_array_equal(frag.mask, expected)
    # Diagonal pixels belong to one of the two triangles (no cracks, no double counting).
    assert set(np.unique(frag.triangle_id[expected])) == {0, 1}


def test_depth_test_larger_is_closer() -> None:
    big = np.array([[-10.0, -10, 0], [40, -10, 0], [-10, 40, 0]])
    verts = np.concatenate([big, big + [0, 0, 5.0]])
    tris = np.array([[0, 1, 2], [3, 4, 5]])
    frag = rasterize(verts, tris, 16, 16)
    assert (frag.triangle_id == 1).all()  # fully off-screen corners, clipped; nearer one wins
    np.testing.assert_allclose(frag.depth, 5.0)
    frag = rasterize(verts, tris[::-1], 16, 16)
    assert (frag.triangle_id == 0).all()


def test_degenerate_nonfinite_offscreen_skipped() -> None:
    verts = np.array(
        [
            [1.0, 1, 0],
            [5, 1, 0],
            [9, 1, 0],
            [1, 5, 0],
            [np.nan, 2, 0],
            [100, 100, 0],
            [120, 100, 0],
            [100, 130, 0],
        ]
    )
    tris = np.array([[0, 1, 2], [0, 4, 3], [5, 6, 7]])  # collinear, NaN, fully off-screen
    frag = rasterize(verts, tris, 10, 10)
    assert not frag.mask.any()


def test_backface_culling() -> None:
    # Counter-clockwise in a y-up frame = clockwise in (u, v) with v down: front facing.
    front = np.array([[0.0, 8, 0], [8, 8, 0], [0, 0, 0]])  # model (0,0),(8,0),(0,8) -> y flipped
    tri = np.array([[0, 1, 2]])
    assert rasterize(front, tri, 10, 10, cull_backfaces=True).mask.any()
    assert not rasterize(front, tri[:, ::-1], 10, 10, cull_backfaces=True).mask.any()
    assert rasterize(front, tri[:, ::-1], 10, 10).mask.any()  # default keeps both sides


def test_batch_equals_loop_and_torch_input() -> None:
    import torch

    rng = np.random.default_rng(3)
    verts = rng.uniform(0, 20, size=(3, 12, 3))
    tris = rng.integers(0, 12, size=(10, 3)).astype(np.int32)
    fb = rasterize_batch(verts, tris, 20, 22)
    assert isinstance(fb, Fragments) and fb.triangle_id.shape == (3, 20, 22)
    for b in range(3):
        f = rasterize(torch.from_numpy(verts[b]), torch.from_numpy(tris), 20, 22)
        np.testing.assert_array_equal(fb.triangle_id[b], f.triangle_id)
        np.testing.assert_array_equal(fb.depth[b], f.depth)
    assert fb.depth.dtype == np.float32 and fb.barycentric.dtype == np.float32
    assert fb.triangle_id.dtype == np.int32


def test_input_errors() -> None:
    v = np.zeros((3, 3))
    with pytest.raises(ValueError, match="screen_vertices"):
        rasterize(np.zeros((3, 2)), np.array([[0, 1, 2]]), 4, 4)
    with pytest.raises(ValueError, match="out of range"):
        rasterize(v, np.array([[0, 1, 3]]), 4, 4)
    with pytest.raises(ValueError, match="integer"):
        rasterize(v, np.array([[0.0, 1, 2]]), 4, 4)
    with pytest.raises(ValueError, match="positive"):
        rasterize(v, np.array([[0, 1, 2]]), 0, 4)
    with pytest.raises(ValueError, match=r"\[B, N, 3\]"):
        rasterize_batch(v, np.array([[0, 1, 2]]), 4, 4)


def test_no_numba_compilation_or_import_at_import_time() -> None:
    import subprocess
    import sys

    code = (
        f"import sys; sys.path[:0] = {sys.path!r}; "
        "import face3d_ros.render.rasterizer, face3d_ros.render.interpolate; "
        "assert 'numba' not in sys.modules, 'numba imported at import time'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
