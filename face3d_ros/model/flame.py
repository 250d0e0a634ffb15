# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert a FLAME model (``generic_model.pkl``) without executing arbitrary pickled code.

FLAME ships as a Python pickle (often Python 2) whose arrays may be ``chumpy.ch.Ch`` objects
and which also holds a ``scipy.sparse`` joint regressor. :func:`load_flame_pickle` reads it with
a restricted unpickler that resolves only numpy's array-reconstruction helpers and maps every
``chumpy.*`` class to :class:`ChumpyStandIn` (an inert holder whose array is taken from its
pickled state) and every ``scipy.sparse.*`` class to an inert :class:`OpaqueStandIn`. Any
other global is refused with :class:`pickle.UnpicklingError` naming it. Neither chumpy nor
scipy.sparse code runs.

Used keys: ``v_template`` [N, 3] (metres), ``shapedirs`` [N, 3, S + E] (the first ``n_shape``
columns identity, default 300; the rest expression, 100 in FLAME 2020/2023), ``f`` [F, 3]
(0-based). ``shapedirs`` columns are already scaled so that coefficients are ~N(0, 1); each
is split into a unit-norm direction and its norm (the sigma), converted to mm.

FLAME has no albedo in this file: the converted model gets a constant skin-coloured mean
albedo and three global colour components (lightness, redness, yellowness). Landmarks must be
given as 68 vertex indices of the FLAME mesh (FLAME's own landmark embedding is barycentric and
ships separately).
"""

from __future__ import annotations

import io
import os
import pathlib
import pickle
from typing import Any

import numpy as np

from face3d_ros.model.bfm import orient_to_model_axes, read_landmark_indices
from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.regions import masks_from_landmarks

__all__ = [
    "ChumpyStandIn",
    "OpaqueStandIn",
    "UnsafePickleError",
    "convert_flame",
    "load_flame_pickle",
]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to a global outside the allow-list."""


class ChumpyStandIn:
    """Inert replacement for chumpy objects: keeps the pickled state, runs no chumpy code."""

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyStandIn:
        """Create an empty holder (constructor arguments are ignored)."""
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accept and ignore constructor arguments."""
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        """Store the pickled state as plain data."""
        self.state = state

    def array(self) -> np.ndarray:
        """The array this chumpy object held.

        Returns:
            The ndarray found under ``x`` (or ``a``, ``r``) in the state, or the only ndarray.

        Raises:
            ValueError: No array in the state.
        """
        st = self.state
        if isinstance(st, tuple):  # (dict, slotstate) form
            st = next((s for s in st if isinstance(s, dict)), None)
        if isinstance(st, dict):
            for key in ("x", "a", "r"):
                val = st.get(key)
                if isinstance(val, ChumpyStandIn):
                    return val.array()
                if isinstance(val, np.ndarray):
                    return val
            arrays = [v for v in st.values() if isinstance(v, np.ndarray)]
            if len(arrays) == 1:
                return arrays[0]
        if isinstance(st, np.ndarray):
            return st
        raise ValueError("chumpy object in the pickle holds no recognisable array")


class OpaqueStandIn(ChumpyStandIn):
    """Inert replacement for classes whose content is not needed (e.g. scipy.sparse)."""


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The numpy callables array pickles refer to, under their old and new module names."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(1.0).__reduce__()[0]
    frombuffer = np.frombuffer
    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
        allowed[(mod, "scalar")] = scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = lambda buf, dtype, shape, order: frombuffer(
            buf, dtype=dtype
        ).reshape(shape, order=order)
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    import copyreg

    allowed[("copyreg", "_reconstructor")] = copyreg._reconstructor  # type: ignore[attr-defined]
    allowed[("copy_reg", "_reconstructor")] = copyreg._reconstructor  # type: ignore[attr-defined]

    def latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
        # Python 3 protocol-2 pickles store bytes as codecs.encode(str, "latin1").
        if encoding.replace("-", "").lower() not in ("latin1", "iso88591"):
            raise UnsafePickleError(f"refusing codecs.encode with encoding {encoding!r}")
        return text.encode("latin1")

    allowed[("_codecs", "encode")] = latin1_encode
    for mod in ("builtins", "__builtin__"):
        allowed[(mod, "object")] = object
        allowed[(mod, "set")] = set
        allowed[(mod, "frozenset")] = frozenset
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an allow-list of globals."""

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a global or refuse it.

        Args:
            module: Module name from the pickle.
            name: Attribute name.

        Returns:
            The allowed object or a stand-in class.

        Raises:
            pickle.UnpicklingError: For anything not allowed.
        """
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyStandIn
        if module.startswith("scipy.sparse"):
            return OpaqueStandIn
        raise UnsafePickleError(f"refusing to load global {module}.{name} from a model file")


def load_flame_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a FLAME pickle safely.

    Args:
        path: ``generic_model.pkl`` (Python 2 or 3 pickle).

    Returns:
        The top-level dict; chumpy arrays are converted to ndarrays, other stand-ins kept.

    Raises:
        FileNotFoundError: Missing file.
        ValueError: Not a readable pickle or not a dict.
        UnsafePickleError: A disallowed global (a pickle.UnpicklingError).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FLAME model not found: {path}")
    raw = path.read_bytes()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except UnsafePickleError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as exc:
        raise ValueError(
            f"{path}: not a readable FLAME pickle ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict at the top level, got {type(obj).__name__}")
    out: dict[str, Any] = {}
    for key, val in obj.items():
        if isinstance(val, ChumpyStandIn) and not isinstance(val, OpaqueStandIn):
            val = np.asarray(val.array())
        out[str(key)] = val
    return out


def convert_flame(
    pkl_path: str | os.PathLike[str],
    landmarks_path: str | os.PathLike[str],
    *,
    landmarks_one_based: bool = False,
    n_shape: int = 300,
    n_id: int | None = 100,
    n_exp: int | None = None,
) -> FaceModelData:
    """Build a :class:`FaceModelData` from a FLAME pickle.

    Args:
        pkl_path: ``generic_model.pkl``.
        landmarks_path: 68 vertex indices of the FLAME mesh (text, ``.npy`` or ``.mat``).
        landmarks_one_based: Text/``.npy`` indices start at 1.
        n_shape: Number of identity columns at the start of ``shapedirs`` (FLAME: 300).
        n_id: Identity components to keep (None = all ``n_shape``).
        n_exp: Expression components to keep (None = all remaining columns).

    Returns:
        The validated model (mm, model axes).

    Raises:
        ValueError: Missing keys or inconsistent shapes, naming them.
    """
    d = load_flame_pickle(pkl_path)
    for key in ("v_template", "shapedirs", "f"):
        if key not in d:
            raise ValueError(f"{pkl_path}: missing key {key!r}")
    v = np.asarray(d["v_template"], np.float64)
    sd = np.asarray(d["shapedirs"], np.float64)
    f = np.asarray(d["f"])
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{pkl_path}: v_template has shape {list(v.shape)}, expected [N, 3]")
    n = v.shape[0]
    if sd.ndim != 3 or sd.shape[:2] != (n, 3):
        raise ValueError(f"{pkl_path}: shapedirs has shape {list(sd.shape)}, expected [{n}, 3, K]")
    if f.ndim != 2 or f.shape[1] != 3 or f.dtype.kind not in "iu":
        raise ValueError(
            f"{pkl_path}: f has shape {list(f.shape)} / dtype {f.dtype}, expected [F, 3] int"
        )
    if f.min() < 0 or f.max() >= n:
        raise ValueError(f"{pkl_path}: f indices outside [0, {n})")
    if not 0 < n_shape < sd.shape[2]:
        raise ValueError(f"n_shape={n_shape} must be in (0, {sd.shape[2]}) for this shapedirs")
    k_id = n_shape if n_id is None else n_id
    k_exp = sd.shape[2] - n_shape if n_exp is None else n_exp
    if not 0 <= k_id <= n_shape:
        raise ValueError(f"n_id={k_id} outside [0, {n_shape}]")
    if not 0 <= k_exp <= sd.shape[2] - n_shape:
        raise ValueError(f"n_exp={k_exp} outside [0, {sd.shape[2] - n_shape}]")
    m_to_mm = 1000.0

    def split(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = np.moveaxis(cols, 2, 0)  # [K, N, 3]
        norms = np.linalg.norm(b.reshape(b.shape[0], -1), axis=1)
        safe = np.where(norms > 0, norms, 1.0)
        return b / safe[:, None, None], norms * m_to_mm

    id_basis, id_sigma = split(sd[:, :, :k_id])
    exp_basis, exp_sigma = split(sd[:, :, n_shape : n_shape + k_exp])
    lms = read_landmark_indices(landmarks_path, one_based=landmarks_one_based)
    if lms.max() >= n:
        raise ValueError(f"{landmarks_path}: landmark index {lms.max()} >= {n} FLAME vertices")
    mean, tris, (id_basis, exp_basis), mirrored = orient_to_model_axes(
        v * m_to_mm, f.astype(np.int64), lms, [id_basis, exp_basis]
    )
    face, wrinkle = masks_from_landmarks(mean, lms)
    skin = np.array([0.55, 0.38, 0.30])
    mean_alb = np.tile(skin, (n, 1))
    alb_dirs = np.stack(
        [
            np.tile(skin / np.linalg.norm(skin), (n, 1)),
            np.tile(np.array([1.0, -0.5, -0.5]) / np.sqrt(1.5), (n, 1)),
            np.tile(np.array([0.5, 0.5, -1.0]) / np.sqrt(1.5), (n, 1)),
        ]
    ) / np.sqrt(n)
    alb_sigma = np.array([0.12, 0.04, 0.03]) * np.sqrt(n)
    data = FaceModelData(
        model_id="flame",
        mean_shape=mean.astype(np.float32),
        id_basis=id_basis.astype(np.float32),
        id_sigma=id_sigma.astype(np.float32),
        exp_basis=exp_basis.astype(np.float32),
        exp_sigma=exp_sigma.astype(np.float32),
        mean_albedo=mean_alb.astype(np.float32),
        albedo_basis=alb_dirs.astype(np.float32),
        albedo_sigma=alb_sigma.astype(np.float32),
        triangles=tris.astype(np.int32),
        landmark_indices=lms.astype(np.int32),
        face_mask=face,
        wrinkle_mask=wrinkle,
        metadata={
            "source": "FLAME (generic_model.pkl)",
            "licence": "FLAME licence applies (not redistributable)",
            "units": "mm (converted from metres)",
            "albedo_space": "constant skin colour + 3 global colour modes (FLAME has no albedo)",
            "mirrored_x": mirrored,
            "n_shape_columns": n_shape,
            "files": {
                "pkl": pathlib.Path(pkl_path).name,
                "landmarks": pathlib.Path(landmarks_path).name,
            },
            "masks": "derived from landmarks (face3d_ros.model.regions)",
        },
    )
    data.validate()
    return data
