#!/usr/bin/env python3
# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Check that every Python and shell file of the checkout starts with the licence header.

Files: tracked plus untracked-but-not-ignored files from ``git ls-files``, ``*.py`` and ``*.sh``
(and extension-less scripts whose shebang names python or bash). The header is the two lines
below, first in the file or directly after a shebang line. Exits 1 and lists the offenders.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

HEADER = (
    "# Copyright 2026 The face3d_ros Authors",
    "# SPDX-License-Identifier: Apache-2.0",
)
SUFFIXES = (".py", ".sh")
SCRIPT_DIRS = ("scripts", "tools", ".ci")


def candidate_files(root: pathlib.Path) -> list[pathlib.Path]:
    """List the files to check: git-visible *.py / *.sh files and shebang scripts.

    Args:
        root: Repository root.

    Returns:
        Sorted paths relative to ``root``.

    Raises:
        RuntimeError: If ``git ls-files`` fails (e.g. not a git checkout).
    """
    result = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git ls-files failed: {result.stderr.decode(errors='replace')}")
    files = []
    for name in sorted(set(result.stdout.decode().split("\0"))):
        if not name:
            continue
        path = pathlib.Path(name)
        if not (root / path).is_file():
            continue  # deleted in the work tree but still in the index
        if path.suffix in SUFFIXES:
            files.append(path)
        elif path.suffix == "" and path.parts[0] in SCRIPT_DIRS and _is_script(root / path):
            files.append(path)
    return files


def _is_script(path: pathlib.Path) -> bool:
    """Tell whether ``path`` starts with a python or bash shebang."""
    with path.open("rb") as handle:
        first = handle.readline(200)
    return first.startswith(b"#!") and (b"python" in first or b"bash" in first)


def has_header(path: pathlib.Path) -> bool:
    """Tell whether the file starts with the licence header (optionally after a shebang).

    Args:
        path: File to read (UTF-8).

    Returns:
        True when the header lines are present in place.
    """
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    return tuple(line.rstrip() for line in lines[: len(HEADER)]) == HEADER


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the offenders.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        0 when every file has the header, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=pathlib.Path,
        default=pathlib.Path(__file__).resolve().parents[1],
        help="repository root (default: the checkout holding this script)",
    )
    args = parser.parse_args(argv)
    files = candidate_files(args.root)
    offenders = [path for path in files if not has_header(args.root / path)]
    for path in offenders:
        print(f"{path}: missing licence header (first lines must be: {' / '.join(HEADER)})")
    if offenders:
        print(f"licence headers: {len(offenders)} of {len(files)} files lack the header")
        return 1
    print(f"licence headers: {len(files)} files OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
