# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training of the three nets: losses (Eq. 11-17), typed configs, the loop and its CLIs."""
