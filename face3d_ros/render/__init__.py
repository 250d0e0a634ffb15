# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Numba z-buffer rasterizer, differentiable attribute interpolation, render maps and mesh export.

Submodules: :mod:`~face3d_ros.render.rasterizer`, :mod:`~face3d_ros.render.interpolate`,
:mod:`~face3d_ros.render.maps`, :mod:`~face3d_ros.render.mesh_io`. Nothing is imported eagerly
here (numba compiles lazily, on the first rasterization).
"""
