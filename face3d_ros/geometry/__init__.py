# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera, rotation, crop, lighting (spherical harmonics) and normal computations.

Submodules: :mod:`~face3d_ros.geometry.rotation`, :mod:`~face3d_ros.geometry.camera`,
:mod:`~face3d_ros.geometry.crop`, :mod:`~face3d_ros.geometry.sh`,
:mod:`~face3d_ros.geometry.normals`. Nothing is imported eagerly here.
"""
