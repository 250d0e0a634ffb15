# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Static layering of the package: every module of face3d_ros/ is parsed (no imports run).

* Only the ROS side (``face3d_ros/node/``, the generated ``face3d_ros.msg``) may import rclpy,
  ROS message packages (``*_msgs``, ``rcl_interfaces``), rosbag2 or cv_bridge; the ROS-free core
  must not import the ROS side.
* Nothing in face3d_ros imports the offline ``training`` package.
* The module import graph (module-level and function-level imports alike) has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "face3d_ros"
#: Top-level modules that belong to the ROS side.
ROS_MODULES = ("rclpy", "rcl_interfaces", "rosbag2_py", "rosbags", "cv_bridge", "launch",
               "launch_ros", "builtin_interfaces", "rosidl_runtime_py", "message_filters")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        out[_module_name(path)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names imported anywhere in a module (``from a import b`` -> ``a.b`` if a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            for alias in node.names:
                full = f"{mod}.{alias.name}"
                out.add(full if full in known else mod)
    return out


def _is_ros(name: str) -> bool:
    top = name.split(".")[0]
    return (
        top in ROS_MODULES
        or top.endswith("_msgs")
        or name.startswith(("face3d_ros.msg", "face3d_ros.node"))
    )


def _ros_side(name: str) -> bool:
    return name.startswith(("face3d_ros.node", "face3d_ros.msg"))


def test_every_module_is_parsed():
    mods = _modules()
    assert len(mods) > 60 and "face3d_ros.nets.contract" in mods
    # The ROS tools (bag replay, live demo) live on the ROS side.
    assert {"face3d_ros.node.replay", "face3d_ros.node.demo"} <= set(mods)


def test_only_the_ros_side_imports_ros():
    mods = _modules()
    known = set(mods)
    bad = []
    for name, path in mods.items():
        if _ros_side(name):
            continue
        ros = sorted(i for i in _imports(name, path, known) if _is_ros(i))
        if ros:
            bad.append(f"{name} imports {ros}")
    assert not bad, "ROS imports outside face3d_ros/node/:\n" + "\n".join(bad)


def test_core_never_imports_training():
    mods = _modules()
    bad = [
        name
        for name, path in mods.items()
        if any(i == "training" or i.startswith("training.") for i in _imports(name, path, set()))
    ]
    assert not bad, bad


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles():
    mods = _modules()
    known = set(mods)
    graph = {
        name: {i for i in _imports(name, path, known) if i in known and i != name}
        for name, path in mods.items()
    }
    # A package's __init__ re-exporting its submodules is not a cycle of the submodules; drop
    # the edges from a submodule to its own package(s).
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detector_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
