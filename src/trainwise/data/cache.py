"""Cache decoded arrays of a built-in data set as an .npz, so a slow parse happens once per source file.

The cache is keyed by the data set's name and the path, size and mtime of each source file: a changed
source invalidates it. Writes are atomic (temp file + os.replace). A cache that cannot be read or written
is only a missed speed-up, never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trainwise.atomic import atomic_write

CACHE_VERSION = 1  # bump when the decoded layout of any built-in changes
KEY_FIELD = "__cache_key__"


def cache_dir() -> Path:
    """$TRAINWISE_CACHE_DIR, else $XDG_CACHE_HOME/trainwise, else ~/.cache/trainwise."""
    if os.environ.get("TRAINWISE_CACHE_DIR"):
        return Path(os.environ["TRAINWISE_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "trainwise"
    return Path.home() / ".cache" / "trainwise"


def cache_path(name: str) -> Path:
    """The cache file of one built-in data set."""
    return cache_dir() / f"{name}.npz"


def source_key(name: str, sources: list[Path]) -> str:
    """A digest of the name and each source file's path, size and mtime."""
    parts = [f"v{CACHE_VERSION}", name]
    for source in sources:
        stat = source.stat()
        parts.append(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cached_arrays(name: str, sources: list[Path], decode: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays from the cache when it matches the sources, else `decode()` (and write the cache)."""
    key = source_key(name, sources)
    path = cache_path(name)
    arrays = _read(path, key)
    if arrays is None:
        arrays = decode()
        _write(path, key, arrays)
    return arrays


def _read(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The cached arrays if the file exists, is intact and was written for `key`; else None."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if str(archive[KEY_FIELD]) != key:
                return None
            return {name: archive[name] for name in archive.files if name != KEY_FIELD}
    except (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError, zipfile.BadZipFile, zlib.error):
        return None  # missing, corrupt, or not ours: decode again and overwrite


def _write(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically; a read-only or full disk only costs the speed-up."""
    payload: dict[str, Any] = {KEY_FIELD: np.array(key), **arrays}
    with contextlib.suppress(OSError):
        atomic_write(path, lambda handle: np.savez(handle, **payload))
