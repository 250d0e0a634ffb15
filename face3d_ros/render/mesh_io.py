# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Mesh export (Wavefront OBJ with per-vertex colours, PLY binary or ASCII) and readers.

OBJ colours follow the common ``v x y z r g b`` extension (floats in [0, 1], read by MeshLab,
Blender and Open3D). PLY colours are ``uchar red green blue`` (0-255, ``round(255 c)``), faces a
``list uchar int vertex_indices``. Coordinates are written as given (the package's meshes are in
millimetres). Writers refuse to replace an existing file unless ``overwrite=True`` and write
atomically (temporary file + rename). The readers parse the files these writers produce (and
simple third-party files of the same shape); they are not general-purpose loaders.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any

import numpy as np

__all__ = ["read_obj", "read_ply", "write_obj", "write_ply"]

PathLike = str | os.PathLike[str]


def _prepare(
    vertices: Any, triangles: Any, colors: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate mesh arrays.

    Args:
        vertices: [N, 3] float positions.
        triangles: [F, 3] integer indices (0-based).
        colors: None, [N, 3] floats in [0, 1], or [N, 3] uint8.

    Returns:
        ``(vertices float64, triangles int64, colors float64 in [0, 1] or None)``.

    Raises:
        ValueError: On bad shapes, non-finite values or out-of-range indices/colours.
    """
    if hasattr(vertices, "detach"):
        vertices = vertices.detach().cpu().numpy()
    if hasattr(triangles, "detach"):
        triangles = triangles.detach().cpu().numpy()
    if hasattr(colors, "detach"):
        colors = colors.detach().cpu().numpy()
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"vertices must be a finite [N, 3] array, got {list(v.shape)}")
    if t.ndim != 2 or t.shape[1] != 3 or (t.size and not np.issubdtype(t.dtype, np.integer)):
        raise ValueError(f"triangles must be an integer [F, 3] array, got {list(t.shape)}")
    t = t.astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= v.shape[0]):
        raise ValueError(f"triangle indices out of range for {v.shape[0]} vertices")
    c = None
    if colors is not None:
        c_raw = np.asarray(colors)
        if c_raw.shape != v.shape:
            raise ValueError(f"colors must be [N, 3] like vertices, got {list(c_raw.shape)}")
        c = c_raw.astype(np.float64) / 255.0 if c_raw.dtype == np.uint8 else c_raw.astype(float)
        if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
            raise ValueError("float colors must be finite and in [0, 1]")
    return v, t, c


def _atomic_write(path: PathLike, data: bytes, overwrite: bool) -> None:
    """Write bytes to ``path`` atomically, refusing to replace a file unless asked.

    Args:
        path: Destination.
        data: File content.
        overwrite: Allow replacing an existing file.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    p = pathlib.Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_obj(
    path: PathLike,
    vertices: Any,
    triangles: Any,
    colors: Any = None,
    *,
    overwrite: bool = False,
) -> None:
    """Write a Wavefront OBJ (``v x y z [r g b]`` and 1-based ``f a b c`` lines).

    Args:
        path: Output file (``.obj``).
        vertices: [N, 3] positions (numpy or torch).
        triangles: [F, 3] 0-based vertex indices.
        colors: Optional [N, 3] RGB, floats in [0, 1] or uint8.
        overwrite: Replace an existing file.

    Raises:
        ValueError: Bad arrays.
        FileExistsError: The file exists and ``overwrite`` is False.
    """
    v, t, c = _prepare(vertices, triangles, colors)
    lines = [f"# face3d_ros mesh: {v.shape[0]} vertices, {t.shape[0]} triangles"]
    if c is None:
        lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in v]
    else:
        lines += [
            f"v {x:.9g} {y:.9g} {z:.9g} {r:.6f} {g:.6f} {b:.6f}"
            for (x, y, z), (r, g, b) in zip(v, c, strict=True)
        ]
    lines += [f"f {a + 1} {b + 1} {d + 1}" for a, b, d in t]
    _atomic_write(path, ("\n".join(lines) + "\n").encode("ascii"), overwrite)


def read_obj(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read vertices, triangles and optional per-vertex colours from an OBJ.

    Polygons are fan-triangulated; ``f`` tokens like ``1/2/3`` use the vertex index; texture,
    normal and other records are ignored.

    Args:
        path: OBJ file.

    Returns:
        ``(vertices [N, 3] float64, triangles [F, 3] int64 0-based, colors [N, 3] or None)``.

    Raises:
        ValueError: Malformed records or colours present on only some vertices.
    """
    verts: list[list[float]] = []
    cols: list[list[float]] = []
    faces: list[list[int]] = []
    for num, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "v":
            if len(parts) not in (4, 7):
                raise ValueError(f"{path}:{num}: expected 'v x y z [r g b]'")
            verts.append([float(x) for x in parts[1:4]])
            if len(parts) == 7:
                cols.append([float(x) for x in parts[4:7]])
        elif parts[0] == "f":
            idx = [int(tok.split("/")[0]) for tok in parts[1:]]
            if len(idx) < 3:
                raise ValueError(f"{path}:{num}: face with fewer than 3 vertices")
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
            faces += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
    if cols and len(cols) != len(verts):
        raise ValueError(f"{path}: colours on {len(cols)} of {len(verts)} vertices")
    v = np.array(verts, np.float64).reshape(-1, 3)
    t = np.array(faces, np.int64).reshape(-1, 3)
    return v, t, (np.array(cols, np.float64) if cols else None)


def write_ply(
    path: PathLike,
    vertices: Any,
    triangles: Any,
    colors: Any = None,
    *,
    binary: bool = True,
    overwrite: bool = False,
) -> None:
    """Write a PLY mesh (float32 xyz, optional uchar RGB, int triangle lists).

    Args:
        path: Output file (``.ply``).
        vertices: [N, 3] positions.
        triangles: [F, 3] 0-based vertex indices.
        colors: Optional [N, 3] RGB, floats in [0, 1] (stored as ``round(255 c)``) or uint8.
        binary: ``binary_little_endian`` (default) or ``ascii``.
        overwrite: Replace an existing file.

    Raises:
        ValueError: Bad arrays.
        FileExistsError: The file exists and ``overwrite`` is False.
    """
    v, t, c = _prepare(vertices, triangles, colors)
    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        "comment face3d_ros mesh",
        f"element vertex {v.shape[0]}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if c is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {t.shape[0]}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode("ascii")
    c8 = None if c is None else np.round(c * 255.0).astype(np.uint8)
    if binary:
        fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
        if c8 is not None:
            fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        vrec = np.empty(v.shape[0], dtype=fields)
        vrec["x"], vrec["y"], vrec["z"] = v[:, 0], v[:, 1], v[:, 2]
        if c8 is not None:
            vrec["red"], vrec["green"], vrec["blue"] = c8[:, 0], c8[:, 1], c8[:, 2]
        frec = np.empty(t.shape[0], dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        frec["n"] = 3
        frec["idx"] = t
        body = vrec.tobytes() + frec.tobytes()
    else:
        v32 = v.astype(np.float32)
        if c8 is None:
            vl = [f"{x:.9g} {y:.9g} {z:.9g}" for x, y, z in v32]
        else:
            vl = [
                f"{x:.9g} {y:.9g} {z:.9g} {r} {g} {b}"
                for (x, y, z), (r, g, b) in zip(v32, c8, strict=True)
            ]
        fl = [f"3 {a} {b} {d}" for a, b, d in t]
        body = ("\n".join(vl + fl) + "\n").encode("ascii")
    _atomic_write(path, head + body, overwrite)


_PLY_TYPES = {
    "char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "<i2", "ushort": "<u2",
    "int16": "<i2", "uint16": "<u2", "int": "<i4", "uint": "<u4", "int32": "<i4", "uint32": "<u4",
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
}  # fmt: skip


def read_ply(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a triangle PLY with optional uchar vertex colours (binary little endian or ASCII).

    Args:
        path: PLY file.

    Returns:
        ``(vertices [N, 3] float64, triangles [F, 3] int64, colors [N, 3] uint8 or None)``.

    Raises:
        ValueError: Unsupported or malformed files (big endian, non-triangle faces, ...).
    """
    raw = pathlib.Path(path).read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise ValueError(f"{path}: not a PLY file")
    body_start = raw.index(b"\n", end) + 1
    fmt = None
    elements: list[tuple[str, int, list[tuple[str, str, str | None]]]] = []
    for line in raw[:end].decode("ascii").splitlines():
        p = line.split()
        if not p:
            continue
        if p[0] == "format":
            fmt = p[1]
        elif p[0] == "element":
            elements.append((p[1], int(p[2]), []))
        elif p[0] == "property":
            if p[1] == "list":
                elements[-1][2].append((p[4], p[3], p[2]))  # name, item type, count type
            else:
                elements[-1][2].append((p[2], p[1], None))
    if fmt not in ("binary_little_endian", "ascii"):
        raise ValueError(f"{path}: unsupported PLY format {fmt!r}")
    verts = tris = cols = None
    if fmt == "ascii":
        tokens = raw[body_start:].decode("ascii").split()
        pos = 0
        for name, count, props in elements:
            rows = []
            for _ in range(count):
                row = []
                for _pname, _ptype, ctype in props:
                    if ctype is None:
                        row.append(float(tokens[pos]))
                        pos += 1
                    else:
                        k = int(tokens[pos])
                        row.extend(float(x) for x in tokens[pos + 1 : pos + 1 + k])
                        pos += 1 + k
                rows.append(row)
            if name == "vertex":
                arr = np.array(rows, np.float64).reshape(count, len(props))
                for i, (_pn, ptype, _c) in enumerate(props):  # round to the declared types
                    arr[:, i] = arr[:, i].astype(_PLY_TYPES[ptype]).astype(np.float64)
                names = [pr[0] for pr in props]
                verts = arr[:, [names.index(a) for a in "xyz"]]
                if "red" in names:
                    rgb = [names.index(a) for a in ("red", "green", "blue")]
                    cols = arr[:, rgb].astype(np.uint8)
            elif name == "face":
                if any(len(r) != 3 for r in rows):
                    raise ValueError(f"{path}: only triangle faces are supported")
                tris = np.array(rows, np.int64).reshape(count, 3)
    else:
        pos = body_start
        for name, count, props in elements:
            if name == "face":
                (_pn, itype, ctype) = props[0]
                if len(props) != 1 or ctype is None:
                    raise ValueError(f"{path}: unsupported face element")
                dt = np.dtype([("n", _PLY_TYPES[ctype]), ("idx", _PLY_TYPES[itype], (3,))])
                rec = np.frombuffer(raw, dt, count, pos)
                if count and (rec["n"] != 3).any():
                    raise ValueError(f"{path}: only triangle faces are supported")
                tris = rec["idx"].astype(np.int64)
            else:
                if any(ctype is not None for _n, _t, ctype in props):
                    raise ValueError(f"{path}: list properties only supported on faces")
                dt = np.dtype([(pn, _PLY_TYPES[pt]) for pn, pt, _c in props])
                rec = np.frombuffer(raw, dt, count, pos)
                if name == "vertex":
                    verts = np.stack([rec[a].astype(np.float64) for a in "xyz"], 1)
                    if "red" in dt.names:
                        cols = np.stack([rec[a] for a in ("red", "green", "blue")], 1)
                        cols = cols.astype(np.uint8)
            pos += dt.itemsize * count
    if verts is None or tris is None:
        raise ValueError(f"{path}: missing vertex or face element")
    return verts, tris, cols
