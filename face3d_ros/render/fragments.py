# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The rasterizer's per-pixel result, a plain container.

Kept apart so that interpolation need not import the rasterizer (as pytorch3d's
``interpolate_face_attributes`` takes raw tensors).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Fragments"]


class Fragments(NamedTuple):
    """Per-pixel rasterization result (numpy; batched variants carry a leading [B]).

    Attributes:
        triangle_id: [H, W] int32 index of the visible triangle, -1 = background.
        barycentric: [H, W, 3] float32 screen-space barycentrics of the pixel centre w.r.t. the
            triangle's vertices (in the order of ``triangles[triangle_id]``); 0 on background.
        depth: [H, W] float32 interpolated screen depth (pixels, larger = closer); ``-inf`` on
            background.
    """

    triangle_id: np.ndarray
    barycentric: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """[H, W] (or [B, H, W]) bool, True where a triangle is visible."""
        return self.triangle_id >= 0
