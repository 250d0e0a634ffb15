# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Versioned ``.npz`` file format for :class:`FaceModelData` (no pickle).

Layout of a version-1 file (``numpy.savez_compressed``; read with ``allow_pickle=False``):

==================  ==========================  ==========================================
key                 dtype / shape               meaning
==================  ==========================  ==========================================
format_version      int32 []                    :data:`FORMAT_VERSION` (1)
model_id            unicode []                  model identifier
metadata_json       unicode [1]                 JSON object string (provenance, licence...)
mean_shape          float32 [N, 3]              mm
id_basis            float16|float32 [K_id,N,3]  unit-variance directions, mm
id_sigma            float32 [K_id]
exp_basis           float16|float32 [K_exp,N,3]
exp_sigma           float32 [K_exp]
mean_albedo         float32 [N, 3]              linear RGB in [0, 1]
albedo_basis        float16|float32 [K_alb,N,3]
albedo_sigma        float32 [K_alb]
triangles           int32 [F, 3]                counter-clockwise seen from +z
landmark_indices    int32 [68]                  iBUG 68-point order
face_mask           float32 [N]
wrinkle_mask        float32 [N]
==================  ==========================  ==========================================

Bases may be stored as float16 to save space; they are upcast to float32 on load.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from face3d_ros.model.face_model import FaceModelData

__all__ = ["FORMAT_VERSION", "REQUIRED_KEYS", "load_face_model", "save_face_model"]

#: Version written by :func:`save_face_model` and the only version :func:`load_face_model` reads.
FORMAT_VERSION = 1

_ARRAY_FIELDS = (
    "mean_shape",
    "id_basis",
    "id_sigma",
    "exp_basis",
    "exp_sigma",
    "mean_albedo",
    "albedo_basis",
    "albedo_sigma",
    "triangles",
    "landmark_indices",
    "face_mask",
    "wrinkle_mask",
)
_BASIS_FIELDS = ("id_basis", "exp_basis", "albedo_basis")

#: Every key a version-1 file must contain.
REQUIRED_KEYS = ("format_version", "model_id", "metadata_json", *_ARRAY_FIELDS)


def save_face_model(
    data: FaceModelData,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    basis_dtype: str = "float32",
) -> None:
    """Validate ``data`` and write it as a version-1 ``.npz`` file.

    Args:
        data: The model to write.
        path: Destination file (conventionally ending in ``.npz``).
        overwrite: Replace an existing file; otherwise ``FileExistsError``.
        basis_dtype: ``"float32"`` or ``"float16"`` storage for the three bases.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: ``data`` fails validation or ``basis_dtype`` is unknown.
    """
    if basis_dtype not in ("float32", "float16"):
        raise ValueError(f"basis_dtype must be 'float32' or 'float16', got {basis_dtype!r}")
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    data = data.astype32()
    data.validate()
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "model_id": np.array(data.model_id, dtype=np.str_),
        "metadata_json": np.array([json.dumps(data.metadata, sort_keys=True)], dtype=np.str_),
    }
    for key in _ARRAY_FIELDS:
        value = getattr(data, key)
        if key in _BASIS_FIELDS:
            value = value.astype(basis_dtype)
        arrays[key] = value
    tmp = path.with_name(path.name + ".tmp.npz")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)


def load_face_model(path: str | os.PathLike[str]) -> FaceModelData:
    """Read and validate a face model file written by :func:`save_face_model`.

    Args:
        path: A version-1 ``.npz`` model file.

    Returns:
        The model with float32 arrays and int32 indices.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: The file is not a readable ``.npz``, has the wrong version, lacks a key or
            holds a field of the wrong shape/dtype (the message names it).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz face model: {exc}") from exc
    except ValueError as exc:  # object arrays need pickle
        raise ValueError(f"{path}: cannot read without pickle: {exc}") from exc
    if "format_version" not in raw:
        raise ValueError(f"{path}: missing key 'format_version' (not a face3d_ros model file?)")
    version = raw["format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{path}: 'format_version' must be an integer scalar")
    if int(version) != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported format_version {int(version)} (this code reads {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    try:
        metadata: Any = json.loads(str(raw["metadata_json"].reshape(-1)[0]))
    except (json.JSONDecodeError, IndexError) as exc:
        raise ValueError(f"{path}: 'metadata_json' is not a JSON string: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: 'metadata_json' must hold a JSON object")
    fields: dict[str, Any] = {}
    for key in _ARRAY_FIELDS:
        value = raw[key]
        if key in ("triangles", "landmark_indices"):
            if value.dtype.kind not in "iu":
                raise ValueError(f"{path}: field {key!r} must be integer, got {value.dtype}")
            fields[key] = value.astype(np.int32)
        else:
            if value.dtype.kind != "f":
                raise ValueError(f"{path}: field {key!r} must be floating, got {value.dtype}")
            fields[key] = value.astype(np.float32)
    data = FaceModelData(model_id=str(raw["model_id"]), metadata=metadata, **fields)
    try:
        data.validate()
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return data
