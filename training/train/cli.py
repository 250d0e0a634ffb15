# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command line of the training loop (``python -m training.train --net coarse --data DIR``).

``python -m training.train.coarse|tracking|fine`` are the same CLI with ``--net`` fixed.

Examples::

    python -m training.train.coarse --data out/synth/coarse --steps 300 --name coarse-v1
    python -m training.train --net fine --data out/synth/fine --config my.yaml --set lr=5e-4
    python -m training.train.coarse --data out/synth/coarse --name coarse-v1 --resume --steps 600
    python -m training.train.coarse --data out/synth/coarse --gradients 2   # loss balance, no run
    torchrun --nproc_per_node 4 -m training.train.coarse --data ... --set device=cuda
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from training.train.config import (
    NET_KINDS,
    TrainConfig,
    apply_overrides,
    load_config_file,
    parse_set,
)

__all__ = ["build_config", "main"]

# Explicit flags mapped onto config fields (highest precedence).
_FLAGS = (
    ("data", str),
    ("val_data", str),
    ("model", str),
    ("name", str),
    ("runs_dir", str),
    ("loss", str),
    ("steps", int),
    ("batch_size", int),
    ("lr", float),
    ("seed", int),
    ("num_workers", int),
    ("threads", int),
    ("device", str),
)


def _parser(net: str | None) -> argparse.ArgumentParser:
    """Argument parser (``--net`` only when ``net`` is None)."""
    prog = "python -m training.train" + (f".{net}" if net else "")
    p = argparse.ArgumentParser(prog=prog, description="Train a face3d_ros net on shard data.")
    if net is None:
        p.add_argument("--net", choices=NET_KINDS, required=True, help="which net to train")
    p.add_argument("--config", help="YAML/JSON file of config overrides")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field (repeatable), e.g. --set lr=5e-4",
    )
    p.add_argument("--resume", action="store_true", help="continue runs/<name>/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config, exit")
    p.add_argument(
        "--gradients",
        type=int,
        metavar="BATCHES",
        default=0,
        help="print each loss term's gradient norm per output group for the net this run would "
        "start from, on BATCHES batches of the data, and exit (no training)",
    )
    for name, tp in _FLAGS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=tp, default=None)
    return p


def build_config(args: argparse.Namespace, net: str | None) -> TrainConfig:
    """Resolve defaults < config file < --set < explicit flags.

    Args:
        args: Parsed arguments.
        net: Fixed net kind or None (taken from ``--net``).

    Returns:
        The validated config.
    """
    config = TrainConfig(net=net or args.net)
    if args.config:
        config = apply_overrides(config, load_config_file(args.config))
    config = apply_overrides(config, parse_set(args.overrides))
    flags = {name: getattr(args, name) for name, _ in _FLAGS if getattr(args, name) is not None}
    config = apply_overrides(config, {**flags, "net": net or args.net})
    config.validate()
    return config


def _print_gradients(config: TrainConfig, batches: int) -> int:
    """``--gradients``: the table of :func:`training.train.loop.gradient_shares`."""
    from training.train.loop import gradient_shares

    try:
        groups, shares = gradient_shares(config, batches)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"gradient norm of each loss term on the net's normalised outputs ({config.net}, loss "
        f"{config.loss}, param_reg {config.param_reg:g} {config.param_weighting}, "
        f"{batches} x {config.batch_size} samples)"
    )
    print(f"{'term':10s}" + "".join(f"{g:>13s}" for g in groups))
    for term, row in shares.items():
        print(f"{term:10s}" + "".join(f"{row[g]:13.3e}" for g in groups))
    return 0


def main(argv: Sequence[str] | None = None, net: str | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).
        net: Fixed net kind (the per-net modules) or None for ``--net``.

    Returns:
        Exit status.
    """
    import yaml

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(net).parse_args(argv)
    try:
        config = build_config(args, net)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    if args.gradients:
        return _print_gradients(config, args.gradients)
    from training.train.loop import train

    module = "training.train" + (f".{net}" if net else "")
    command = " ".join(["python", "-m", module, *(shlex.quote(a) for a in argv)])
    try:
        result = train(config, resume=args.resume, command=command, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{config.net}: {result.step} steps in {result.wall_time_s:.1f} s, loss "
        f"{result.first_loss:.4g} -> {result.last_loss:.4g}; run folder {result.run_dir}"
    )
    if result.val:
        print("validation: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.val.items())))
    return 0
