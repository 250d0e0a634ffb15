# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Typed training configuration with YAML/JSON file and ``--set key=value`` overrides.

Precedence (later wins): dataclass defaults < ``--config FILE`` (YAML or JSON mapping) <
``--set key=value`` (value parsed as YAML, then coerced to the field's type) < explicit flags such
as ``--data``. The fully resolved config is written to ``runs/<name>/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "NET_KINDS",
    "PARAM_WEIGHTINGS",
    "TrainConfig",
    "apply_overrides",
    "load_config_file",
    "parse_set",
]

NET_KINDS = ("coarse", "tracking", "fine")
#: Choices of :attr:`TrainConfig.param_weighting`.
PARAM_WEIGHTINGS = ("uniform", "geometry")


@dataclass
class TrainConfig:
    """All settings of one training run.

    Attributes:
        net: ``coarse``, ``tracking`` or ``fine``.
        data: Training shard root(s), comma-separated (``training/datasets/shards.py``).
        val_data: Optional held-out shard root evaluated every ``val_every`` steps.
        model: Face model: ``default`` (shipped), ``synthetic`` (tests) or a ``.npz`` path.
        name: Run name; the run folder is ``<runs_dir>/<name>`` (default: the net kind).
        runs_dir: Parent folder of run folders; empty = ``$FACE3D_CACHE/runs`` or
            ``~/.cache/face3d_ros/runs`` (outside the work tree: checkpoints are large).
        loss: ``proposed`` (Eq. 13-17, self-balanced) or ``mse`` (normalised parameter MSE).
        steps: Total optimisation steps.
        batch_size: Per-process batch size.
        lr: Peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps before the cosine decay.
        schedule_steps: Length of the cosine schedule; 0 = ``steps`` of the run that started
            it. It is stored in the checkpoint, so ``--resume`` with another ``--steps``
            continues the same curve (stop early or run past its end at ``min_lr_ratio``);
            set it explicitly to stretch the schedule of a resumed run.
        min_lr_ratio: Final LR as a fraction of ``lr``.
        grad_clip: Gradient norm clip (0 disables).
        seed: Seed of torch, numpy and the data order.
        num_workers: DataLoader worker processes.
        threads: torch intra-op threads per process (CPU).
        device: ``cpu``, ``cuda`` or ``cuda:N`` (under torchrun each rank uses its LOCAL_RANK).
        log_every: Steps between curve rows (CSV) and progress updates.
        ckpt_every: Steps between checkpoints (one is always written at the end).
        ckpt_keep: Numbered copies ``checkpoints/step-<n>.pt`` kept besides ``checkpoint.pt``
            (the newest ones; 0 = none).
        val_every: Steps between validations (0: only at the end, when ``val_data`` is set).
        val_samples: Maximum validation samples.
        max_pixels: Ground-truth foreground pixels sampled per image for Eq. 11.
        stats_samples: Training samples used to estimate the parameter mean/std.
        param_reg: Weight of a small normalised-parameter MSE added to the proposed loss
            (0 = the paper's loss exactly; it anchors unobservable coefficients).
        param_weighting: Per-output weights of the normalised parameter MSE (the ``param_reg``
            term and the ``mse`` loss): ``uniform`` (every output 1, the paper's baseline) or
            ``geometry`` (identity and expression outputs weighted by the face-region RMS
            displacement one normalised unit causes, averaging 1;
            :func:`training.train.losses.geometric_output_weights`).
        fine_channels: FineNet U-Net channels.
        fine_depth_scale: FineNet depth normalisation (pixels).
        input_size: Net input side in pixels; 0 = the contract default
            (``face3d_ros.nets.contract.DEFAULT_CONTRACT``). Samples of another side are
            resampled (crop of the crop, poses mapped exactly); the side goes into the weights'
            contract, which the Tracker reads.
        augment: Photometric augmentation (brightness/contrast jitter) of the input images.
        bf16: Run the net's forward pass under bfloat16 autocast (faster on CPUs with
            AVX512-BF16 / AMX and on recent GPUs; losses stay float32).
        channels_last: Convolutions in channels-last memory format (with ``bf16``: CoarseNet
            44 -> 59 samples/s on this project's 2-core CPU).
        overwrite: Allow replacing an existing run folder (without ``--resume``).
        init_from: A checkpoint (``checkpoint.pt`` of an earlier run, or an export's
            ``--state-dict`` file; same net and face model) or exported weights (``<net>.onnx``
            with its sidecar, e.g. the committed ``face3d_ros/weights/coarse.onnx``: rebuilt by
            :func:`training.train.from_onnx.net_from_onnx`, its BatchNorms calibrated on 64
            training inputs) whose weights and output statistics start this run (a new optimiser
            and schedule); empty = random initialisation with statistics from the data.
    """

    net: str = "coarse"
    data: str = ""
    val_data: str = ""
    model: str = "default"
    name: str = ""
    runs_dir: str = ""
    loss: str = "proposed"
    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    schedule_steps: int = 0
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    seed: int = 0
    num_workers: int = 0
    threads: int = 2
    device: str = "cpu"
    log_every: int = 10
    ckpt_every: int = 100
    ckpt_keep: int = 3
    val_every: int = 0
    val_samples: int = 64
    max_pixels: int = 1024
    stats_samples: int = 512
    param_reg: float = 0.0
    param_weighting: str = "uniform"
    fine_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    fine_depth_scale: float = 32.0
    input_size: int = 0
    augment: bool = True
    bf16: bool = False
    channels_last: bool = False
    overwrite: bool = False
    init_from: str = ""

    def validate(self) -> None:
        """Check values.

        Raises:
            ValueError: Naming the bad field.
        """
        if self.net not in NET_KINDS:
            raise ValueError(f"net must be one of {NET_KINDS}, got {self.net!r}")
        if self.loss not in ("proposed", "mse"):
            raise ValueError(f"loss must be 'proposed' or 'mse', got {self.loss!r}")
        if self.param_weighting not in PARAM_WEIGHTINGS:
            raise ValueError(
                f"param_weighting must be one of {PARAM_WEIGHTINGS}, got {self.param_weighting!r}"
            )
        if not self.data:
            raise ValueError("data (training shard root) is required")
        for name in ("steps", "batch_size", "log_every", "ckpt_every", "max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.input_size != 0 and not 32 <= self.input_size <= 4096:
            raise ValueError(f"input_size must be 0 or in [32, 4096], got {self.input_size}")
        if self.schedule_steps < 0 or self.ckpt_keep < 0:
            raise ValueError("schedule_steps and ckpt_keep must be >= 0")
        if self.num_workers < 0 or self.threads < 1:
            raise ValueError("num_workers must be >= 0 and threads >= 1")

    @property
    def runs_root(self) -> Path:
        """The folder of run folders (``runs_dir`` or the cache's ``runs``)."""
        if self.runs_dir:
            return Path(self.runs_dir).expanduser()
        base = os.environ.get("FACE3D_CACHE")
        return (Path(base) if base else Path.home() / ".cache" / "face3d_ros") / "runs"

    @property
    def run_name(self) -> str:
        """Run folder name (``name`` or the net kind)."""
        return self.name or self.net

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields."""
        return dataclasses.asdict(self)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a parsed value to a field type.

    Args:
        value: Parsed value.
        tp: Field type annotation.
        key: Field name (for errors).

    Returns:
        The converted value.

    Raises:
        ValueError: If the value does not fit.
    """
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return "" if value is None else str(value)
        if origin is list:
            (inner,) = typing.get_args(tp)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            return [_coerce(v, inner, key) for v in value]
        if origin in (typing.Union, types.UnionType):
            return value
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config key {key!r}: cannot use {value!r} as {tp}") from exc
    return value


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Return a copy of ``config`` with ``overrides`` applied (type-checked).

    Args:
        config: Base config.
        overrides: Field name -> value.

    Returns:
        New config.

    Raises:
        ValueError: On unknown keys or values that do not fit the field type.
    """
    hints = typing.get_type_hints(TrainConfig)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
    values = {k: _coerce(v, hints[k], k) for k, v in overrides.items()}
    return dataclasses.replace(config, **values)


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON mapping of overrides.

    Args:
        path: ``.yaml``/``.yml``/``.json`` file.

    Returns:
        The mapping.

    Raises:
        FileNotFoundError: Missing file.
        ValueError: Not a mapping.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of config keys")
    return data


def parse_set(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (values as YAML scalars/lists).

    Args:
        items: ``["lr=1e-3", "fine_channels=[8,16,32]"]``.

    Returns:
        Mapping of overrides.

    Raises:
        ValueError: On an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
    return out
