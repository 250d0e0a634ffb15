# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sharded on-disk training datasets (``.npz`` shards + ``index.json``) and their torch readers."""

from training.datasets.shards import (
    KIND_SCHEMAS,
    CorruptShardError,
    ShardDataset,
    ShardWriter,
    merge_datasets,
    read_index,
)

__all__ = [
    "KIND_SCHEMAS",
    "CorruptShardError",
    "ShardDataset",
    "ShardWriter",
    "merge_datasets",
    "read_index",
]
