# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the sharded dataset format (training/datasets/shards.py)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from training.datasets.shards import (
    CorruptShardError,
    ShardDataset,
    ShardWriter,
    merge_datasets,
    read_index,
)


def _fine(i: int) -> dict[str, np.ndarray]:
    """A tiny-valued but contract-shaped ``fine`` sample tagged by ``i``."""
    gray = np.full((256, 256), i / 100.0, np.float32)
    return {
        "gray": gray,
        "coarse_depth": np.zeros((256, 256), np.float32),
        "mask": np.full((256, 256), i % 2, np.uint8),
        "displacement": np.full((256, 256), -i, np.float32),
    }


def _coarse(i: int, k: tuple[int, int, int] = (4, 3, 2)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "image": rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
        "alpha_id": np.full(k[0], i, np.float32),
        "alpha_exp": np.zeros(k[1], np.float32),
        "pose": np.arange(6, dtype=np.float32) + i,
        "alpha_alb": np.zeros(k[2], np.float32),
        "gamma": np.zeros(27, np.float32),
    }


def _tags(ds: ShardDataset) -> list[int]:
    return [int(round(-ds[i]["displacement"][0, 0])) for i in range(len(ds))]


def test_round_trip_index_and_torch(tmp_path: pathlib.Path) -> None:
    """Samples come back bit-exact, the index lists counts and keys, torch collates."""
    root = tmp_path / "coarse"
    with ShardWriter(root, "coarse", samples_per_shard=3, attrs={"model_id": "m1"}) as w:
        for i in range(7):
            w.add(_coarse(i))
    index = json.loads((root / "index.json").read_text())
    assert index["num_samples"] == 7 and index["complete"] is True
    assert [s["count"] for s in index["shards"]] == [3, 3, 1]
    assert index["keys"]["image"] == {"shape": [224, 224, 3], "dtype": "uint8"}
    assert index["keys"]["alpha_id"]["shape"] == [4]
    ds = ShardDataset(root, "coarse")
    assert len(ds) == 7 and ds.model_id == "m1" and ds.num_shards == 3
    for i in (0, 4, 6, -1):
        want = _coarse(i % 7)
        got = ds[i]
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    with pytest.raises(IndexError):
        ds[7]
    ds.verify()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch["image"].shape == (4, 224, 224, 3) and batch["image"].dtype == torch.uint8
    with pytest.raises(ValueError, match="holds a coarse dataset"):
        ShardDataset(root, "fine")


def test_schema_validation(tmp_path: pathlib.Path) -> None:
    """Wrong dtype/shape/missing keys are refused with the key named; no casting."""
    w = ShardWriter(tmp_path / "c", "coarse")
    bad = _coarse(0)
    bad["pose"] = bad["pose"].astype(np.float64)
    with pytest.raises(ValueError, match="'pose' has dtype float64"):
        w.add(bad)
    bad = _coarse(0)
    bad["image"] = bad["image"][:100]
    with pytest.raises(ValueError, match="'image' has shape"):
        w.add(bad)
    bad = _coarse(0)
    del bad["gamma"]
    with pytest.raises(ValueError, match="lacks required keys"):
        w.add(bad)
    w.add(_coarse(0))
    with pytest.raises(ValueError, match="alpha_id"):
        w.add(_coarse(1, k=(5, 3, 2)))  # free dims are fixed by the first sample
    w.close()
    with pytest.raises(ValueError, match="unknown dataset kind"):
        ShardWriter(tmp_path / "x", "nope")


def test_refuses_to_overwrite(tmp_path: pathlib.Path) -> None:
    """An existing dataset is only replaced with overwrite=True."""
    root = tmp_path / "fine"
    with ShardWriter(root, "fine") as w:
        w.add(_fine(1))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ShardWriter(root, "fine")
    with ShardWriter(root, "fine", overwrite=True) as w:
        w.add(_fine(2))
        w.add(_fine(3))
    assert _tags(ShardDataset(root)) == [2, 3]
    assert sorted(p.name for p in root.iterdir()) == ["fine-00000.npz", "index.json"]
    with pytest.raises(ValueError, match="cannot append"):
        ShardWriter(root, "coarse", append=True)


def test_corrupt_shard_errors(tmp_path: pathlib.Path) -> None:
    """Truncated, garbage or missing shards and a bad index raise CorruptShardError."""
    root = tmp_path / "fine"
    with ShardWriter(root, "fine", samples_per_shard=2) as w:
        for i in range(4):
            w.add(_fine(i))
    shard = root / "fine-00001.npz"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptShardError, match="truncated"):
        ShardDataset(root)
    shard.write_bytes(b"\0" * len(data))  # same size, garbage content
    ds = ShardDataset(root)
    assert [int(-ds[i]["displacement"][0, 0]) for i in (0, 1)] == [0, 1]  # intact shard
    with pytest.raises(CorruptShardError, match="fine-00001.npz"):
        ds[2]
    with pytest.raises(CorruptShardError, match="sha256"):
        ds.verify()
    shard.unlink()
    with pytest.raises(CorruptShardError, match="missing"):
        ShardDataset(root)
    (root / "index.json").write_text("{not json")
    with pytest.raises(CorruptShardError, match="not valid JSON"):
        ShardDataset(root)
    with pytest.raises(FileNotFoundError):
        ShardDataset(tmp_path / "nowhere")


def test_units_resume_after_crash(tmp_path: pathlib.Path) -> None:
    """A crash loses only the unfinished unit; append=True resumes and skips done units."""
    root = tmp_path / "fine"
    with pytest.raises(RuntimeError, match="boom"):
        with ShardWriter(root, "fine", samples_per_shard=3) as w:
            for unit in range(4):
                with w.unit(f"photo{unit}"):
                    for k in range(2):
                        if unit == 2 and k == 1:
                            raise RuntimeError("boom")
                        w.add(_fine(10 * unit + k))
    index = read_index(root)
    # unit 0+1 (4 samples >= 3) were flushed at a unit boundary; unit 2 was never written
    assert index["units_done"] == ["photo0", "photo1"] and index["complete"] is False
    assert _tags(ShardDataset(root)) == [0, 1, 10, 11]
    with ShardWriter(root, "fine", samples_per_shard=3, append=True) as w:
        assert w.is_done("photo1") and not w.is_done("photo2")
        for unit in range(4):
            if w.is_done(f"photo{unit}"):
                continue
            with w.unit(f"photo{unit}"):
                for k in range(2):
                    w.add(_fine(10 * unit + k))
        with pytest.raises(ValueError, match="already done"):
            with w.unit("photo0"):
                pass
    ds = ShardDataset(root)
    assert _tags(ds) == [0, 1, 10, 11, 20, 21, 30, 31] and ds.complete


def test_several_roots_and_merge(tmp_path: pathlib.Path) -> None:
    """Per-process parts read together (list, parent dir, merged index)."""
    parts = [tmp_path / "fine" / f"part-{p:02d}-of-02" for p in range(2)]
    for p, root in enumerate(parts):
        with ShardWriter(root, "fine", samples_per_shard=2) as w:
            for i in range(3):
                w.add(_fine(10 * p + i))
    assert _tags(ShardDataset(parts)) == [0, 1, 2, 10, 11, 12]
    assert _tags(ShardDataset(tmp_path / "fine")) == [0, 1, 2, 10, 11, 12]  # sub-dir discovery
    # a list may mix a set of parts (one job per part) with a plain set
    with ShardWriter(tmp_path / "other", "fine", samples_per_shard=2) as w:
        w.add(_fine(20))
    mixed = ShardDataset([tmp_path / "fine", tmp_path / "other"])
    assert _tags(mixed) == [0, 1, 2, 10, 11, 12, 20]
    with pytest.raises(FileNotFoundError):
        ShardDataset([tmp_path / "fine", tmp_path / "missing"])
    merged = tmp_path / "merged"
    merge_datasets(parts, merged)
    assert _tags(ShardDataset(merged, "fine")) == [0, 1, 2, 10, 11, 12]
    with pytest.raises(FileExistsError):
        merge_datasets(parts, merged)
