# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluate the nets on held-out synthetic data and print the paper's comparisons.

Held-out data are drawn from the face model's prior with a seed not used for training
(:mod:`training.train.prior_data`): identities, expressions, albedos, poses and lights that no
training sample had. Three reports:

1. Table II (CoarseNet, proposed loss vs parameter-MSE baseline): L_pose and L_geo (Eq. 13-14,
   pixels^2 in the held-out samples' crop, the default CoarseNet side), pose-parameter MSE
   (mixed units, as in the paper) with its parts (angles in degrees, translation in pixels,
   relative scale), mean vertex distance (mm).
2. Single-image vs tracking on synthetic sequences with smooth motion: landmark error (px),
   vertex distance (mm), and jitter = mean frame-to-frame change of the landmark error (px), for
   CoarseNet on every frame (framed as its contract says: a detector-like box from the
   ground-truth landmarks, an ideal detector) and for the tracking net initialised by CoarseNet on
   the first frame and fed its own previous estimate.
3. FineNet: mean absolute depth error (mm along the view axis) of coarse vs coarse + fine inside
   the wrinkle regions (``wrinkle_mask`` > 0.5) on procedural wrinkle samples, or inside the face
   mask of a given fine shard set.

Weights are ``.pt`` checkpoints (runs/<name>/checkpoint.pt) or exported ``.onnx`` files (checked
against their sidecars); each net is fed at its own contract's input side and crop scale (held-out
samples of another side are resampled, and predicted poses mapped back). Example::

    python -m training.evaluate --model default --coarse face3d_ros/weights/coarse.onnx \
        --coarse-mse runs/coarse-mse/checkpoint.pt --tracking face3d_ros/weights/tracking.onnx \
        --fine face3d_ros/weights/fine.onnx --n 64 --sequences 3 --frames 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from face3d_ros.detection.detector import box_from_landmarks
from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import (
    CropBox,
    crop_from_points,
    crop_image,
    pose_from_crop,
)
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.nets.contract import output_groups
from face3d_ros.nets.heads import Denormalized
from face3d_ros.nets.weights import contract_of, load_checkpoint, verify_weights
from face3d_ros.pipeline.net_inputs import PnccRenderer, tracking_input
from training.train.losses import PixelRows, gt_pixel_rows, pose_geo_losses
from training.train.prior_data import (
    PriorConfig,
    coarse_sample,
    fine_sample,
    smooth_sequence,
)

__all__ = ["NetRunner", "coarse_metrics", "evaluate_fine", "evaluate_sequences", "main"]


class NetRunner:
    """Run a net from a ``.pt`` checkpoint (torch) or an ``.onnx`` file (onnxruntime, CPU)."""

    def __init__(self, path: str | Path, net: str, model: MorphableModel, threads: int = 2):
        """Load and check the weights.

        Args:
            path: ``.pt`` or ``.onnx``.
            net: Expected kind.
            model: Face model in use (dims check).
            threads: CPU threads.

        Raises:
            face3d_ros.nets.weights.WeightFileError: Bad or mismatched weights.
        """
        self.path = Path(path)
        self.net = net
        if self.path.suffix == ".onnx":
            import onnxruntime as ort

            self.meta = verify_weights(self.path, net=net, model=model)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            self.session = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
            self.input_name = self.session.get_inputs()[0].name
            self.module = None
        else:
            module, ckpt = load_checkpoint(self.path, net=net, model=model)
            self.meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer")}
            self.module = Denormalized(module).eval()
            self.session = None
        #: The net's train/run contract (input side, crop policy and scale).
        self.contract = contract_of(self.meta, str(self.path))
        self.model = model

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """De-normalised outputs.

        Args:
            x: [B, C, H, W] float32 input.

        Returns:
            [B, P] parameters or [B, 1, H, W] displacement.
        """
        x = np.ascontiguousarray(x, np.float32)
        if self.session is not None:
            return self.session.run(None, {self.input_name: x})[0]
        with torch.no_grad():
            return self.module(torch.from_numpy(x)).numpy()


def split_output(kind: str, vec: np.ndarray, model: MorphableModel) -> dict[str, np.ndarray]:
    """Groups of a packed net output ``[..., P]`` (the contract's layout) plus ``pose`` [..., 6].

    Args:
        kind: ``coarse`` or ``tracking``.
        vec: De-normalised outputs.
        model: Face model (dims).

    Returns:
        Group name -> view, and ``pose`` (rotation, translation, scale; deltas for tracking).
    """
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, size in output_groups(kind, *model.dims):
        out[name] = vec[..., start : start + size]
        start += size
    d = "d_" if kind == "tracking" else ""
    parts = (out[f"{d}rotation"], out[f"{d}translation"], out[f"{d}scale"])
    out["pose"] = np.concatenate(parts, -1)
    return out


#: Leading expression / identity components whose recovery Table II reports (issue 11's target:
#: mean correlation with the truth >= 0.7 on the first 10 expression components).
CORRELATED_COMPONENTS = 10


def component_correlation(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over components of the Pearson correlation of predictions with the truth.

    Args:
        pred: [B, K] predicted coefficients.
        truth: [B, K] true coefficients.

    Returns:
        The mean of the K per-component correlations across the B samples; a component whose
        prediction or truth is constant counts as 0 (nothing recovered).

    Raises:
        ValueError: Mismatched shapes or fewer than 2 samples.
    """
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.ndim != 2 or pred.shape[0] < 2:
        raise ValueError(f"need two [B>=2, K] arrays, got {pred.shape} and {truth.shape}")
    p, t = pred - pred.mean(0), truth - truth.mean(0)
    den = np.sqrt((p**2).sum(0) * (t**2).sum(0))
    r = np.where(den > 1e-12, (p * t).sum(0) / np.maximum(den, 1e-300), 0.0)
    return float(r.mean())


def coarse_metrics(
    pred: np.ndarray, samples: list[dict[str, np.ndarray]], model: MorphableModel
) -> dict[str, float]:
    """Table II metrics of CoarseNet predictions.

    Args:
        pred: [B, K_id + K_exp + 6] de-normalised predictions (pose in the samples' crop pixels).
        samples: The B ground-truth coarse samples.
        model: Face model.

    Returns:
        ``l_pose``, ``l_geo`` (px^2), ``pose_mse``, ``angle_deg``, ``trans_px``, ``scale_rel``,
        ``vertex_mm``, ``exp_corr`` and ``id_corr`` (:func:`component_correlation` over the
        first :data:`CORRELATED_COMPONENTS` expression / identity coefficients).
    """
    gt_id = torch.from_numpy(np.stack([s["alpha_id"] for s in samples]))
    gt_exp = torch.from_numpy(np.stack([s["alpha_exp"] for s in samples]))
    gt_pose = torch.from_numpy(np.stack([s["pose"] for s in samples]))
    g = split_output("coarse", pred.astype(np.float32), model)
    pr_id, pr_exp, pr_pose = (torch.from_numpy(g[k].copy()) for k in ("id", "exp", "pose"))
    side = int(samples[0]["image"].shape[0])
    with torch.no_grad():
        gt_v = model.shape(gt_id, gt_exp)
        pr_v = model.shape(pr_id, pr_exp)
        tri = model.triangles.numpy()
        rows = [
            gt_pixel_rows(gt_v[b].numpy(), tri, s["pose"], side, side, 4096, None)
            for b, s in enumerate(samples)
        ]
        r = PixelRows.from_batch(
            {k: torch.from_numpy(np.stack([x[k] for x in rows])) for k in rows[0]}
        )
        l_pose, l_geo = pose_geo_losses(pr_v, pr_pose, gt_v, gt_pose, model.triangles, r)
    d = (pr_pose - gt_pose).numpy()
    return {
        "l_pose": float(l_pose),
        "l_geo": float(l_geo),
        "pose_mse": float(np.mean(d**2)),
        "angle_deg": float(np.degrees(np.abs(d[:, :3])).mean()),
        "trans_px": float(np.linalg.norm(d[:, 3:5], axis=1).mean()),
        "scale_rel": float(np.abs(d[:, 5] / gt_pose[:, 5].numpy()).mean()),
        "vertex_mm": float((pr_v - gt_v).norm(dim=-1).mean()),
        "exp_corr": component_correlation(
            pr_exp[:, :CORRELATED_COMPONENTS].numpy(), gt_exp[:, :CORRELATED_COMPONENTS].numpy()
        ),
        "id_corr": component_correlation(
            pr_id[:, :CORRELATED_COMPONENTS].numpy(), gt_id[:, :CORRELATED_COMPONENTS].numpy()
        ),
    }


def _run_batched(runner: NetRunner, x: np.ndarray, batch: int = 8) -> np.ndarray:
    """Run in batches."""
    return np.concatenate([runner(x[i : i + batch]) for i in range(0, len(x), batch)])


def _resample(x: np.ndarray, side: int) -> np.ndarray:
    """[B, C, S, S] crops resampled to [B, C, side, side] (crop of the crop, exact framing)."""
    s = int(x.shape[-1])
    if s == side:
        return x
    box = CropBox(0.0, 0.0, float(s))
    return np.stack([crop_image(b.transpose(1, 2, 0), box, side).transpose(2, 0, 1) for b in x])


def coarse_predictions(runner: NetRunner, x: np.ndarray) -> np.ndarray:
    """CoarseNet predictions for [B, 3, S, S] crops, pose in the pixels of those crops.

    Args:
        runner: CoarseNet runner (fed at its contract's side).
        x: Crops in [0, 1].

    Returns:
        [B, K_id + K_exp + 6].
    """
    side, s = runner.contract.input_size, int(x.shape[-1])
    pred = _run_batched(runner, _resample(x, side).astype(np.float32))
    if side != s:  # the net's crop is the samples' crop resampled: map the pose back
        pred = pred.copy()
        g = split_output("coarse", pred, runner.model)
        pose = pose_from_crop(g["pose"], CropBox(0.0, 0.0, float(s)), side)
        g["rotation"][:], g["translation"][:] = pose[:, :3], pose[:, 3:5]
        g["scale"][:] = pose[:, 5:]
    return pred


def _landmarks(model: MorphableModel, a_id, a_exp, pose) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [N, 3] and projected landmarks [68, 2]."""
    v = model.shape_np(np.asarray(a_id, np.float32), np.asarray(a_exp, np.float32))
    return v, project_np(v[model.landmark_indices.numpy()], pose)[:, :2]


def evaluate_sequences(
    coarse: NetRunner,
    tracking: NetRunner | None,
    model: MorphableModel,
    *,
    n_sequences: int,
    n_frames: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Single-image vs tracking error and jitter on smooth synthetic sequences.

    Args:
        coarse: CoarseNet runner.
        tracking: Tracking-net runner (None: single-image only).
        model: Face model.
        n_sequences: Sequences.
        n_frames: Frames per sequence.
        seed: Seed.

    Returns:
        ``{"single": {...}, "tracking": {...}}`` with ``landmark_px``, ``vertex_mm``,
        ``jitter_px``, ``gt_motion_px`` (mean landmark motion per frame, for scale).
    """
    cfg = PriorConfig()
    rng = np.random.default_rng(seed)
    renderer = PnccRenderer(model)
    stats: dict[str, dict[str, list[float]]] = {
        k: {"landmark_px": [], "vertex_mm": [], "jitter_px": [], "gt_motion_px": []}
        for k in ("single", "tracking")
    }
    for _ in range(n_sequences):
        frames, gts = smooth_sequence(model, rng, n_frames, cfg)
        errs: dict[str, list[np.ndarray]] = {"single": [], "tracking": []}
        gt_lms = []
        prev: dict[str, np.ndarray] | None = None
        for frame, gt in zip(frames, gts, strict=True):
            gt_v, gt_lm = _landmarks(model, gt.alpha_id, gt.alpha_exp, gt.pose)
            gt_lms.append(gt_lm)
            cc = coarse.contract  # framing of the CoarseNet: a detector box around the face
            x0, y0, x1, y1 = box_from_landmarks(gt_lm)
            box = crop_from_points(np.array([[x0, y0], [x1, y1]]), scale=cc.crop_scale)
            x = crop_image(frame, box, cc.input_size).transpose(2, 0, 1)[None]
            out = coarse(np.ascontiguousarray(x, np.float32))[0]
            g = split_output("coarse", out, model)
            single = {
                "id": g["id"],
                "exp": g["exp"],
                "pose": pose_from_crop(g["pose"], box, cc.input_size),
            }
            est = {"single": single}
            if tracking is not None:
                if prev is None:
                    cur = dict(single)
                else:
                    tc = tracking.contract  # crop around the previous estimate's landmarks
                    prev_v, prev_lm = _landmarks(model, prev["id"], prev["exp"], prev["pose"])
                    tbox = crop_from_points(prev_lm, scale=tc.crop_scale)
                    image = crop_image(frame, tbox, tc.input_size).astype(np.float32)
                    xt, prev_crop = tracking_input(image, tbox, prev_v, prev["pose"], renderer)
                    o = tracking(xt[None])[0]
                    g = split_output("tracking", o, model)
                    cur = {
                        "id": g["id"],
                        "exp": g["exp"],
                        "pose": pose_from_crop(prev_crop + g["pose"], tbox, tc.input_size),
                    }
                est["tracking"] = cur
                prev = cur
            for k, e in est.items():
                v, lm = _landmarks(model, e["id"], e["exp"], e["pose"])
                errs[k].append(lm - gt_lm)
                stats[k]["landmark_px"].append(float(np.linalg.norm(lm - gt_lm, axis=1).mean()))
                stats[k]["vertex_mm"].append(float(np.linalg.norm(v - gt_v, axis=1).mean()))
        motion = [
            float(np.linalg.norm(b - a, axis=1).mean())
            for a, b in zip(gt_lms[:-1], gt_lms[1:], strict=True)
        ]
        for k, e in errs.items():
            if not e:
                continue
            jit = [
                float(np.linalg.norm(b - a, axis=1).mean())
                for a, b in zip(e[:-1], e[1:], strict=True)
            ]
            stats[k]["jitter_px"].extend(jit)
            stats[k]["gt_motion_px"].extend(motion)
    return {
        k: {m: float(np.mean(v)) for m, v in s.items()}
        for k, s in stats.items()
        if s["landmark_px"]
    }


def evaluate_fine(
    fine: NetRunner,
    model: MorphableModel,
    *,
    n: int,
    seed: int,
    data: str | None = None,
) -> dict[str, float]:
    """Coarse vs coarse + fine depth error (mm) inside wrinkle regions (or the face mask).

    Args:
        fine: FineNet runner.
        model: Face model.
        n: Samples.
        seed: Seed of the procedural samples.
        data: Optional fine shard set (region = face mask) instead of procedural samples.

    Returns:
        ``coarse_mm``, ``fine_mm``, ``region_pixels`` and the sample count.
    """
    rng = np.random.default_rng(seed)
    cfg = PriorConfig()
    samples = []
    if data:
        from training.datasets.shards import ShardDataset

        ds = ShardDataset(data, "fine")
        for i in np.linspace(0, len(ds) - 1, min(n, len(ds))).astype(int):
            s = ds[int(i)]
            s["region"] = s["mask"] > 0
            samples.append(s)
    else:
        for _ in range(n):
            s = fine_sample(model, rng, cfg)
            s["region"] = (s["wrinkle"] > 0.5) & (s["mask"] > 0)
            samples.append(s)
    coarse_err, fine_err, count = 0.0, 0.0, 0
    side = fine.contract.input_size
    for s in samples:
        x = np.stack([s["gray"], s["coarse_depth"]])[None].astype(np.float32)
        size = int(x.shape[-1])
        if size != side:  # depth is in crop pixels: it scales with the crop
            x = _resample(x, side) * np.array([1.0, side / size], np.float32)[None, :, None, None]
        pred = fine(np.ascontiguousarray(x, np.float32))[0, 0]
        pred = _resample(pred[None, None], size)[0, 0]
        r = s["region"]
        gt = s["displacement"][r]
        coarse_err += float(np.abs(gt).sum())
        fine_err += float(np.abs(pred[r] - gt).sum())
        count += int(r.sum())
    count = max(count, 1)
    return {
        "coarse_mm": coarse_err / count,
        "fine_mm": fine_err / count,
        "region_pixels": float(count),
        "samples": float(len(samples)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point.

    Args:
        argv: Arguments.

    Returns:
        Exit status.
    """
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    p.add_argument("--model", default="default", help="default | synthetic | model .npz")
    p.add_argument("--coarse", help="CoarseNet (proposed loss) .pt or .onnx")
    p.add_argument("--coarse-mse", help="CoarseNet trained with the parameter-MSE baseline")
    p.add_argument("--tracking", help="tracking net .pt or .onnx")
    p.add_argument("--fine", help="FineNet .pt or .onnx")
    p.add_argument("--fine-data", help="fine shard set to evaluate on (default: procedural)")
    p.add_argument("--n", type=int, default=48, help="held-out coarse / fine samples")
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--seed", type=int, default=90210, help="held-out seed (not used in training)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    from training.train.data import load_model

    torch.set_num_threads(2)
    model = MorphableModel(load_model(args.model))
    results: dict[str, Any] = {"model_id": model.data.model_id, "seed": args.seed}
    t0 = time.perf_counter()
    runners = {}
    for key, net in (
        ("coarse", "coarse"),
        ("coarse_mse", "coarse"),
        ("tracking", "tracking"),
        ("fine", "fine"),
    ):
        path = getattr(args, key)
        if path:
            runners[key] = NetRunner(path, net, model)

    if "coarse" in runners or "coarse_mse" in runners:
        rng = np.random.default_rng(args.seed)
        cfg = PriorConfig()
        samples = [coarse_sample(model, rng, cfg) for _ in range(args.n)]
        x = np.stack([s["image"].astype(np.float32).transpose(2, 0, 1) / 255.0 for s in samples])
        mean_pred = None
        table = {}
        for key, name in (("coarse", "proposed (Eq. 15)"), ("coarse_mse", "parameter MSE")):
            if key in runners:
                pred = coarse_predictions(runners[key], x)
                table[name] = coarse_metrics(pred, samples, model)
                mean_pred = pred
        if mean_pred is not None:
            # reference: always predict the mean face with the true pose's mean (no net)
            zero = np.zeros_like(mean_pred)
            g = split_output("coarse", zero, model)
            mean_pose = np.mean([s["pose"] for s in samples], axis=0)
            g["rotation"][:], g["translation"][:], g["scale"][:] = (
                mean_pose[:3], mean_pose[3:5], mean_pose[5:]
            )
            table["mean face, mean pose (no net)"] = coarse_metrics(zero, samples, model)
        results["table2"] = table
        side = samples[0]["image"].shape[0]
        print(f"\nTable II (held-out, N={args.n}, {side}x{side} crops; losses in px^2)")
        cols = ["l_pose", "l_geo", "pose_mse", "angle_deg", "trans_px", "scale_rel", "vertex_mm",
                "exp_corr", "id_corr"]
        print(f"{'':32s}" + "".join(f"{c:>11s}" for c in cols))
        for name, m in table.items():
            print(f"{name:32s}" + "".join(f"{m[c]:11.4g}" for c in cols))

    if "coarse" in runners and args.sequences > 0:
        seq = evaluate_sequences(
            runners["coarse"],
            runners.get("tracking"),
            model,
            n_sequences=args.sequences,
            n_frames=args.frames,
            seed=args.seed + 1,
        )
        results["sequences"] = seq
        print(f"\nSequences ({args.sequences} x {args.frames} frames, smooth motion, 320x320)")
        cols = ["landmark_px", "vertex_mm", "jitter_px", "gt_motion_px"]
        print(f"{'':32s}" + "".join(f"{c:>13s}" for c in cols))
        names = {"single": "single-image CoarseNet", "tracking": "tracking net (own estimates)"}
        for k, m in seq.items():
            print(f"{names[k]:32s}" + "".join(f"{m[c]:13.4g}" for c in cols))

    if "fine" in runners:
        fine = evaluate_fine(
            runners["fine"], model, n=args.n, seed=args.seed + 2, data=args.fine_data
        )
        results["fine"] = fine
        where = (
            f"fine set {args.fine_data} (face mask)"
            if args.fine_data
            else ("procedural wrinkles (wrinkle_mask > 0.5)")
        )
        print(f"\nFineNet depth error, {where}, {int(fine['samples'])} samples")
        print(f"  coarse only     : {fine['coarse_mm']:.4f} mm mean abs")
        print(f"  coarse + fine   : {fine['fine_mm']:.4f} mm mean abs")
    if not runners:
        print("nothing to evaluate: pass --coarse/--coarse-mse/--tracking/--fine", file=sys.stderr)
        return 2
    results["wall_time_s"] = time.perf_counter() - t0
    print(f"\n(evaluated in {results['wall_time_s']:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
