# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Drive one synthesis kind over a folder of fits into a shard dataset (resumable, shardable).

Layout: ``<out>/<kind>/`` is the dataset (``index.json`` + shards); with ``shard=(i, n)`` the
part goes to ``<out>/<kind>/part-<i>-of-<n>/`` and :class:`training.datasets.ShardDataset`
reads ``<out>/<kind>`` as the union of its parts. Each photo is one unit of the shard writer:
after an interruption, running the same command again resumes after the last finished photo;
``overwrite=True`` starts afresh. Resuming with different settings is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from training.datasets.shards import INDEX_NAME, ShardWriter, read_index
from training.synth.coarse import CoarseConfig, generate_coarse
from training.synth.common import PhotoFit, load_photo_fit, select_shard_by_name
from training.synth.fine import FineConfig, generate_fine
from training.synth.motion import MotionModel
from training.synth.tracking import TrackingConfig, generate_tracking

__all__ = ["KINDS", "dataset_root", "run_synthesis"]

KINDS = ("coarse", "fine", "tracking")

#: RMS coefficient (sigma units) above which a fit is reported as implausible.
WARN_COEFF_RMS = 4.0


def coefficient_rms(params: Any) -> dict[str, float]:
    """RMS of the identity and expression coefficients of a fit (sigma units).

    Args:
        params: FaceParams.

    Returns:
        ``{"id": ..., "exp": ...}``.
    """
    return {
        "id": float(np.sqrt(np.mean(np.square(params.alpha_id)))) if len(params.alpha_id) else 0.0,
        "exp": float(np.sqrt(np.mean(np.square(params.alpha_exp))))
        if len(params.alpha_exp)
        else 0.0,
    }


def dataset_root(
    out: str | pathlib.Path, kind: str, shard: tuple[int, int] = (0, 1)
) -> pathlib.Path:
    """Where ``kind`` (part ``shard``) is written under ``out``."""
    root = pathlib.Path(out) / kind
    i, n = shard
    return root if n == 1 else root / f"part-{i:02d}-of-{n:02d}"


def _jsonable(obj: Any) -> Any:
    return json.loads(
        json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


def run_synthesis(
    kind: str,
    fits_dir: str | pathlib.Path,
    out: str | pathlib.Path,
    model: Any,
    *,
    per_photo: int = 20,
    shard: tuple[int, int] = (0, 1),
    seed: int = 0,
    overwrite: bool = False,
    motion: MotionModel | None = None,
    coarse_cfg: CoarseConfig | None = None,
    fine_cfg: FineConfig | None = None,
    tracking_cfg: TrackingConfig | None = None,
    photos: dict[str, np.ndarray] | None = None,
    samples_per_shard: int = 256,
    max_coeff_rms: float | None = None,
    names: Sequence[str] | None = None,
    detail_sources: Sequence[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate one dataset kind from every complete fit in ``fits_dir``.

    Args:
        kind: ``"coarse"``, ``"fine"`` or ``"tracking"``.
        fits_dir: Folder of fits (``training.inverse_render`` output).
        out: Output folder; the dataset goes to :func:`dataset_root`.
        model: MorphableModel the fits were made with.
        per_photo: Samples per photo (overrides the configs' ``per_photo``).
        shard: ``(i, n)``: process every n-th photo starting at i.
        seed: Global seed; every sample has its own stream derived from it.
        overwrite: Replace an existing dataset instead of resuming it.
        motion: Tracking motion distributions (default: the shipped file).
        coarse_cfg: CoarseNet settings (also define the tracking set's current frames).
        fine_cfg: FineNet settings.
        tracking_cfg: Tracking settings.
        photos: Optional in-memory photos by fit name (float32 RGB [0, 1]) for fits whose
            ``source`` is not a file.
        samples_per_shard: Shard size.
        max_coeff_rms: Skip fits whose RMS identity or expression coefficient (sigma units)
            exceeds this (implausible under the N(0, I) prior); None keeps every fit. Fits above
            :data:`WARN_COEFF_RMS` are always reported.
        names: Use only these fits (e.g. those accepted by the data engine's quality gate);
            None = every complete fit in ``fits_dir``.
        detail_sources: FineNet only: the fits whose displacement maps are transferred (the
            paper's dataset B of detailed faces); None = every fit used.
        progress: Show tqdm bars.
        log: Message sink.

    Returns:
        Summary: ``root``, ``photos`` (processed), ``skipped`` (already done), ``rejected``
        (over ``max_coeff_rms``), ``coeff_rms`` per fit, ``samples`` (total in the dataset),
        ``seconds``.

    Raises:
        ValueError: Unknown kind, no fits, or resuming with different settings.
        FileNotFoundError: ``fits_dir`` missing.
    """
    from tqdm import tqdm

    from training.inverse_render.fit_result import list_fits

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    fits_dir = pathlib.Path(fits_dir)
    if not fits_dir.is_dir():
        raise FileNotFoundError(f"fits folder {fits_dir} does not exist")
    complete = list_fits(fits_dir)
    if names is None:
        names = complete
    else:
        have = set(complete)
        missing = [n for n in names if n not in have]
        if missing:
            raise ValueError(f"{len(missing)} requested fits are not in {fits_dir}: {missing[:5]}")
        names = list(names)
    if not names:
        raise ValueError(f"no complete fits in {fits_dir}")
    coarse_cfg = dataclasses.replace(coarse_cfg or CoarseConfig(), per_photo=per_photo)
    fine_cfg = dataclasses.replace(fine_cfg or FineConfig(), per_photo=per_photo)
    tracking_cfg = tracking_cfg or TrackingConfig()
    if kind == "tracking" and motion is None:
        motion = MotionModel.load()
    config: dict[str, Any] = {
        "kind": kind,
        "seed": seed,
        "per_photo": per_photo,
        "shard": list(shard),
        "max_coeff_rms": max_coeff_rms,
        # photos are split by a hash of their name: a part keeps its photos when fits are added
        "split": "crc32",
    }
    if kind in ("coarse", "tracking"):
        config["coarse"] = dataclasses.asdict(coarse_cfg)
    if kind == "fine":
        config["fine"] = dataclasses.asdict(fine_cfg)
    if kind == "tracking":
        assert motion is not None
        config["tracking"] = dataclasses.asdict(tracking_cfg)
        config["motion"] = motion.to_dict()
    config = _jsonable(config)
    from training.inverse_render.fit_result import fit_paths, load_fit

    root = dataset_root(out, kind, shard)
    digests = {
        n: hashlib.sha256(fit_paths(fits_dir, n)["json"].read_bytes()).hexdigest()[:16]
        for n in names
    }
    attrs = {
        "model_id": model.data.model_id,
        "dims": {"n_id": model.n_id, "n_exp": model.n_exp, "n_alb": model.n_alb},
        "generator": f"training.synth.{kind}",
        "config": config,
        "fits": str(fits_dir),
        "fit_digests": digests,
    }
    append = (root / INDEX_NAME).exists() and not overwrite
    if append:
        old = read_index(root).get("attrs", {})
        if old.get("config") != config or old.get("model_id") != attrs["model_id"]:
            raise ValueError(
                f"{root} was generated with other settings/model; pass overwrite=True "
                "(--overwrite) to regenerate it"
            )
        changed = sorted(n for n, d in old.get("fit_digests", {}).items() if digests.get(n, d) != d)
        if changed:
            raise ValueError(
                f"{root}: the fits {changed} changed since this dataset was generated; pass "
                "overwrite=True (--overwrite) to regenerate it"
            )
    # Parameters only (expressions and lights to borrow, coefficient checks): the full fit of
    # each photo is loaded when its samples are made.
    fits = {n: load_fit(fit_paths(fits_dir, n)["json"], arrays=()) for n in names}
    rms = {n: coefficient_rms(f.params) for n, f in fits.items()}
    rejected = []
    for n, r in rms.items():
        worst = max(r.values())
        if worst > WARN_COEFF_RMS:
            log(
                f"warning: fit {n!r} has RMS coefficients id {r['id']:.1f}, exp {r['exp']:.1f} "
                "sigma (implausible under the N(0, I) prior; re-posed renders will be distorted)"
            )
        if max_coeff_rms is not None and worst > max_coeff_rms:
            rejected.append(n)
    if rejected:
        log(f"skipping {len(rejected)} fit(s) over max_coeff_rms={max_coeff_rms}: {rejected}")
        names = [n for n in names if n not in rejected]
        if not names:
            raise ValueError(f"every fit in {fits_dir} exceeds max_coeff_rms={max_coeff_rms}")
    mine = select_shard_by_name(names, *shard)
    t0 = time.time()
    cache: dict[str, PhotoFit] = {}

    def get(name: str) -> PhotoFit:
        if name not in cache:
            cache[name] = load_photo_fit(
                fits_dir, name, model, None if photos is None else photos.get(name)
            )
        return cache[name]

    all_exps = [fits[m].params.alpha_exp for m in names]
    all_lights = [fits[m].params.gamma for m in names]
    position = {n: i for i, n in enumerate(names)}

    def others(values: list[np.ndarray], name: str) -> list[np.ndarray]:
        i = position[name]
        return values[:i] + values[i + 1 :]

    sources: list[Any] = []
    if kind == "fine":
        keys = ("displacement_mm", "face_mask", "vertex_uv", "vertex_visible")
        sources = [
            load_fit(fit_paths(fits_dir, n)["json"], arrays=keys)
            for n in (names if detail_sources is None else detail_sources)
        ]

    done = skipped = 0
    # Images are stored, not deflated (8 % smaller, 5.6x slower writes, 2.9x slower reads);
    # the FineNet set's float maps, mostly zeros outside the face, are deflated.
    with ShardWriter(
        root,
        kind,
        samples_per_shard,
        overwrite=overwrite,
        append=append,
        attrs=attrs,
        compress=kind == "fine",
    ) as writer:
        bar = tqdm(mine, desc=f"{kind} photos", disable=not progress, unit="photo")
        for name in bar:
            if writer.is_done(name):
                skipped += 1
                continue
            pf = get(name)
            exps, lights = others(all_exps, name), others(all_lights, name)
            if kind == "coarse":
                gen = generate_coarse(pf, model, coarse_cfg, seed, exps, lights)
            elif kind == "tracking":
                assert motion is not None
                gen = generate_tracking(
                    pf, model, coarse_cfg, tracking_cfg, motion, seed, exps, lights
                )
            else:
                gen = generate_fine(pf, sources, model, fine_cfg, seed)
            with writer.unit(name):
                for sample in tqdm(
                    gen, total=per_photo, desc=name, leave=False, disable=not progress
                ):
                    writer.add(sample)
            done += 1
            cache.pop(name, None)
    summary = {
        "root": str(root),
        "photos": done,
        "skipped": skipped,
        "rejected": rejected,
        "coeff_rms": {n: {k: round(v, 2) for k, v in r.items()} for n, r in rms.items()},
        "samples": read_index(root)["num_samples"],
        "seconds": round(time.time() - t0, 1),
    }
    log(f"{kind}: {summary}")
    return summary
