# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Inference backends (ONNX Runtime, PyTorch, TensorRT) behind one interface, and NetBundle."""

from face3d_ros.runtime.backend import (
    BACKEND_KINDS,
    BackendKind,
    InferenceBackend,
    NetIO,
    check_inputs,
    create_backend,
)
from face3d_ros.runtime.bundle import NetBundle, default_weights_dir, weight_file

__all__ = [
    "BACKEND_KINDS",
    "BackendKind",
    "InferenceBackend",
    "NetBundle",
    "NetIO",
    "check_inputs",
    "create_backend",
    "default_weights_dir",
    "weight_file",
]
