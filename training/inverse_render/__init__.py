# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inverse rendering of real photos (paper Sec. 4.1): model fit, displacement, albedo blending.

Run ``python -m training.inverse_render --help``. The on-disk result format is documented in
:mod:`training.inverse_render.fit_result`.
"""
