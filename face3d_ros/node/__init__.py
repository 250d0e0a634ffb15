# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 glue for face3d_ros: the lifecycle node, message conversions and builders.

This is the only sub-package that imports rclpy and ROS message types.
"""
