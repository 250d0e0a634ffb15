# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Streaming on-disk dataset format: sharded ``.npz`` files plus one ``index.json``.

Layout of a dataset root (one kind per root)::

    <root>/index.json            format, version, kind, key schema, shard list, attrs, done units
    <root>/<kind>-00000.npz      samples 0 .. n0-1; member "<j>/<key>" = key of the j-th sample
    <root>/<kind>-00001.npz      ...

Every shard is an uncompressed-or-deflated zip of plain ``.npy`` members (``np.load`` with
``allow_pickle=False``; strings never appear in samples - dataset-wide metadata such as
``model_id`` lives in ``index.json['attrs']``). One member per sample and key keeps random access
cheap: reading sample ``i`` decompresses only that sample's arrays.

Writes are atomic: a shard is written to a hidden temporary file, fsynced and renamed into place,
then ``index.json`` is rewritten the same way, so a crash leaves a readable dataset holding every
shard listed in the index. Work can be grouped in *units* (e.g. one input photo):
``with writer.unit("photo-3"): ...`` keeps the unit's samples in memory until the unit finishes and
only ever cuts shards at unit boundaries, so after a crash a unit is either entirely on disk and
listed in ``index.json['units_done']`` or entirely absent. Re-opening with ``append=True``
resumes; :meth:`ShardWriter.is_done` tells which units to skip.

Several roots (e.g. the per-process outputs of ``--shard i/n``) are read together by passing a
list of roots, or a directory whose sub-directories hold the parts, to :class:`ShardDataset`;
:func:`merge_datasets` writes one combined ``index.json`` that references the parts' shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch.utils.data

from face3d_ros.nets.contract import DEFAULT_CONTRACT

FORMAT_NAME = "face3d_ros-shards"
FORMAT_VERSION = 1
INDEX_NAME = "index.json"

# Shape spec per key: a tuple of ints, where ``None`` marks a length that is free but must be the
# same for every sample of a dataset (fixed by the first sample, recorded in the index). Crop
# sides are the nets' default contract's (training resamples them to a net's own side).
_C, _T, _F = (DEFAULT_CONTRACT[k].input_size for k in ("coarse", "tracking", "fine"))
KIND_SCHEMAS: dict[str, dict[str, tuple[tuple[int | None, ...], str]]] = {
    "coarse": {
        "image": ((_C, _C, 3), "uint8"),
        "alpha_id": ((None,), "float32"),
        "alpha_exp": ((None,), "float32"),
        "pose": ((6,), "float32"),
        "alpha_alb": ((None,), "float32"),
        "gamma": ((27,), "float32"),
    },
    "tracking": {
        "image": ((_T, _T, 3), "uint8"),
        "pncc": ((_T, _T, 3), "uint8"),
        "prev_pose": ((6,), "float32"),
        "alpha_id": ((None,), "float32"),
        "alpha_exp": ((None,), "float32"),
        "alpha_alb": ((None,), "float32"),
        "gamma": ((27,), "float32"),
        "pose": ((6,), "float32"),
    },
    "fine": {
        "gray": ((_F, _F), "float32"),
        "coarse_depth": ((_F, _F), "float32"),
        "mask": ((_F, _F), "uint8"),
        "displacement": ((_F, _F), "float32"),
    },
}


class CorruptShardError(ValueError):
    """A shard or index on disk is unreadable or does not match its index."""


def _check_kind(kind: str) -> None:
    if kind not in KIND_SCHEMAS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {sorted(KIND_SCHEMAS)}")


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or not name.isidentifier():
        raise ValueError(f"sample key {name!r} must be a python identifier without '/'")


def _dtype_name(dtype: np.dtype) -> str:
    return np.dtype(dtype).name


def validate_sample(
    kind: str,
    sample: Mapping[str, Any],
    keys: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Check one sample against the kind's schema (and the dataset's recorded key specs).

    Args:
        kind: Dataset kind, one of :data:`KIND_SCHEMAS`.
        sample: Mapping key -> numpy array.
        keys: Key specs already fixed for the dataset (``index.json['keys']``): every sample must
            have exactly these keys, shapes and dtypes. ``None`` for the first sample.

    Raises:
        ValueError: Naming the offending key, its shape/dtype and what was expected.
    """
    _check_kind(kind)
    schema = KIND_SCHEMAS[kind]
    missing = sorted(set(schema) - set(sample))
    if missing:
        raise ValueError(f"{kind} sample lacks required keys {missing}")
    for name, value in sample.items():
        _check_name(name)
        if not isinstance(value, np.ndarray):
            raise ValueError(
                f"{kind} sample key {name!r} must be a numpy array, got {type(value).__name__}"
            )
        if value.dtype.kind in "OUSV" or value.dtype.hasobject:
            raise ValueError(f"{kind} sample key {name!r} has non-numeric dtype {value.dtype}")
        if name in schema:
            shape, dtype = schema[name]
            ok_shape = len(value.shape) == len(shape) and all(
                want is None or want == got for want, got in zip(shape, value.shape, strict=True)
            )
            if not ok_shape:
                pretty = tuple("K" if s is None else s for s in shape)
                raise ValueError(
                    f"{kind} sample key {name!r} has shape {value.shape}, expected {pretty}"
                )
            if value.dtype != np.dtype(dtype):
                raise ValueError(
                    f"{kind} sample key {name!r} has dtype {value.dtype}, expected {dtype}"
                )
        if keys is not None:
            if name not in keys:
                raise ValueError(
                    f"{kind} sample has key {name!r} that earlier samples lack "
                    f"(dataset keys: {sorted(keys)})"
                )
            spec = keys[name]
            if (
                list(value.shape) != list(spec["shape"])
                or _dtype_name(value.dtype) != spec["dtype"]
            ):
                raise ValueError(
                    f"{kind} sample key {name!r} is {value.dtype}{list(value.shape)} but the "
                    f"dataset holds {spec['dtype']}{spec['shape']}"
                )
    if keys is not None:
        absent = sorted(set(keys) - set(sample))
        if absent:
            raise ValueError(f"{kind} sample lacks keys {absent} that earlier samples have")


def _atomic_write_bytes(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_json(path: pathlib.Path, obj: Any) -> None:
    _atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def read_index(root: str | os.PathLike) -> dict[str, Any]:
    """Load and check ``<root>/index.json``.

    Args:
        root: Dataset directory.

    Returns:
        The index dictionary.

    Raises:
        FileNotFoundError: No index in ``root``.
        CorruptShardError: The index is not valid JSON or not this format/version.
    """
    path = pathlib.Path(root) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no dataset index at {path}")
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptShardError(f"dataset index {path} is not valid JSON: {exc}") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        raise CorruptShardError(f"{path} is not a {FORMAT_NAME} index")
    if index.get("version") != FORMAT_VERSION:
        raise CorruptShardError(
            f"{path} has format version {index.get('version')}, this reader supports "
            f"{FORMAT_VERSION}"
        )
    for field in ("kind", "keys", "shards", "num_samples"):
        if field not in index:
            raise CorruptShardError(f"{path} lacks field {field!r}")
    if index["kind"] not in KIND_SCHEMAS:
        raise CorruptShardError(f"{path} has unknown kind {index['kind']!r}")
    if sum(int(s["count"]) for s in index["shards"]) != int(index["num_samples"]):
        raise CorruptShardError(f"{path}: shard counts do not add up to num_samples")
    return index


class ShardWriter:
    """Write samples of one kind into ``<root>/<kind>-NNNNN.npz`` shards plus ``index.json``.

    Args:
        root: Dataset directory (created if missing).
        kind: ``"coarse"``, ``"tracking"`` or ``"fine"`` (see :data:`KIND_SCHEMAS`).
        samples_per_shard: Maximum number of samples per shard file.
        overwrite: Replace an existing dataset in ``root`` (its shards and index are deleted).
        append: Resume/extend an existing dataset in ``root`` (same kind required).
        attrs: JSON-serialisable dataset attributes (e.g. ``model_id``, generator config); on
            append they are merged into the stored ones.
        compress: Deflate shard members (slower writes, smaller files).

    Raises:
        FileExistsError: ``root`` already holds a dataset (or stray shards) and neither
            ``overwrite`` nor ``append`` is set.
        ValueError: Bad arguments, or ``append`` onto a dataset of another kind.

    Use as a context manager or call :meth:`close`; samples buffered when an exception escapes
    the ``with`` block are not written (the index stays consistent with the shards on disk).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        kind: str,
        samples_per_shard: int = 256,
        *,
        overwrite: bool = False,
        append: bool = False,
        attrs: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> None:
        """Open (create, replace or resume) the dataset in ``root``; see the class docstring."""
        _check_kind(kind)
        if samples_per_shard < 1:
            raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
        if overwrite and append:
            raise ValueError("overwrite and append are mutually exclusive")
        self.root = pathlib.Path(root)
        self.kind = kind
        self.samples_per_shard = int(samples_per_shard)
        self.compress = compress
        self._committed: list[dict[str, np.ndarray]] = []
        self._pending_units: list[str] = []
        self._unit_buffer: list[dict[str, np.ndarray]] | None = None
        self._unit_name: str | None = None
        self._closed = False

        self.root.mkdir(parents=True, exist_ok=True)
        index_path = self.root / INDEX_NAME
        stray = sorted(self.root.glob(f"{kind}-*.npz"))
        for tmp in self.root.glob(f".{kind}-*.npz.tmp-*"):  # left by a crashed writer
            tmp.unlink()
        if index_path.exists() and append:
            index = read_index(self.root)
            if index["kind"] != kind:
                raise ValueError(
                    f"cannot append {kind} samples to the {index['kind']} dataset in {self.root}"
                )
            listed = {s["file"] for s in index["shards"]}
            for path in stray:  # shards written after the last index update (crash): drop them
                if path.name not in listed:
                    path.unlink()
            index["complete"] = False
            index["attrs"] = {**index.get("attrs", {}), **dict(attrs or {})}
            self._index = index
        else:
            if (index_path.exists() or stray) and not overwrite:
                raise FileExistsError(
                    f"{self.root} already holds a dataset; pass overwrite=True to replace it or "
                    "append=True to resume it"
                )
            if overwrite:
                if index_path.exists():
                    with contextlib.suppress(CorruptShardError, FileNotFoundError):
                        old = read_index(self.root)
                        for s in old["shards"]:
                            p = self.root / s["file"]
                            if p.parent == self.root and p.exists():
                                p.unlink()
                    index_path.unlink()
                for path in stray:
                    path.unlink(missing_ok=True)
            self._index = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "kind": kind,
                "keys": None,
                "samples_per_shard": self.samples_per_shard,
                "num_samples": 0,
                "shards": [],
                "units_done": [],
                "attrs": dict(attrs or {}),
                "complete": False,
            }
            json.dumps(self._index)  # attrs must be JSON-serialisable: fail now, not at close
            self._write_index()
        self._done = set(self._index.get("units_done", []))

    # ------------------------------------------------------------------ properties
    @property
    def num_samples(self) -> int:
        """Samples written to disk so far (buffered ones excluded)."""
        return int(self._index["num_samples"])

    @property
    def units_done(self) -> frozenset[str]:
        """Names of units whose samples are all on disk."""
        return frozenset(self._done)

    def is_done(self, unit: str) -> bool:
        """Whether unit ``unit`` was completed (and is on disk or pending in this writer)."""
        return unit in self._done or unit in self._pending_units

    # ------------------------------------------------------------------ writing
    def add(self, sample: Mapping[str, np.ndarray]) -> None:
        """Buffer one sample; full shards are written as soon as they are complete.

        Args:
            sample: Mapping key -> numpy array matching the kind's schema exactly (no casting).

        Raises:
            ValueError: The sample does not match the schema or the dataset's earlier samples.
            RuntimeError: The writer is closed.
        """
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        validate_sample(self.kind, sample, self._index["keys"])
        if self._index["keys"] is None:
            self._index["keys"] = {
                k: {"shape": list(v.shape), "dtype": _dtype_name(v.dtype)}
                for k, v in sample.items()
            }
        copy = {k: np.ascontiguousarray(v) for k, v in sample.items()}
        if self._unit_buffer is not None:
            self._unit_buffer.append(copy)
        else:
            self._committed.append(copy)
            self._flush(final=False)

    @contextlib.contextmanager
    def unit(self, name: str) -> Iterator[None]:
        """Group the samples added inside the block into an all-or-nothing unit of work.

        Args:
            name: Unit name (e.g. a photo id); recorded in ``index.json['units_done']`` once all
                its samples are on disk.

        Raises:
            ValueError: The unit is already done, or units are nested.
        """
        if self._unit_buffer is not None:
            raise ValueError(f"unit {name!r} started inside unit {self._unit_name!r}")
        if self.is_done(name):
            raise ValueError(f"unit {name!r} is already done in {self.root}")
        self._unit_buffer, self._unit_name = [], name
        try:
            yield
        except BaseException:
            self._unit_buffer, self._unit_name = None, None
            raise
        buffered, self._unit_buffer, self._unit_name = self._unit_buffer, None, None
        self._committed.extend(buffered)
        self._pending_units.append(name)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        n = len(self._committed)
        if n == 0:
            if self._pending_units:  # units whose samples are all on disk already
                self._done.update(self._pending_units)
                self._pending_units = []
                self._index["units_done"] = sorted(self._done)
                self._write_index()
            return
        if not final and n < self.samples_per_shard:
            return
        if self._pending_units or final:
            # cut only at unit boundaries: write everything buffered, in near-equal shards
            n_shards = -(-n // self.samples_per_shard)
            bounds = np.linspace(0, n, n_shards + 1).round().astype(int)
        else:
            n_shards = n // self.samples_per_shard
            bounds = np.arange(n_shards + 1) * self.samples_per_shard
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            self._write_shard(self._committed[a:b])
        self._committed = self._committed[bounds[-1] :]
        self._done.update(self._pending_units)
        self._pending_units = []
        self._index["units_done"] = sorted(self._done)
        self._write_index()

    def _write_shard(self, samples: Sequence[Mapping[str, np.ndarray]]) -> None:
        number = len(self._index["shards"])
        name = f"{self.kind}-{number:05d}.npz"
        arrays = {f"{j}/{k}": v for j, s in enumerate(samples) for k, v in s.items()}
        buf = io.BytesIO()
        (np.savez_compressed if self.compress else np.savez)(buf, **arrays)
        data = buf.getvalue()
        _atomic_write_bytes(self.root / name, data)
        self._index["shards"].append(
            {
                "file": name,
                "count": len(samples),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        self._index["num_samples"] += len(samples)

    def _write_index(self) -> None:
        _write_json(self.root / INDEX_NAME, self._index)

    def close(self) -> None:
        """Write buffered samples and mark the index complete. Idempotent."""
        if self._closed:
            return
        if self._unit_buffer is not None:
            raise RuntimeError(f"close() inside unit {self._unit_name!r}")
        self._flush(final=True)
        self._index["complete"] = True
        self._write_index()
        self._closed = True

    def abort(self) -> None:
        """Drop buffered samples and stop; the dataset on disk stays as last indexed."""
        self._committed, self._pending_units, self._closed = [], [], True

    def __enter__(self) -> ShardWriter:
        """Return self."""
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        """Close on success; on an exception keep only what is already indexed."""
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _discover_roots(root: str | os.PathLike | Sequence[str | os.PathLike]) -> list[pathlib.Path]:
    if isinstance(root, (str, os.PathLike)):
        path = pathlib.Path(root)
        if (path / INDEX_NAME).is_file():
            return [path]
        if not path.is_dir():
            raise FileNotFoundError(f"dataset root {path} does not exist")
        parts = sorted(p.parent for p in path.glob(f"*/{INDEX_NAME}"))
        if not parts:
            raise FileNotFoundError(f"no {INDEX_NAME} in {path} or its sub-directories")
        return parts
    if not root:
        raise ValueError("no dataset roots given")
    # each entry as a single root: a set written by several jobs is a folder of parts
    return [part for r in root for part in _discover_roots(r)]


class ShardDataset(torch.utils.data.Dataset):
    """Random-access reader over one or several shard datasets of one kind.

    Args:
        root: A dataset directory (holding ``index.json``), a directory whose sub-directories
            are datasets (e.g. the parts written by ``--shard i/n``), or a list of either.
        kind: Expected kind; ``None`` accepts the kind stored in the index(es).
        max_open: Number of shard files kept open per process (each holds a file handle and
            the zip's central directory; reopening a shard per sample costs 3x the read).

    Raises:
        FileNotFoundError: No dataset found.
        CorruptShardError: An index is malformed, a listed shard file is missing or has the wrong
            size, or the roots disagree on kind / keys.
        ValueError: ``kind`` does not match the stored kind.

    ``__getitem__`` returns ``dict[str, np.ndarray]`` (fresh arrays); the default torch collate
    turns a batch of them into tensors ``[B, ...]``. Safe with ``DataLoader`` worker processes
    (file handles are opened lazily per process).
    """

    def __init__(
        self,
        root: str | os.PathLike | Sequence[str | os.PathLike],
        kind: str | None = None,
        *,
        max_open: int = 512,
    ) -> None:
        """Read the index(es) and check the shard files exist; see the class docstring."""
        if kind is not None:
            _check_kind(kind)
        self.roots = _discover_roots(root)
        self.max_open = max_open
        files: list[pathlib.Path] = []
        counts: list[int] = []
        digests: list[str | None] = []
        self.keys: dict[str, dict[str, Any]] | None = None
        self.attrs: dict[str, Any] = {}
        self.complete = True
        found_kind: str | None = None
        for r in self.roots:
            index = read_index(r)
            if kind is not None and index["kind"] != kind:
                raise ValueError(f"{r} holds a {index['kind']} dataset, expected {kind}")
            if found_kind is not None and index["kind"] != found_kind:
                raise CorruptShardError(
                    f"dataset roots mix kinds {found_kind!r} and {index['kind']!r}"
                )
            found_kind = index["kind"]
            if index["num_samples"] == 0:
                continue
            if self.keys is None:
                self.keys = index["keys"]
                self.attrs = dict(index.get("attrs", {}))
            elif index["keys"] != self.keys:
                raise CorruptShardError(f"{r} has keys {index['keys']}, other roots {self.keys}")
            self.complete &= bool(index.get("complete", False))
            for s in index["shards"]:
                path = r / s["file"]
                if not path.is_file():
                    raise CorruptShardError(f"shard {path} listed in {r / INDEX_NAME} is missing")
                size = s.get("bytes")
                if size is not None and path.stat().st_size != size:
                    raise CorruptShardError(
                        f"shard {path} has {path.stat().st_size} bytes, index says {size} "
                        "(truncated or replaced)"
                    )
                files.append(path)
                counts.append(int(s["count"]))
                digests.append(s.get("sha256"))
        assert found_kind is not None
        self.kind = found_kind
        if self.keys is not None:
            for name, spec in KIND_SCHEMAS[self.kind].items():
                stored = self.keys.get(name)
                if stored is None:
                    raise CorruptShardError(f"{self.kind} index lacks required key {name!r}")
                shape, dtype = spec
                if (
                    stored["dtype"] != dtype
                    or len(stored["shape"]) != len(shape)
                    or any(
                        w is not None and w != g
                        for w, g in zip(shape, stored["shape"], strict=True)
                    )
                ):
                    raise CorruptShardError(
                        f"{self.kind} index declares {name!r} as {stored}, schema wants "
                        f"{dtype}{list(shape)}"
                    )
        self._files = files
        self._digests = digests
        self._counts = np.asarray(counts, dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._counts)]).astype(np.int64)
        self._open: OrderedDict[int, Any] = OrderedDict()
        self._pid = os.getpid()

    @property
    def model_id(self) -> str | None:
        """The ``model_id`` attribute recorded by the generator, if any."""
        return self.attrs.get("model_id")

    @property
    def num_shards(self) -> int:
        """Number of shard files across all roots."""
        return len(self._files)

    def __len__(self) -> int:
        """Total number of samples."""
        return int(self._offsets[-1])

    def _npz(self, shard: int) -> Any:
        if self._pid != os.getpid():  # forked DataLoader worker: do not share file handles
            self._open, self._pid = OrderedDict(), os.getpid()
        if shard in self._open:
            self._open.move_to_end(shard)
            return self._open[shard]
        path = self._files[shard]
        if not zipfile.is_zipfile(path):
            raise CorruptShardError(f"shard {path} is not a valid .npz (zip) file")
        try:
            npz = np.load(path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise CorruptShardError(f"cannot open shard {path}: {exc}") from exc
        self._open[shard] = npz
        while len(self._open) > self.max_open:
            _, old = self._open.popitem(last=False)
            old.close()
        return npz

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        """Load sample ``i``.

        Args:
            i: Sample index in ``[-len, len)``.

        Returns:
            Mapping key -> array with the shapes/dtypes of the index's ``keys``.

        Raises:
            IndexError: ``i`` out of range.
            CorruptShardError: The shard cannot be read or holds arrays that differ from the index.
        """
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample {i} out of range for dataset of {n}")
        shard = int(np.searchsorted(self._offsets, i, side="right") - 1)
        j = i - int(self._offsets[shard])
        npz = self._npz(shard)
        path = self._files[shard]
        assert self.keys is not None
        out: dict[str, np.ndarray] = {}
        for key, spec in self.keys.items():
            member = f"{j}/{key}"
            try:
                value = npz[member]
            except KeyError as exc:
                raise CorruptShardError(f"shard {path} lacks member {member!r}") from exc
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise CorruptShardError(
                    f"shard {path} member {member!r} is corrupt: {exc}"
                ) from exc
            if list(value.shape) != list(spec["shape"]) or value.dtype.name != spec["dtype"]:
                raise CorruptShardError(
                    f"shard {path} member {member!r} is {value.dtype}{list(value.shape)}, index "
                    f"says {spec['dtype']}{spec['shape']}"
                )
            out[key] = value
        return out

    def verify(self) -> None:
        """Check every shard's checksum and every sample against the index (slow, thorough).

        Raises:
            CorruptShardError: Naming the first bad shard or sample.
        """
        for shard, path in enumerate(self._files):
            want = self._digests[shard]
            if want is not None and hashlib.sha256(path.read_bytes()).hexdigest() != want:
                raise CorruptShardError(f"shard {path} fails its sha256 check")
            for j in range(int(self._counts[shard])):
                self[int(self._offsets[shard]) + j]

    def close(self) -> None:
        """Close open shard files."""
        for npz in self._open.values():
            npz.close()
        self._open.clear()


def merge_datasets(
    roots: Sequence[str | os.PathLike],
    out_root: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write one ``index.json`` in ``out_root`` that lists the shards of several datasets.

    The shard files are not copied; the merged index refers to them by relative path, so keep
    the parts where they are (e.g. ``out_root/part-00-of-04/``).

    Args:
        roots: Part datasets of the same kind and keys.
        out_root: Directory for the merged index.
        overwrite: Replace an existing index in ``out_root``.

    Returns:
        Path of the merged index.

    Raises:
        FileExistsError: ``out_root`` already has an index and ``overwrite`` is false.
        CorruptShardError: The parts disagree on kind or keys.
    """
    out = pathlib.Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    if (out / INDEX_NAME).exists() and not overwrite:
        raise FileExistsError(f"{out / INDEX_NAME} exists; pass overwrite=True to replace it")
    merged: dict[str, Any] | None = None
    for r in roots:
        r = pathlib.Path(r)
        index = read_index(r)
        rel = pathlib.Path(os.path.relpath(r.resolve(), out.resolve()))
        if merged is None:
            merged = {**index, "shards": [], "num_samples": 0, "units_done": [], "complete": True}
            merged["attrs"] = {**index.get("attrs", {}), "merged_from": []}
        if index["kind"] != merged["kind"]:
            raise CorruptShardError(f"cannot merge {index['kind']} into {merged['kind']}")
        if index["num_samples"]:
            if merged["keys"] is None:
                merged["keys"] = index["keys"]
            elif index["keys"] != merged["keys"]:
                raise CorruptShardError(f"{r} keys differ from the other parts")
        for s in index["shards"]:
            merged["shards"].append({**s, "file": str(rel / s["file"])})
        merged["num_samples"] += index["num_samples"]
        merged["units_done"] += index.get("units_done", [])
        merged["complete"] &= bool(index.get("complete", False))
        merged["attrs"]["merged_from"].append(str(rel))
    if merged is None:
        raise ValueError("no dataset roots to merge")
    merged["units_done"] = sorted(set(merged["units_done"]))
    _write_json(out / INDEX_NAME, merged)
    return out / INDEX_NAME
