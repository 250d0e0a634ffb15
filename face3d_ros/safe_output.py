# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Output folders of the offline tools: never delete what the user gave.

Rules shared by ``face3d-replay`` and ``face3d-demo`` (docs/node.md):

* An output equal to an input, inside an input folder, or containing an input is refused,
  whatever the flags (:func:`check_no_overlap`).
* Every output folder a tool writes holds a marker file, :data:`MARKER` (JSON: the tool's name,
  whether the output is complete, and why not). ``--overwrite`` replaces only an empty folder or
  one with that tool's marker whose entries all belong to the tool's own layout
  (:func:`check_replaceable`); anything else is refused with the reason, and nothing is deleted.
* :func:`remove_own` deletes only the entries of that layout, one by one.

ROS-free; pathlib only.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import pathlib
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "MARKER",
    "OutputError",
    "check_no_overlap",
    "check_replaceable",
    "read_marker",
    "remove_own",
    "write_marker",
]

#: Name of the marker file a tool writes into each of its output folders.
MARKER = "face3d_output.json"


class OutputError(RuntimeError):
    """An output path that must not be written or replaced; the message says why."""


def _resolved(path: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(path).expanduser().resolve()


def check_no_overlap(out: pathlib.Path, inputs: Iterable[pathlib.Path]) -> None:
    """Refuse an output that is an input, lies inside an input folder or contains an input.

    Symbolic links are resolved first, so a link to the input is the input.

    Args:
        out: the output folder.
        inputs: input files or folders.

    Raises:
        OutputError: naming the input concerned.
    """
    o = _resolved(out)
    for item in inputs:
        i = _resolved(item)
        if o == i:
            raise OutputError(f"output {out} is the input {item}; choose another output")
        if i.is_dir() and i in o.parents:
            raise OutputError(f"output {out} lies inside the input {item}; choose another output")
        if o in i.parents:
            raise OutputError(
                f"output {out} contains the input {item}; choose another output"
            )


def read_marker(folder: pathlib.Path) -> dict[str, Any] | None:
    """The marker of ``folder`` as a dict, or None when there is none (or it is not JSON)."""
    path = pathlib.Path(folder) / MARKER
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_marker(folder: pathlib.Path, tool: str, *, complete: bool, **info: Any) -> None:
    """Write (or rewrite) the marker of ``folder``.

    Args:
        folder: an output folder the tool created.
        tool: the tool's name (e.g. ``face3d-replay``).
        complete: whether the output is finished.
        **info: more JSON-serialisable facts (frames, reason, input, ...).
    """
    doc = {"tool": tool, "complete": bool(complete),
           "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **info}
    (pathlib.Path(folder) / MARKER).write_text(json.dumps(doc, indent=2) + "\n")


def _foreign(folder: pathlib.Path, layout: Sequence[str]) -> list[str]:
    """Entries of ``folder`` that match none of the ``layout`` patterns (or are links)."""
    names = [MARKER, *layout]
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not any(fnmatch.fnmatchcase(entry.name, n) for n in names):
            out.append(entry.name)
    return out


def check_replaceable(
    out: pathlib.Path, tool: str, layout: Sequence[str], *, overwrite: bool
) -> bool:
    """Check that ``out`` may be written: absent, an empty folder, or (with ``overwrite``) ours.

    Args:
        out: the output folder.
        tool: the tool's name, as written in its marker.
        layout: glob patterns of the entries the tool writes (the marker is always included).
        overwrite: the user's ``--overwrite``.

    Returns:
        True when ``out`` holds an earlier output of the tool that must be removed first
        (:func:`remove_own`), False when there is nothing to remove.

    Raises:
        OutputError: ``out`` exists and may not be replaced (the reason says why).
    """
    out = pathlib.Path(out)
    if not (out.exists() or out.is_symlink()):
        return False
    if out.is_symlink() or not out.is_dir():
        raise OutputError(f"output {out} exists and is not a folder; it is never replaced")
    if not any(out.iterdir()):
        return False
    if not overwrite:
        raise OutputError(f"output {out} exists and is not empty; pass --overwrite to replace it")
    marker = read_marker(out)
    if marker is None or marker.get("tool") != tool:
        raise OutputError(
            f"refusing to replace {out}: it was not written by {tool} (no {MARKER} of {tool}); "
            "--overwrite only replaces the tool's own output"
        )
    foreign = _foreign(out, layout)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(
            f"refusing to replace {out}: it holds entries {tool} did not write ({shown}); "
            "move them away first"
        )
    return True


def remove_own(out: pathlib.Path, tool: str, layout: Sequence[str]) -> None:
    """Delete an earlier output of ``tool`` (checked again first), then the emptied folder.

    Raises:
        OutputError: the folder is not (or no longer) the tool's own output.
    """
    out = pathlib.Path(out)
    if not check_replaceable(out, tool, layout, overwrite=True):
        if out.is_dir():
            out.rmdir()
        return
    for entry in sorted(out.iterdir(), key=lambda e: e.name == MARKER):  # marker last
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    out.rmdir()
