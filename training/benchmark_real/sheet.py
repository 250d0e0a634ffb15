# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Contact sheet of the benchmark: reference vs predicted landmarks and the shaded mesh."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import crop_from_points, crop_image, points_to_crop, pose_to_crop
from face3d_ros.geometry.rotation import euler_to_matrix_np

__all__ = ["SheetSample", "make_sheet", "mesh_tile", "landmark_tile", "write_png"]

#: Colours (RGB) of the reference and the predicted landmarks.
REFERENCE_COLOUR = (40, 220, 40)
PREDICTED_COLOUR = (235, 40, 40)


@dataclass
class SheetSample:
    """One face of the sheet.

    Attributes:
        label: Text drawn on the tile (set, name, NME).
        image: uint8 ``[H, W, 3]`` RGB photo / frame.
        reference: ``[68, 2]`` reference landmarks (pixels).
        predicted: ``[68, 2]`` predicted landmarks or None.
        vertices: ``[N, 3]`` predicted mesh (model mm) or None.
        pose: ``[6]`` predicted pose (image pixels) or None.
    """

    label: str
    image: np.ndarray
    reference: np.ndarray
    predicted: np.ndarray | None
    vertices: np.ndarray | None
    pose: np.ndarray | None


def _label(tile: np.ndarray, text: str) -> None:
    """Draw up to two lines (newline-separated) of white-on-black text at the top left."""
    import cv2

    for row, line in enumerate(text.split("\n")[:2]):
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(
                tile,
                line,
                (4, 13 + 13 * row),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.38,
                colour,
                thick,
                cv2.LINE_AA,
            )


def landmark_tile(sample: SheetSample, size: int) -> tuple[np.ndarray, object]:
    """Face crop with the reference (green) and predicted (red) landmarks; also the crop box."""
    import cv2

    box = crop_from_points(np.asarray(sample.reference, np.float64), scale=1.6)
    tile = np.ascontiguousarray(crop_image(sample.image, box, size))
    for pts, colour in ((sample.reference, REFERENCE_COLOUR), (sample.predicted, PREDICTED_COLOUR)):
        if pts is None:
            continue
        for u, v in np.asarray(points_to_crop(np.asarray(pts, np.float64), box, size)):
            if np.isfinite(u) and np.isfinite(v):
                cv2.circle(tile, (int(round(u)), int(round(v))), 2, colour, -1, cv2.LINE_AA)
    _label(tile, sample.label)
    return tile, box


def mesh_tile(
    sample: SheetSample, box: object, size: int, triangles: np.ndarray, alpha: float = 0.7
) -> np.ndarray:
    """Predicted mesh, Lambert-shaded with a light at the camera, over the face crop."""
    import torch

    from face3d_ros.geometry.normals import vertex_normals
    from face3d_ros.render.interpolate import interpolate_np
    from face3d_ros.render.rasterizer import rasterize

    base = np.ascontiguousarray(crop_image(sample.image, box, size)).astype(np.float32)
    if sample.vertices is None or sample.pose is None:
        out = (0.35 * base).astype(np.uint8)
        _label(out, "no reconstruction")
        return out
    verts = np.asarray(sample.vertices, np.float32)
    pose_c = np.asarray(pose_to_crop(np.asarray(sample.pose, np.float64), box, size), np.float32)
    screen = project_np(verts, pose_c).astype(np.float32)
    tri = np.ascontiguousarray(np.asarray(triangles, np.int32))
    frag = rasterize(screen, tri, size, size)
    with torch.no_grad():
        nrm = vertex_normals(torch.from_numpy(verts)[None], torch.from_numpy(tri).long())[0]
    nrm_c = nrm.numpy() @ euler_to_matrix_np(pose_c[:3].astype(np.float64)).T.astype(np.float32)
    shade = interpolate_np(np.clip(nrm_c[:, 2:3], 0.0, 1.0), tri, frag)[..., 0]
    grey = 255.0 * (0.2 + 0.8 * shade)
    mask = (frag.triangle_id >= 0)[..., None]
    mesh_rgb = np.repeat(grey[..., None], 3, -1) * np.array([0.85, 0.9, 1.0], np.float32)
    out = np.where(mask, alpha * mesh_rgb + (1 - alpha) * base, base)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_sheet(
    samples: list[SheetSample], triangles: np.ndarray, tile: int = 160, per_row: int = 4
) -> np.ndarray:
    """Grid of ``[landmarks | mesh]`` tile pairs, ``per_row`` pairs per row.

    Returns:
        uint8 RGB ``[rows * tile, per_row * 2 * tile, 3]``.

    Raises:
        ValueError: No samples.
    """
    if not samples:
        raise ValueError("no samples for the contact sheet")
    rows = -(-len(samples) // per_row)
    sheet = np.full((rows * tile, per_row * 2 * tile, 3), 255, np.uint8)
    for i, s in enumerate(samples):
        r, c = divmod(i, per_row)
        lm, box = landmark_tile(s, tile)
        mesh = mesh_tile(s, box, tile, triangles)
        y, x = r * tile, c * 2 * tile
        sheet[y : y + tile, x : x + tile] = lm
        sheet[y : y + tile, x + tile : x + 2 * tile] = mesh
    return sheet


def write_png(path: str | pathlib.Path, image: np.ndarray, *, overwrite: bool) -> pathlib.Path:
    """Write an RGB PNG, refusing to replace an existing file unless ``overwrite``.

    Raises:
        FileExistsError: The file exists and ``overwrite`` is False.
        OSError: Encoding or writing failed.
    """
    import cv2

    p = pathlib.Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass --overwrite to replace it")
    p.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(
        ".png", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    if not ok:
        raise OSError(f"cannot encode {p}")
    p.write_bytes(buf.tobytes())
    return p
