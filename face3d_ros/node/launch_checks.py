# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Checks the launch file runs before it starts anything (no launch import here).

``ros2 launch face3d_ros face3d.launch.py rviz:=true`` on a machine without rviz2 used to start
face3d_node first and fail afterwards, leaving the node running. The launch file now resolves
every optional executable it was asked for before the first process starts.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["missing_executable", "truthy"]


def truthy(text: str) -> bool:
    """A launch argument's boolean value (``true``/``1``/``yes``/``on``, any case)."""
    return str(text).strip().lower() in ("true", "1", "yes", "on")


def missing_executable(package: str, executable: str) -> str | None:
    """Why ``ros2 run package executable`` would fail here, or None when it would start.

    Looks the package up in the ament index (``AMENT_PREFIX_PATH``) and the executable in
    ``<prefix>/lib/<package>/``, as launch_ros does.
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError as exc:
        return f"ament_index_python is not installed ({exc})"
    try:
        prefix = Path(get_package_prefix(package))
    except (PackageNotFoundError, ValueError) as exc:
        return (f"package {package!r} is not installed ({type(exc).__name__}: {exc}); install "
                f"it or start without it")
    path = prefix / "lib" / package / executable
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"{package} is installed in {prefix} but has no executable {executable!r}"
    return None
