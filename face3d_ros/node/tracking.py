# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build the ROS-free tracker (model + nets + detector) from the node's parameters.

Shared by the node (on_activate), the bag replay tool and the demo, so all three run the same
configuration. Every failure is turned into :class:`TrackerLoadError` whose message names the
file and the problem; nothing falls back to untrained or default weights silently.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrackerLoadError", "load_tracker"]


class TrackerLoadError(RuntimeError):
    """The face model, the network weights or the landmark predictor could not be loaded."""


def load_tracker(p: Any) -> tuple[Any, Any]:
    """Load the face model, then the tracker through :meth:`Tracker.load` (the one factory).

    Args:
        p: :class:`face3d_ros.node.parameters.NodeParams`; the TrackerConfig comes from
            :func:`~face3d_ros.node.parameters.tracker_config` (every tracker parameter), the
            face model from ``model_path``, the weights from ``weights_dir`` and ``device``.

    Returns:
        ``(tracker, model_data)``: a ``face3d_ros.pipeline.Tracker`` and the
        ``FaceModelData`` it uses.

    Raises:
        TrackerLoadError: missing/corrupt model or weights, weights trained for another model or
            with another contract, unusable backend/device/precision, unknown detector, missing
            detector model or dlib landmark predictor, invalid tracker settings.
    """
    try:
        from face3d_ros.model.default import default_model_path, load_default_model
        from face3d_ros.model.io import load_face_model
        from face3d_ros.node.parameters import tracker_config
        from face3d_ros.pipeline import Tracker
        from face3d_ros.runtime.bundle import default_weights_dir
    except ImportError as exc:
        raise TrackerLoadError(f"the tracking pipeline cannot be imported: {exc}") from exc

    try:
        config = tracker_config(p)
    except (TypeError, ValueError) as exc:
        raise TrackerLoadError(f"tracker configuration: {exc}") from exc
    model_where = p.model_path or f"{default_model_path()} (package default)"
    try:
        model_data = load_face_model(p.model_path) if p.model_path else load_default_model()
    except (OSError, ValueError) as exc:
        raise TrackerLoadError(f"face model {model_where}: {exc}") from exc
    weights_where = p.weights_dir or f"{default_weights_dir()} (package default)"
    try:
        tracker = Tracker.load(config, p.weights_dir or None, model=model_data, device=p.device)
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        raise TrackerLoadError(
            f"weights {weights_where} ({p.backend}, {p.precision}, {p.device}; detector "
            f"{p.detector!r}): {exc}"
        ) from exc
    return tracker, model_data
