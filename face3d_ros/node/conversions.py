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

``sensor_msgs/CompressedImage`` (image_transport's ``compressed`` transport, JPEG or PNG) is
decoded by :func:`compressed_to_rgb8` with OpenCV into the same RGB uint8 array, after the same
kind of checks (format, image size read from the JPEG/PNG header before decoding, data
integrity); :class:`ImageConverter` decodes either message type.
"""

from __future__ import annotations

import importlib
import re
import struct
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "COMPRESSED_FORMATS",
    "ENCODINGS",
    "IMAGE_TRANSPORTS",
    "FrameInfo",
    "ImageConverter",
    "compressed_size",
    "compressed_to_rgb8",
    "image_to_numpy",
    "image_to_rgb8",
    "numpy_to_image",
    "quote_untrusted",
    "rgb8_to_compressed",
    "transport_topic",
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


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse a zero-size image or one of more than ``max_pixels`` pixels (ValueError)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"zero-size image: width={width} height={height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"image too large: {width}x{height} = {width * height} pixels > max_image_pixels "
            f"{max_pixels}"
        )


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
    _check_size(width, height, max_pixels)
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


# ------------------------------------------------------------------ compressed transport

#: Input transports (image_transport's names): ``raw`` = sensor_msgs/Image on the image topic,
#: ``compressed`` = sensor_msgs/CompressedImage on ``<image topic>/compressed``.
IMAGE_TRANSPORTS: tuple[str, ...] = ("raw", "compressed")
#: Compressions a CompressedImage may carry (named in its ``format``).
COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers: SOF0..SOF15 except DHT (0xC4), JPG (0xC8) and DAC (0xCC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Colour encodings, for image_transport's reading of a ``format`` (see :func:`_parse_format`).
_COLOUR = frozenset({"rgb8", "rgba8", "rgb16", "rgba16", "bgr8", "bgra8", "bgr16", "bgra16"})
_TRANSPORT_FORMAT = re.compile(r"(jpeg|jpg|png) compressed\s*(\S*)")


def transport_topic(base: str, transport: str) -> str:
    """The topic that carries ``transport`` for the image topic ``base`` (image_transport's rule).

    ``raw`` is ``base`` itself, ``compressed`` is ``base + "/compressed"``; pass the resolved
    (remapped) name: ``/camera/color/image_raw`` -> ``/camera/color/image_raw/compressed``.

    Raises:
        ValueError: ``transport`` is not one of :data:`IMAGE_TRANSPORTS`.
    """
    if transport not in IMAGE_TRANSPORTS:
        raise ValueError(
            f"image transport must be one of {', '.join(IMAGE_TRANSPORTS)}, got {transport!r}"
        )
    return base if transport == "raw" else f"{base.rstrip('/')}/compressed"


@dataclass(frozen=True)
class FrameInfo:
    """What the node and the replay read of an input message besides its pixels.

    A CompressedImage has no ``width`` and ``height``: :meth:`ImageConverter.decode` returns
    this stand-in with the decoded image's size and the message's header (the fields of
    sensor_msgs/Image used after decoding).
    """

    header: Any
    width: int
    height: int


def _parse_format(fmt: Any) -> tuple[str, bool]:
    """``(compression, stored_rgb)`` of a CompressedImage ``format``.

    Accepted: ``jpeg``, ``jpg`` or ``png`` alone (cameras, older publishers) and image_transport's
    ``"<encoding>; <jpeg|png> compressed <target>"`` (``rgb8; jpeg compressed bgr8``,
    ``mono8; png compressed mono8``). ``stored_rgb``: OpenCV's decode of the data is in RGB
    rather than BGR order, the rule of image_transport's compressed subscriber: the format
    names a colour encoding and its target does not start with ``bgr``.

    Raises:
        ValueError: any other format (``compressedDepth``, ``tiff``, empty, ...).
    """
    head, sep, tail = str(fmt).strip().partition(";")
    if not sep:
        name = head.lower()
        if name in ("jpeg", "jpg", "png"):
            return ("png" if name == "png" else "jpeg"), False
    else:
        match = _TRANSPORT_FORMAT.fullmatch(tail.strip().lower())
        if match is not None:
            compression = "png" if match.group(1) == "png" else "jpeg"
            colour = head.strip().lower() in _COLOUR
            return compression, colour and not match.group(2).startswith("bgr")
    raise ValueError(
        f"unsupported compressed image format {quote_untrusted(fmt)}; supported: jpeg, png, "
        "or image_transport's '<encoding>; jpeg|png compressed <encoding>'"
    )


def compressed_size(data: Any, compression: str) -> tuple[int, int]:
    """``(width, height)`` read from a JPEG frame header or a PNG IHDR, without decoding.

    Args:
        data: the compressed bytes (bytes, array.array('B'), memoryview, ...).
        compression: ``jpeg`` or ``png``.

    Returns:
        The image size in pixels.

    Raises:
        ValueError: the data does not start with that format's signature, or its header is
            corrupt or cut short.
    """
    buf = memoryview(data)
    if buf.format != "B":
        buf = buf.cast("B")
    n = len(buf)
    if compression == "png":
        if bytes(buf[:8]) != _PNG_MAGIC:
            raise ValueError(f"not PNG data (format says png): starts with {bytes(buf[:8]).hex()}")
        if n < 24 or bytes(buf[12:16]) != b"IHDR":
            raise ValueError(f"corrupt PNG data ({n} bytes): no IHDR header")
        width, height = struct.unpack(">II", buf[16:24])
        return int(width), int(height)
    if bytes(buf[:3]) != _JPEG_MAGIC:
        raise ValueError(f"not JPEG data (format says jpeg): starts with {bytes(buf[:8]).hex()}")
    i = 2
    while i + 4 <= n:
        if buf[i] != 0xFF:
            raise ValueError(f"corrupt JPEG data ({n} bytes): no marker at byte {i}")
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length field
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            raise ValueError(f"corrupt JPEG data ({n} bytes): no frame header")
        length = (buf[i + 2] << 8) | buf[i + 3]
        if length < 2:
            raise ValueError(f"corrupt JPEG data ({n} bytes): segment length {length}")
        if marker in _JPEG_SOF and i + 9 <= n:
            return (buf[i + 7] << 8) | buf[i + 8], (buf[i + 5] << 8) | buf[i + 6]
        i += 2 + length
    raise ValueError(f"truncated JPEG data ({n} bytes): it ends before its frame header")


def _jpeg_complete(buf: memoryview) -> bool:
    """Whether JPEG data ends with its end-of-image marker (zero padding after it allowed)."""
    return bytes(buf[-64:]).rstrip(b"\x00").endswith(b"\xff\xd9")


def compressed_to_rgb8(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Decode a CompressedImage (JPEG or PNG) into RGB uint8 ``[H, W, 3]``, as the raw path does.

    Checks, in order: the ``format`` (see :func:`_parse_format`), the data's signature, the
    size in its header against ``max_pixels`` (nothing is decoded for a larger image), that a
    JPEG ends with its end-of-image marker (OpenCV decodes a cut-off JPEG with a grey lower
    part instead of failing), the decode itself (``cv2.imdecode``, ``IMREAD_UNCHANGED``:
    EXIF orientation ignored, as image_transport does) and that the decoded size is the
    header's (so the bound holds after decoding too). Grey images are repeated to three
    channels, alpha is dropped, 16-bit PNGs keep the high byte (as ``mono16``). Channel order
    follows the ``format`` as image_transport's compressed subscriber reads it: BGR (OpenCV's
    order) unless it names a colour encoding with a target that is not ``bgr...``.

    Args:
        msg: a ``sensor_msgs.msg.CompressedImage`` (or any object with ``format`` and
            ``data``).
        max_pixels: largest ``width * height`` accepted (None: no bound).

    Returns:
        RGB uint8 ``[H, W, 3]``, contiguous (never a view of the message).

    Raises:
        ValueError: an unsupported format, data that is not that format, a zero-size image or
            one larger than ``max_pixels``, truncated or corrupt data.
    """
    import cv2  # OpenCV only for this transport; the raw path stays numpy

    compression, stored_rgb = _parse_format(msg.format)
    buf = memoryview(msg.data)
    if buf.format != "B":
        buf = buf.cast("B")
    width, height = compressed_size(buf, compression)
    _check_size(width, height, max_pixels)
    name = compression.upper()
    if compression == "jpeg" and not _jpeg_complete(buf):
        raise ValueError(f"truncated JPEG data ({len(buf)} bytes): no end-of-image marker")
    arr = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"corrupt {name} data ({len(buf)} bytes): OpenCV cannot decode it")
    _check_size(int(arr.shape[1]), int(arr.shape[0]), max_pixels)
    if arr.shape[:2] != (height, width):
        raise ValueError(
            f"corrupt {name} data: decoded {arr.shape[1]}x{arr.shape[0]}, its header says "
            f"{width}x{height}"
        )
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ValueError(f"unsupported {name} sample type {arr.dtype}")
    if arr.ndim == 2:
        out = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] in (3, 4):
        out = arr[..., :3] if stored_rgb else arr[..., 2::-1]
    else:
        raise ValueError(f"unsupported {name} image with {arr.shape[2]} channels")
    return np.ascontiguousarray(out, dtype=np.uint8)


def rgb8_to_compressed(
    rgb: np.ndarray, compression: str = "jpeg", header: Any = None, *, quality: int = 95
) -> Any:
    """Build a ``sensor_msgs.msg.CompressedImage`` as image_transport's compressed publisher does.

    The pixels go to OpenCV's encoder in BGR order and ``format`` says so:
    ``"rgb8; jpeg compressed bgr8"`` or ``"rgb8; png compressed bgr8"``.

    Args:
        rgb: RGB uint8 ``[H, W, 3]``.
        compression: ``jpeg`` or ``png``.
        header: ``std_msgs.msg.Header`` copied into the message (default: empty header).
        quality: JPEG quality 1..100 (the plugin's default 95); PNG uses compression level 3
            (the plugin's default ``png_level``).

    Returns:
        The CompressedImage message.

    Raises:
        ValueError: an unknown compression, an array that is not RGB uint8, or an encoder
            failure.
    """
    import cv2
    from sensor_msgs.msg import CompressedImage  # ROS message import kept local

    if compression not in COMPRESSED_FORMATS:
        raise ValueError(
            f"compression must be one of {', '.join(COMPRESSED_FORMATS)}, got {compression!r}"
        )
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or 0 in arr.shape:
        raise ValueError(f"expected RGB uint8 [H, W, 3], got {arr.dtype} {arr.shape}")
    if compression == "jpeg":
        ext, options = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    else:
        ext, options = ".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, data = cv2.imencode(ext, np.ascontiguousarray(arr[..., ::-1]), options)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {arr.shape[1]}x{arr.shape[0]} {compression}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = f"rgb8; {compression} compressed bgr8"
    msg.data = data.tobytes()
    return msg


class ImageConverter:
    """Decodes Image messages, using ROS 2 ``cv_bridge`` when available and asked for.

    Both paths run :func:`validate_image` first and the same colour conversion afterwards, so
    the output array is identical; only the buffer decode differs. ``backend`` tells which
    path is in use and ``note`` why (the node logs both at configure).

    cv_bridge counts as available only when it decodes a small test image correctly: a Python
    module that imports but whose compiled extension cannot load (a broken install) fails
    there, at construction, instead of on every frame.

    :meth:`decode` takes a CompressedImage too (:func:`compressed_to_rgb8`, OpenCV whatever
    the backend).

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

    def decode(self, msg: Any) -> tuple[np.ndarray, Any]:
        """Decode an Image or a CompressedImage (told apart by the latter's ``format`` field).

        Args:
            msg: ``sensor_msgs.msg.Image`` or ``sensor_msgs.msg.CompressedImage``.

        Returns:
            ``(rgb, info)``: RGB uint8 ``[H, W, 3]`` and what is read of the message after
            decoding (``header``, ``width``, ``height``): the Image itself, or for a
            CompressedImage a :class:`FrameInfo` with its header and the decoded size.

        Raises:
            ValueError: bad input (see :meth:`to_rgb8` and :func:`compressed_to_rgb8`).
        """
        if hasattr(msg, "format"):
            rgb = compressed_to_rgb8(msg, self.max_pixels)
            return rgb, FrameInfo(msg.header, int(rgb.shape[1]), int(rgb.shape[0]))
        return self.to_rgb8(msg), msg
