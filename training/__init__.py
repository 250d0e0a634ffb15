# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline tools of face3d_ros: inverse rendering, data synthesis, training, export.

Imports the ROS-free core ``face3d_ros``; the core never imports this package.
"""
