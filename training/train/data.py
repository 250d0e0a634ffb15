# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Torch datasets over the training shards: net inputs, targets and ground-truth pixel rows.

Each item is a dict of float32/int64 arrays:

- ``coarse``:   ``input`` [3, 224, 224] RGB in [0, 1]; ``target`` [K_id + K_exp + 6];
  ``alpha_id``, ``alpha_exp``, ``pose`` [6]; ``rows_*`` (see :func:`losses.gt_pixel_rows`).
- ``tracking``: ``input`` [6, 256, 256] (RGB crop + PNCC in [0, 1]); ``target``
  [K_id + K_exp + K_alb + 27 + 6] with the pose delta ``pose - prev_pose``; ``prev_pose``,
  ``pose``, ``alpha_id``, ``alpha_exp``, ``alpha_alb``, ``gamma``; ``rows_*``.
- ``fine``:     ``input`` [2, 256, 256] (gray, coarse depth in pixels); ``target`` [1, 256, 256]
  displacement in mm; ``mask`` [1, 256, 256] float {0, 1}.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from face3d_ros.geometry.crop import CropBox, crop_image, pose_to_crop
from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.morphable import MorphableModel
from face3d_ros.nets.contract import DEFAULT_CONTRACT, output_groups, recorded_crop_scale
from training.datasets.shards import ShardDataset
from training.train.losses import gt_pixel_rows

__all__ = ["NetSamples", "compute_statistics", "load_model", "target_vector"]


def load_model(spec: str) -> FaceModelData:
    """Load the face model named by a config value.

    Args:
        spec: ``default`` (shipped model), ``synthetic`` (tiny test model) or a ``.npz`` path.

    Returns:
        The model data.

    Raises:
        FileNotFoundError: If the file is missing.
    """
    if spec == "default":
        from face3d_ros.model.default import load_default_model

        return load_default_model()
    if spec == "synthetic":
        from face3d_ros.model.synthetic import make_synthetic_model

        return make_synthetic_model()
    from face3d_ros.model.io import load_face_model

    if not Path(spec).is_file():
        raise FileNotFoundError(f"face model file {spec} does not exist")
    return load_face_model(spec)


def target_vector(kind: str, sample: dict[str, np.ndarray]) -> np.ndarray:
    """Packed de-normalised target of a raw shard sample.

    Args:
        kind: ``coarse`` or ``tracking``.
        sample: Raw sample.

    Returns:
        [P] float32 (coarse: id, exp, pose; tracking: id, exp, alb, gamma, pose - prev_pose).
    """
    pose = sample["pose"].astype(np.float32)
    if kind == "tracking":
        pose = pose - sample["prev_pose"].astype(np.float32)  # the net predicts deltas
    prefix = "d_" if kind == "tracking" else ""  # group names of the contract's layout
    values = {
        "id": sample["alpha_id"],
        "exp": sample["alpha_exp"],
        "alb": sample.get("alpha_alb"),
        "sh": sample.get("gamma"),
        f"{prefix}rotation": pose[0:3],
        f"{prefix}translation": pose[3:5],
        f"{prefix}scale": pose[5:6],
    }
    n_alb = 0 if values["alb"] is None else np.size(values["alb"])
    groups = output_groups(kind, np.size(values["id"]), np.size(values["exp"]), n_alb)
    return np.concatenate([np.asarray(values[g], np.float32).reshape(-1) for g, _ in groups])


class NetSamples(torch.utils.data.Dataset):
    """Training/evaluation items for one net built from a :class:`ShardDataset`."""

    def __init__(
        self,
        root: str | os.PathLike,
        kind: str,
        model: MorphableModel,
        *,
        max_pixels: int = 1024,
        augment: bool = False,
        seed: int = 0,
        limit: int | None = None,
        input_size: int | None = None,
    ) -> None:
        """Open the shards.

        Args:
            root: Shard root, or several roots separated by commas (read as one set).
            kind: ``coarse``, ``tracking`` or ``fine``.
            model: Face model (its dims must match the samples').
            max_pixels: Rows sampled per image for the projection losses.
            augment: Photometric jitter of the RGB input (coarse only).
            seed: Seed of the per-item randomness.
            limit: Use only the first ``limit`` samples.
            input_size: Net input side; samples of another side are resampled (crop of the
                crop; poses mapped by ``pose_to_crop``). None = the default contract's.

        Raises:
            ValueError: If the dataset's coefficient counts do not match the model.
        """
        roots = [r for r in str(root).split(",") if r]
        self.shards = ShardDataset(roots if len(roots) > 1 else roots[0], kind)
        self.kind = kind
        self.model = model
        self.max_pixels = int(max_pixels)
        self.augment = bool(augment)
        self.seed = int(seed)
        self.epoch = 0
        self.length = len(self.shards) if limit is None else min(len(self.shards), int(limit))
        self.input_size = int(input_size or DEFAULT_CONTRACT[kind].input_size)
        #: Crop scale the samples were framed with (recorded by the generators; else default).
        self.crop_scale = recorded_crop_scale(self.shards.attrs, kind) or (
            DEFAULT_CONTRACT[kind].crop_scale
        )
        if kind != "fine" and self.shards.keys is not None:
            want = {"alpha_id": model.n_id, "alpha_exp": model.n_exp, "alpha_alb": model.n_alb}
            for key, n in want.items():
                got = self.shards.keys[key]["shape"][0]
                if got != n:
                    raise ValueError(
                        f"{root}: samples have {key} of length {got}, the face model has {n}; "
                        "train with the face model the data was synthesized with"
                    )
        self._triangles = model.triangles.cpu().numpy().astype(np.int32)

    def __len__(self) -> int:
        """Number of items."""
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Change the per-item randomness (pixel subsets, augmentation) between epochs.

        Args:
            epoch: Epoch number.
        """
        self.epoch = int(epoch)

    def _resampled(self, s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The sample at the net's input side (unchanged when the sides agree)."""
        first = s["gray"] if self.kind == "fine" else s["image"]
        side = int(first.shape[0])
        if side == self.input_size:
            return s
        box, out = CropBox(0.0, 0.0, float(side)), dict(s)
        for key in ("image", "pncc", "gray", "coarse_depth", "displacement"):
            if key in s:
                out[key] = crop_image(s[key], box, self.input_size)
        if "coarse_depth" in s:  # depth is in crop pixels: it scales with the crop
            out["coarse_depth"] = out["coarse_depth"] * np.float32(self.input_size / side)
        if "mask" in s:  # nearest neighbour (cv2.INTER_NEAREST = 0)
            out["mask"] = crop_image(s["mask"], box, self.input_size, interpolation=0)
        for key in ("pose", "prev_pose"):
            if key in s:
                out[key] = pose_to_crop(s[key], box, self.input_size)
        return out

    def _rows(
        self, sample: dict[str, np.ndarray], size: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Ground-truth pixel rows of a sample."""
        with torch.no_grad():
            verts = self.model.shape(
                torch.from_numpy(sample["alpha_id"][None].astype(np.float32)),
                torch.from_numpy(sample["alpha_exp"][None].astype(np.float32)),
            )[0].numpy()
        return gt_pixel_rows(
            verts, self._triangles, sample["pose"], size, size, self.max_pixels, rng
        )

    def __getitem__(self, i: int) -> dict[str, Any]:
        """Build item ``i`` (see the module docstring)."""
        if not 0 <= i < self.length:
            raise IndexError(i)
        s = self._resampled(self.shards[i])
        rng = np.random.default_rng((self.seed, self.epoch, i))
        if self.kind == "fine":
            return {
                "input": np.stack([s["gray"], s["coarse_depth"]]).astype(np.float32),
                "target": s["displacement"][None].astype(np.float32),
                "mask": (s["mask"][None] > 0).astype(np.float32),
            }
        image = s["image"].astype(np.float32) / 255.0
        if self.augment and self.kind == "coarse":
            gain = rng.uniform(0.8, 1.2)
            bias = rng.uniform(-0.05, 0.05)
            image = np.clip(image * gain + bias, 0.0, 1.0)
        chw = image.transpose(2, 0, 1)
        item: dict[str, Any] = {
            "target": target_vector(self.kind, s),
            "alpha_id": s["alpha_id"].astype(np.float32),
            "alpha_exp": s["alpha_exp"].astype(np.float32),
            "pose": s["pose"].astype(np.float32),
            "image": np.ascontiguousarray(chw, dtype=np.float32),
        }
        if self.kind == "tracking":
            pncc = s["pncc"].astype(np.float32).transpose(2, 0, 1) / 255.0
            item["input"] = np.concatenate([chw, pncc]).astype(np.float32)
            item["prev_pose"] = s["prev_pose"].astype(np.float32)
            item["alpha_alb"] = s["alpha_alb"].astype(np.float32)
            item["gamma"] = s["gamma"].astype(np.float32)
        else:
            item["input"] = item["image"]
        item.update(self._rows(s, chw.shape[1], rng))
        return item


def compute_statistics(
    dataset: NetSamples, max_samples: int, groups: tuple[tuple[str, int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output mean/std of the targets (the OutputSpec statistics stored with the weights).

    Morphable coefficients (id, exp, alb: prior N(0, I)) keep mean 0 and std 1. The other groups
    (SH, pose, pose deltas) use the empirical mean and std of up to ``max_samples`` training
    targets, with a floor on the std so nearly constant outputs do not blow up.

    Args:
        dataset: Coarse or tracking items.
        max_samples: Samples to read (evenly strided).
        groups: Output groups of the net.

    Returns:
        ``(mean, std)`` [P] float32.
    """
    n = len(dataset)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).round().astype(int))
    targets = np.stack([target_vector(dataset.kind, dataset.shards[int(i)]) for i in idx])
    mean = targets.mean(axis=0).astype(np.float32)
    std = targets.std(axis=0).astype(np.float32)
    floors = {
        "rotation": 0.02,
        "d_rotation": 0.005,
        "translation": 1.0,
        "d_translation": 0.5,
        "scale": 0.01,
        "d_scale": 0.002,
        "sh": 0.02,
    }
    start = 0
    for name, size in groups:
        sl = slice(start, start + size)
        if name in ("id", "exp", "alb"):
            mean[sl] = 0.0
            std[sl] = 1.0
        else:
            std[sl] = np.maximum(std[sl], floors.get(name, 1e-3))
        start += size
    return mean, std
