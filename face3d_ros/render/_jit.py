# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Lazy numba compilation shared by the render kernels (nothing is compiled at import).

Kernels are plain Python functions at module level; :func:`lazy_njit` compiles one with
``numba.njit(cache=True, nogil=True)`` on first use. numba caches the machine code in
``__pycache__`` next to the source, or in its user-wide cache directory when that folder is
read-only (``NUMBA_CACHE_DIR`` overrides both). If no cache location is usable at all, the
kernel is compiled without a disk cache and a ``RuntimeWarning`` says so.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_njit"]

_COMPILED: dict[str, Callable[..., Any]] = {}
_LOCK = threading.Lock()


def lazy_njit(func: Callable[..., Any]) -> Callable[..., Any]:
    """Return the numba-jitted version of ``func``, creating it on the first call.

    Args:
        func: A module-level function written in numba's nopython subset.

    Returns:
        The dispatcher (machine code is generated on its first call per type signature).
    """
    key = f"{func.__module__}.{func.__qualname__}"
    jitted = _COMPILED.get(key)
    if jitted is None:
        with _LOCK:
            jitted = _COMPILED.get(key)
            if jitted is None:
                import numba

                try:
                    jitted = numba.njit(cache=True, nogil=True)(func)
                except RuntimeError as exc:  # numba: "cannot cache function ... no locator"
                    warnings.warn(
                        f"numba cannot cache {key} on disk ({exc}); compiling without a cache "
                        "(set NUMBA_CACHE_DIR to a writable folder to avoid the JIT cost in "
                        "every process)",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    jitted = numba.njit(cache=False, nogil=True)(func)
                _COMPILED[key] = jitted
    return jitted
