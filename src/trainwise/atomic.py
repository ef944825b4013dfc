"""Crash-safe file writes: temp file in the same folder, fsync, rename. Readers see the old file or the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call `write(handle)` on a temp file beside `path`, then atomically replace `path` with it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically replace `path` with `text` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temp files an interrupted `atomic_write` left in `folder` (a process killed mid-write)."""
    removed = []
    for stale in Path(folder).glob(".*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_DURABLE = [True]  # False inside `process_crash_safe()`


def fsync(fd: int) -> None:
    """Flush a file to the disk, unless inside `process_crash_safe()` (then the OS holds it: a killed process
    loses nothing, only a power cut may)."""
    if _DURABLE[-1]:
        os.fsync(fd)


@contextlib.contextmanager
def process_crash_safe() -> Iterator[None]:
    """Writes stay atomic (temp file + rename) but skip fsync: for cheap, re-creatable files such as a tune
    trial's run directory, where an fsync per epoch and per file costs more than the data is worth."""
    _DURABLE.append(False)
    try:
        yield
    finally:
        _DURABLE.pop()
