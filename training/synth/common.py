# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the three synthesis generators: inputs, sharding, seeding, rendering.

* :class:`PhotoFit` bundles one inverse-rendering result (:mod:`training.inverse_render.fit_result`)
  with its photo and the model evaluated at the fitted parameters.
* :func:`render_textured` rasterises the model with a per-vertex albedo under SH light in any
  square crop (the photo's own blended albedo for the coarse/tracking sets).
* :func:`unit_rng` gives every (photo, sample) its own deterministic random stream, so a sample
  is reproducible whatever the sharding, and the tracking set can re-create exactly the CoarseNet
  variants it is built from.
"""

from __future__ import annotations

import dataclasses
import pathlib
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "PhotoFit",
    "boundary_vertices",
    "gray",
    "inpaint_face",
    "interpolate_np",
    "load_photo_fit",
    "parse_shard",
    "rasterize_mesh",
    "render_textured",
    "select_shard",
    "select_shard_by_name",
    "sh_shading_np",
    "to_uint8",
    "unit_rng",
]

_KIND_IDS = {
    "coarse": 1,
    "fine": 2,
    "tracking": 3,
    "motion": 4,
    "coarse-photo-choice": 5,
    "coarse-photo": 6,
}


def parse_shard(text: str | None) -> tuple[int, int]:
    """Parse ``"i/n"`` (0-based part ``i`` of ``n``); ``None`` gives ``(0, 1)``.

    Raises:
        ValueError: Malformed text or ``i`` outside ``[0, n)``.
    """
    if text is None:
        return 0, 1
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError as exc:
        raise ValueError(f"--shard must look like 'i/n' (e.g. 0/4), got {text!r}") from exc
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard {text!r}: need n >= 1 and 0 <= i < n")
    return i, n


def select_shard(items: Sequence[Any], index: int, count: int) -> list[Any]:
    """Every ``count``-th item starting at ``index`` (a deterministic split of the inputs)."""
    return list(items[index::count])


def select_shard_by_name(names: Sequence[str], index: int, count: int) -> list[str]:
    """The names whose CRC-32 is ``index`` modulo ``count``.

    Unlike :func:`select_shard`, a name stays in its part when names are added or removed, so a
    dataset grown with more photos resumes without moving (and duplicating) finished photos.
    """
    return [n for n in names if zlib.crc32(n.encode()) % count == index]


def unit_rng(seed: int, kind: str, name: str, sample: int) -> np.random.Generator:
    """Deterministic random stream for one sample of one photo.

    Args:
        seed: Global seed (``--seed``).
        kind: Stream family: ``"coarse"``, ``"fine"``, ``"tracking"``, ``"motion"``, or the
            CoarseNet photo samples' ``"coarse-photo-choice"`` / ``"coarse-photo"``.
        name: Photo (fit) name.
        sample: Sample number within the photo.

    Returns:
        A generator independent of every other (kind, name, sample).
    """
    return np.random.default_rng([int(seed), _KIND_IDS[kind], zlib.crc32(name.encode()), sample])


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def gray(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB image ``[..., 3]`` -> ``[...]`` float32."""
    rgb = np.asarray(image, dtype=np.float32)
    return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def boundary_vertices(triangles: np.ndarray) -> np.ndarray:
    """Vertices on the open border of a triangle mesh (edges used by exactly one triangle).

    Args:
        triangles: [F, 3] vertex indices.

    Returns:
        [M] sorted unique vertex indices.
    """
    t = np.asarray(triangles, dtype=np.int64)
    edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    edges.sort(axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(uniq[counts == 1])


def sh_shading_np(normals: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """SH shading in numpy: ``sh_basis_np(n) @ gamma.reshape(3, 9).T``.

    Args:
        normals: [..., 3] unit normals (camera frame).
        gamma: [27] SH lighting.

    Returns:
        [..., 3] float32 shading.
    """
    from face3d_ros.geometry.sh import sh_basis_np

    basis = sh_basis_np(np.asarray(normals, dtype=np.float32))
    g = np.asarray(gamma, dtype=np.float32).reshape(3, 9)
    return (basis @ g.T).astype(np.float32)


def interpolate_np(attributes: np.ndarray, triangles: np.ndarray, fragments: Any) -> np.ndarray:
    """Barycentric interpolation of per-vertex attributes at each pixel (numpy, no gradients).

    Args:
        attributes: [N, C] per-vertex values.
        triangles: [F, 3] vertex indices.
        fragments: Rasterizer output with ``triangle_id`` [H, W] (-1 = background) and
            ``barycentric`` [H, W, 3].

    Returns:
        [H, W, C] float32; zeros on background pixels.
    """
    tid = np.asarray(fragments.triangle_id)
    bary = np.asarray(fragments.barycentric, dtype=np.float32)
    attrs = np.asarray(attributes, dtype=np.float32)
    out = np.zeros((*tid.shape, attrs.shape[1]), dtype=np.float32)
    fg = tid >= 0
    corners = np.asarray(triangles)[tid[fg]]  # [P, 3]
    out[fg] = np.einsum("pk,pkc->pc", bary[fg], attrs[corners])
    return out


def rasterize_mesh(
    vertices: np.ndarray, triangles: np.ndarray, pose: np.ndarray, size: int
) -> tuple[Any, np.ndarray]:
    """Project model-space vertices with a weak-perspective pose and rasterise them.

    Args:
        vertices: [N, 3] mm, model space.
        triangles: [F, 3].
        pose: [6] pose in the pixel coordinates of the ``size`` x ``size`` output.
        size: Output side in pixels.

    Returns:
        ``(fragments, screen [N, 3])`` with screen = (u, v, depth) pixels.
    """
    from face3d_ros.geometry.camera import project_np
    from face3d_ros.render.rasterizer import rasterize

    screen = np.asarray(project_np(np.asarray(vertices, np.float32), pose), dtype=np.float32)
    frags = rasterize(screen, np.asarray(triangles, dtype=np.int32), size, size)
    return frags, screen


def render_textured(
    vertices: np.ndarray,
    triangles: np.ndarray,
    albedo: np.ndarray,
    gamma: np.ndarray,
    pose: np.ndarray,
    size: int,
) -> dict[str, np.ndarray]:
    """Render a mesh with per-vertex albedo under SH light (per-pixel shading).

    Args:
        vertices: [N, 3] mm, model space.
        triangles: [F, 3].
        albedo: [N, 3] linear RGB in [0, 1].
        gamma: [27] SH lighting.
        pose: [6] in the output's pixel coordinates.
        size: Output side S.

    Returns:
        ``image`` [S, S, 3] float32 in [0, 1] (0 on background), ``mask`` [S, S] bool,
        ``depth`` [S, S] float32 (pixels, 0 outside), ``normals`` [S, S, 3] float32 (camera
        frame, unit; 0 outside), ``screen`` [N, 3] and ``fragments``.
    """
    from face3d_ros.geometry.normals import vertex_normals
    from face3d_ros.geometry.rotation import euler_to_matrix_np

    frags, screen = rasterize_mesh(vertices, triangles, pose, size)
    mask = np.asarray(frags.triangle_id) >= 0
    with torch.no_grad():
        n_model = vertex_normals(
            torch.from_numpy(np.asarray(vertices, np.float32))[None],
            torch.from_numpy(np.asarray(triangles, np.int64)),
        )[0].numpy()
    rot = euler_to_matrix_np(np.asarray(pose[:3], dtype=np.float64)).astype(np.float32)
    n_cam = n_model @ rot.T
    normals = interpolate_np(n_cam, triangles, frags)
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = np.where(norm > 1e-8, normals / np.maximum(norm, 1e-8), 0.0).astype(np.float32)
    alb = interpolate_np(albedo, triangles, frags)
    image = np.zeros((size, size, 3), dtype=np.float32)
    if mask.any():
        image[mask] = np.clip(alb[mask] * sh_shading_np(normals[mask], gamma), 0.0, 1.0)
    depth = np.where(mask, np.asarray(frags.depth), 0.0).astype(np.float32)
    return {
        "image": image,
        "mask": mask,
        "depth": depth,
        "normals": normals,
        "screen": screen,
        "fragments": frags,
    }


@dataclasses.dataclass
class PhotoFit:
    """One fitted photo ready for synthesis.

    Attributes:
        name: Fit name (unique per photo face).
        fit: The loaded :class:`training.inverse_render.fit_result.FitResult`.
        photo: [H, W, 3] float32 RGB in [0, 1].
        vertices: [N, 3] mm, the fitted shape (identity + expression) in model space.
        albedo: [N, 3] the blended per-vertex albedo (``albedo_vertex``).
    """

    name: str
    fit: Any
    photo: np.ndarray
    vertices: np.ndarray
    albedo: np.ndarray
    _face_free: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def face_free_photo(self, triangles: np.ndarray) -> np.ndarray:
        """The photo with the fitted face region inpainted (cached), [H, W, 3] float32.

        The re-posed face does not cover exactly the original face region, so the background
        warp starts from this copy: no second, ghost face survives next to the new one.

        Args:
            triangles: [F, 3] mesh triangles (to rasterise the fitted face's silhouette).
        """
        if self._face_free is None:
            self._face_free = inpaint_face(self.photo, self.vertices, triangles, self.params.pose)
        return self._face_free

    @property
    def params(self) -> Any:
        """The fitted :class:`~face3d_ros.params.FaceParams` (pose in photo pixels)."""
        return self.fit.params


def inpaint_face(
    photo: np.ndarray,
    vertices: np.ndarray,
    triangles: np.ndarray,
    pose: np.ndarray,
    work_size: int = 160,
    dilate: float = 0.06,
) -> np.ndarray:
    """Inpaint the face silhouette of a fitted mesh out of a photo.

    The face region (rasterised mesh, dilated by ``dilate`` x its size) is filled by OpenCV's
    Telea inpainting at a working resolution where the face is about ``work_size`` pixels,
    upsampled and pasted back inside the region only.

    Args:
        photo: [H, W, 3] float32 RGB in [0, 1].
        vertices: [N, 3] fitted shape, mm.
        triangles: [F, 3].
        pose: [6] fitted pose, photo pixels.
        work_size: Face size at the working resolution.
        dilate: Dilation of the region relative to the face size.

    Returns:
        [H, W, 3] float32 photo with the face region replaced.
    """
    import cv2

    from face3d_ros.geometry.camera import project_np

    h, w = photo.shape[:2]
    uv = project_np(np.asarray(vertices, np.float32), np.asarray(pose, np.float32))[:, :2]
    size = float(np.ptp(uv, axis=0).max())
    k = min(1.0, work_size / max(size, 1.0))
    sw, sh = max(int(round(w * k)), 1), max(int(round(h * k)), 1)
    small = cv2.resize(photo, (sw, sh), interpolation=cv2.INTER_AREA) if k < 1 else photo
    pts = uv * np.array([sw / w, sh / h])
    mask = np.zeros((sh, sw), np.uint8)
    tri = np.asarray(triangles)
    polys = np.round(pts[tri] * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(mask, list(polys), 255, lineType=cv2.LINE_8, shift=4)
    r = max(int(round(dilate * size * k)), 1)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    filled = (
        cv2.inpaint(
            np.clip(small * 255.0, 0, 255).astype(np.uint8), mask, 5, cv2.INPAINT_TELEA
        ).astype(np.float32)
        / 255.0
    )
    if k < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    return (photo * (1.0 - alpha) + filled * alpha).astype(np.float32)


def _resolve_photo(source: str, fits_dir: pathlib.Path) -> pathlib.Path:
    """Find a fit's photo.

    Looked up as recorded (relative to the working directory, the fits folder or one of its
    parents), else by file name next to the fits.
    """
    cands = [pathlib.Path(source), fits_dir / source]
    cands += [parent / source for parent in fits_dir.resolve().parents]
    cands.append(fits_dir / pathlib.Path(source).name)
    for cand in cands:
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"photo {source!r} of a fit in {fits_dir} not found (looked as given, relative to the "
        "fits folder and its parents, and by file name in it)"
    )


def load_photo_fit(
    fits_dir: str | pathlib.Path, name: str, model: Any, photo: np.ndarray | None = None
) -> PhotoFit:
    """Load fit ``name`` from ``fits_dir`` with its photo.

    Args:
        fits_dir: Folder written by the inverse-rendering CLI.
        name: Fit name (see ``list_fits``).
        model: :class:`~face3d_ros.model.morphable.MorphableModel` the fit was made with.
        photo: The photo as float32 RGB [H, W, 3] in [0, 1], if already in memory (built-in
            photos that have no file); otherwise it is read from the fit's ``source``.

    Returns:
        The :class:`PhotoFit`.

    Raises:
        ValueError: The fit was made with another model or its dimensions differ.
        FileNotFoundError: The photo cannot be found.
    """
    import cv2

    from training.inverse_render.fit_result import fit_paths, load_fit

    fits_dir = pathlib.Path(fits_dir)
    fit = load_fit(fit_paths(fits_dir, name)["json"])
    if fit.model_id != model.data.model_id:
        raise ValueError(
            f"fit {name!r} was made with model {fit.model_id!r}, synthesis uses "
            f"{model.data.model_id!r}"
        )
    p = fit.params
    dims = (len(p.alpha_id), len(p.alpha_exp), len(p.alpha_alb))
    if dims != (model.n_id, model.n_exp, model.n_alb):
        raise ValueError(f"fit {name!r} has dims {dims}, model {model.dims}")
    if photo is None:
        path = _resolve_photo(fit.source, fits_dir)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read photo {path}")
        photo = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    photo = np.asarray(photo, dtype=np.float32)
    if tuple(photo.shape[:2]) != tuple(fit.image_size):
        raise ValueError(f"photo of fit {name!r} is {photo.shape[:2]}, fit says {fit.image_size}")
    with torch.no_grad():
        verts = model.shape(
            torch.from_numpy(np.asarray(p.alpha_id, np.float32))[None],
            torch.from_numpy(np.asarray(p.alpha_exp, np.float32))[None],
        )[0].numpy()
    albedo = np.clip(np.asarray(fit.arrays["albedo_vertex"], dtype=np.float32), 0.0, 1.0)
    return PhotoFit(name=name, fit=fit, photo=photo, vertices=verts, albedo=albedo)
