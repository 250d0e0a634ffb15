# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``pip install .`` (setup.py, no ROS) installs exactly what works without ROS (issue 10).

The checkout's ``setup.py``, ``face3d_ros/`` and ``training/`` are linked into a temporary
folder (the build writes ``build/`` and ``*.egg-info`` next to ``setup.py``, never into the
checkout) and installed with ``pip install --no-deps --no-build-isolation --target``. Then:

* the installed packages are the checkout's minus the ROS side (``face3d_ros.node``,
  ``face3d_ros.msg``), with the data files, and no console scripts;
* no installed file imports a ROS module, at module level or inside a function (parsed);
* every installed module imports in a fresh interpreter that sees only the installed folder and
  the third-party packages, with ROS made unimportable (the .venv holds rclpy and the message
  packages, so they are blocked by an import hook), and no ROS module gets loaded.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT / "test") not in sys.path:  # test/fixtures/
    sys.path.insert(0, str(ROOT / "test"))

from fixtures.ros_side import (  # noqa: E402
    ROS_MODULES,
    ROS_SIDE,
    is_ros,
    is_ros_side,
    module_imports,
    module_name,
)

TOP_PACKAGES = ("face3d_ros", "training")


def _link_tree(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Hard-link ``src`` into ``dst`` (copy where links are impossible), without caches."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _packages(root: pathlib.Path) -> set[str]:
    """Dotted names of the packages (folders with ``__init__.py``) of TOP_PACKAGES under root."""
    return {
        module_name(root, init)
        for top in TOP_PACKAGES
        for init in (root / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def _modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    return {
        module_name(root, path): path
        for top in TOP_PACKAGES
        for path in sorted((root / top).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The folder ``pip install --target`` filled from a linked copy of the checkout."""
    base = tmp_path_factory.mktemp("pip")
    src = base / "src"
    src.mkdir()
    shutil.copy2(ROOT / "setup.py", src / "setup.py")
    for top in TOP_PACKAGES:
        _link_tree(ROOT / top, src / top)
    target = base / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--no-compile", "--disable-pip-version-check", "--quiet",
           "--target", str(target), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def test_installs_the_core_and_training_without_the_ros_side(site: pathlib.Path) -> None:
    expected = {p for p in _packages(ROOT) if not is_ros_side(p)}
    assert "face3d_ros.node" in _packages(ROOT)  # the checkout has a ROS side to leave out
    assert _packages(site) == expected
    assert not (site / "face3d_ros" / "node").exists()
    assert not (site / "face3d_ros" / "msg").exists()
    # every module of those packages, and the data files the runtime loads
    assert set(_modules(site)) == {m for m in _modules(ROOT) if not is_ros_side(m)}
    for rel in ("model/data/face3d_default.npz", "weights/coarse.onnx", "weights/coarse.json",
                "weights/fine.json", "weights/tracking.json"):
        assert (site / "face3d_ros" / rel).is_file(), rel
    # no console scripts (the ROS tools' commands come with the colcon install only)
    assert not (site / "bin").exists()
    (dist,) = site.glob("face3d_ros-*.dist-info")
    assert not (dist / "entry_points.txt").exists()
    requires = (dist / "METADATA").read_text(encoding="utf-8")
    assert "Requires-Dist: numpy" in requires and "rosbags" not in requires


def test_no_installed_file_imports_ros(site: pathlib.Path) -> None:
    mods = _modules(site)
    known = set(mods)
    bad = {}
    for name, path in mods.items():
        ros = sorted(i for i in module_imports(name, path, known) if is_ros(i))
        if ros:
            bad[name] = ros
    assert not bad, f"installed modules importing ROS: {bad}"


#: Run in a fresh interpreter: import every module (``__main__`` ones excepted) with ROS
#: blocked; print a JSON report.
_IMPORT_ALL = r"""
import importlib, importlib.abc, json, sys, traceback

site, ros_modules, ros_side, names = sys.argv[1], *map(json.loads, sys.argv[2:5])
attempts = []


class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if (top in ros_modules or top.endswith("_msgs")
                or any(name == s or name.startswith(s + ".") for s in ros_side)):
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (ROS blocked)", name=name)
        return None


sys.meta_path.insert(0, NoRos())
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc(limit=3)
import face3d_ros

loaded = sorted(m for m in sys.modules
                if m.split(".")[0] in ros_modules or m.split(".")[0].endswith("_msgs"))
print(json.dumps({"failed": failed, "attempts": attempts, "loaded": loaded,
                  "face3d_ros": list(face3d_ros.__path__)}))
"""


def test_every_installed_module_imports_without_ros(
    site: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    names = sorted(n for n in _modules(site) if n.split(".")[-1] != "__main__")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, str(site), json.dumps(ROS_MODULES),
         json.dumps(ROS_SIDE), json.dumps(names)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["face3d_ros"] == [str(site / "face3d_ros")]  # not the checkout's
    assert not report["failed"], "\n".join(report["failed"].values())
    assert not report["attempts"], report["attempts"]
    assert not report["loaded"], report["loaded"]
    assert len(names) > 80
