# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracking net's input, built in one place for the Tracker, the synthesis and the prior data.

The tracking CoarseNet sees ``[RGB crop | PNCC]`` (its contract's input groups ``rgb8/255`` and
``pncc/255``): the frame cropped by the tracking box, and the PNCC image of the *previous*
frame's mesh rendered with the previous pose expressed in that crop's pixels. The crop itself is
the caller's (the Tracker and the prior data crop a frame, the synthesis composites the face into
the crop); :func:`tracking_input` does the rest the same way for all three.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from face3d_ros.geometry.camera import project_np
from face3d_ros.geometry.crop import CropBox, pose_to_crop
from face3d_ros.pipeline._kernels import pncc_into
from face3d_ros.render.maps import pncc_colors
from face3d_ros.render.rasterizer import rasterize

__all__ = ["PnccRenderer", "tracking_input"]


class PnccRenderer:
    """PNCC images of one face model (per-triangle-corner colours precomputed).

    Same result as :func:`face3d_ros.render.maps.render_pncc` (rasterize + barycentric
    interpolation of the PNCC colours, 0 outside), written channels-first by a numba kernel.

    Args:
        model: MorphableModel or FaceModelData (mean shape and triangles).
    """

    def __init__(self, model: Any) -> None:
        """Precompute the triangles and the corner colours."""
        tri = getattr(model, "triangles", None)
        tri = tri.detach().cpu().numpy() if hasattr(tri, "detach") else np.asarray(tri)
        self.triangles = np.ascontiguousarray(tri, dtype=np.int32)
        self.corner_colors = np.ascontiguousarray(pncc_colors(model)[self.triangles], np.float32)

    def render_into(self, screen: np.ndarray, out: np.ndarray) -> None:
        """Render the PNCC of projected vertices into a channels-first buffer.

        Args:
            screen: [N, 3] float32 projected vertices ``(u, v, depth)`` in the buffer's pixels.
            out: [3, H, W] float32 destination, written fully (0 on background).
        """
        h, w = out.shape[1:]
        fragments = rasterize(np.asarray(screen, np.float32), self.triangles, h, w)
        pncc_into(fragments.triangle_id, fragments.barycentric, self.corner_colors, out)


def tracking_input(
    crop_rgb: np.ndarray,
    box: CropBox,
    prev_vertices: np.ndarray,
    prev_pose: np.ndarray,
    renderer: PnccRenderer,
    *,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The tracking net's ``[RGB | PNCC]`` input and the previous pose in the crop.

    Args:
        crop_rgb: [S, S, 3] crop of the current frame by ``box``: uint8, or float32 in [0, 1].
        box: The tracking crop box (image pixels).
        prev_vertices: [N, 3] previous frame's model-space mesh (mm).
        prev_pose: [6] previous frame's pose in image pixels.
        renderer: The model's :class:`PnccRenderer`.
        out: Optional [6, S, S] float32 destination (e.g. a view into a reused net input).

    Returns:
        ``(x [6, S, S] float32, prev_pose_crop [6] float32)``: RGB in [0, 1] then PNCC in
        [0, 1]; the previous pose in crop pixels (what the net's pose deltas are added to).

    Raises:
        ValueError: A crop that is not square RGB, or an ``out`` of another shape.
    """
    if crop_rgb.ndim != 3 or crop_rgb.shape[2] != 3 or crop_rgb.shape[0] != crop_rgb.shape[1]:
        raise ValueError(f"crop_rgb must be [S, S, 3], got {list(crop_rgb.shape)}")
    size = int(crop_rgb.shape[0])
    if out is None:
        out = np.empty((6, size, size), np.float32)
    elif out.shape != (6, size, size) or out.dtype != np.float32:
        raise ValueError(f"out must be float32 [6, {size}, {size}], got {out.dtype} {out.shape}")
    chw = crop_rgb.transpose(2, 0, 1)
    if crop_rgb.dtype == np.uint8:
        np.multiply(chw, np.float32(1.0 / 255.0), out=out[:3], dtype=np.float32)
    else:
        out[:3] = chw
    prev_pose_crop = np.asarray(pose_to_crop(prev_pose, box, size), np.float32)
    screen = project_np(prev_vertices, prev_pose_crop).astype(np.float32)
    renderer.render_into(screen, out[3:])
    return out, prev_pose_crop
