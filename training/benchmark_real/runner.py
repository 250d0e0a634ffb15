# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run the nets and the baselines over the benchmark's sets and collect every figure.

The nets run through :class:`face3d_ros.pipeline.tracker.Tracker` (its public API only):

* photos: a fresh track per photo (``reset`` + one ``step``), i.e. what the node produces on
  the first frame of a face: dlib detection, the largest box, the single-image CoarseNet;
* video: one Tracker with the default :class:`TrackerConfig` stepped over every frame (the
  node's loop), and a second pass with a fresh track on every frame (single-image CoarseNet on
  every frame) for the tracking-vs-single-image comparison.

FineNet is off by default (``with_fine``): it changes no landmark, pose or track state (the
Tracker runs it after all of those are decided), only the displacement map, and costs time.

Detectors: the REFERENCE landmarks (where no manual ones exist) and the baselines' boxes come
from dlib's HOG detector + 68-point predictor (``FaceDetector``). The Tracker uses the node's
default detector (``TrackerConfig().detector``, e.g. BlazeFace boxes + the same dlib predictor)
unless ``tracker_detector`` names another. Both are wrapped in :class:`MemoDetector`, so an
image is detected once per detector (when the Tracker's detector is dlib too, the reference,
the baselines and the Tracker share one detection per image).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from face3d_ros.detection.detector import box_iou
from training.benchmark_real import baselines as bl
from training.benchmark_real.cache import DiskCache, digest
from training.benchmark_real.data import Photo, person_id, read_pts, read_rgb
from training.benchmark_real.headpose import DEFAULT_FOCAL_FACTOR, mean_face_landmarks, pnp_pose
from training.benchmark_real.metrics import (
    angle_stats,
    drift_ratio,
    jitter,
    mouth_ratio,
    nme,
    summary,
)
from training.benchmark_real.sheet import SheetSample

__all__ = ["METHODS", "MIN_FACE_IOU", "Bench", "MemoDetector", "Prediction", "matching_face"]

#: On photos the net is scored on its detector's face that overlaps the reference face's box
#: by at least this IoU (several people in a photo: the reference's person, not another one).
MIN_FACE_IOU = 0.3

#: Row keys and their labels, in table order.
METHODS: dict[str, str] = {
    "net": "net under test (single-image CoarseNet via the Tracker)",
    "dlib": "dlib 68-point predictor (the project's landmark detector)",
    "a_box": "(a) mean face placed by the dlib box",
    "a_prior": "(a') mean face at the CoarseNet's output mean pose in the Tracker crop",
    "b_similarity": "(b) mean face, best 2D similarity fit to the reference",
    "c_rigid": "(c) mean face, best rigid 3D (weak-perspective) fit to the reference",
    "d_stage1": "(d) stage-1 inverse-rendering fit to the dlib landmarks",
}


def _sheet_sample(label: str, image: Any, reference: Any, net: Any) -> SheetSample:
    """A contact-sheet tile: the image, the reference landmarks and the net's output (if any)."""
    if net is None:
        return SheetSample(label, image, reference, None, None, None)
    return SheetSample(label, image, reference, net.landmarks, net.vertices, net.pose)


class MemoDetector:
    """Wrap a face detector so that ``detect`` on an identical image returns the cached result.

    Keyed by the image's shape and a BLAKE2 digest of its bytes; the last ``size`` images are
    kept. Every other attribute is the wrapped detector's.
    """

    def __init__(self, detector: Any, size: int = 4, disk: DiskCache | None = None) -> None:
        """Wrap ``detector``; ``disk`` also keeps every result on disk (see :mod:`.cache`)."""
        self.detector = detector
        self.size = int(size)
        self.hits = 0
        self.misses = 0
        self.disk = disk
        self._cache: OrderedDict[tuple, list] = OrderedDict()
        self._signature = _detector_signature(detector) if disk is not None else ""

    def detect(self, image_rgb: np.ndarray) -> list:
        """Detections of ``image_rgb`` (cached)."""
        img = np.ascontiguousarray(image_rgb)
        key = (img.shape, str(img.dtype), hashlib.blake2b(img.tobytes(), digest_size=16).digest())
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return list(self._cache[key])
        self.misses += 1
        dets = self._from_disk(img)
        if dets is None:
            dets = list(self.detector.detect(img))
            self._to_disk(img, dets)
        self._cache[key] = dets
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return list(dets)

    def _disk_key(self, img: np.ndarray) -> str:
        return digest("detections-v1", self._signature, img)

    def _from_disk(self, img: np.ndarray) -> list | None:
        if self.disk is None:
            return None
        got = self.disk.get("detections", self._disk_key(img))
        if got is None:
            return None
        from face3d_ros.detection.detector import Detection

        return [
            Detection(box=tuple(b), landmarks=lm, score=float(sc))
            for b, lm, sc in zip(got["boxes"], got["landmarks"], got["scores"], strict=True)
        ]

    def _to_disk(self, img: np.ndarray, dets: list) -> None:
        if self.disk is None:
            return
        self.disk.put(
            "detections",
            self._disk_key(img),
            {
                "boxes": np.array([d.box for d in dets], np.float64).reshape(-1, 4),
                "landmarks": np.array([d.landmarks for d in dets], np.float32).reshape(-1, 68, 2),
                "scores": np.array([d.score for d in dets], np.float64).reshape(-1),
            },
        )

    def __getattr__(self, name: str) -> Any:
        """Delegate everything else to the wrapped detector."""
        return getattr(self.detector, name)


def _detector_signature(detector: Any) -> str:
    """What a detector's output depends on: its class, settings and predictor file."""
    import pathlib

    parts = [type(detector).__module__, type(detector).__qualname__]
    for name in ("upsample", "max_side", "min_score"):
        parts.append(f"{name}={getattr(detector, name, None)!r}")
    pred = getattr(detector, "predictor_path", None)
    if pred is not None and pathlib.Path(pred).is_file():
        st = pathlib.Path(pred).stat()
        parts.append(f"predictor={pathlib.Path(pred).name}:{st.st_size}:{int(st.st_mtime)}")
    try:
        import dlib

        parts.append(f"dlib={dlib.__version__}")
    except ImportError:
        pass
    return ";".join(parts)


@dataclasses.dataclass
class Prediction:
    """Landmarks (and pose / mesh where the method has them) of one method on one image."""

    landmarks: np.ndarray
    pose: np.ndarray | None = None
    vertices: np.ndarray | None = None
    seconds: float = 0.0


def matching_face(
    detections: Sequence[Any], reference_box: Sequence[float], min_iou: float = MIN_FACE_IOU
) -> Any:
    """The detection whose box overlaps ``reference_box`` most, or None under ``min_iou``."""
    best = max(detections, key=lambda d: box_iou(d.box, reference_box), default=None)
    if best is None or box_iou(best.box, reference_box) < min_iou:
        return None
    return best


def _largest(dets: list) -> Any:
    if not dets:
        return None
    return max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))


def _r(x: float | None, nd: int = 5) -> float | None:
    return None if x is None else round(float(x), nd)


class Bench:
    """The nets under test, the dlib detector and the baselines, ready to score images.

    Args:
        weights_dir: Weights folder (``face3d_ros/weights`` layout); None = the shipped ones.
        threads: Intra-op threads for the nets and torch (stage-1 fit).
        with_baselines: Run the no-network baselines.
        with_stage1: Run baseline (d) (about 2 s per photo) where the set asks for it.
        with_fine: Run FineNet in the Tracker (no effect on any figure; the node's default).
        precision: Weight precision of the Coarse/Tracking nets (``"fp32"`` or ``"int8"``, as
            ``TrackerConfig.precision``).
        fine_precision: FineNet's precision when it differs (``TrackerConfig.fine_precision``).
        detector: Reference face detector (default: ``face3d_ros.detection.detector.FaceDetector``
            with ``predictor_path``).
        tracker_detector: Detector name for the Tracker (``face3d_ros.detection.interface``);
            None = the node's default (``TrackerConfig().detector``; dlib where the Tracker has
            no such setting).
        tracker_overrides: TrackerConfig fields to change for the nets under test (e.g.
            ``{"keyframe_interval": 1}``); applied after the settings above.
        predictor_path: dlib 68-point predictor file (None = the default location).
        cache_dir: On-disk cache of the reference detections and stage-1 fits (:mod:`.cache`);
            None = no cache.
        model: Face model for ``Tracker.load`` (default: the package's).
        log: Progress printer.
    """

    def __init__(
        self,
        weights_dir: Any = None,
        *,
        threads: int = 1,
        with_baselines: bool = True,
        with_stage1: bool = True,
        with_fine: bool = False,
        precision: str = "fp32",
        fine_precision: str | None = None,
        detector: Any = None,
        tracker_detector: str | None = None,
        tracker_overrides: dict[str, Any] | None = None,
        predictor_path: Any = None,
        cache_dir: Any = None,
        model: Any = None,
        log: Callable[[str], None] = print,
    ) -> None:
        """Load the nets (through ``Tracker.load``) and the detector."""
        import torch

        from face3d_ros.pipeline.tracker import Tracker, TrackerConfig

        torch.set_num_threads(int(threads))
        if detector is None:
            from face3d_ros.detection.detector import FaceDetector

            detector = FaceDetector(predictor_path)
        self.disk = DiskCache(cache_dir)
        self.detector = MemoDetector(detector, disk=self.disk)
        self.log = log
        self.with_baselines = with_baselines
        self.with_stage1 = with_stage1 and with_baselines
        #: The node's defaults; only the thread count, precisions and FineNet (see the module
        #: doc) differ.
        changes: dict[str, Any] = {
            "threads": int(threads),
            "use_fine": with_fine,
            "precision": precision,
            "fine_precision": fine_precision,
        }
        changes.update(tracker_overrides or {})
        default = TrackerConfig()
        name = tracker_detector or getattr(default, "detector", "dlib")
        if hasattr(default, "detector"):
            changes["detector"] = name
        elif name != "dlib":
            raise ValueError(f"this Tracker has no detector setting; cannot use {name!r}")
        self.config = dataclasses.replace(default, **changes)
        #: Name of the Tracker's detector.
        self.tracker_detector_name = name
        if name == "dlib":
            self.tracker_detector = self.detector
        else:
            from face3d_ros.detection.interface import make_detector

            self.tracker_detector = MemoDetector(make_detector(name, predictor_path))
        self.single = Tracker.load(
            self.config, weights_dir, model=model, detector=self.tracker_detector
        )
        self.tracker = Tracker(
            self.config, self.single.model, self.single.nets, self.tracker_detector
        )
        self.weights_dir = getattr(self.single.nets, "weights_dir", weights_dir)
        m = self.single.model
        self.model = m
        self.lm3d = mean_face_landmarks(m)
        self.triangles = m.triangles.numpy().astype(np.int32)
        coarse_meta = self.single.nets.coarse.meta or {}
        self.coarse_size, self.coarse_crop_scale = self._coarse_crop(coarse_meta, self.single)
        self.prior_pose_crop = self._prior_pose(coarse_meta)

    @staticmethod
    def _coarse_crop(meta: dict, tracker: Any) -> tuple[int, float]:
        """Input side and crop scale of the single-image CoarseNet as the Tracker uses them.

        The side is the sidecar's input shape; the crop scale is the Tracker's coarse contract
        (``tracker.contracts``) where the Tracker has one, else its config's ``crop_scale``.

        Raises:
            ValueError: Neither is known.
        """
        size = int(meta["input"]["shape"][-1])
        contracts = getattr(tracker, "contracts", None)
        if contracts is not None and "coarse" in contracts:
            return size, float(contracts["coarse"].crop_scale)
        if getattr(tracker.config, "crop_scale", None) is not None:
            return size, float(tracker.config.crop_scale)
        raise ValueError("cannot tell the CoarseNet's crop scale from the Tracker")

    @staticmethod
    def _prior_pose(meta: dict | None) -> np.ndarray | None:
        """The CoarseNet's output-mean pose (crop pixels) from its sidecar, or None."""
        spec = (meta or {}).get("output_spec", {})
        groups, mean = spec.get("groups"), spec.get("mean")
        if not groups or mean is None:
            return None
        start, sl = 0, {}
        for name, size in groups:
            sl[str(name)] = slice(start, start + int(size))
            start += int(size)
        if not all(k in sl for k in ("rotation", "translation", "scale")):
            return None
        mean = np.asarray(mean, np.float64)
        return np.concatenate([mean[sl["rotation"]], mean[sl["translation"]], mean[sl["scale"]]])

    # ------------------------------------------------------------------ per image

    def reference_detection(self, image: np.ndarray) -> Any:
        """Largest dlib detection of the image (cached) or None."""
        return _largest(self.detector.detect(image))

    def net_single(
        self, image: np.ndarray, reference_box: Sequence[float] | None = None
    ) -> Prediction | None:
        """Single-image CoarseNet through a fresh track.

        Args:
            image: RGB frame.
            reference_box: The reference face's box. Given, the Tracker starts on its own
                detector's detection of that face (the largest overlap, IoU at least
                :data:`MIN_FACE_IOU`), so that a photo with several people scores the net on
                the person the reference marks; None: on the largest face, as the node does.

        Returns:
            The prediction, or None when the Tracker finds no (matching) face.
        """
        t0 = time.perf_counter()
        if reference_box is None:
            self.single.reset()
            res = self.single.step(image)
        else:
            best = matching_face(self.tracker_detector.detect(image), reference_box)
            if best is None:
                return None
            res = self.single.start(image, best)
        if not res.has_face:
            return None
        return Prediction(
            np.asarray(res.landmarks_2d, np.float64),
            np.asarray(res.params.pose, np.float64),
            np.asarray(res.vertices, np.float32),
            time.perf_counter() - t0,
        )

    def methods(
        self,
        image: np.ndarray,
        det: Any,
        reference: np.ndarray,
        *,
        stage1: bool,
        dlib_row: bool,
    ) -> dict[str, Prediction]:
        """Predictions of every method on one image (``det``: the largest dlib detection)."""
        out: dict[str, Prediction] = {}
        net = self.net_single(image, det.box)
        if net is not None:
            out["net"] = net
        if dlib_row:
            out["dlib"] = Prediction(np.asarray(det.landmarks, np.float64))
        if not self.with_baselines:
            return out
        lm, pose = bl.box_placement(self.lm3d, det.box)
        out["a_box"] = Prediction(lm, pose)
        if self.prior_pose_crop is not None:
            lm, pose = bl.prior_placement(
                self.lm3d,
                det.box,
                self.prior_pose_crop,
                self.coarse_crop_scale,
                self.coarse_size,
                image.shape,
            )
            out["a_prior"] = Prediction(lm, pose)
        out["b_similarity"] = Prediction(bl.similarity_fit(self.lm3d, reference))
        lm, pose = bl.rigid_fit(self.lm3d, reference)
        out["c_rigid"] = Prediction(lm, pose)
        if stage1 and self.with_stage1:
            fit = self._stage1(image, np.asarray(det.landmarks, np.float64))
            if fit is not None:
                out["d_stage1"] = fit
        return out

    def _stage1(self, image: np.ndarray, landmarks: np.ndarray) -> Prediction | None:
        """Baseline (d), from the disk cache when the same fit was made before."""
        import dataclasses as dc
        import pathlib

        from training.inverse_render import fit as fit_module

        cfg = fit_module.FitConfig()
        key = digest(
            "stage1-v1",
            pathlib.Path(fit_module.__file__).read_bytes(),
            self.model.data.model_id,
            self.model.dims,
            sorted(dc.asdict(cfg).items()),
            image,
            landmarks,
        )
        got = self.disk.get("stage1", key)
        if got is None:
            t0 = time.perf_counter()
            try:
                lm, params = bl.stage1_fit(self.model, image, landmarks, fit_config=cfg)
            except RuntimeError as exc:  # a fit that leaves the image: a failure, recorded
                self.log(f"  stage-1 fit failed: {exc}")
                return None
            got = {
                "landmarks": np.asarray(lm, np.float64),
                "pose": np.asarray(params.pose, np.float64),
                "alpha_id": np.asarray(params.alpha_id, np.float32),
                "alpha_exp": np.asarray(params.alpha_exp, np.float32),
                "seconds": np.array(time.perf_counter() - t0),
            }
            self.disk.put("stage1", key, got)
        verts = self.model.shape_np(got["alpha_id"], got["alpha_exp"])
        return Prediction(got["landmarks"], got["pose"], verts, float(got["seconds"]))

    # ------------------------------------------------------------------ photo sets

    def photo_set(
        self,
        photos: list[Photo],
        *,
        manual: bool,
        stage1: bool,
        sheet_names: set[str] = frozenset(),  # type: ignore[assignment]
        sheet: list[SheetSample] | None = None,
    ) -> list[dict[str, Any]]:
        """Score every photo; reference = the manual ``.pts`` (``manual``) or dlib's landmarks.

        Returns:
            One record per photo: ``{"set", "name", "detected", "nme": {method: value},
            "mouth": {method: ratio}, "eye_px"}``; photos where dlib finds no face have
            ``detected: False`` and no figures (every method needs the detection or is
            compared on the detected photos only).
        """
        records = []
        for i, ph in enumerate(photos):
            image = read_rgb(ph.path)
            det = self.reference_detection(image)
            rec: dict[str, Any] = {"set": ph.set, "name": ph.name, "detected": det is not None}
            if det is None:
                self.log(f"  {ph.set}/{ph.name}: dlib found no face; skipped")
                records.append(rec)
                continue
            if manual:
                assert ph.pts is not None
                ref = read_pts(ph.pts)
                if ref.shape != (68, 2):
                    raise ValueError(f"{ph.pts}: expected 68 points, got {len(ref)}")
            else:
                ref = np.asarray(det.landmarks, np.float64)
            preds = self.methods(image, det, ref, stage1=stage1, dlib_row=True)
            rec["eye_px"] = _r(np.linalg.norm(ref[36] - ref[45]), 2)
            rec["nme"] = {k: _r(nme(p.landmarks, ref)) for k, p in preds.items()}
            if not manual:
                rec["nme"].pop("dlib", None)  # the reference itself
            rec["mouth"] = {k: _r(mouth_ratio(p.landmarks)) for k, p in preds.items()}
            if "net" in preds:
                rec["net_pose_deg"] = [_r(v, 2) for v in np.degrees(preds["net"].pose[:3])]
            rec["seconds"] = {k: _r(p.seconds, 3) for k, p in preds.items() if p.seconds}
            records.append(rec)
            if sheet is not None and f"{ph.set}/{ph.name}" in sheet_names:
                net = preds.get("net")
                label = f"{ph.set}/{ph.name}\nnet NME {rec['nme'].get('net') or float('nan'):.3f}"
                sheet.append(_sheet_sample(label, image, ref, net))
            if (i + 1) % 10 == 0 or i + 1 == len(photos):
                self.log(f"  {ph.set}: {i + 1}/{len(photos)}")
        return records

    # ------------------------------------------------------------------ head pose

    def pose_set(
        self,
        photos: list[Photo],
        *,
        focal_factor: float = DEFAULT_FOCAL_FACTOR,
        sheet_names: set[str] = frozenset(),  # type: ignore[assignment]
        sheet: list[SheetSample] | None = None,
    ) -> list[dict[str, Any]]:
        """Per photo: PnP reference angles from the dlib landmarks, the net's and (c)'s angles.

        Returns:
            Records ``{"name", "detected", "pnp_deg", "pose_deg": {method: [p, y, r]},
            "nme_vs_dlib": {method: value}}``.
        """
        records = []
        for i, ph in enumerate(photos):
            image = read_rgb(ph.path)
            det = self.reference_detection(image)
            rec: dict[str, Any] = {"set": ph.set, "name": ph.name, "detected": det is not None}
            if det is None:
                records.append(rec)
                continue
            ref = np.asarray(det.landmarks, np.float64)
            try:
                pnp = np.degrees(pnp_pose(self.lm3d, ref, image.shape, focal_factor))
            except RuntimeError as exc:
                self.log(f"  {ph.name}: {exc}")
                pnp = np.full(3, np.nan)
            preds = self.methods(image, det, ref, stage1=False, dlib_row=False)
            rec["pnp_deg"] = [_r(v, 3) for v in pnp]
            rec["pose_deg"] = {
                k: [_r(v, 3) for v in np.degrees(p.pose[:3])]
                for k, p in preds.items()
                if p.pose is not None and k in ("net", "c_rigid")
            }
            rec["nme_vs_dlib"] = {k: _r(nme(p.landmarks, ref)) for k, p in preds.items()}
            records.append(rec)
            if sheet is not None and f"{ph.set}/{ph.name}" in sheet_names:
                net = preds.get("net")
                yaw = rec["pose_deg"].get("net", [None] * 3)[1]
                label = f"{ph.name}\nyaw net {'-' if yaw is None else round(yaw)} PnP {pnp[1]:.0f}"
                sheet.append(_sheet_sample(label, image, ref, net))
            if (i + 1) % 50 == 0 or i + 1 == len(photos):
                self.log(f"  {ph.set}: {i + 1}/{len(photos)}")
        return records

    # ------------------------------------------------------------------ video

    def video(
        self,
        path: Any,
        *,
        limit: int | None = None,
        sheet_frames: tuple[float, ...] = (),
        sheet: list[SheetSample] | None = None,
    ) -> dict[str, Any]:
        """Run one video through the Tracker (node loop) and the single-image pass.

        Args:
            path: Video file.
            limit: At most this many frames.
            sheet_frames: Fractions of the video length whose frames go on the contact sheet.
            sheet: Where to append them.

        Returns:
            ``{"frames": [...per-frame records...], "summary": {...}}``.
        """
        import cv2

        from face3d_ros.pipeline.tracker import TrackState

        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"cannot open video {path}")
        n_total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        n = n_total if limit is None else min(n_total, int(limit))
        want = {int(f * max(n - 1, 0)) for f in sheet_frames}
        self.tracker.reset()
        frames: list[dict[str, Any]] = []
        ref_lm: list[np.ndarray | None] = []
        trk_lm: list[np.ndarray | None] = []
        sgl_lm: list[np.ndarray | None] = []
        box_lm: list[np.ndarray | None] = []
        since: int | None = None
        t_track = t_single = 0.0
        for idx in range(n):
            ok, bgr = cap.read()
            if not ok:
                break
            image = np.ascontiguousarray(bgr[:, :, ::-1])
            det = self.reference_detection(image)
            ref = None if det is None else np.asarray(det.landmarks, np.float64)
            t0 = time.perf_counter()
            res = self.tracker.step(image)
            t_track += time.perf_counter() - t0
            t0 = time.perf_counter()
            single = self.net_single(image)
            t_single += time.perf_counter() - t0
            lm = None if not res.has_face else np.asarray(res.landmarks_2d, np.float64)
            if lm is None:
                since = None
            elif res.reinitialised:
                since = 0
            else:
                since = 0 if since is None else since + 1
            rec: dict[str, Any] = {
                "frame": idx,
                "state": TrackState(res.state).name,
                "reinitialised": bool(res.reinitialised),
                "reanchor": bool(res.reinitialised and res.state == TrackState.TRACKING),
                "since_init": since,
                "reason": res.reason,
                "confidence": _r(res.confidence, 3),
                "has_reference": ref is not None,
            }
            if ref is not None:
                rec["nme_tracker"] = None if lm is None else _r(nme(lm, ref))
                rec["nme_single"] = None if single is None else _r(nme(single.landmarks, ref))
                a_lm = bl.box_placement(self.lm3d, det.box)[0]
                rec["nme_a_box"] = _r(nme(a_lm, ref))
                box_lm.append(a_lm)
            else:
                box_lm.append(None)
            frames.append(rec)
            ref_lm.append(ref)
            trk_lm.append(lm)
            sgl_lm.append(None if single is None else single.landmarks)
            if sheet is not None and idx in want and ref is not None:
                pose = None if not res.has_face else np.asarray(res.params.pose, np.float64)
                sheet.append(
                    SheetSample(
                        f"{pathlib_name(path)[:18]} f{idx}\n{rec['state']} NME "
                        f"{rec.get('nme_tracker') or float('nan'):.3f}",
                        image,
                        ref,
                        lm,
                        None if lm is None else np.asarray(res.vertices, np.float32),
                        pose,
                    )
                )
            if (idx + 1) % 100 == 0:
                self.log(f"  {pathlib_name(path)}: frame {idx + 1}/{n}")
        cap.release()
        summ = video_summary(frames, ref_lm, trk_lm, sgl_lm, box_lm)
        summ.update(
            {
                "file": pathlib_name(path),
                "fps": _r(fps, 3),
                "frames_in_file": n_total,
                "ms_per_frame_tracker": _r(1e3 * t_track / max(len(frames), 1), 2),
                "ms_per_frame_single": _r(1e3 * t_single / max(len(frames), 1), 2),
            }
        )
        return {"summary": summ, "frames": frames}


def pathlib_name(path: Any) -> str:
    """File name of a path-like."""
    import pathlib

    return pathlib.Path(path).name


def video_summary(
    frames: list[dict[str, Any]],
    ref_lm: list[np.ndarray | None],
    trk_lm: list[np.ndarray | None],
    sgl_lm: list[np.ndarray | None],
    box_lm: list[np.ndarray | None],
) -> dict[str, Any]:
    """Aggregate the per-frame records of one video (see :meth:`Bench.video`)."""
    n = len(frames)
    out: dict[str, Any] = {
        "frames": n,
        "frames_with_reference": sum(f["has_reference"] for f in frames),
    }
    for state in ("TRACKING", "LOST", "INITIALISING"):
        out[f"fraction_{state.lower()}"] = _r(
            sum(f["state"] == state for f in frames) / max(n, 1), 4
        )
    per100 = 100.0 / max(n, 1)
    out["reanchors_per_100"] = _r(sum(f["reanchor"] for f in frames) * per100, 3)
    out["initialisations_per_100"] = _r(
        sum(f["reinitialised"] and not f["reanchor"] for f in frames) * per100, 3
    )
    with_ref = [f for f in frames if f["has_reference"]]
    out["nme_tracker"] = summary(f["nme_tracker"] for f in with_ref)
    out["nme_single"] = summary(f["nme_single"] for f in with_ref)
    out["nme_a_box"] = summary(f["nme_a_box"] for f in with_ref)
    # Tracking-net frames (the tracking CoarseNet's own output) vs single-image on the same frames.
    tn = [
        f
        for f in with_ref
        if f["state"] == "TRACKING"
        and not f["reinitialised"]
        and f["nme_tracker"] is not None
        and f["nme_single"] is not None
    ]
    out["tracking_net_frames"] = {
        "n": len(tn),
        "nme_tracking_net": summary(f["nme_tracker"] for f in tn)["mean"],
        "nme_single_same_frames": summary(f["nme_single"] for f in tn)["mean"],
    }
    errs = [f.get("nme_tracker") for f in frames]
    out["drift"] = drift_ratio(errs, [f["since_init"] for f in frames])
    buckets = ((0, 5), (6, 10), (11, 20), (21, 40), (41, 80), (81, 10**9))
    curve = {}
    for lo, hi in buckets:
        v = [
            e
            for e, f in zip(errs, frames, strict=True)
            if e is not None and f["since_init"] is not None and lo <= f["since_init"] <= hi
        ]
        curve[f"{lo}-{hi if hi < 10**9 else 'inf'}"] = summary(v)["mean"], len(v)
    out["nme_vs_frames_since_init"] = {k: {"mean": v[0], "n": v[1]} for k, v in curve.items()}
    out["jitter_tracker"] = jitter(trk_lm, ref_lm)
    out["jitter_single"] = jitter(sgl_lm, ref_lm)
    out["jitter_a_box"] = jitter(box_lm, ref_lm)
    return out


# ---------------------------------------------------------------------- aggregation


def photo_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-method NME summary over the detected photos of one set."""
    done = [r for r in records if r.get("detected")]
    methods = [m for m in METHODS if any(m in r.get("nme", {}) for r in done)]
    return {
        "photos": len(records),
        "detected": len(done),
        "nme": {m: summary(r["nme"].get(m) for r in done) for m in methods},
        "missing": {m: sum(m not in r.get("nme", {}) for r in done) for m in methods},
    }


def mouth_check(neutral: list[dict[str, Any]], smiling: list[dict[str, Any]]) -> dict[str, Any]:
    """Fraction of people whose predicted mouth-corner ratio is larger smiling than neutral.

    People pair by :func:`~training.benchmark_real.data.person_id`; a method counts on the
    people for whom it has both predictions.
    """
    neu = {person_id(r["name"]): r for r in neutral if r.get("detected")}
    smi = {person_id(r["name"]): r for r in smiling if r.get("detected")}
    people = sorted(set(neu) & set(smi))
    out: dict[str, Any] = {"people": len(people)}
    per: dict[str, Any] = {}
    for m in METHODS:
        pairs = [
            (neu[p]["mouth"][m], smi[p]["mouth"][m])
            for p in people
            if m in neu[p].get("mouth", {}) and m in smi[p].get("mouth", {})
        ]
        if not pairs:
            continue
        arr = np.asarray(pairs, np.float64)
        per[m] = {
            "n": len(pairs),
            "fraction_wider": _r(float(np.mean(arr[:, 1] > arr[:, 0])), 4),
            "mean_neutral": _r(float(arr[:, 0].mean()), 4),
            "mean_smiling": _r(float(arr[:, 1].mean()), 4),
        }
    out["methods"] = per
    return out


#: Bins of the reference's |yaw| (degrees) for the per-bin yaw agreement.
YAW_BINS_DEG: tuple[float, ...] = (0.0, 15.0, 30.0, 45.0, 90.0)


def pose_summary(records: list[dict[str, Any]], max_yaw: float = 45.0) -> dict[str, Any]:
    """Angle agreement with the PnP reference, overall and for ``|PnP yaw| <= max_yaw``.

    ``by_yaw`` also gives, per bin of the reference's ``|yaw|`` (:data:`YAW_BINS_DEG`), the
    yaw agreement and the mean predicted and reference ``|yaw|`` of each method (an
    under-turned net shows there: a smaller predicted than reference ``|yaw|``).
    """
    done = [r for r in records if r.get("detected") and r.get("pnp_deg")]
    ref = np.asarray([r["pnp_deg"] for r in done], np.float64).reshape(-1, 3)
    out: dict[str, Any] = {"photos": len(records), "detected": len(done)}
    if not done:
        return out
    within = np.abs(ref[:, 1]) <= max_yaw
    out["within_yaw_limit"] = int(within.sum())
    out["max_yaw_deg"] = max_yaw
    out["reference_yaw_deg"] = summary(np.abs(ref[:, 1]))
    rows: dict[str, Any] = {}
    preds: dict[str, np.ndarray] = {}
    for m in ("net", "c_rigid", "frontal"):
        if m == "frontal":
            pred = np.zeros_like(ref)
        else:
            pred = np.asarray(
                [r["pose_deg"].get(m, [np.nan] * 3) for r in done], np.float64
            ).reshape(-1, 3)
            if np.isnan(pred).all():
                continue
        preds[m] = pred
        rows[m] = {
            sel_name: {
                ang: angle_stats(pred[:, j], ref[:, j], mask)
                for j, ang in enumerate(("pitch", "yaw", "roll"))
            }
            for sel_name, mask in (("all", None), (f"yaw<={max_yaw:g}", within))
        }
    out["methods"] = rows
    by_yaw: dict[str, Any] = {}
    for lo, hi in zip(YAW_BINS_DEG[:-1], YAW_BINS_DEG[1:], strict=True):
        mask = (np.abs(ref[:, 1]) >= lo) & (np.abs(ref[:, 1]) < hi)
        cell: dict[str, Any] = {"n": int(mask.sum()), "reference_abs_yaw": None}
        if mask.any():
            cell["reference_abs_yaw"] = _r(float(np.abs(ref[mask, 1]).mean()), 2)
        for m in ("net", "c_rigid"):
            if m not in preds:
                continue
            pred = preds[m]
            st = angle_stats(pred[:, 1], ref[:, 1], mask)
            ok = mask & np.isfinite(pred[:, 1])
            st["abs_yaw"] = _r(float(np.abs(pred[ok, 1]).mean()), 2) if ok.any() else None
            cell[m] = st
        by_yaw[f"{lo:g}-{hi:g}"] = cell
    out["by_yaw"] = by_yaw
    nme_methods = [m for m in METHODS if any(m in r.get("nme_vs_dlib", {}) for r in done)]
    out["nme_vs_dlib"] = {m: summary(r["nme_vs_dlib"].get(m) for r in done) for m in nme_methods}
    return out
