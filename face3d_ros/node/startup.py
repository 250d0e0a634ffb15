# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start-up parameter values that rclpy refuses or rcl drops, as reasons for configure.

Start-up values come from ``--params-file`` YAML files and ``-p name:=value`` items.

rclpy checks a start-up value against the declared type and range when the parameter is
declared and raises, which would end the process before configure; rcl itself silently keeps
the earlier value when a later override (``-p threads:=two`` after a YAML with ``threads: 0``)
has another type. :func:`declare_checked` declares a refused parameter with its default and
returns the reason instead; :func:`mistyped_startup_values` finds the silently dropped ones
by reading the start-up arguments the way rcl does (YAML values).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

__all__ = ["declare_checked", "mistyped_startup_values", "type_problem"]


def type_problem(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` does not have the declared type of ``default`` (ints pass for floats)."""
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if type(value) is expected:
        return None
    return f"{name} must be {expected.__name__}, got {value!r} ({type(value).__name__})"


def declare_checked(node: Any, name: str, default: Any, descriptor: Any) -> str | None:
    """Declare one parameter; a start-up value rclpy refuses gives the default and a reason.

    Returns:
        None, or the reason the start-up value was refused (the parameter then holds
        ``default``).
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    try:
        node.declare_parameter(name, default, descriptor)
        return None
    except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
        node.declare_parameter(name, default, descriptor, ignore_override=True)
        given = getattr(node, "_parameter_overrides", {}).get(name)
        shown = repr(given.value) if given is not None else "?"
        detail = str(exc).split("Reason: ")[-1].strip()
        return (f"start-up value {name}={shown} refused ({detail}); "
                f"{name} keeps its default {default!r} until it is set")


def _ros_args(argv: Sequence[str]) -> list[str]:
    """The tokens inside ``--ros-args ... [--]`` sections."""
    out: list[str] = []
    inside = False
    for token in argv:
        if token == "--ros-args":
            inside = True
        elif token == "--":
            inside = False
        elif inside:
            out.append(token)
    return out


def _yaml_values(path: pathlib.Path, node_name: str) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(path.read_text()) or {}
    values: dict[str, Any] = {}
    if not isinstance(doc, dict):
        return values
    for key, section in doc.items():
        last = str(key).strip("/").split("/")[-1]
        if last in ("**", "*", node_name) and isinstance(section, dict):
            values.update(section.get("ros__parameters") or {})
    return values


def mistyped_startup_values(
    argv: Sequence[str], node_name: str, defaults: dict[str, Any]
) -> dict[str, str]:
    """Reasons for start-up values of our parameters whose type is not the declared one.

    Args:
        argv: the process arguments (``--ros-args`` sections are read).
        node_name: the node's name (YAML sections ``/**``, ``name``, ``/ns/name`` apply).
        defaults: parameter name -> declared default (its type is the declared type).

    Returns:
        name -> reason, for each mistyped value in a ``--params-file`` or a ``-p`` item.
        Unreadable parameter files are left to rcl (which refuses to start on them).
    """
    import yaml

    tokens = _ros_args(argv)
    found: dict[str, str] = {}
    for flag, value in zip(tokens, tokens[1:], strict=False):
        items: dict[str, Any] = {}
        if flag in ("-p", "--param") and ":=" in value:
            name, text = value.split(":=", 1)
            name = name.split(":")[-1]  # node:name:=value applies to that node
            try:
                items[name] = yaml.safe_load(text)
            except yaml.YAMLError:
                items[name] = text
        elif flag == "--params-file":
            try:
                items = _yaml_values(pathlib.Path(value), node_name)
            except (OSError, yaml.YAMLError):
                continue
        for name, given in items.items():
            if name in defaults:
                problem = type_problem(name, given, defaults[name])
                if problem is not None:
                    found[name] = f"start-up value refused: {problem}"
    return found
