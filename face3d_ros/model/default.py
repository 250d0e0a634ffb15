# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Location and loading of the licence-clean default model shipped in the package.

See ``face3d_ros/model/data/PROVENANCE.md`` for what the model is built from and
``training/build_default_model.py`` for the generator.
"""

from __future__ import annotations

import pathlib

from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.io import load_face_model

__all__ = ["DEFAULT_MODEL_FILENAME", "default_model_path", "load_default_model"]

#: File name of the shipped model inside ``face3d_ros/model/data/``.
DEFAULT_MODEL_FILENAME = "face3d_default.npz"


def default_model_path() -> pathlib.Path:
    """Path of the shipped default model file (it may not exist in a broken install).

    Returns:
        ``<package>/face3d_ros/model/data/face3d_default.npz``.
    """
    return pathlib.Path(__file__).resolve().parent / "data" / DEFAULT_MODEL_FILENAME


def load_default_model() -> FaceModelData:
    """Load the shipped default model.

    Returns:
        The validated default :class:`FaceModelData`.

    Raises:
        FileNotFoundError: The data file is missing (regenerate it with
            ``python -m training.build_default_model --out <path>``).
    """
    path = default_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"default face model not found at {path}; regenerate it with "
            "'python -m training.build_default_model --out <path>'"
        )
    return load_face_model(path)
