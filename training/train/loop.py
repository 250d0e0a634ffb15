# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The training loop shared by the three nets: data, losses, logging, checkpoints, resume, DDP.

A run folder ``<runs_dir>/<name>/`` receives ``config.yaml`` (the fully resolved config),
``curves.csv`` (one row every ``log_every`` steps: losses, loss terms, balance weights, LR, time),
``val.csv`` (validation rows), ``curves.png`` (plots), ``checkpoint.pt`` (latest; loadable with
:func:`face3d_ros.nets.weights.load_checkpoint`) and ``summary.json``. ``resume=True`` continues
from ``checkpoint.pt`` (net, optimiser, scheduler, step, RNG) up to ``config.steps``.

Under ``torchrun`` (``WORLD_SIZE > 1``) the loop initialises the default process group (NCCL on
CUDA, Gloo on CPU), shards the data with ``DistributedSampler`` and wraps the net in
``DistributedDataParallel``; only rank 0 writes files. Without ``WORLD_SIZE`` it is a plain
single-process loop (CPU or one GPU).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn

from face3d_ros.model.morphable import MorphableModel
from face3d_ros.nets.coarse_net import CoarseNet
from face3d_ros.nets.contract import DEFAULT_CONTRACT
from face3d_ros.nets.fine_net import FineNet
from face3d_ros.nets.tracking_net import TrackingNet
from face3d_ros.nets.weights import load_checkpoint, save_checkpoint, verify_weights
from training.train.config import TrainConfig
from training.train.data import NetSamples, compute_statistics, load_model
from training.train.losses import (
    PixelRows,
    color_loss,
    fine_loss,
    geometric_output_weights,
    mean_vertex_distance,
    param_mse_loss,
    pose_geo_losses,
    self_balanced,
)

__all__ = [
    "LossOutput",
    "RunResult",
    "build_net_for",
    "compute_loss",
    "gradient_shares",
    "param_output_weights",
    "starting_net",
    "train",
]


@dataclass
class LossOutput:
    """Loss of one batch.

    Attributes:
        total: Differentiable scalar that is optimised.
        terms: Detached metric values (``loss``, ``l_pose``, ``l_geo``, ``l_col``, ...).
        weights: Self-balancing weights (``w_pose`` ...), empty for the baselines.
        parts: The differentiable summands of ``total`` by name (``pose``, ``geo``, ``col``:
            the self-balanced terms with their weights; ``param``: the parameter MSE times its
            weight; ``fine``), for :func:`gradient_shares`.
    """

    total: torch.Tensor
    terms: dict[str, float]
    weights: dict[str, float]
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class RunResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: The run folder.
        step: Final step.
        first_loss: Mean training loss of the first logged window.
        last_loss: Mean training loss of the last logged window.
        wall_time_s: Total wall time of the training steps (all sessions, for resumed runs).
        val: Final validation metrics (empty without ``val_data``).
    """

    run_dir: Path
    step: int
    first_loss: float
    last_loss: float
    wall_time_s: float
    val: dict[str, float]


def build_net_for(config: TrainConfig, model: MorphableModel) -> nn.Module:
    """Untrained net of ``config.net`` sized for ``model``.

    Args:
        config: Run config.
        model: Face model.

    Returns:
        The net (mean 0 / std 1 statistics until :func:`compute_statistics` sets them).
    """
    contract = DEFAULT_CONTRACT[config.net]
    contract = contract.replace(input_size=config.input_size or contract.input_size)
    if config.net == "coarse":
        return CoarseNet(model.n_id, model.n_exp, contract=contract)
    if config.net == "tracking":
        return TrackingNet(model.n_id, model.n_exp, model.n_alb, contract=contract)
    return FineNet(
        channels=tuple(config.fine_channels), depth_scale=config.fine_depth_scale, contract=contract
    )


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), per torch's probe.

    True when torch has no such probe (an unknown answer does not warn).
    """
    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported",
                                                     "_is_amx_tile_supported")]
    if not all(callable(f) for f in probes):
        return True
    return any(bool(f()) for f in probes)


def _f(t: torch.Tensor) -> float:
    """Detached float of a scalar tensor."""
    return float(t.detach())


def _pose_of(groups: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
    """Concatenate rotation, translation and scale groups into [B, 6]."""
    return torch.cat(
        [groups[f"{prefix}rotation"], groups[f"{prefix}translation"], groups[f"{prefix}scale"]],
        dim=1,
    )


def param_output_weights(
    config: TrainConfig, net: nn.Module, model: MorphableModel
) -> torch.Tensor | None:
    """Per-output weights of the parameter MSE for ``config.param_weighting`` (None = uniform).

    They depend only on the face model and the net's output statistics, which a run does not
    change: compute them once per run and pass them to :func:`compute_loss`.
    """
    if config.param_weighting != "geometry" or config.net == "fine":
        return None
    core = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net
    return geometric_output_weights(model, core.spec.groups, core.output_std)


def compute_loss(
    net: nn.Module,
    batch: dict[str, torch.Tensor],
    model: MorphableModel,
    config: TrainConfig,
    *,
    all_metrics: bool = False,
    outputs: torch.Tensor | None = None,
    output_weights: torch.Tensor | None = None,
) -> LossOutput:
    """Forward a batch and compute the configured loss.

    Args:
        net: The net (possibly DDP-wrapped).
        batch: Collated items of :class:`NetSamples` on the right device.
        model: Face model on the same device.
        config: Run config (``net``, ``loss``, ``param_reg``, ``param_weighting``).
        all_metrics: Also compute metrics not needed for the loss (evaluation).
        outputs: The net's normalised outputs [B, P] for this batch, when already computed
            (e.g. a leaf tensor to differentiate the loss terms against); None = forward here.
        output_weights: :func:`param_output_weights` of this run, computed once; None =
            computed here when ``config.param_weighting`` asks for them.

    Returns:
        The loss.
    """
    core = net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net
    if outputs is None:
        device_type = batch["input"].device.type
        x = batch["input"]
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=config.bf16):
            outputs = net(x)
    z = outputs.float()
    if config.net == "fine":
        target = core.normalize(batch["target"])
        total = fine_loss(z, target, batch["mask"])
        with torch.no_grad():
            mm2 = fine_loss(core.denormalize(z), batch["target"], batch["mask"])
        return LossOutput(
            total, {"loss": _f(total), "fine_mse_mm2": _f(mm2)}, {}, {"fine": total}
        )

    target_norm = core.normalize(batch["target"])
    if output_weights is None:
        output_weights = param_output_weights(config, core, model)
    mse = param_mse_loss(z, target_norm, output_weights)
    need_geometry = config.loss == "proposed" or all_metrics
    terms: dict[str, float] = {"param_mse": _f(mse)}
    weights: dict[str, float] = {}
    total = mse
    summands: dict[str, torch.Tensor] = {"param": mse}
    if need_geometry:
        groups = core.split(core.denormalize(z))
        rows = PixelRows.from_batch(batch)
        tri = model.triangles
        gt_vertices = model.shape(batch["alpha_id"], batch["alpha_exp"])
        pred_vertices = model.shape(groups["id"], groups["exp"])
        if config.net == "coarse":
            pred_pose = _pose_of(groups)
        else:
            pred_pose = batch["prev_pose"] + _pose_of(groups, "d_")
        l_pose, l_geo = pose_geo_losses(
            pred_vertices, pred_pose, gt_vertices, batch["pose"], tri, rows
        )
        parts = {"pose": l_pose, "geo": l_geo}
        if config.net == "tracking":
            parts["col"] = color_loss(
                pred_vertices,
                model.albedo(groups["alb"]),
                groups["sh"],
                batch["pose"][:, :3],
                tri,
                rows,
                batch["image"],
            )
        with torch.no_grad():
            terms["pose_mse"] = _f((pred_pose - batch["pose"]).square().mean())
            terms["vertex_mm"] = _f(mean_vertex_distance(pred_vertices, gt_vertices))
            if all_metrics and config.net == "tracking":
                # the previous pose kept (zero deltas): what the tracking net must beat
                terms["l_pose_prev"] = _f(pose_geo_losses(
                    gt_vertices, batch["prev_pose"], gt_vertices, batch["pose"], tri, rows
                )[0])
        terms.update({f"l_{k}": _f(v) for k, v in parts.items()})
        if config.loss == "proposed":
            total, w = self_balanced(parts)
            weights = {f"w_{k}": v for k, v in w.items()}
            summands = {k: w[k] * v for k, v in parts.items()}
            if config.param_reg > 0:
                summands["param"] = config.param_reg * mse
                total = total + summands["param"]
    terms["loss"] = _f(total)
    return LossOutput(total, terms, weights, summands)


def _lr_factor(step: int, config: TrainConfig, horizon: int | None = None) -> float:
    """Warm-up then cosine decay to ``min_lr_ratio`` at step ``horizon`` (default ``steps``)."""
    if step < config.warmup_steps:
        return (step + 1) / max(1, config.warmup_steps)
    span = max(1, (horizon or config.steps) - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )


class EpochSampler(torch.utils.data.Sampler[int]):
    """A seeded permutation per epoch that can start part-way (resume without reading).

    Args:
        n: Dataset length.
        seed: Seed; epoch ``e`` uses permutation ``randperm(n)`` seeded by ``(seed, e)``.
    """

    def __init__(self, n: int, seed: int) -> None:
        """Epoch 0 from its start."""
        self.n, self.seed, self.epoch, self.start = int(n), int(seed), 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use epoch ``epoch``'s permutation from position ``start``."""
        self.epoch, self.start = int(epoch), int(start)

    def __iter__(self) -> Iterator[int]:
        """Indices of the current epoch from ``start``."""
        g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g)[self.start :].tolist())

    def __len__(self) -> int:
        """Indices left in the current epoch."""
        return max(0, self.n - self.start)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a collated batch to ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    """Append a row, writing the header first (columns fixed by the first row)."""
    new = not path.exists()
    if not new:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    else:
        header = list(row)
    with open(path, "a", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_csv(path: Path, max_step: int) -> None:
    """Drop rows beyond ``max_step`` (steps logged after the checkpoint we resume from)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        fields = list(rows[0].keys()) if rows else []
    keep = [r for r in rows if int(float(r["step"])) <= max_step]
    with open(path, "w", encoding="utf-8", newline="") as f:
        if fields:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(keep)


def plot_curves(run_dir: Path) -> Path | None:
    """Plot ``curves.csv`` (and ``val.csv``) to ``curves.png``.

    Args:
        run_dir: Run folder.

    Returns:
        The PNG path, or None when there is nothing to plot.
    """
    path = run_dir / "curves.csv"
    if not path.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def read(p: Path) -> dict[str, np.ndarray]:
        with open(p, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            return {}
        return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if r_ok(rows, k)}

    def r_ok(rows: list[dict[str, str]], k: str) -> bool:
        try:
            [float(r[k]) for r in rows]
        except (TypeError, ValueError):
            return False
        return True

    train = read(path)
    if not train:
        return None
    val = read(run_dir / "val.csv") if (run_dir / "val.csv").exists() else {}
    keys = [k for k in train if k.startswith(("loss", "l_", "param_mse", "fine_"))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k in keys:
        if np.all(train[k] > 0):
            axes[0].semilogy(train["step"], train[k], label=k)
    for k in [k for k in val if k != "step"]:
        if np.all(val[k] > 0) and k.startswith(("loss", "l_", "param_mse", "fine_")):
            axes[0].semilogy(val["step"], val[k], "o--", label=f"val {k}")
    axes[0].set_xlabel("step")
    axes[0].set_title("losses")
    axes[0].legend(fontsize=7)
    for k in [k for k in train if k.startswith("w_")] + ["lr"]:
        if k in train:
            axes[1].plot(train["step"], train[k], label=k)
    axes[1].set_xlabel("step")
    axes[1].set_title("balance weights / learning rate")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _distributed() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (1 process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


@torch.no_grad()
def evaluate_loader(
    net: nn.Module,
    loader: torch.utils.data.DataLoader,
    model: MorphableModel,
    config: TrainConfig,
    device: torch.device,
    output_weights: torch.Tensor | None = None,
) -> dict[str, float]:
    """Mean metrics over a loader (every metric of :func:`compute_loss`, ``all_metrics=True``).

    Args:
        net: The net (eval mode is set and restored).
        loader: Evaluation data.
        model: Face model.
        config: Run config.
        device: Device.
        output_weights: :func:`param_output_weights` of the run (None = computed per batch).

    Returns:
        Metric name -> mean over batches (weighted by batch size).
    """
    was_training = net.training
    net.eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        batch = _to_device(batch, device)
        out = compute_loss(
            net, batch, model, config, all_metrics=True, output_weights=output_weights
        )
        b = int(batch["input"].shape[0])
        for k, v in out.terms.items():
            sums[k] = sums.get(k, 0.0) + v * b
        count += b
    net.train(was_training)
    return {k: v / max(1, count) for k, v in sums.items()}


def _fresh_net(config: TrainConfig, model: MorphableModel, data: NetSamples) -> nn.Module:
    """A randomly initialised net with output statistics (or displacement scale) from the data."""
    net = build_net_for(config, model)
    net.contract = net.contract.replace(crop_scale=data.crop_scale)  # the data's framing
    if config.net != "fine":
        mean, std = compute_statistics(data, config.stats_samples, net.spec.groups)
        net.set_statistics(mean, std)
    else:
        disp = np.concatenate(
            [
                data.shards[int(i)]["displacement"][data.shards[int(i)]["mask"] > 0]
                for i in np.linspace(0, len(data) - 1, min(len(data), 64)).astype(int)
            ]
        )
        net.output_std.fill_(float(max(np.std(disp), 1e-3)) if disp.size else 1.0)
    return net


def _init_net(config: TrainConfig, face: Any, data: NetSamples) -> nn.Module:
    """The net ``config.init_from`` names: a checkpoint, or exported ONNX weights (any kind)."""
    source = Path(config.init_from).expanduser()
    if source.suffix != ".onnx":
        net, _ = load_checkpoint(source, model=face, map_location="cpu")
        return net
    # exported weights (BatchNorm folded): rebuilt, the BatchNorms calibrated on 64 inputs of
    # the data when the net reads this data's input (else on the ONNX check's random inputs)
    from training.train.from_onnx import net_from_onnx

    meta = verify_weights(source, model=face)  # sidecar, hash, model dims
    channels, height, width = meta["input"]["shape"][1:]
    picks = np.linspace(0, len(data) - 1, min(len(data), 64)).astype(int)
    inputs = torch.stack([torch.as_tensor(data[int(i)]["input"]) for i in picks]).float()
    if inputs.shape[1] < channels:
        raise ValueError(f"init_from {source}: a {meta['net']} net reads {channels} input "
                         f"channels, this data has {inputs.shape[1]}")
    # the source's inputs: its leading channels (a CoarseNet's RGB of a tracking input), resized
    calibration = nn.functional.interpolate(inputs[:, :channels], size=(height, width),
                                            mode="bilinear", align_corners=False)
    return net_from_onnx(source, calibration=calibration)


def _model_and_data(
    config: TrainConfig, device: torch.device, *, augment: bool
) -> tuple[Any, MorphableModel, NetSamples]:
    """``(face data, MorphableModel on device, training samples)`` of a config.

    Raises:
        ValueError: Empty data, or data that does not fit the face model.
    """
    face = load_model(config.model)
    model = MorphableModel(face).to(device)
    data = NetSamples(
        config.data,
        config.net,
        MorphableModel(face),
        max_pixels=config.max_pixels,
        augment=augment,
        seed=config.seed,
        input_size=config.input_size or None,
    )
    if len(data) == 0:
        raise ValueError(f"training data {config.data} is empty")
    return face, model, data


def starting_net(
    config: TrainConfig, face: Any, model: MorphableModel, data: NetSamples
) -> nn.Module:
    """The net a new run starts from (not a resumed one).

    ``config.init_from`` (a net of the same kind, or a CoarseNet for a tracking run), else a
    fresh net with output statistics from ``data``.

    Raises:
        ValueError: ``init_from`` holds a net that cannot start this run, or was trained on
            crops of another scale.
    """
    if config.init_from:
        source = _init_net(config, face, data)
        if source.kind == config.net:
            net = source
            if abs(net.contract.crop_scale - data.crop_scale) > 1e-6:
                raise ValueError(
                    f"init_from {config.init_from} was trained on crops of scale "
                    f"{net.contract.crop_scale}, the data has {data.crop_scale}"
                )
        elif config.net == "tracking" and source.kind == "coarse":
            from training.train.warm_start import tracking_from_coarse

            net = _fresh_net(config, model, data)
            copied = tracking_from_coarse(net, source)
            print(f"init_from {config.init_from}: tracking net warm-started from a CoarseNet "
                  f"({copied} tensors: trunk, identity and expression heads)", file=sys.stderr)
        else:
            raise ValueError(
                f"init_from {config.init_from} holds a {source.kind} net; a {config.net} run "
                "starts from a net of its kind (or, for the tracking net, a CoarseNet)"
            )
    else:
        net = _fresh_net(config, model, data)
    return net


def gradient_shares(
    config: TrainConfig, batches: int = 2
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """How hard each loss term pulls on each output group of the net a run would start from.

    For ``batches`` batches of ``config.batch_size`` samples spread evenly over the data (no
    augmentation), the gradient of every summand of the loss (:attr:`LossOutput.parts`) with
    respect to the net's normalised outputs, its L2 norm per output group, averaged over the
    batches. A term whose norm on a group is orders below another's barely trains that group
    (e.g. ``param_reg`` 2 against ``L_geo`` on identity and expression).

    Args:
        config: Run config (``init_from`` or a fresh net; ``device``; the loss settings).
        batches: Batches to average.

    Returns:
        ``(groups, shares)``: the output group names in output order (for expression, also
        ``exp[0:10]``), and ``shares[term][group]`` gradient norms.

    Raises:
        ValueError: Bad config or empty data.
    """
    config.validate()
    if config.net == "fine":
        raise ValueError("gradient shares are for the coarse and tracking nets (parameter outputs)")
    device = torch.device(config.device)
    face, model, data = _model_and_data(config, device, augment=False)
    net = starting_net(config, face, model, data).to(device).train()
    output_weights = param_output_weights(config, net, model)
    slices: dict[str, slice] = {}
    start = 0
    for name, size in net.spec.groups:
        slices[name] = slice(start, start + size)
        if name == "exp":
            slices["exp[0:10]"] = slice(start, start + min(size, 10))
        start += size
    n = min(len(data), batches * config.batch_size)
    picks = np.linspace(0, len(data) - 1, n).round().astype(int)
    sums: dict[str, dict[str, float]] = {}
    for b in range(0, n, config.batch_size):
        items = [data[int(i)] for i in picks[b : b + config.batch_size]]
        batch = _to_device(torch.utils.data.default_collate(items), device)
        with torch.no_grad():
            z = net(batch["input"])
        z = z.float().requires_grad_(True)
        out = compute_loss(net, batch, model, config, outputs=z, output_weights=output_weights)
        for term, value in out.parts.items():
            (grad,) = torch.autograd.grad(value, z, retain_graph=True, allow_unused=True)
            row = sums.setdefault(term, dict.fromkeys(slices, 0.0))
            if grad is None:
                continue
            for group, sl in slices.items():
                row[group] += float(grad[:, sl].norm()) / math.ceil(n / config.batch_size)
    return list(slices), sums


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    command: str | None = None,
    progress: bool = True,
    on_step: Callable[[int, LossOutput], None] | None = None,
) -> RunResult:
    """Train one net.

    Args:
        config: Resolved config (validated here).
        resume: Continue from ``<run_dir>/checkpoint.pt``.
        command: Command line recorded in the checkpoint (default: ``sys.argv``).
        progress: Show a tqdm progress bar (rank 0).
        on_step: Optional callback after every step (tests).

    Returns:
        Summary of the run.

    Raises:
        FileExistsError: The run folder exists and neither ``resume`` nor ``overwrite`` is set.
        FileNotFoundError: ``resume`` without a checkpoint.
        ValueError: Bad config or data that does not fit the face model.
    """
    config.validate()
    rank, world, local_rank = _distributed()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if config.device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    device = torch.device(
        f"cuda:{local_rank}" if config.device.startswith("cuda") and world > 1 else config.device
    )
    torch.set_num_threads(config.threads)
    if config.bf16 and device.type == "cpu" and rank == 0 and not cpu_has_native_bf16():
        print(
            "warning: bf16=true on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated there "
            "(measured on a 2-core AVX2 machine: about 90 s per CoarseNet step against 8 s in "
            "fp32); set bf16=false (and channels_last=false) on this machine",
            file=sys.stderr,
            flush=True,
        )
    torch.manual_seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    command = command or " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])

    run_dir = config.runs_root / config.run_name
    ckpt_path = run_dir / "checkpoint.pt"
    if rank == 0:
        if resume and not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume given but {ckpt_path} does not exist")
        if not resume and run_dir.exists() and any(run_dir.iterdir()):
            if not config.overwrite:
                raise FileExistsError(
                    f"run folder {run_dir} exists; pass --resume to continue it or "
                    "--set overwrite=true to replace it"
                )
            for name in ("curves.csv", "val.csv", "curves.png", "checkpoint.pt", "summary.json"):
                (run_dir / name).unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8"
        )

    face, model, data = _model_and_data(config, device, augment=config.augment)

    start_step = 0
    wall_before = 0.0
    ckpt: dict[str, Any] | None = None
    if resume:
        net, ckpt = load_checkpoint(ckpt_path, net=config.net, model=face, map_location="cpu")
        start_step = int(ckpt["step"])
        wall_before = float(ckpt.get("wall_time_s", 0.0))
    else:
        net = starting_net(config, face, model, data)
    net = net.to(device).train()
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    output_weights = param_output_weights(config, net, model)  # constant through the run
    # The cosine's length: explicit, else the one the run started with (kept across --resume).
    if config.schedule_steps:
        horizon = config.schedule_steps
    elif ckpt is not None and ckpt.get("schedule_steps"):
        horizon = int(ckpt["schedule_steps"])
    else:  # a new run, or a checkpoint written before the horizon was recorded
        horizon = config.steps
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, config, horizon)
    )
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"].cpu())
        if rank == 0:
            _truncate_csv(run_dir / "curves.csv", start_step)
            _truncate_csv(run_dir / "val.csv", start_step)
    train_net: nn.Module = net
    if world > 1:
        train_net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )

    sampler: torch.utils.data.Sampler | None = None
    if world > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(
            data, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=True
        )
    generator = torch.Generator().manual_seed(config.seed)
    resumable = None
    if sampler is None:
        resumable = EpochSampler(len(data), config.seed)
        sampler = resumable
    drop_last = len(data) >= config.batch_size * world
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=False,
    )
    val_loader = None
    if config.val_data and rank == 0:
        val_set = NetSamples(
            config.val_data,
            config.net,
            MorphableModel(face),
            max_pixels=config.max_pixels,
            limit=config.val_samples,
            input_size=net.input_size,
        )
        val_loader = torch.utils.data.DataLoader(
            val_set, batch_size=config.batch_size, num_workers=config.num_workers
        )

    bar = None
    if rank == 0 and progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=start_step, desc=f"{config.net}", mininterval=2.0)
    steps_per_epoch = (
        max(1, len(data) // config.batch_size if drop_last else -(-len(data) // config.batch_size))
        if resumable is not None
        else max(1, len(loader))
    )
    step = start_step
    window: list[dict[str, float]] = []
    first_loss = math.nan
    last_loss = math.nan
    last_val: dict[str, float] = {}
    t_start = time.perf_counter()

    def checkpoint(final: bool) -> None:
        extra = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "schedule_steps": horizon,
            "torch_rng": torch.get_rng_state(),
            "wall_time_s": wall_before + time.perf_counter() - t_start,
            "config": json.dumps(config.to_dict()),
            "command": command,
            "data": str(config.data),
            "run_name": config.run_name,
            "metrics": {"train_loss": last_loss, **{f"val_{k}": v for k, v in last_val.items()}},
            "final": final,
        }
        save_checkpoint(ckpt_path, net, model=face, extra=extra)
        if config.ckpt_keep > 0:
            history = run_dir / "checkpoints"
            history.mkdir(exist_ok=True)
            shutil.copyfile(ckpt_path, history / f"step-{step:07d}.pt")
            for old in sorted(history.glob("step-*.pt"))[: -config.ckpt_keep]:
                old.unlink()

    while step < config.steps:
        epoch = step // steps_per_epoch
        data.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        generator.manual_seed(config.seed * 1000003 + epoch)
        skip = step % steps_per_epoch
        if resumable is not None:  # start mid-epoch without loading the skipped batches
            resumable.set_epoch(epoch, skip * config.batch_size)
            skip = 0
        for i, batch in enumerate(loader):
            if i < skip:
                continue
            if step >= config.steps:
                break
            batch = _to_device(batch, device)
            out = compute_loss(train_net, batch, model, config, output_weights=output_weights)
            optimizer.zero_grad(set_to_none=True)
            out.total.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            window.append({**out.terms, **out.weights})
            if on_step is not None:
                on_step(step, out)
            if bar is not None:
                bar.update(1)
            if rank == 0 and (step % config.log_every == 0 or step == config.steps):
                row = {
                    "step": step,
                    **{k: float(np.mean([w[k] for w in window])) for k in window[0]},
                    "lr": scheduler.get_last_lr()[0],
                    "time_s": wall_before + time.perf_counter() - t_start,
                }
                if math.isnan(first_loss):
                    first_loss = row["loss"]
                last_loss = row["loss"]
                _append_csv(run_dir / "curves.csv", row)
                if bar is not None:
                    bar.set_postfix(loss=f"{row['loss']:.4g}")
                window = []
            if val_loader is not None and config.val_every and step % config.val_every == 0:
                last_val = evaluate_loader(net, val_loader, model, config, device, output_weights)
                _append_csv(run_dir / "val.csv", {"step": step, **last_val})
            if rank == 0 and step % config.ckpt_every == 0 and step < config.steps:
                checkpoint(final=False)
    if bar is not None:
        bar.close()
    wall = wall_before + time.perf_counter() - t_start
    if rank == 0:
        if val_loader is not None and (not config.val_every or step % config.val_every != 0):
            last_val = evaluate_loader(net, val_loader, model, config, device, output_weights)
            _append_csv(run_dir / "val.csv", {"step": step, **last_val})
        checkpoint(final=True)
        plot_curves(run_dir)
        summary = {
            "step": step,
            "first_loss": first_loss,
            "last_loss": last_loss,
            "wall_time_s": wall,
            "val": last_val,
            "command": command,
        }
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return RunResult(run_dir, step, first_loss, last_loss, wall, last_val)
