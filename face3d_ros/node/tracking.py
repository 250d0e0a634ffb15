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
    """Load the face model, the nets and the detector and build a tracker.

    Args:
        p: :class:`face3d_ros.node.parameters.NodeParams` (model_path, weights_dir, backend,
            device, threads, use_fine, detector, keyframe_interval, min_confidence).

    Returns:
        ``(tracker, model_data)``: a ``face3d_ros.pipeline.Tracker`` and the
        ``FaceModelData`` it uses.

    Raises:
        TrackerLoadError: missing/corrupt model or weights, weights trained for another model,
            unusable backend/device, unknown detector, missing detector model or dlib landmark
            predictor.
    """
    try:
        from face3d_ros.detection.interface import make_detector
        from face3d_ros.model.default import default_model_path, load_default_model
        from face3d_ros.model.io import load_face_model
        from face3d_ros.pipeline import Tracker, TrackerConfig
        from face3d_ros.runtime.bundle import NetBundle, default_weights_dir
    except ImportError as exc:
        raise TrackerLoadError(f"the tracking pipeline cannot be imported: {exc}") from exc

    model_where = p.model_path or f"{default_model_path()} (package default)"
    try:
        model_data = load_face_model(p.model_path) if p.model_path else load_default_model()
    except (OSError, ValueError) as exc:
        raise TrackerLoadError(f"face model {model_where}: {exc}") from exc
    weights_where = p.weights_dir or f"{default_weights_dir()} (package default)"
    try:
        nets = NetBundle.load(
            p.weights_dir or None,
            backend=p.backend,
            device=p.device,
            threads=p.threads or None,
            model=model_data,
            load_fine=p.use_fine,
        )
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        raise TrackerLoadError(f"weights {weights_where} ({p.backend}, {p.device}): {exc}") from exc
    try:
        detector = make_detector(p.detector)
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        raise TrackerLoadError(f"face detector {p.detector!r}: {exc}") from exc
    try:
        config = TrackerConfig(
            backend=p.backend,
            threads=p.threads or None,
            use_fine=p.use_fine,
            detector=p.detector,
            keyframe_interval=p.keyframe_interval,
            min_confidence=p.min_confidence,
        )
        tracker = Tracker(config, nets.model, nets, detector)
    except (TypeError, ValueError) as exc:
        raise TrackerLoadError(f"tracker configuration: {exc}") from exc
    return tracker, model_data
