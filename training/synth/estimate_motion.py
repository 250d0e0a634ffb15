# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Estimate frame-to-frame head-motion distributions from a video (for the tracking set).

For every frame of a video (``cv2.VideoCapture``) or an image sequence (a directory of images,
sorted by name) the dlib detector finds the 68 landmarks of the largest face; a fast
landmark-only weak-perspective fit (affine camera + orthonormalisation, alternated with a
ridge-regularised linear solve for identity and expression coefficients) gives the pose and the
expression. Changes between consecutive frames with a face (see :mod:`training.synth.motion`
for the units) are summarised by mean and standard deviation per parameter and written as JSON.

Example::

    python -m training.synth.estimate_motion --video Megamind.avi --out motion.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from face3d_ros.detection.detector import box_iou
from training.synth.motion import POSE_DELTA_NAMES, MotionModel

__all__ = ["LandmarkPoseFitter", "estimate_motion", "iter_frames", "main", "summarise_deltas"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff"}


class LandmarkPoseFitter:
    """Weak-perspective pose + identity/expression fit to 68 2-D landmarks (numpy, ~1 ms).

    Args:
        model: A :class:`~face3d_ros.model.face_model.FaceModelData`.
        n_id: Identity components used (first ones).
        n_exp: Expression components used (first ones).
        ridge: Tikhonov weight on the coefficients (in sigma units, per landmark pixel^2 / s^2).
        iterations: Pose / shape alternations.
    """

    def __init__(
        self,
        model: Any,
        n_id: int | None = None,
        n_exp: int | None = None,
        ridge: float = 2.0,
        iterations: int = 4,
    ) -> None:
        """Gather the landmark rows of the model bases (see the class docstring)."""
        lm = np.asarray(model.landmark_indices, dtype=np.int64)
        self.n_id = model.n_id if n_id is None else int(n_id)
        self.n_exp = model.n_exp if n_exp is None else int(n_exp)
        self.mean = model.mean_shape[lm].astype(np.float64)  # [68, 3]
        ib = model.id_basis[: self.n_id][:, lm] * model.id_sigma[: self.n_id, None, None]
        eb = model.exp_basis[: self.n_exp][:, lm] * model.exp_sigma[: self.n_exp, None, None]
        self.basis = np.concatenate([ib, eb], 0).astype(np.float64)  # [K, 68, 3]
        self.ridge = float(ridge)
        self.iterations = int(iterations)

    def fit(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit one face.

        Args:
            landmarks: [68, 2] image pixels (u right, v down).

        Returns:
            ``(pose [6] (pitch, yaw, roll, tx, ty, s), alpha_id [n_id], alpha_exp [n_exp])``.
        """
        from face3d_ros.geometry.rotation import matrix_to_euler_np

        x = np.asarray(landmarks, dtype=np.float64).copy()
        x[:, 1] = -x[:, 1]  # y up: (u, -v) = s * (R p)_xy + (tx, -ty)
        coeffs = np.zeros(self.basis.shape[0])
        for _ in range(self.iterations):
            pts = self.mean + np.tensordot(coeffs, self.basis, 1)
            pc, xc = pts - pts.mean(0), x - x.mean(0)
            a, *_ = np.linalg.lstsq(pc, xc, rcond=None)  # [3, 2]: xc ~ pc @ a
            u, sv, vt = np.linalg.svd(a.T, full_matrices=False)  # a.T = s * R[:2]
            r2 = u @ vt
            s = float(sv.mean())
            r = np.vstack([r2, np.cross(r2[0], r2[1])])
            t = x.mean(0) - s * (r2 @ pts.mean(0))
            # shape: minimise |s R2 (mean + B c) + t - x|^2 + ridge * s^2 |c|^2 (linear in c)
            proj = s * np.einsum("ij,knj->kni", r2, self.basis).reshape(len(coeffs), -1)  # [K, 136]
            resid = (x - (s * self.mean @ r2.T + t)).reshape(-1)
            lhs = proj @ proj.T + self.ridge * s * s * np.eye(len(coeffs))
            coeffs = np.linalg.solve(lhs, proj @ resid)
        pose = np.r_[matrix_to_euler_np(r), t[0], -t[1], s]
        return pose, coeffs[: self.n_id], coeffs[self.n_id :]


def iter_frames(source: str | pathlib.Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames of a video file or a directory of images (sorted by name).

    Raises:
        FileNotFoundError: ``source`` does not exist or the directory holds no images.
        ValueError: OpenCV cannot open the video.
    """
    import cv2

    src = pathlib.Path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist")
    count = 0
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images in {src}")
        for f in files:
            if max_frames is not None and count >= max_frames:
                return
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot read image {f}")
            count += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise ValueError(f"OpenCV cannot open video {src}")
    try:
        while max_frames is None or count < max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            count += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _robust_std(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """1.4826 x median absolute deviation (the std of a normal, insensitive to outliers)."""
    med = np.median(x, axis=axis, keepdims=True)
    return 1.4826 * np.median(np.abs(x - med), axis=axis)


def summarise_deltas(
    pose_deltas: np.ndarray, exp_deltas: np.ndarray, meta: dict[str, Any]
) -> MotionModel:
    """Robust mean / std per parameter of stacked frame-to-frame changes.

    The location is the median and the spread ``1.4826 * MAD`` (equal to the standard deviation
    for normal data, insensitive to the remaining detector failures); the plain sample standard
    deviations are stored in ``meta['sample_std']`` for reference.

    Args:
        pose_deltas: [M, 6] changes in ``POSE_DELTA_NAMES`` units.
        exp_deltas: [M, K_exp] expression changes.
        meta: Provenance to store with the distributions.

    Returns:
        The fitted :class:`MotionModel`.

    Raises:
        ValueError: Fewer than 2 frame pairs.
    """
    pose_deltas = np.asarray(pose_deltas, dtype=np.float64)
    if pose_deltas.ndim != 2 or pose_deltas.shape[0] < 2:
        raise ValueError(f"need at least 2 frame pairs, got {pose_deltas.shape[0]}")
    exp = np.asarray(exp_deltas, dtype=np.float64)
    meta = dict(meta)
    meta["n_pairs"] = int(pose_deltas.shape[0])
    meta["percentiles_abs_95"] = {
        n: float(v)
        for n, v in zip(POSE_DELTA_NAMES, np.percentile(np.abs(pose_deltas), 95, 0), strict=True)
    }
    sample_std = pose_deltas.std(0, ddof=1)
    meta["sample_std"] = {n: float(v) for n, v in zip(POSE_DELTA_NAMES, sample_std, strict=True)}
    if exp.size > 1:
        meta["sample_std"]["d_exp"] = float(exp.std(ddof=1))
    return MotionModel(
        pose_mean=np.median(pose_deltas, 0),
        pose_std=_robust_std(pose_deltas),
        exp_mean=float(np.median(exp)) if exp.size else 0.0,
        exp_std=float(_robust_std(exp.reshape(-1))) if exp.size > 1 else 0.0,
        meta=meta,
    )


def estimate_motion(
    frames: Iterator[np.ndarray],
    model: Any,
    detector: Any,
    *,
    stride: int = 1,
    n_exp: int | None = 10,
    min_iou: float = 0.5,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Detect, fit and difference consecutive frames.

    Args:
        frames: RGB uint8 frames.
        model: FaceModelData used for the landmark fit.
        detector: Object with ``detect(image_rgb) -> list[Detection]``.
        stride: Use every ``stride``-th frame (simulates a lower frame rate).
        n_exp: Expression components fitted (None = all).
        min_iou: Consecutive landmark boxes overlapping less than this are treated as a shot
            cut or a detector switch to another face: no pair is formed across them.
        progress: Show a tqdm bar.

    Returns:
        ``(pose_deltas [M, 6], exp_deltas [M, K], stats)``; pairs are only formed between
        consecutive used frames that both have a face.
    """
    from tqdm import tqdm

    fitter = LandmarkPoseFitter(model, n_exp=n_exp)
    from face3d_ros.detection.detector import box_from_landmarks

    prev: tuple[np.ndarray, np.ndarray, tuple[float, ...]] | None = None
    pose_deltas: list[np.ndarray] = []
    exp_deltas: list[np.ndarray] = []
    n_frames = n_faces = n_cuts = 0
    for k, frame in enumerate(tqdm(frames, desc="frames", disable=not progress)):
        if k % stride:
            continue
        n_frames += 1
        dets = detector.detect(frame)
        if not dets:
            prev = None
            continue
        n_faces += 1
        det = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        pose, _, alpha_exp = fitter.fit(det.landmarks)
        box = box_from_landmarks(det.landmarks)
        if prev is not None and box_iou(prev[2], box) < min_iou:
            n_cuts += 1
            prev = None
        if prev is not None:
            p0, e0, _ = prev
            d = np.empty(6)
            d[:3] = np.angle(np.exp(1j * (pose[:3] - p0[:3])))  # wrap to (-pi, pi]
            d[3:5] = (pose[3:5] - p0[3:5]) / p0[5]
            d[5] = np.log(pose[5] / p0[5])
            pose_deltas.append(d)
            exp_deltas.append(alpha_exp - e0)
        prev = (pose, alpha_exp, box)
    stats = {"frames_used": n_frames, "frames_with_face": n_faces, "cuts_skipped": n_cuts}
    return (
        np.asarray(pose_deltas).reshape(-1, 6),
        np.asarray(exp_deltas).reshape(len(exp_deltas), -1),
        stats,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="video file or directory of images")
    parser.add_argument("--out", required=True, help="output JSON path")
    parser.add_argument("--fps", type=float, default=None, help="frame rate (default: video's)")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--n-exp", type=int, default=10, help="expression components fitted")
    parser.add_argument("--model", default=None, help="face model .npz (default: shipped)")
    parser.add_argument("--source-note", default="", help="provenance text stored in the JSON")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    import cv2

    from face3d_ros.detection.detector import FaceDetector
    from face3d_ros.model.default import load_default_model
    from face3d_ros.model.io import load_face_model

    out = pathlib.Path(args.out)
    if out.exists() and not args.overwrite:
        print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    model = load_face_model(args.model) if args.model else load_default_model()
    fps = args.fps
    if fps is None and pathlib.Path(args.video).is_file():
        cap = cv2.VideoCapture(args.video)
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        cap.release()
    pose_d, exp_d, stats = estimate_motion(
        iter_frames(args.video, args.max_frames),
        model,
        FaceDetector(),
        stride=args.stride,
        n_exp=args.n_exp,
    )
    meta = {
        "source": {
            "video": pathlib.Path(args.video).name,
            "note": args.source_note,
            "fps": fps,
            "stride": args.stride,
            "effective_fps": (fps / args.stride) if fps else None,
            "model_id": model.model_id,
            "n_exp_fitted": args.n_exp,
            "method": "dlib HOG + 68 landmarks per frame, landmark-only weak-perspective fit "
            "(training.synth.estimate_motion.LandmarkPoseFitter)",
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **stats,
        },
        "units": {
            "d_pitch": "rad",
            "d_yaw": "rad",
            "d_roll": "rad",
            "d_tx": "mm",
            "d_ty": "mm",
            "d_log_s": "log ratio",
            "d_exp": "sigma",
        },
    }
    motion = summarise_deltas(pose_d, exp_d, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(motion.to_dict(), indent=2) + "\n")
    print(json.dumps(motion.to_dict()["params"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
