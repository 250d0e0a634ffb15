# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Morphable face model: data type, file format, torch module, synthetic and default models."""
