# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Photo sources of the data engine: ``NAME=FOLDER[:LIMIT]``, listed deterministically.

Every photo gets the name ``<source>-<stem>``, unique across sources, which is the name of its
prepared copy, its fit and its samples. Folders that hold an evaluation set are refused: the
networks are measured on them (``training.benchmark_real``) and must never be trained on them.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

__all__ = [
    "EVALUATION_FOLDER_NAMES",
    "IMAGE_SUFFIXES",
    "PhotoSource",
    "default_sources",
    "list_photos",
    "parse_source",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")

#: A source folder with one of these names anywhere in its path is an evaluation set.
EVALUATION_FOLDER_NAMES = ("frl",)


@dataclasses.dataclass(frozen=True)
class PhotoSource:
    """One folder of photos.

    Attributes:
        name: Short name, used as the prefix of every photo's name (letters, digits, ``-_``).
        folder: The folder (non-recursive).
        limit: Take at most this many photos (a seeded subset of the sorted list); None = all.
        aligned_box: For folders of aligned face crops (FairFace: dlib chips with padding
            0.25), the face box as this fraction of the side, centred; used with the landmark
            predictor when the detector misses the face. None: no such prior.
    """

    name: str
    folder: pathlib.Path
    limit: int | None = None
    aligned_box: float | None = None

    def __post_init__(self) -> None:
        """Validate the name, the limit and refuse evaluation folders.

        Raises:
            ValueError: On a bad name or limit, or an evaluation folder.
        """
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ValueError(f"source name must be letters, digits, '-' or '_', got {self.name!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"source {self.name}: limit must be >= 1, got {self.limit}")
        parts = {p.lower() for p in pathlib.Path(self.folder).resolve().parts}
        bad = parts.intersection(EVALUATION_FOLDER_NAMES)
        if bad:
            raise ValueError(
                f"source {self.name}: {self.folder} is inside an evaluation set ({sorted(bad)}); "
                "evaluation photos are never used for training"
            )


def parse_source(text: str) -> PhotoSource:
    """Parse ``NAME=FOLDER[:LIMIT]``.

    Raises:
        ValueError: On malformed text.
    """
    if "=" not in text:
        raise ValueError(f"--source must look like NAME=FOLDER[:LIMIT], got {text!r}")
    name, rest = text.split("=", 1)
    limit = None
    head, sep, tail = rest.rpartition(":")
    if sep and tail.isdigit():
        rest, limit = head, int(tail)
    return PhotoSource(name.strip(), pathlib.Path(rest), limit)


def default_sources(data_dir: str | pathlib.Path, fairface_limit: int = 3000) -> list[PhotoSource]:
    """Dataset A of the shared real-photo folder (see its README): FairFace, -wide, Congress.

    Args:
        data_dir: The ``data`` folder (``faces/fairface/train``, ``faces/fairface-wide``,
            ``faces/congress`` inside it).
        fairface_limit: Photos taken from the 12,000 tight FairFace crops.
    """
    root = pathlib.Path(data_dir) / "faces"
    return [
        PhotoSource("fairface", root / "fairface" / "train", fairface_limit, 1.0 / 1.5),
        PhotoSource("fairface-wide", root / "fairface-wide"),
        PhotoSource("congress", root / "congress"),
    ]


def list_photos(source: PhotoSource, seed: int = 0) -> list[tuple[str, pathlib.Path]]:
    """``(name, path)`` of the source's photos: sorted, or a seeded sorted subset of ``limit``.

    Raises:
        FileNotFoundError: When the folder does not exist.
        ValueError: When it holds no photo.
    """
    folder = pathlib.Path(source.folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"source {source.name}: folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"source {source.name}: no photos in {folder}")
    if source.limit is not None and source.limit < len(paths):
        rng = np.random.default_rng([seed, len(paths)])
        keep = np.sort(rng.choice(len(paths), size=source.limit, replace=False))
        paths = [paths[i] for i in keep]
    return [(f"{source.name}-{p.stem}", p) for p in paths]
