# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The TensorRT engine cache is unpickled only when it is ours and unchanged (issue 12 item 13).

No GPU is needed: the checks run on plain files and ``torch.export.load`` is replaced by a
recorder, so the test shows which files would have been unpickled.
"""

from __future__ import annotations

import os
import pathlib

import pytest

pytest.importorskip("torch")

from face3d_ros.nets import tensorrt  # noqa: E402


def _engine(folder: pathlib.Path, content: bytes = b"engine bytes") -> pathlib.Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "coarse-abc-gpu-trt10-fp16.ep"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    return path


def test_only_a_recorded_private_unchanged_engine_is_loaded(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    class _Program:
        def module(self) -> str:
            return "module"

    monkeypatch.setattr(tensorrt.torch.export, "load",
                        lambda path: loaded.append(path) or _Program())
    path = _engine(tmp_path / "cache")

    # no hash recorded (e.g. dropped there by someone else): refused, not unpickled
    assert "no hash was recorded" in tensorrt.verify_cached_engine(path)
    with pytest.warns(UserWarning, match="not loading the cached TensorRT engine"):
        assert tensorrt.load_cached_engine(path) is None
    assert loaded == []

    record = tensorrt.record_engine_hash(path)
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert tensorrt.verify_cached_engine(path) is None
    assert tensorrt.load_cached_engine(path) == "module" and loaded == [str(path)]

    path.write_bytes(b"a replaced, malicious pickle")  # changed after it was recorded
    assert "sha256 differs" in tensorrt.verify_cached_engine(path)
    tensorrt.record_engine_hash(path)
    os.chmod(path, 0o666)  # writable by others
    assert "writable by its group or by others" in tensorrt.verify_cached_engine(path)
    os.chmod(path, 0o600)
    os.chmod(path.parent, 0o777)  # a shared, world-writable cache folder
    assert "writable by its group or by others" in tensorrt.verify_cached_engine(path)
    os.chmod(path.parent, 0o700)
    assert tensorrt.verify_cached_engine(path) is None
    with pytest.warns(UserWarning):
        os.chmod(path.parent, 0o770)
        assert tensorrt.load_cached_engine(path) is None
    assert loaded == [str(path)], "an untrusted cache file was unpickled"


def test_symlinked_engine_is_refused(tmp_path: pathlib.Path) -> None:
    real = _engine(tmp_path / "elsewhere")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    link = cache / real.name
    link.symlink_to(real)
    tensorrt.record_engine_hash(link)
    assert "symbolic link" in tensorrt.verify_cached_engine(link)
