# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image <-> numpy conversions without cv_bridge: round trips, padding and bad input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from face3d_ros.node.conversions import (
    ENCODINGS,
    ImageConverter,
    image_to_numpy,
    image_to_rgb8,
    numpy_to_image,
)


def _sample(encoding: str, h: int = 5, w: int = 7) -> np.ndarray:
    enc = ENCODINGS[encoding]
    rng = np.random.default_rng(0)
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    if enc.dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(enc.dtype).max, size=shape, dtype=enc.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3, 16])
def test_round_trip_every_encoding(encoding: str, pad: int) -> None:
    arr = _sample(encoding)
    row = arr.shape[1] * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    step = row + pad * ENCODINGS[encoding].dtype.itemsize
    msg = numpy_to_image(arr, encoding, step=step)
    assert msg.step == step and len(msg.data) == step * arr.shape[0]
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_colour_orders_agree() -> None:
    rgb = _sample("rgb8")
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    for arr, enc in [
        (rgb, "rgb8"),
        (rgb[..., ::-1], "bgr8"),
        (rgba, "rgba8"),
        (rgba[..., [2, 1, 0, 3]], "bgra8"),
    ]:
        np.testing.assert_array_equal(image_to_rgb8(numpy_to_image(arr, enc)), rgb)
    grey = rgb[..., 0]
    out = image_to_rgb8(numpy_to_image(grey, "mono8"))
    assert out.shape == rgb.shape and np.all(out == grey[..., None])


def test_big_endian_mono16() -> None:
    arr = np.array([[1, 256], [65535, 4660]], dtype=np.uint16)
    msg = numpy_to_image(arr, "mono16")
    msg.is_bigendian = 1
    msg.data = arr.astype(">u2").tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), arr)
    np.testing.assert_array_equal(image_to_rgb8(msg)[..., 0], (arr >> 8).astype(np.uint8))


def test_unsupported_encoding() -> None:
    msg = numpy_to_image(_sample("rgb8"), "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        image_to_numpy(msg)
    with pytest.raises(ValueError, match="unsupported image encoding"):
        numpy_to_image(_sample("rgb8"), "bayer_rggb8")


def test_zero_size() -> None:
    msg = numpy_to_image(_sample("mono8"), "mono8")
    msg.height = 0
    with pytest.raises(ValueError, match="zero-size"):
        image_to_numpy(msg)
    with pytest.raises(ValueError, match="zero-size"):
        numpy_to_image(np.zeros((0, 4, 3), np.uint8), "rgb8")


def test_truncated() -> None:
    msg = numpy_to_image(_sample("rgb8"), "rgb8")
    msg.data = bytes(msg.data)[:-5]
    with pytest.raises(ValueError, match="truncated"):
        image_to_numpy(msg)


def test_wrong_step() -> None:
    msg = numpy_to_image(_sample("rgb8"), "rgb8")
    msg.step = msg.step - 3
    with pytest.raises(ValueError, match="wrong step"):
        image_to_numpy(msg)
    msg = numpy_to_image(_sample("mono16"), "mono16")
    msg.step = msg.step + 1
    msg.data = bytes(msg.step * msg.height)
    with pytest.raises(ValueError, match="wrong step"):
        image_to_numpy(msg)


def test_wrong_shape() -> None:
    with pytest.raises(ValueError, match="does not match rgb8"):
        numpy_to_image(np.zeros((4, 4), np.uint8), "rgb8")


def test_float_nan_rejected_for_tracking() -> None:
    arr = _sample("32FC1")
    arr[1, 2] = np.nan
    msg = numpy_to_image(arr, "32FC1")
    assert np.isnan(image_to_numpy(msg)[1, 2])  # raw decode keeps NaN (depth maps use it)
    with pytest.raises(ValueError, match="NaN"):
        image_to_rgb8(msg)


def test_converter_numpy_backend_matches_reference() -> None:
    conv = ImageConverter("never")
    assert conv.backend == "numpy"
    msg = numpy_to_image(_sample("bgr8"), "bgr8", step=40)
    np.testing.assert_array_equal(conv.to_rgb8(msg), image_to_rgb8(msg))
    with pytest.raises(ValueError):
        ImageConverter("sometimes")


@pytest.mark.skipif(importlib.util.find_spec("cv_bridge") is None, reason="cv_bridge not installed")
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16"])
def test_cv_bridge_output_identical(encoding: str) -> None:
    msg = numpy_to_image(_sample(encoding), encoding, step=None)
    bridged = ImageConverter("always")
    assert bridged.backend == "cv_bridge"
    np.testing.assert_array_equal(bridged.to_rgb8(msg), image_to_rgb8(msg))
