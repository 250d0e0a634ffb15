# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The benchmark's photo and video sets (read from a data folder, never copied).

Layout expected under the data root (``../shared/data`` relative to the repository by default;
see that folder's README.md)::

    faces/frl/{neutral,canada,composite}/*.jpg + .pts   68 manual iBUG landmarks
    faces/frl/smiling/*.jpg                              the neutral people smiling
    faces/fairface-wide/*.jpg                            448x448 wide-context faces
    video/WolfgangLanger_Pexels.mp4, video/single_face.mp4

Person ids: ``neutral/001_03.jpg`` and ``smiling/001_08.jpg`` are the same person ``001`` (the
part of the file stem before the first underscore).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FRL_LANDMARK_SETS",
    "VIDEOS",
    "Photo",
    "default_data_root",
    "list_photos",
    "person_id",
    "read_pts",
    "read_rgb",
]

#: FRL sub-folders with manual 68-point annotations.
FRL_LANDMARK_SETS = ("neutral", "canada", "composite")
#: Video files of the video set (under ``video/``).
VIDEOS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Photo:
    """One photo of a set.

    Attributes:
        set: Set name (``frl/neutral``, ``smiling``, ``fairface-wide``, ...).
        name: File stem.
        path: Image file.
        pts: Manual 68-point annotation file or None.
    """

    set: str
    name: str
    path: pathlib.Path
    pts: pathlib.Path | None = None


def default_data_root() -> pathlib.Path:
    """``<repository>/../shared/data`` (resolved from this file's location at run time)."""
    return pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"


def person_id(stem: str) -> str:
    """Person id of an FRL London file stem (``001_03`` -> ``001``)."""
    return stem.split("_", 1)[0]


def read_pts(path: str | pathlib.Path) -> np.ndarray:
    """IBUG ``.pts`` (1-based pixel coordinates) as ``[M, 2]`` 0-based pixels.

    Raises:
        ValueError: A malformed file (no ``{ ... }`` block, or rows that are not two numbers).
    """
    lines = [ln.strip() for ln in pathlib.Path(path).read_text().splitlines()]
    try:
        start, end = lines.index("{") + 1, lines.index("}")
        pts = np.array([[float(v) for v in ln.split()] for ln in lines[start:end] if ln])
    except ValueError as exc:
        raise ValueError(f"{path}: not an iBUG .pts file ({exc})") from exc
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"{path}: expected rows of two coordinates, got shape {pts.shape}")
    return pts - 1.0


def read_rgb(path: str | pathlib.Path) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB of an image file.

    Raises:
        ValueError: The file cannot be decoded.
    """
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


def _images(folder: pathlib.Path) -> list[pathlib.Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def list_photos(
    folder: str | pathlib.Path, set_name: str, *, need_pts: bool, limit: int | None = None
) -> list[Photo]:
    """Photos of one folder, sorted by name.

    Args:
        folder: Folder with images (and ``.pts`` beside them).
        set_name: Name recorded in each :class:`Photo`.
        need_pts: Only photos with a ``.pts`` file (and record it).
        limit: At most this many (the first ones by name).

    Returns:
        The photos.

    Raises:
        FileNotFoundError: Missing folder, or a folder without any usable photo.
    """
    folder = pathlib.Path(folder)
    out = []
    for img in _images(folder):
        pts = img.with_suffix(".pts")
        if need_pts and not pts.is_file():
            continue
        out.append(Photo(set_name, img.stem, img, pts if pts.is_file() else None))
    if not out:
        what = "photos with .pts annotations" if need_pts else "photos"
        raise FileNotFoundError(f"no {what} in {folder}")
    return out[:limit] if limit is not None else out
