# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert the Basel Face Model 2009 + the FaceWarehouse-derived expression basis (the paper's).

Inputs (licence-restricted; users obtain them from their owners):

- ``01_MorphableModel.mat`` (BFM 2009, MATLAB v5): ``shapeMU`` [3V, 1], ``shapePC`` [3V, 199],
  ``shapeEV`` [199, 1] (standard deviations), ``texMU``, ``texPC``, ``texEV`` (colours 0-255),
  ``tl`` [F, 3] (1-based triangles). V = 53490, coordinates in micrometres, xyz interleaved.
- ``Exp_Pca.bin`` (Guo et al., 3DFace / Deep3DFaceRecon): little-endian int32 ``n_exp``, then
  float32 ``expMU`` [3 * V_exp], then float32 ``expPC`` stored component-major
  [n_exp, 3 * V_exp] (so ``expPC.T`` is [3 * V_exp, n_exp]). V_exp = 53215, micrometres.
- ``std_exp.txt``: ``n_exp`` standard deviations (whitespace separated).
- ``BFM_exp_idx.mat``: key ``trimIndex`` [V_exp] 1-based indices of the expression vertices in
  the BFM mesh (the expression basis covers a trimmed BFM).
- optional ``BFM_front_idx.mat``: key ``idx``, 1-based indices into the trimmed mesh selecting
  the 35,709-vertex front face used by Deep3DFaceRecon.
- 68 landmark vertex indices of the *output* mesh: a text file of 68 integers (``--landmarks``,
  0-based unless ``landmarks_one_based``) or a ``.mat`` file with key ``keypoints`` (1-based, as
  in Deep3DFaceRecon's ``BFM_model_front.mat`` / ``facemodel_info.mat``).

Conversion: micrometres -> mm (/1000); axes are BFM's (x to the subject's left, y up, z
towards the viewer), checked with the landmarks (the subject's right eye corner 36 must have
the smaller x; otherwise x is mirrored and the winding flipped); triangles made
counter-clockwise seen from +z; colour /255, used as albedo as Deep3DFaceRecon and the paper
do (BFM colours are not radiometrically linear); ``expMU`` is ignored as in Deep3DFaceRecon.
Region masks are derived from the landmarks (:mod:`face3d_ros.model.regions`).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from face3d_ros.model.face_model import N_LANDMARKS, FaceModelData
from face3d_ros.model.regions import masks_from_landmarks

__all__ = ["convert_bfm", "read_exp_pca_bin", "read_landmark_indices", "read_bfm_mat"]

_BFM_KEYS = ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV", "tl")


def _loadmat(path: pathlib.Path, what: str) -> dict:
    """Load a MATLAB v5 file with a clear error.

    Args:
        path: File.
        what: Description for messages.

    Returns:
        The variables.

    Raises:
        FileNotFoundError: Missing file.
        ValueError: Unreadable file.
    """
    from scipy.io import loadmat

    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return loadmat(str(path))
    except NotImplementedError as exc:  # v7.3 HDF5
        raise ValueError(f"{path}: MATLAB v7.3 files are not supported; re-save as v7") from exc
    except Exception as exc:  # scipy raises several types for corrupt files
        raise ValueError(f"{path}: cannot read {what}: {exc}") from exc


def read_bfm_mat(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read and check ``01_MorphableModel.mat``.

    Args:
        path: The BFM 2009 ``.mat`` file.

    Returns:
        Arrays ``shapeMU`` [3V], ``shapePC`` [3V, K], ``shapeEV`` [K], ``texMU``, ``texPC``,
        ``texEV`` and ``tl`` [F, 3] (still 1-based).

    Raises:
        ValueError: A key is missing or has an inconsistent shape.
    """
    path = pathlib.Path(path)
    raw = _loadmat(path, "BFM 2009 model")
    missing = [k for k in _BFM_KEYS if k not in raw]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing} (is this 01_MorphableModel.mat?)")
    out = {k: np.asarray(raw[k]) for k in _BFM_KEYS}
    for k in ("shapeMU", "texMU", "shapeEV", "texEV"):
        out[k] = out[k].reshape(-1).astype(np.float64)
    n3 = out["shapeMU"].size
    if n3 % 3:
        raise ValueError(f"{path}: shapeMU has {n3} entries, not a multiple of 3")
    for pc, ev, mu in (("shapePC", "shapeEV", "shapeMU"), ("texPC", "texEV", "texMU")):
        if out[mu].size != n3:
            raise ValueError(f"{path}: {mu} has {out[mu].size} entries, expected {n3}")
        if out[pc].ndim != 2 or out[pc].shape[0] != n3:
            raise ValueError(f"{path}: {pc} has shape {list(out[pc].shape)}, expected [{n3}, K]")
        if out[ev].size != out[pc].shape[1]:
            raise ValueError(
                f"{path}: {ev} has {out[ev].size} entries but {pc} has {out[pc].shape[1]} columns"
            )
    tl = out["tl"]
    if tl.ndim != 2 or tl.shape[1] != 3:
        raise ValueError(f"{path}: tl has shape {list(tl.shape)}, expected [F, 3]")
    if tl.min() < 1 or tl.max() > n3 // 3:
        raise ValueError(f"{path}: tl indices must be 1-based in [1, {n3 // 3}]")
    return out


def read_exp_pca_bin(
    path: str | os.PathLike[str], n_vertices: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``Exp_Pca.bin``.

    Args:
        path: The file.
        n_vertices: Vertices of the expression mesh (53215 for the BFM-trimmed basis; the file
            does not store it).

    Returns:
        expMU [3 * n_vertices] and expPC [3 * n_vertices, n_exp] (float32).

    Raises:
        FileNotFoundError: Missing file.
        ValueError: Truncated file, implausible header or trailing bytes.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expression basis not found: {path}")
    raw = path.read_bytes()
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated (no int32 header)")
    n_exp = int(np.frombuffer(raw[:4], "<i4")[0])
    if not 0 < n_exp <= 10000:
        raise ValueError(f"{path}: implausible number of components {n_exp} in the header")
    n3 = 3 * n_vertices
    expected = 4 + 4 * n3 * (1 + n_exp)
    if len(raw) < expected:
        raise ValueError(
            f"{path}: truncated: {len(raw)} bytes, expected {expected} for {n_exp} components "
            f"over {n_vertices} vertices"
        )
    if len(raw) > expected:
        raise ValueError(
            f"{path}: {len(raw) - expected} unexpected trailing bytes (wrong vertex count? "
            f"expected {n_vertices})"
        )
    floats = np.frombuffer(raw[4:], "<f4")
    mu = floats[:n3].copy()
    pc = floats[n3:].reshape(n_exp, n3).T.copy()
    return mu, pc


def read_landmark_indices(path: str | os.PathLike[str], *, one_based: bool = False) -> np.ndarray:
    """Read 68 landmark vertex indices.

    Args:
        path: ``.mat`` with key ``keypoints`` (1-based), ``.npy`` or a text file of integers.
        one_based: For text/``.npy`` files, whether the indices start at 1.

    Returns:
        [68] int64 0-based indices.

    Raises:
        ValueError: Wrong count or non-integer values.
    """
    path = pathlib.Path(path)
    if path.suffix == ".mat":
        raw = _loadmat(path, "landmark file")
        if "keypoints" not in raw:
            raise ValueError(f"{path}: missing key 'keypoints'")
        values = np.asarray(raw["keypoints"]).reshape(-1)
        one_based = True
    elif path.suffix == ".npy":
        values = np.load(path, allow_pickle=False).reshape(-1)
    else:
        if not path.is_file():
            raise FileNotFoundError(f"landmark file not found: {path}")
        values = np.array(path.read_text().split(), dtype=np.float64)
    if values.size != N_LANDMARKS:
        raise ValueError(f"{path}: expected {N_LANDMARKS} landmark indices, got {values.size}")
    if not np.all(np.equal(np.mod(values, 1), 0)):
        raise ValueError(f"{path}: landmark indices must be integers")
    idx = values.astype(np.int64) - (1 if one_based else 0)
    if idx.min() < 0:
        raise ValueError(f"{path}: negative landmark index (one_based={one_based}?)")
    return idx


def _subset_triangles(tris: np.ndarray, keep: np.ndarray, n_total: int) -> np.ndarray:
    """Triangles whose three vertices are kept, renumbered to the kept order."""
    remap = -np.ones(n_total, np.int64)
    remap[keep] = np.arange(keep.size)
    t = remap[tris]
    return t[(t >= 0).all(1)]


def orient_to_model_axes(
    vertices: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray, bases: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], bool]:
    """Mirror x if needed (landmark 36 must be at smaller x than 45); make triangles face +z.

    Args:
        vertices: [N, 3].
        triangles: [F, 3].
        landmarks: [68] indices.
        bases: Shape bases [K, N, 3] to mirror along with the vertices.

    Returns:
        vertices, triangles, bases and whether x was mirrored.
    """
    mirrored = bool(vertices[landmarks[36], 0] > vertices[landmarks[45], 0])
    if mirrored:
        flip = np.array([-1.0, 1.0, 1.0])
        vertices = vertices * flip
        bases = [b * flip for b in bases]
    v = vertices[triangles]
    nz = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])[:, 2]
    lm = vertices[landmarks]
    central = np.abs(v.mean(1)[:, 0] - lm[30, 0]) < 0.25 * np.linalg.norm(lm[36] - lm[45])
    if (nz[central] < 0).mean() > 0.5:
        triangles = triangles[:, [0, 2, 1]]
    return vertices, triangles, bases, mirrored


def _normalise_basis(pc: np.ndarray, ev: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ``pc * ev * scale`` into unit-norm directions [K, N, 3] and sigmas [K]."""
    k = pc.shape[1]
    norms = np.linalg.norm(pc, axis=0)
    norms[norms == 0] = 1.0
    basis = (pc / norms).T.reshape(k, -1, 3)
    return basis.astype(np.float32), (np.abs(ev) * norms * scale).astype(np.float32)


def convert_bfm(
    mat_path: str | os.PathLike[str],
    exp_path: str | os.PathLike[str],
    exp_std_path: str | os.PathLike[str],
    exp_idx_path: str | os.PathLike[str],
    landmarks_path: str | os.PathLike[str],
    *,
    front_idx_path: str | os.PathLike[str] | None = None,
    landmarks_one_based: bool = False,
    n_id: int | None = 100,
    n_exp: int | None = 79,
    n_alb: int | None = 100,
) -> FaceModelData:
    """Build a :class:`FaceModelData` from BFM 2009 + ``Exp_Pca.bin``.

    Args:
        mat_path: ``01_MorphableModel.mat``.
        exp_path: ``Exp_Pca.bin``.
        exp_std_path: ``std_exp.txt``.
        exp_idx_path: ``BFM_exp_idx.mat`` (``trimIndex``).
        landmarks_path: 68 landmark indices into the output mesh (see module docstring).
        front_idx_path: Optional ``BFM_front_idx.mat`` (``idx``) selecting the front face.
        landmarks_one_based: Text/``.npy`` landmark indices start at 1.
        n_id: Identity components to keep (None = all; the paper uses 100).
        n_exp: Expression components (None = all; 79 in the file).
        n_alb: Albedo components (None = all; the paper uses 100).

    Returns:
        The validated model (mm, model axes).

    Raises:
        ValueError / FileNotFoundError: Naming the file and what is wrong.
    """
    bfm = read_bfm_mat(mat_path)
    n_bfm = bfm["shapeMU"].size // 3
    idx_raw = _loadmat(pathlib.Path(exp_idx_path), "BFM_exp_idx.mat")
    if "trimIndex" not in idx_raw:
        raise ValueError(f"{exp_idx_path}: missing key 'trimIndex'")
    trim = np.asarray(idx_raw["trimIndex"]).reshape(-1).astype(np.int64) - 1
    if trim.min() < 0 or trim.max() >= n_bfm:
        raise ValueError(f"{exp_idx_path}: trimIndex outside [1, {n_bfm}]")
    exp_mu, exp_pc = read_exp_pca_bin(exp_path, trim.size)
    del exp_mu  # not used (as in Deep3DFaceRecon)
    std_path = pathlib.Path(exp_std_path)
    if not std_path.is_file():
        raise FileNotFoundError(f"expression std file not found: {std_path}")
    exp_ev = np.array(std_path.read_text().split(), dtype=np.float64)
    if exp_ev.size != exp_pc.shape[1]:
        raise ValueError(
            f"{std_path}: {exp_ev.size} values, but {exp_path} has {exp_pc.shape[1]} components"
        )
    sel_exp = np.arange(trim.size)
    if front_idx_path is not None:
        fr = _loadmat(pathlib.Path(front_idx_path), "BFM_front_idx.mat")
        if "idx" not in fr:
            raise ValueError(f"{front_idx_path}: missing key 'idx'")
        sel_exp = np.asarray(fr["idx"]).reshape(-1).astype(np.int64) - 1
        if sel_exp.min() < 0 or sel_exp.max() >= trim.size:
            raise ValueError(f"{front_idx_path}: idx outside [1, {trim.size}]")
    sel_bfm = trim[sel_exp]
    n_out = sel_bfm.size

    def take(k_req: int | None, total: int, name: str) -> int:
        if k_req is None:
            return total
        if not 0 <= k_req <= total:
            raise ValueError(f"{name}={k_req} outside [0, {total}]")
        return k_req

    k_id = take(n_id, bfm["shapePC"].shape[1], "n_id")
    k_exp = take(n_exp, exp_pc.shape[1], "n_exp")
    k_alb = take(n_alb, bfm["texPC"].shape[1], "n_alb")
    rows = (3 * sel_bfm[:, None] + np.arange(3)).reshape(-1)
    rows_exp = (3 * sel_exp[:, None] + np.arange(3)).reshape(-1)
    um_to_mm = 1e-3
    mean = bfm["shapeMU"][rows].reshape(-1, 3) * um_to_mm
    id_basis, id_sigma = _normalise_basis(
        bfm["shapePC"][rows, :k_id].astype(np.float64), bfm["shapeEV"][:k_id], um_to_mm
    )
    exp_basis, exp_sigma = _normalise_basis(
        exp_pc[rows_exp, :k_exp].astype(np.float64), exp_ev[:k_exp], um_to_mm
    )
    alb_basis, alb_sigma = _normalise_basis(
        bfm["texPC"][rows, :k_alb].astype(np.float64), bfm["texEV"][:k_alb], 1.0 / 255.0
    )
    mean_alb = np.clip(bfm["texMU"][rows].reshape(-1, 3) / 255.0, 0.0, 1.0)
    tris = _subset_triangles(bfm["tl"].astype(np.int64) - 1, sel_bfm, n_bfm)
    if tris.shape[0] == 0:
        raise ValueError("no triangle survives the vertex selection (wrong index files?)")
    lms = read_landmark_indices(landmarks_path, one_based=landmarks_one_based)
    if lms.max() >= n_out:
        raise ValueError(
            f"{landmarks_path}: landmark index {lms.max()} >= {n_out} output vertices "
            "(indices must refer to the converted mesh)"
        )
    mean, tris, (id_basis, exp_basis), mirrored = orient_to_model_axes(
        mean, tris, lms, [id_basis, exp_basis]
    )
    face, wrinkle = masks_from_landmarks(mean, lms)
    data = FaceModelData(
        model_id="bfm2009+exp_pca" + ("+front" if front_idx_path is not None else ""),
        mean_shape=mean.astype(np.float32),
        id_basis=id_basis.astype(np.float32),
        id_sigma=id_sigma,
        exp_basis=exp_basis.astype(np.float32),
        exp_sigma=exp_sigma,
        mean_albedo=mean_alb.astype(np.float32),
        albedo_basis=alb_basis,
        albedo_sigma=alb_sigma,
        triangles=tris.astype(np.int32),
        landmark_indices=lms.astype(np.int32),
        face_mask=face,
        wrinkle_mask=wrinkle,
        metadata={
            "source": "Basel Face Model 2009 + FaceWarehouse expression basis (Exp_Pca.bin)",
            "licence": "BFM 2009 and Exp_Pca.bin licences apply (not redistributable)",
            "units": "mm (converted from micrometres)",
            "albedo_space": "BFM vertex colour / 255 (not linearised)",
            "mirrored_x": mirrored,
            "files": {
                "mat": pathlib.Path(mat_path).name,
                "exp": pathlib.Path(exp_path).name,
                "exp_std": pathlib.Path(exp_std_path).name,
                "exp_idx": pathlib.Path(exp_idx_path).name,
                "front_idx": None if front_idx_path is None else pathlib.Path(front_idx_path).name,
                "landmarks": pathlib.Path(landmarks_path).name,
            },
            "masks": "derived from landmarks (face3d_ros.model.regions)",
        },
    )
    data.validate()
    return data
