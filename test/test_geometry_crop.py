# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for square crops: pose round trips and projected points landing on cropped pixels."""

from __future__ import annotations

import numpy as np
import pytest

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import (
    CropBox,
    crop_from_points,
    crop_image,
    points_from_crop,
    points_to_crop,
    pose_from_crop,
    pose_to_crop,
)


def test_pose_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        box = CropBox(*rng.uniform(-50, 300, 2), rng.uniform(20, 400))
        pose = np.concatenate(
            [rng.uniform(-1, 1, 3), rng.uniform(0, 640, 2), [rng.uniform(0.2, 4)]]
        )
        out = int(rng.choice([224, 256]))
        np.testing.assert_allclose(
            pose_from_crop(pose_to_crop(pose, box, out), box, out), pose, rtol=1e-5, atol=1e-3
        )
        np.testing.assert_allclose(
            pose_to_crop(pose_from_crop(pose, box, out), box, out), pose, rtol=1e-5, atol=1e-3
        )
    batch = rng.uniform(0.5, 2, size=(4, 6))
    assert pose_to_crop(batch, CropBox(1, 2, 50), 100).shape == (4, 6)


def test_projection_commutes_with_crop() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(scale=40, size=(30, 3))
    pose = np.array([0.2, -0.3, 0.1, 320.0, 240.0, 1.7])
    box = CropBox(180.0, 110.0, 260.0)
    direct = project_np(pts, pose_to_crop(pose, box, 256))
    via_image = points_to_crop(project_np(pts, pose), box, 256)
    np.testing.assert_allclose(direct, via_image, rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(
        points_from_crop(via_image, box, 256), project_np(pts, pose), atol=2e-3
    )


def test_projected_points_land_on_cropped_pixels() -> None:
    # A black image with single bright pixels at projected model points: after the crop, the
    # bright pixels are where the crop-space pose projects the points.
    h, w = 480, 640
    pts = np.array([[0.0, 0, 0], [40, 20, 5], [-35, -30, 10], [10, 50, -5]])
    pose = np.array([0.1, 0.2, -0.05, 300.0, 250.0, 2.0])
    uv = project_np(pts, pose)[:, :2]
    uv_int = np.round(uv).astype(int)
    img = np.zeros((h, w, 3), np.float32)
    img[uv_int[:, 1], uv_int[:, 0]] = 1.0
    box = CropBox(200.0, 120.0, 256.0)  # scale 1: pure shift, so pixels map exactly
    crop = crop_image(img, box, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.float32
    expected = project_np(pts, pose_to_crop(pose, box, 256))[:, :2] + (uv_int - uv)
    for u, v in expected:
        assert crop[int(round(v)), int(round(u)), 0] == pytest.approx(1.0, abs=1e-4)
    assert crop.sum() == pytest.approx(3 * len(pts), abs=1e-3)
    # Down-scaling by 2: the bright mass centre of a 4x4 block lands at the projected point.
    img2 = np.zeros((h, w), np.float32)
    u0, v0 = uv_int[1]
    img2[v0 - 2 : v0 + 2, u0 - 2 : u0 + 2] = 1.0
    box2 = CropBox(100.0, 60.0, 512.0)
    crop2 = crop_image(img2, box2, 256)
    ii, jj = np.nonzero(crop2 > 0)
    wts = crop2[ii, jj]
    centre = np.array([(jj * wts).sum(), (ii * wts).sum()]) / wts.sum()
    np.testing.assert_allclose(centre, points_to_crop([u0 - 0.5, v0 - 0.5], box2, 256), atol=0.3)


def test_crop_from_points() -> None:
    pts = np.array([[100.0, 100.0], [200.0, 150.0], [150.0, 250.0]])
    box = crop_from_points(pts, scale=1.5)
    assert box.size == pytest.approx(225.0)
    assert box.center == pytest.approx((150.0, 175.0))
    capped = crop_from_points(pts, scale=10.0, image_shape=(300, 400, 3))
    assert capped.size == pytest.approx(400.0) and capped.center == pytest.approx((150.0, 175.0))
    with pytest.raises(ValueError, match="overlap"):
        crop_from_points(pts + 5000.0, 1.6, image_shape=(300, 400))
    with pytest.raises(ValueError):
        crop_from_points(np.zeros((1, 2)), 1.6)
    with pytest.raises(ValueError):
        CropBox(0, 0, 0)


def test_crop_image_dtypes_and_channels() -> None:
    img = (np.arange(40 * 50 * 3) % 251).astype(np.uint8).reshape(40, 50, 3)
    box = CropBox(10.0, 5.0, 20.0)
    c = crop_image(img, box, 20)
    assert c.dtype == np.uint8
    np.testing.assert_array_equal(c, img[5:25, 10:30])  # scale 1, integer offset: exact copy
    one = crop_image(img[..., :1], box, 20)
    assert one.shape == (20, 20, 1)
    assert crop_image(img[..., 0], box, 20).shape == (20, 20)
    many = crop_image(np.repeat(img, 2, axis=2).astype(np.float32), box, 20)
    assert many.shape == (20, 20, 6)
    with pytest.raises(ValueError, match="out_size"):
        crop_image(img, box, 0)


def test_antialiasing_when_shrinking() -> None:
    # Stripes of period 4.2 px shrunk 4x: without low-pass they alias into a slow high-contrast
    # beat, with it the crop is close to the mean grey. Geometry (where a blob lands) is kept.
    ii, jj = np.mgrid[0:400, 0:400]
    checker = (0.5 + 0.5 * np.sin(2 * np.pi * jj / 4.2)).astype(np.float32)
    box = CropBox(0.3, 0.7, 320.0)
    smooth = crop_image(checker, box, 80)
    aliased = crop_image(checker, box, 80, antialias=False)
    assert np.abs(smooth[5:-5, 5:-5] - 0.5).max() < 0.06
    assert np.abs(aliased[5:-5, 5:-5] - 0.5).max() > 0.3
    blob = np.zeros((400, 400), np.float32)
    blob[196:204, 116:124] = 1.0  # centre (119.5, 199.5)
    c = crop_image(blob, box, 80)
    ii, jj = np.nonzero(c > 0.01)
    wts = c[ii, jj]
    centre = np.array([(jj * wts).sum(), (ii * wts).sum()]) / wts.sum()
    np.testing.assert_allclose(centre, points_to_crop([119.5, 199.5], box, 80), atol=0.15)
    far = crop_image(blob, CropBox(5000.0, 5000.0, 400.0), 80)
    assert far.shape == (80, 80) and not far.any()
