# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""NetBundle: the three nets of the tracker plus the face model they were trained for.

A weights directory holds ``coarse``, ``tracking`` and ``fine`` weight files (``.onnx`` with JSON
sidecars for ONNX Runtime and TensorRT, ``.pt`` checkpoints for PyTorch). The default directory
is the package's ``face3d_ros/weights/``. Loading never falls back silently: a missing file, a
corrupted file or weights trained for another face model raise
:class:`~face3d_ros.nets.weights.WeightFileError` naming the file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from face3d_ros.runtime.backend import BACKEND_KINDS, BACKENDS, InferenceBackend, create_backend

__all__ = ["NET_FILES", "PRECISIONS", "NetBundle", "default_weights_dir", "weight_file"]

#: File stems of the three nets inside a weights directory.
NET_FILES: dict[str, str] = {"coarse": "coarse", "tracking": "tracking", "fine": "fine"}
#: Weight precisions NetBundle can load (each backend's subset is in its registry entry).
PRECISIONS: tuple[str, ...] = ("fp32", "int8")


def default_weights_dir() -> Path:
    """The package's shipped weights directory.

    Returns:
        ``<face3d_ros package>/weights``.
    """
    return Path(__file__).resolve().parent.parent / "weights"


def weight_file(
    weights_dir: str | os.PathLike[str], net: str, backend: str, precision: str = "fp32"
) -> Path:
    """Path of one net's weight file for a backend.

    Args:
        weights_dir: Weights directory.
        net: ``coarse``, ``tracking`` or ``fine``.
        backend: Backend kind.
        precision: ``"fp32"`` (the exported nets) or ``"int8"`` (onnxruntime only; files made
            by :mod:`face3d_ros.runtime.quantize`).

    Returns:
        ``<weights_dir>/<net>.onnx``, ``<net>.int8.onnx`` or ``<net>.pt``.

    Raises:
        ValueError: Unknown net, backend or precision, or int8 with another backend.
    """
    if net not in NET_FILES:
        raise ValueError(f"unknown net {net!r}; expected one of {sorted(NET_FILES)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKEND_KINDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    info = BACKENDS[backend]
    if precision not in info.precisions:
        with_it = [k for k, v in BACKENDS.items() if precision in v.precisions]
        raise ValueError(
            f"precision={precision!r} is only available with the {' / '.join(with_it)} backend"
        )
    if precision == "int8":
        return Path(weights_dir) / (NET_FILES[net] + ".int8" + info.suffix)
    return Path(weights_dir) / (NET_FILES[net] + info.suffix)


@dataclass
class NetBundle:
    """The tracker's nets and face model.

    Attributes:
        coarse: Single-image CoarseNet (``image [B, 3, S, S] -> params``; S and the crop framing
            from its contract, ``coarse.contract``).
        tracking: Tracking CoarseNet (``input [B, 6, S, S] -> params``).
        fine: FineNet (``input [B, 2, S, S] -> displacement``) or None when not loaded.
        model: The :class:`~face3d_ros.model.morphable.MorphableModel` the nets were trained for
            (truncated to the nets' dimensions).
        weights_dir: Where the weights came from (None when assembled by hand).
        backend: Backend kind used for the nets.
        precision: ``"fp32"`` or ``"int8"``.
        metas: Sidecar / checkpoint header of each loaded net.
    """

    coarse: InferenceBackend
    tracking: InferenceBackend
    fine: InferenceBackend | None
    model: Any
    weights_dir: Path | None = None
    backend: str = "onnxruntime"
    precision: str = "fp32"
    metas: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        weights_dir: str | os.PathLike[str] | None = None,
        *,
        backend: str = "onnxruntime",
        device: str = "cpu",
        threads: int | None = None,
        model: Any = None,
        load_fine: bool = True,
        check_hash: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        precision: str = "fp32",
        allow_spinning: bool = False,
        fine_precision: str | None = None,
    ) -> NetBundle:
        """Load the nets of a weights directory.

        Args:
            weights_dir: Directory with ``coarse``/``tracking``/``fine`` weights (default:
                :func:`default_weights_dir`).
            backend: ``"onnxruntime"`` (default), ``"torch"`` or ``"tensorrt"`` (GPU only).
            device: ``"cpu"`` or ``"cuda[:N]"``.
            threads: Intra-op CPU threads per net (None = library default; not used by the
                tensorrt backend, whose work runs on the GPU).
            model: The face model (FaceModelData or MorphableModel). None loads the package's
                default model, which must be the one recorded in the weights' sidecars.
            load_fine: Also load FineNet (its file must then exist).
            check_hash: Verify size and sha256 of every weight file.
            cache_dir: TensorRT engine cache root.
            precision: ``"fp32"`` or ``"int8"`` (onnxruntime only: loads ``<net>.int8.onnx``
                written by ``python -m face3d_ros.runtime.quantize``; never substituted
                silently: missing INT8 files raise).
            allow_spinning: onnxruntime only: busy-waiting intra-op threads.
            fine_precision: Precision of FineNet if different from ``precision`` (e.g. INT8
                coarse/tracking nets with an fp32 FineNet, whose INT8 deviation is relatively
                larger); None = ``precision``.

        Returns:
            The bundle.

        Raises:
            WeightFileError: A weight file or sidecar is missing, corrupted, or the nets were
                trained for another face model.
            RuntimeError: The backend cannot run here.
        """
        from face3d_ros.nets.weights import WeightFileError

        wdir = Path(weights_dir) if weights_dir is not None else default_weights_dir()
        if not wdir.is_dir():
            raise WeightFileError(f"weights directory {wdir} does not exist")
        coarse_path = weight_file(wdir, "coarse", backend, precision)
        if not coarse_path.is_file() and precision == "int8":
            raise WeightFileError(
                f"{coarse_path} is missing: INT8 nets are made from the float ones with "
                "python -m face3d_ros.runtime.quantize"
            )
        if not coarse_path.is_file():
            raise WeightFileError(
                f"no trained weights in {wdir}: {coarse_path.name} is missing (the package ships "
                "them in face3d_ros/weights/; export your own with training/export.py)"
            )
        morph = cls._resolve_model(model, coarse_path, backend)
        kwargs: dict[str, Any] = {
            "device": device,
            "model": morph,
            "check_hash": check_hash,
            "allow_spinning": allow_spinning,
            "threads": threads,
            "cache_dir": cache_dir,
        }  # create_backend passes each backend the options it takes
        nets: dict[str, InferenceBackend | None] = {}
        for name in ("coarse", "tracking", "fine"):
            if name == "fine" and not load_fine:
                nets[name] = None
                continue
            net_precision = (fine_precision or precision) if name == "fine" else precision
            path = weight_file(wdir, name, backend, net_precision)
            if not path.is_file():
                hint = (
                    " (make it with python -m face3d_ros.runtime.quantize)"
                    if (net_precision == "int8")
                    else ""
                )
                raise WeightFileError(f"weight file {path} is missing{hint}")
            nets[name] = create_backend(backend, path, net=name, **kwargs)  # type: ignore[arg-type]
        metas = {k: v.meta for k, v in nets.items() if v is not None}
        return cls(
            coarse=nets["coarse"],  # type: ignore[arg-type]
            tracking=nets["tracking"],  # type: ignore[arg-type]
            fine=nets["fine"],
            model=morph,
            weights_dir=wdir,
            backend=backend,
            precision=precision,
            metas=metas,
        )

    @staticmethod
    def _resolve_model(model: Any, coarse_path: Path, backend: str) -> Any:
        """Build the MorphableModel the nets need (default model when ``model`` is None)."""
        from face3d_ros.model.morphable import MorphableModel
        from face3d_ros.nets.weights import WeightFileError, read_sidecar

        if isinstance(model, MorphableModel):
            return model
        if backend == "torch":
            import torch

            try:
                header = torch.load(coarse_path, map_location="cpu", weights_only=True)
            except Exception as exc:  # truncated / foreign file
                raise WeightFileError(f"cannot read checkpoint {coarse_path}: {exc}") from exc
            if not isinstance(header, dict) or "model_dims" not in header:
                raise WeightFileError(f"{coarse_path} is not a face3d_ros checkpoint")
            model_id, dims = header.get("model_id"), header["model_dims"]
        else:
            meta = read_sidecar(coarse_path)
            model_id, dims = meta.get("model_id"), meta["model_dims"]
        if model is None:
            from face3d_ros.model.default import load_default_model

            model = load_default_model()
            if model_id and model.model_id != model_id:
                raise WeightFileError(
                    f"{coarse_path} was trained for face model {model_id!r} but the default "
                    f"model is {model.model_id!r}; pass the matching model"
                )
        try:
            return MorphableModel(
                model, n_id=int(dims["n_id"]), n_exp=int(dims["n_exp"]), n_alb=int(dims["n_alb"])
            )
        except (KeyError, ValueError) as exc:
            raise WeightFileError(
                f"{coarse_path}: the nets' dims {dict(dims)} do not fit face model "
                f"{getattr(model, 'model_id', '?')!r}: {exc}"
            ) from exc
