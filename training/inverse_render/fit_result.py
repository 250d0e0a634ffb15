# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""On-disk format of one inverse-rendered photo (stage 1 fit, stage 2 displacement, stage 3 albedo).

One photo ``<name>`` gives three files in the output folder:

* ``<name>.fit.npz``  numeric arrays (``np.savez_compressed``; loads with ``allow_pickle=False``),
* ``<name>.fit.json`` everything else (names, crop box, scalars, residuals, timings) plus
  ``"complete": true``; it is written last, so a fit is complete exactly when the JSON exists,
  says so, and names an existing npz,
* ``<name>.overlay.png`` a check image for people (see ``training.inverse_render.overlay``).

Coordinates. ``params.pose`` is in the pixel coordinates of the full input photo (architecture
conventions: weak perspective, y down, depth larger = closer). Stages 2 and 3 work in a square
face crop ``crop`` (image pixels) resampled to ``crop_size`` x ``crop_size`` (256) with
``face3d_ros.geometry.crop.crop_image``; every ``[S, S]`` map below lives in that crop, and
``pose_to_crop(params.pose, crop, crop_size)`` gives the pose in crop pixels.

Arrays (``S = crop_size``, ``N`` = model vertices):

====================  ==============  ======================================================
key                   shape, dtype    meaning
====================  ==============  ======================================================
alpha_id              [K_id] f32      identity coefficients (units of sigma)
alpha_exp             [K_exp] f32     expression coefficients
alpha_alb             [K_alb] f32     albedo coefficients
gamma                 [27] f32        SH lighting (3 channels x 9)
pose                  [6] f32         (pitch, yaw, roll, tx, ty, s), full-image pixels
landmarks_detected    [68, 2] f32     detector landmarks, image pixels
landmarks_fitted      [68, 2] f32     model landmarks projected with ``pose``, image pixels
face_mask             [S, S] u8       1 = visible face-region pixel of the fitted mesh in the crop
coarse_depth          [S, S] f32      rendered depth of the fitted mesh, crop pixels, 0 outside
displacement          [S, S] f32      stage 2 depth displacement d, crop pixels (+ = towards the
                                      camera), 0 outside ``face_mask``
displacement_mm       [S, S] f32      the same along the surface normal in millimetres
                                      (``d * n_z / s_crop``): the ``fine`` sample target unit
albedo_map            [S, S, 3] f32   stage 3 blended albedo in the crop, linear RGB in [0, 1]
                                      (model albedo where ``face_mask`` is 0)
beta_map              [S, S] f32      blending weight used (0.65 wrinkle, 0.35 elsewhere, smooth)
vertex_uv             [N, 2] f32      vertex positions in crop pixels at the fitted pose: the
                                      texture coordinates of ``albedo_map``
vertex_visible        [N] u8          1 = vertex visible in the crop at the fitted pose
albedo_vertex         [N, 3] f32      per-vertex blended albedo (sampled from ``albedo_map`` at
                                      ``vertex_uv`` for visible vertices, model albedo otherwise)
====================  ==============  ======================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from face3d_ros.geometry.crop import CropBox
    from face3d_ros.params import FaceParams

FIT_FORMAT_VERSION = 1
FIT_NPZ_SUFFIX = ".fit.npz"
FIT_JSON_SUFFIX = ".fit.json"
OVERLAY_SUFFIX = ".overlay.png"

_PARAM_KEYS = ("alpha_id", "alpha_exp", "alpha_alb", "gamma", "pose")
_ARRAY_KEYS = (
    "landmarks_detected",
    "landmarks_fitted",
    "face_mask",
    "coarse_depth",
    "displacement",
    "displacement_mm",
    "albedo_map",
    "beta_map",
    "vertex_uv",
    "vertex_visible",
    "albedo_vertex",
)
_ARRAY_DTYPES = {"face_mask": np.uint8, "vertex_visible": np.uint8}


@dataclasses.dataclass
class FitResult:
    """Inverse-rendering result for one photo (see the module docstring for every field).

    Attributes:
        name: Output stem (photo file stem, made unique by the CLI).
        source: The photo path as given on the command line.
        image_size: ``(H, W)`` of the photo.
        model_id: ``FaceModelData.model_id`` of the model used.
        params: Fitted parameters chi; pose in full-image pixels.
        crop: Square face crop (image pixels) used by stages 1-3.
        crop_size: Working resolution ``S`` of the crop maps.
        detection_box: Detector box ``(x0, y0, x1, y1)`` in image pixels.
        detection_score: Detector score.
        arrays: Maps and per-vertex arrays keyed as in the module docstring table.
        residuals: ``landmark_rmse_px`` (image pixels), ``photo_rmse_stage1``,
            ``photo_rmse_before_disp``, ``photo_rmse_after_disp``, ``photo_rmse_albedo``
            (RGB in [0, 1] over ``face_mask`` in the crop).
        timings: Seconds per stage (``detect``, ``stage1``, ``stage2``, ``stage3``, ``total``).
        extra: Free-form JSON-serialisable notes (solver settings, iterations).
    """

    name: str
    source: str
    image_size: tuple[int, int]
    model_id: str
    params: FaceParams
    crop: CropBox
    crop_size: int
    detection_box: tuple[float, float, float, float]
    detection_score: float
    arrays: dict[str, np.ndarray]
    residuals: dict[str, float]
    timings: dict[str, float]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        """Check keys and shapes.

        Raises:
            ValueError: Naming the missing key or the wrong shape.
        """
        s = int(self.crop_size)
        missing = [k for k in _ARRAY_KEYS if k not in self.arrays]
        if missing:
            raise ValueError(f"FitResult {self.name!r}: missing arrays {missing}")
        expect = {
            "landmarks_detected": (68, 2),
            "landmarks_fitted": (68, 2),
            "face_mask": (s, s),
            "coarse_depth": (s, s),
            "displacement": (s, s),
            "displacement_mm": (s, s),
            "albedo_map": (s, s, 3),
            "beta_map": (s, s),
        }
        for key, shape in expect.items():
            if self.arrays[key].shape != shape:
                raise ValueError(
                    f"FitResult {self.name!r}: {key} has shape {self.arrays[key].shape}, "
                    f"expected {shape}"
                )
        n = self.arrays["vertex_uv"].shape[0]
        for key, shape in (
            ("vertex_uv", (n, 2)),
            ("vertex_visible", (n,)),
            ("albedo_vertex", (n, 3)),
        ):
            if self.arrays[key].shape != shape:
                raise ValueError(
                    f"FitResult {self.name!r}: {key} has shape {self.arrays[key].shape}, "
                    f"expected {shape}"
                )
        if np.asarray(self.params.pose).shape != (6,):
            raise ValueError(f"FitResult {self.name!r}: pose must be [6]")


def fit_paths(out_dir: str | os.PathLike[str], name: str) -> dict[str, pathlib.Path]:
    """Return the ``npz``, ``json`` and ``overlay`` paths of fit ``name`` in ``out_dir``."""
    out = pathlib.Path(out_dir)
    return {
        "npz": out / f"{name}{FIT_NPZ_SUFFIX}",
        "json": out / f"{name}{FIT_JSON_SUFFIX}",
        "overlay": out / f"{name}{OVERLAY_SUFFIX}",
    }


def fit_is_complete(out_dir: str | os.PathLike[str], name: str) -> bool:
    """Whether a complete fit for ``name`` exists in ``out_dir`` (used by resume).

    Complete means: the JSON parses, has ``"complete": true`` and the current format version,
    and the npz exists and holds every expected key.
    """
    paths = fit_paths(out_dir, name)
    try:
        meta = json.loads(paths["json"].read_text())
        if not meta.get("complete") or meta.get("format_version") != FIT_FORMAT_VERSION:
            return False
        with np.load(paths["npz"], allow_pickle=False) as npz:
            keys = set(npz.files)
    except (OSError, ValueError):
        return False
    return set(_PARAM_KEYS).issubset(keys) and set(_ARRAY_KEYS).issubset(keys)


def list_fits(out_dir: str | os.PathLike[str]) -> list[str]:
    """Names of the complete fits in ``out_dir``, sorted."""
    out = pathlib.Path(out_dir)
    names = [p.name[: -len(FIT_JSON_SUFFIX)] for p in out.glob(f"*{FIT_JSON_SUFFIX}")]
    return sorted(n for n in names if fit_is_complete(out, n))


def _atomic_write_bytes(path: pathlib.Path, writer: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp)
    os.replace(tmp, path)


def save_fit(
    result: FitResult, out_dir: str | os.PathLike[str], *, overwrite: bool = False
) -> dict[str, pathlib.Path]:
    """Write ``<name>.fit.npz`` then ``<name>.fit.json`` (atomically, JSON last).

    Args:
        result: The fit to save (validated first).
        out_dir: Output folder (created if missing).
        overwrite: Replace an existing fit of the same name; otherwise raise.

    Returns:
        The paths from :func:`fit_paths`.

    Raises:
        FileExistsError: When the fit exists and ``overwrite`` is False.
        ValueError: From :meth:`FitResult.validate`.
    """
    result.validate()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = fit_paths(out, result.name)
    if not overwrite and (paths["npz"].exists() or paths["json"].exists()):
        raise FileExistsError(f"fit {result.name!r} already exists in {out} (pass overwrite=True)")
    arrays = {k: np.asarray(getattr(result.params, k), dtype=np.float32) for k in _PARAM_KEYS}
    for key in _ARRAY_KEYS:
        arrays[key] = np.asarray(result.arrays[key], dtype=_ARRAY_DTYPES.get(key, np.float32))

    def write_npz(tmp: pathlib.Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    _atomic_write_bytes(paths["npz"], write_npz)
    meta = {
        "format_version": FIT_FORMAT_VERSION,
        "name": result.name,
        "source": result.source,
        "image_size": [int(v) for v in result.image_size],
        "model_id": result.model_id,
        "dims": {k: int(arrays[k].shape[0]) for k in ("alpha_id", "alpha_exp", "alpha_alb")},
        "crop": {
            "x0": float(result.crop.x0),
            "y0": float(result.crop.y0),
            "size": float(result.crop.size),
        },
        "crop_size": int(result.crop_size),
        "detection_box": [float(v) for v in result.detection_box],
        "detection_score": float(result.detection_score),
        "pose": [float(v) for v in arrays["pose"]],
        "residuals": {k: float(v) for k, v in result.residuals.items()},
        "timings": {k: float(v) for k, v in result.timings.items()},
        "extra": result.extra,
        "npz": paths["npz"].name,
        "overlay": paths["overlay"].name,
        "complete": True,
    }
    _atomic_write_bytes(paths["json"], lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return paths


def load_fit(
    path: str | os.PathLike[str], arrays: Sequence[str] | None = None
) -> FitResult:
    """Load a fit from its ``.fit.json`` or ``.fit.npz`` path.

    Args:
        path: The fit's ``.fit.json`` or ``.fit.npz``.
        arrays: Load only these entries of ``FitResult.arrays`` (the parameters are always
            loaded); None = all. Reading a few small members of the compressed archive is much
            cheaper than all of them (the data engine reads thousands of fits).

    Raises:
        FileNotFoundError: When either file is missing.
        ValueError: When the fit is incomplete or of another format version.
    """
    from face3d_ros.geometry.crop import CropBox
    from face3d_ros.params import FaceParams

    p = pathlib.Path(path)
    for suffix in (FIT_JSON_SUFFIX, FIT_NPZ_SUFFIX):
        if p.name.endswith(suffix):
            name = p.name[: -len(suffix)]
            break
    else:
        raise ValueError(f"{p} is neither a {FIT_JSON_SUFFIX} nor a {FIT_NPZ_SUFFIX} file")
    paths = fit_paths(p.parent, name)
    meta = json.loads(paths["json"].read_text())
    if meta.get("format_version") != FIT_FORMAT_VERSION:
        raise ValueError(
            f"{paths['json']}: format_version {meta.get('format_version')} != {FIT_FORMAT_VERSION}"
        )
    if not meta.get("complete"):
        raise ValueError(f"{paths['json']}: fit is incomplete")
    with np.load(paths["npz"], allow_pickle=False) as npz:
        wanted = [
            k for k in npz.files if arrays is None or k in _PARAM_KEYS or k in set(arrays)
        ]
        data = {k: npz[k] for k in wanted}
    params = FaceParams(**{k: data.pop(k).astype(np.float32) for k in _PARAM_KEYS})
    crop = CropBox(x0=meta["crop"]["x0"], y0=meta["crop"]["y0"], size=meta["crop"]["size"])
    return FitResult(
        name=meta["name"],
        source=meta["source"],
        image_size=tuple(meta["image_size"]),
        model_id=meta["model_id"],
        params=params,
        crop=crop,
        crop_size=int(meta["crop_size"]),
        detection_box=tuple(meta["detection_box"]),
        detection_score=float(meta["detection_score"]),
        arrays=data,
        residuals=meta["residuals"],
        timings=meta["timings"],
        extra=meta.get("extra", {}),
    )
