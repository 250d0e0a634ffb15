# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""sensor_msgs/Image <-> numpy conversions that do not need cv_bridge.

The reference implementation here is pure numpy. It validates every message before touching
its data (encoding, size, ``step``, data length, endianness) and raises ``ValueError`` with a
message naming the problem, so the node can log it and keep running.

When ROS 2's ``cv_bridge`` is importable (a full ROS install), :class:`ImageConverter` can use
it for the decode step (``imgmsg_to_cv2(..., "passthrough")``) *after* the same validation,
followed by the same colour conversion, so the arrays are identical either way (tested where
cv_bridge exists). The module never imports cv_bridge at import time.

Supported encodings: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, ``mono16``,
``32FC1`` (and ``8UC1``/``8UC3`` aliases are *not* accepted, to stay explicit).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ENCODINGS",
    "ImageConverter",
    "image_to_numpy",
    "image_to_rgb8",
    "numpy_to_image",
    "quote_untrusted",
    "validate_image",
]


@dataclass(frozen=True)
class _Encoding:
    dtype: np.dtype
    channels: int


#: Encoding name -> (numpy dtype, number of channels).
ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(np.dtype(np.uint8), 3),
    "bgr8": _Encoding(np.dtype(np.uint8), 3),
    "rgba8": _Encoding(np.dtype(np.uint8), 4),
    "bgra8": _Encoding(np.dtype(np.uint8), 4),
    "mono8": _Encoding(np.dtype(np.uint8), 1),
    "mono16": _Encoding(np.dtype(np.uint16), 1),
    "32FC1": _Encoding(np.dtype(np.float32), 1),
}

_SYSTEM_BIG_ENDIAN = sys.byteorder == "big"


#: Untrusted strings (the sender's encoding) are quoted in error messages up to this length.
MAX_QUOTED = 40


def quote_untrusted(text: Any, limit: int = MAX_QUOTED) -> str:
    """``repr`` of a sender-supplied string, cut to ``limit`` characters (length noted)."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def validate_image(msg: Any, max_pixels: int | None = None) -> _Encoding:
    """Check an Image message's metadata against its data buffer.

    Args:
        msg: a ``sensor_msgs.msg.Image`` (or any object with the same fields).
        max_pixels: largest ``width * height`` accepted (None: no bound).

    Returns:
        The encoding description.

    Raises:
        ValueError: unsupported encoding, zero width/height, more than ``max_pixels`` pixels,
            a step smaller than one row of pixels or not a multiple of the pixel size, or data
            shorter than ``step * height``.
    """
    enc = ENCODINGS.get(msg.encoding)
    if enc is None:
        raise ValueError(
            f"unsupported image encoding {quote_untrusted(msg.encoding)}; supported: "
            f"{', '.join(ENCODINGS)}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"zero-size image: width={width} height={height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"image too large: {width}x{height} = {width * height} pixels > max_image_pixels "
            f"{max_pixels}"
        )
    pixel = enc.dtype.itemsize * enc.channels
    row = width * pixel
    if step < row:
        raise ValueError(
            f"wrong step {step} for {msg.encoding} width {width}: a row needs at least {row} bytes"
        )
    if step % enc.dtype.itemsize != 0:
        raise ValueError(
            f"wrong step {step}: not a multiple of the {msg.encoding} element size "
            f"{enc.dtype.itemsize}"
        )
    n = len(msg.data)
    if n < step * height:
        raise ValueError(
            f"truncated image data: {n} bytes, expected step*height = {step}*{height} = "
            f"{step * height}"
        )
    return enc


def image_to_numpy(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Decode an Image message into a numpy array in the message's own encoding.

    Row padding (``step`` larger than a row) is removed, big-endian data is byte-swapped to
    native order. The result is a fresh, contiguous array (never a view of the message).

    Args:
        msg: a ``sensor_msgs.msg.Image``.
        max_pixels: see :func:`validate_image`.

    Returns:
        ``[H, W, C]`` for multi-channel encodings, ``[H, W]`` for single-channel ones; dtype
        from :data:`ENCODINGS`.

    Raises:
        ValueError: see :func:`validate_image`.
    """
    enc = validate_image(msg, max_pixels)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    buf = np.frombuffer(memoryview(msg.data), dtype=np.uint8, count=step * height)
    rows = buf.reshape(height, step)[:, : width * enc.dtype.itemsize * enc.channels]
    dtype = enc.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    arr = np.ascontiguousarray(rows).view(dtype).astype(enc.dtype, copy=True)
    if enc.channels == 1:
        return arr.reshape(height, width)
    return arr.reshape(height, width, enc.channels)


def _to_rgb8(arr: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded array in ``encoding`` into contiguous RGB uint8 ``[H, W, 3]``."""
    if encoding == "rgb8":
        out = arr
    elif encoding == "bgr8":
        out = arr[..., ::-1]
    elif encoding == "rgba8":
        out = arr[..., :3]
    elif encoding == "bgra8":
        out = arr[..., 2::-1]
    elif encoding == "mono8":
        out = np.repeat(arr[..., None], 3, axis=2)
    elif encoding == "mono16":
        out = np.repeat((arr >> 8).astype(np.uint8)[..., None], 3, axis=2)
    elif encoding == "32FC1":
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ValueError(f"32FC1 image contains {bad} NaN/inf values")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError("32FC1 image used as intensity must lie in [0, 1]")
        grey = np.round(arr * 255.0).astype(np.uint8)
        out = np.repeat(grey[..., None], 3, axis=2)
    else:  # validate_image guards this
        raise ValueError(f"unsupported image encoding {encoding!r}")
    return np.ascontiguousarray(out, dtype=np.uint8)


def image_to_rgb8(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Decode an Image message into RGB uint8 ``[H, W, 3]`` (the tracker's input format).

    ``mono16`` keeps the high byte; ``32FC1`` is read as intensity in [0, 1] and rejected if it
    holds NaN/inf or values out of range.

    Raises:
        ValueError: see :func:`validate_image`, plus NaN/out-of-range float data.
    """
    return _to_rgb8(image_to_numpy(msg, max_pixels), msg.encoding)


def numpy_to_image(
    array: np.ndarray, encoding: str, header: Any = None, *, step: int | None = None
) -> Any:
    """Build a ``sensor_msgs.msg.Image`` from a numpy array.

    Args:
        array: ``[H, W]`` or ``[H, W, C]`` matching ``encoding`` (dtype is cast to the encoding's
            dtype after a range-safe check only for float encodings).
        encoding: one of :data:`ENCODINGS`.
        header: ``std_msgs.msg.Header`` copied into the message (default: empty header).
        step: row stride in bytes; default is the packed row size. A larger step pads rows
            with zeros (useful for tests).

    Returns:
        The Image message (little-endian / native data, ``is_bigendian`` set accordingly).

    Raises:
        ValueError: unsupported encoding, wrong shape or channel count, zero size, or a step
            smaller than a row.
    """
    from sensor_msgs.msg import Image  # ROS message import kept local: core stays rclpy-free

    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise ValueError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] != enc.channels:
        raise ValueError(
            f"array of shape {np.asarray(array).shape} does not match {encoding} "
            f"({enc.channels} channel(s))"
        )
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"zero-size image: width={width} height={height}")
    arr = np.ascontiguousarray(arr, dtype=enc.dtype)
    row = width * enc.channels * enc.dtype.itemsize
    step = row if step is None else int(step)
    if step < row:
        raise ValueError(f"wrong step {step}: a row needs at least {row} bytes")
    raw = arr.reshape(height, row // enc.dtype.itemsize).view(np.uint8).reshape(height, row)
    if step > row:
        padded = np.zeros((height, step), dtype=np.uint8)
        padded[:, :row] = raw
        raw = padded
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = 1 if _SYSTEM_BIG_ENDIAN else 0
    msg.step = step
    msg.data = raw.tobytes()
    return msg


class ImageConverter:
    """Decodes Image messages, using ROS 2 ``cv_bridge`` when available and asked for.

    Both paths run :func:`validate_image` first and the same colour conversion afterwards, so
    the output array is identical; only the buffer decode differs. ``backend`` tells which
    path is in use and ``note`` why (the node logs both at configure).

    cv_bridge counts as available only when it decodes a small test image correctly: a Python
    module that imports but whose compiled extension cannot load (a broken install) fails
    there, at construction, instead of on every frame.

    Args:
        use_cv_bridge: ``"auto"`` (use it when it works, else numpy), ``"never"``, or
            ``"always"`` (raise ``ImportError`` when it is missing or does not work).
        max_pixels: largest ``width * height`` accepted (None: no bound); larger images are
            rejected before decoding.
    """

    def __init__(self, use_cv_bridge: str = "auto", max_pixels: int | None = None) -> None:
        if use_cv_bridge not in ("auto", "never", "always"):
            raise ValueError(f"use_cv_bridge must be auto/never/always, got {use_cv_bridge!r}")
        self._bridge = None
        self.max_pixels = max_pixels
        self.note = "use_cv_bridge=never"
        if use_cv_bridge != "never":
            try:
                bridge = importlib.import_module("cv_bridge").CvBridge()
                self._self_test(bridge)
                self._bridge = bridge
                self.note = "cv_bridge decodes a test image correctly"
            except Exception as exc:  # ImportError, a broken extension, a wrong result
                reason = f"cv_bridge is not usable: {type(exc).__name__}: {exc}"
                if use_cv_bridge == "always":
                    raise ImportError(reason) from exc
                self.note = f"{reason}; using the built-in decoder"
        self.backend = "cv_bridge" if self._bridge is not None else "numpy"

    @staticmethod
    def _self_test(bridge: Any) -> None:
        """Decode a 2x3 bgr8 test image with ``bridge`` and compare with the numpy decoder."""
        pattern = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
        msg = numpy_to_image(pattern, "bgr8")
        got = np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        if got.shape != pattern.shape or not np.array_equal(got, pattern):
            raise ValueError("its decode of a test image differs from the expected pixels")

    def to_rgb8(self, msg: Any) -> np.ndarray:
        """Decode ``msg`` to RGB uint8 ``[H, W, 3]``; raises ValueError on bad input."""
        if self._bridge is None:
            return image_to_rgb8(msg, self.max_pixels)
        validate_image(msg, self.max_pixels)
        try:
            arr = np.asarray(self._bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        except Exception as exc:  # cv_bridge raises its own CvBridgeError
            raise ValueError(f"cv_bridge could not decode the image: {exc}") from exc
        arr = np.ascontiguousarray(arr).astype(ENCODINGS[msg.encoding].dtype, copy=False)
        return _to_rgb8(arr, msg.encoding)
