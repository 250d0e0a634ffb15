# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Static checks of launch/face3d.launch.py, config/face3d.yaml and config/face3d.rviz.

launch / launch_ros are not installable here, so the launch file is checked by its syntax tree
(and executed only where launch_ros is importable).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pathlib

import pytest
import yaml

from face3d_ros.node.builders import serialize_mesh_marker
from face3d_ros.node.parameters import PARAMETERS
from face3d_ros.node.topics import OUTPUT_TOPICS, TF_TOPIC

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "face3d.launch.py"
PARAMS = ROOT / "config" / "face3d.yaml"
RVIZ = ROOT / "config" / "face3d.rviz"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (
                isinstance(f, ast.Attribute) and f.attr == name
            ):
                out.append(node)
    return out


def test_launch_file_syntax_and_arguments() -> None:
    """Parses; defines generate_launch_description; every argument has a description."""
    tree = ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in funcs
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        name = ast.literal_eval(call.args[0])
        kw = {k.arg: k.value for k in call.keywords}
        assert "description" in kw and ast.literal_eval(kw["description"]).strip(), name
        assert "default_value" in kw, name
        declared[name] = kw
    assert {"image_topic", "camera_info_topic", "namespace", "params_file", "use_sim_time",
            "rviz", "autostart"} <= set(declared)
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, "LaunchConfiguration")}
    assert used <= set(declared), used - set(declared)
    nodes = _calls(tree, "LifecycleNode")
    assert len(nodes) == 1
    kw = {k.arg: k.value for k in nodes[0].keywords}
    assert ast.literal_eval(kw["executable"]) == "face3d_node"
    remaps = [ast.literal_eval(e.elts[0]) for e in kw["remappings"].elts]
    assert remaps == ["image", "camera_info"]
    assert _calls(tree, "IfCondition"), "rviz must be optional"
    # No work at launch time: no subprocess / os.system / installers.
    src = LAUNCH.read_text()
    for forbidden in ("subprocess", "os.system", "pip ", "ExecuteProcess"):
        assert forbidden not in src


def test_launch_file_references_exist() -> None:
    """Files the launch file joins under the package share exist in the source tree."""
    tree = ast.parse(LAUNCH.read_text())
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = [ast.literal_eval(e) for e in call.args[0].elts[1:]]
        assert (ROOT.joinpath(*parts)).is_file(), parts
    assert PARAMS.is_file() and RVIZ.is_file()


def test_params_yaml_matches_declarations() -> None:
    """config/face3d.yaml lists exactly the declared parameters, with their defaults' types."""
    doc = yaml.safe_load(PARAMS.read_text())
    params = doc["/**"]["ros__parameters"]
    specs = {p.name: p for p in PARAMETERS}
    assert set(params) == set(specs)
    for name, value in params.items():
        default = specs[name].default
        assert type(value) is type(default), (name, value, default)
        assert value == default, f"{name}: yaml {value!r} != declared default {default!r}"


def test_rviz_config_topics() -> None:
    """The rviz config shows the overlay, displacement, every face's mesh and the face frames."""
    doc = yaml.safe_load(RVIZ.read_text())
    displays = doc["Visualization Manager"]["Displays"]
    topics = {d["Class"].split("/")[-1] + ":" + d["Topic"]["Value"] for d in displays
              if "Topic" in d}
    assert {"Image:/overlay", "Image:/displacement", "Marker:/face_mesh"} <= topics
    # one marker per face, all in the builders' namespace (id = person id): the Marker display
    # must have that namespace enabled and no other one configured
    namespace = inspect.signature(serialize_mesh_marker).parameters["namespace"].default
    (marker,) = [d for d in displays if d["Class"] == "rviz_default_plugins/Marker"]
    assert marker["Enabled"] and marker.get("Namespaces", {namespace: True}) == {namespace: True}
    # the head poses on /tf (face_<id> frames), names shown, no frame disabled
    tf = [d for d in displays if d["Class"] == "rviz_default_plugins/TF"]
    assert len(tf) == 1, "rviz config needs one TF display for the face frames"
    assert tf[0]["Enabled"] and tf[0]["Value"] and tf[0]["Show Names"] and tf[0]["Show Axes"]
    assert tf[0]["Frames"] == {"All Enabled": True}


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros missing")
def test_launch_description_builds() -> None:
    """Where launch_ros exists, the description builds (not run here: no launch_ros wheel)."""
    spec = importlib.util.spec_from_file_location("face3d_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate_launch_description().entities


def test_docs_list_every_parameter_and_topic() -> None:
    """docs/node.md documents every declared parameter and every topic."""
    text = (ROOT / "docs" / "node.md").read_text()
    for spec in PARAMETERS:
        assert f"`{spec.name}`" in text, spec.name
    for topic in ("image", "camera_info", *OUTPUT_TOPICS, TF_TOPIC[0], "/diagnostics"):
        assert f"`{topic}`" in text, topic


def test_rviz_is_resolved_before_the_node_starts() -> None:
    """rviz:=true without rviz2 must fail before face3d_node is started (issue 12 item 16)."""
    tree = ast.parse(LAUNCH.read_text())
    func = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description")
    ret = next(n for n in ast.walk(func) if isinstance(n, ast.Return))
    items = ret.value.args[0].elts
    names = [ast.unparse(e) for e in items]
    check = names.index("OpaqueFunction(function=_require_rviz)")
    assert check < names.index("rviz") < names.index("face3d"), names
    require = next(n for n in tree.body
                   if isinstance(n, ast.FunctionDef) and n.name == "_require_rviz")
    src = ast.unparse(require)
    assert "missing_executable('rviz2', 'rviz2')" in src and "raise" in src


def test_missing_executable_check() -> None:
    from face3d_ros.node.launch_checks import missing_executable, truthy

    assert "not installed" in missing_executable("face3d_no_such_package", "x")
    assert truthy("True") and truthy("1") and not truthy("false")
    found = missing_executable("face3d_ros", "face3d_node")
    if found is None:  # the install space of this package is on AMENT_PREFIX_PATH
        assert "no executable" in missing_executable("face3d_ros", "no_such_tool")
