# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Find a file of the package's share folder (``msg/``, ``config/``, ``launch/``), once.

Looked up in the installed package share (ament index) first, then in the source tree.
"""

from __future__ import annotations

import pathlib

__all__ = ["share_candidates", "share_file"]


def share_candidates(relative: str) -> list[pathlib.Path]:
    """Where ``relative`` (e.g. ``"config/face3d.yaml"``) may be, in lookup order.

    Args:
        relative: Path inside the share folder.

    Returns:
        The ament share path (when the package is installed) and the source-tree paths.
    """
    tried: list[pathlib.Path] = []
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )

        try:
            tried.append(pathlib.Path(get_package_share_directory("face3d_ros")) / relative)
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    package = pathlib.Path(__file__).resolve().parent.parent  # face3d_ros/
    tried += [package.parent / relative, package / relative]
    return tried


def share_file(relative: str) -> pathlib.Path:
    """The first existing :func:`share_candidates` path.

    Args:
        relative: Path inside the share folder.

    Returns:
        The file.

    Raises:
        FileNotFoundError: Not found; the message lists the paths tried.
    """
    tried = share_candidates(relative)
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"cannot find {relative}; tried: " + ", ".join(map(str, tried)))
