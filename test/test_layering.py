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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "test") not in sys.path:  # test/fixtures/
    sys.path.insert(0, str(ROOT / "test"))

from fixtures.ros_side import is_ros, is_ros_side, module_imports, module_name  # noqa: E402

PKG = ROOT / "face3d_ros"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        out[module_name(ROOT, path)] = path
    return out


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
        if is_ros_side(name):
            continue
        ros = sorted(i for i in module_imports(name, path, known) if is_ros(i))
        if ros:
            bad.append(f"{name} imports {ros}")
    assert not bad, "ROS imports outside face3d_ros/node/:\n" + "\n".join(bad)


def test_ros_check_flags_the_ros_tools():
    """The check above can fail: the bag replay and the demo (ROS side) import ROS modules."""
    mods = _modules()
    for name in ("face3d_ros.node.replay", "face3d_ros.node.demo"):
        ros = {i for i in module_imports(name, mods[name], set(mods)) if is_ros(i)}
        assert {"rclpy.serialization", "sensor_msgs.msg"} <= ros, (name, ros)


def test_core_never_imports_training():
    mods = _modules()
    bad = [
        name
        for name, path in mods.items()
        if any(
            i == "training" or i.startswith("training.") for i in module_imports(name, path, set())
        )
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
        name: {i for i in module_imports(name, path, known) if i in known and i != name}
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
