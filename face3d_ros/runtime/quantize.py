# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Optional INT8 versions of the exported nets for ONNX Runtime on CPU (opt-in, measured).

ResNet-18 at 256x256 in float32 takes about 28 ms on two cores of an AVX-512 CPU, which alone
misses a 15 ms tracking-frame budget. Static INT8 quantization (QDQ, per-channel weights,
calibrated activation ranges) runs the same graph on the CPU's VNNI int8 units in about a third
of that. Quantization changes the numbers, so it is never applied implicitly: this tool writes
``<net>.int8.onnx`` beside ``<net>.onnx`` with its own sidecar, which records the source file's
sha256, the calibration data and the measured deviation from the float32 net on that data;
``NetBundle.load(precision="int8")`` then loads those files (and fails if they are missing).

Calibration inputs are the real network inputs of the float32 tracker on the sample sequence
(:mod:`face3d_ros.sample_data`: crops, PNCC images and coarse depth maps of one face) and,
with ``--images``, on a folder of real photos (each tracked from a fresh start for a few
frames: the CoarseNet sees one crop per photo, the tracking net and FineNet the next); with
trained weights, check the recorded deviation (and the end-to-end accuracy) before relying on
the INT8 nets.

Usage::

    python -m face3d_ros.runtime.quantize --weights face3d_ros/weights --frames 60 \
        [--images ../shared/data/faces/congress --max-images 64]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "INT8_TAG",
    "calibration_photos",
    "calibration_tracker_config",
    "collect_calibration_inputs",
    "int8_path",
    "main",
    "output_tail",
    "quantize_onnx",
]

#: Infix of quantized weight files: ``coarse.onnx`` -> ``coarse.int8.onnx``.
INT8_TAG = ".int8"


def int8_path(onnx_path: str | os.PathLike[str]) -> Path:
    """Path of the INT8 version of an exported net.

    Args:
        onnx_path: ``<dir>/<net>.onnx``.

    Returns:
        ``<dir>/<net>.int8.onnx`` (its sidecar is ``<dir>/<net>.int8.json``).
    """
    path = Path(onnx_path)
    return path.with_name(path.stem + INT8_TAG + ".onnx")


def _session(path: Path, threads: int = 2) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def quantize_onnx(
    src: str | os.PathLike[str],
    calibration: Sequence[np.ndarray],
    dst: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    calibration_note: str = "",
    float_tail: bool = True,
) -> dict[str, Any]:
    """Quantize one exported net to INT8 (QDQ) and write its sidecar.

    Args:
        src: Verified float ``.onnx`` with sidecar.
        calibration: Network inputs, each ``[1, C, H, W]`` float32 (at least 1; 30+ advised).
        dst: Output path (default :func:`int8_path` of ``src``).
        overwrite: Replace existing output files.
        calibration_note: Where the calibration data came from (stored in the sidecar).
        float_tail: Keep the output tail in float: every node after the graph's last ``Relu``
            (:func:`output_tail`: the heads and the de-normalisation). Quantized, the output
            tensor shares one 8-bit scale across outputs of very different ranges (crop
            translations of +-120 px beside rotations of +-0.5 rad), which erases the small
            ones; the tail is a few small layers, so keeping it in float costs no time.

    Returns:
        The new sidecar, including ``quantization.max_abs_diff`` / ``mean_abs_diff`` /
        ``max_abs_ref`` measured against the float net on the calibration inputs.

    Raises:
        WeightFileError: ``src`` fails verification.
        FileExistsError: Output exists and ``overwrite`` is False.
        ValueError: No calibration inputs.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from face3d_ros.nets.weights import sha256_file, sidecar_path, verify_weights

    src = Path(src)
    dst = Path(dst) if dst is not None else int8_path(src)
    if not calibration:
        raise ValueError("quantize_onnx needs at least one calibration input")
    if not overwrite and (dst.exists() or sidecar_path(dst).exists()):
        raise FileExistsError(f"{dst} or its sidecar exists; pass overwrite=True")
    meta = verify_weights(src)
    name = meta["input"]["name"]
    inputs = [np.ascontiguousarray(x, dtype=np.float32) for x in calibration]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {name: x}

    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        excluded = output_tail(pre) if float_tail else []
        out_tmp = Path(tmp) / "int8.onnx"
        quantize_static(
            str(pre),
            str(out_tmp),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
        )
        os.replace(out_tmp, dst)

    ref_sess, q_sess = _session(src), _session(dst)
    diffs, refs = [], []
    for x in inputs:
        ref = ref_sess.run(None, {name: x})[0]
        out = q_sess.run(None, {name: x})[0]
        diffs.append(np.abs(out - ref))
        refs.append(np.abs(ref))
    side = dict(meta)
    side.update(
        {
            "onnx_file": dst.name,
            "sha256": sha256_file(dst),
            "size_bytes": dst.stat().st_size,
            "weights_dtype": "int8",
            "quantization": {
                "method": "onnxruntime quantize_static, QDQ, per-channel int8 weights, "
                "uint8 activations, MinMax calibration"
                + ("; output tail (float_nodes) kept in float" if excluded else ""),
                "source": src.name,
                "source_sha256": meta["sha256"],
                "float_nodes": excluded,
                "calibration_samples": len(inputs),
                "calibration": calibration_note,
                "max_abs_diff": float(max(d.max() for d in diffs)),
                "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
                "max_abs_ref": float(max(r.max() for r in refs)),
            },
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    sidecar_path(dst).write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")
    return side


def output_tail(onnx_path: str | os.PathLike[str]) -> list[str]:
    """Names of the nodes after the graph's last ``Relu`` (in the file's topological order).

    For the project's nets these are the output heads and the de-normalisation: the pooled
    ``Gemm`` heads, ``Concat``, ``Mul``/``Add`` of the ResNets, the output ``Conv`` and
    ``Mul``/``Add`` of the FineNet U-Net.

    Args:
        onnx_path: An ``.onnx`` file.

    Returns:
        Node names (empty when the graph has no ``Relu``).
    """
    import onnx

    nodes = list(onnx.load(str(onnx_path), load_external_data=False).graph.node)
    last = max((i for i, n in enumerate(nodes) if n.op_type == "Relu"), default=None)
    return [] if last is None else [n.name for n in nodes[last + 1 :]]


def calibration_tracker_config(**changes: Any) -> Any:
    """The Tracker settings that record calibration inputs of all three nets.

    ``keyframe_interval`` 0, so that the tracking net runs between re-anchors (the default, 1,
    never runs it); ``verify_interval`` 3. ``changes`` go on top (e.g. ``threads``).

    Returns:
        A :class:`~face3d_ros.pipeline.TrackerConfig`.
    """
    from face3d_ros.pipeline import TrackerConfig

    return TrackerConfig(**{"verify_interval": 3, "keyframe_interval": 0, **changes})


def collect_calibration_inputs(
    tracker: Any, frames: Sequence[np.ndarray]
) -> dict[str, list[np.ndarray]]:
    """Record the float tracker's network inputs over a frame sequence.

    Args:
        tracker: A :class:`~face3d_ros.pipeline.Tracker` (float nets).
        frames: uint8 ``[H, W, 3]`` frames.

    Returns:
        ``{"coarse": [...], "tracking": [...], "fine": [...]}`` of ``[1, C, H, W]`` copies.
    """
    recorded: dict[str, list[np.ndarray]] = {"coarse": [], "tracking": [], "fine": []}
    previous = tracker.input_recorder
    tracker.input_recorder = lambda net, x: recorded[net].append(x.copy())
    try:
        tracker.reset()
        for frame in frames:
            tracker.step(frame)
    finally:
        tracker.input_recorder = previous
        tracker.reset()
    return recorded


#: Frames each calibration photo is tracked for: an initialisation, then tracking frames.
_FRAMES_PER_PHOTO = 3

#: Photo suffixes :func:`calibration_photos` reads.
_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def calibration_photos(folder: str | os.PathLike[str], limit: int) -> list[np.ndarray]:
    """The first ``limit`` photos of ``folder`` (sorted by name) as RGB uint8 arrays.

    Args:
        folder: A folder of ``.jpg`` / ``.jpeg`` / ``.png`` photos.
        limit: Most photos returned.

    Returns:
        ``[H, W, 3]`` uint8 RGB photos (unreadable files are skipped).

    Raises:
        FileNotFoundError: ``folder`` is not a folder or holds no readable photo.
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"calibration folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _PHOTO_SUFFIXES)
    photos = []
    for path in paths:
        if len(photos) >= limit:
            break
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            photos.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not photos:
        raise FileNotFoundError(f"no readable .jpg/.png photo in {folder}")
    return photos


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: quantize the nets of a weights directory.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m face3d_ros.runtime.quantize", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--weights", type=Path, default=None, help="weights dir (default: shipped)")
    parser.add_argument("--model", type=Path, default=None, help="face model .npz (default model)")
    parser.add_argument("--nets", nargs="+", default=["coarse", "tracking", "fine"])
    parser.add_argument("--frames", type=int, default=60, help="sample-sequence frames")
    parser.add_argument(
        "--images",
        type=Path,
        default=None,
        help="also calibrate on the photos of this folder (*.jpg, *.png; each tracked for "
        f"{_FRAMES_PER_PHOTO} frames from a fresh start). Use photos the accuracy benchmark "
        "does not score, e.g. ../shared/data/faces/congress",
    )
    parser.add_argument("--max-images", type=int, default=64, help="photos taken from --images")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if args.max_images < 1:
        parser.error(f"--max-images must be >= 1, got {args.max_images}")

    from face3d_ros.detection.detector import FaceDetector
    from face3d_ros.nets.weights import WeightFileError
    from face3d_ros.pipeline import Tracker
    from face3d_ros.runtime.bundle import NetBundle
    from face3d_ros.sample_data import SampleSequenceConfig, sample_sequence

    try:
        model = None
        if args.model is not None:
            from face3d_ros.model.io import load_face_model

            model = load_face_model(args.model)
        nets = NetBundle.load(args.weights, model=model, threads=2)
        tracker = Tracker(calibration_tracker_config(), nets.model, nets, FaceDetector())
        seq = SampleSequenceConfig(n_frames=args.frames, faceless_length=0)
        frames = [f.image for f in sample_sequence(seq)]
        recorded = collect_calibration_inputs(tracker, frames)
        note = f"sample_data astronaut sequence, {args.frames} frames"
        if args.images is not None:
            photos = calibration_photos(args.images, args.max_images)
            for photo in photos:
                for net, xs in collect_calibration_inputs(
                    tracker, [photo] * _FRAMES_PER_PHOTO
                ).items():
                    recorded[net] += xs
            note += f"; {len(photos)} photos of folder {args.images.name!r}"
        assert nets.weights_dir is not None
        for net in args.nets:
            if not recorded[net]:
                print(f"error: no {net} inputs recorded", file=sys.stderr)
                return 1
            side = quantize_onnx(
                nets.weights_dir / f"{net}.onnx",
                recorded[net],
                overwrite=args.overwrite,
                calibration_note=note,
            )
            q = side["quantization"]
            print(
                f"{side['onnx_file']}: {q['calibration_samples']} calibration inputs, "
                f"max |int8 - fp32| {q['max_abs_diff']:.4g} (max |fp32| {q['max_abs_ref']:.4g})"
            )
    except (WeightFileError, FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
