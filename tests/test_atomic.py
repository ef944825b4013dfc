"""Atomic writes: the old file or the new one, never half of either; temp files never linger."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

import pytest

from trainwise.atomic import atomic_write, atomic_write_text, remove_stale_temps


def test_atomic_write_text_replaces_the_file_with_usual_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")

    def half_then_fail(handle: IO[bytes]) -> None:
        handle.write(b"new but incomplete")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_remove_stale_temps_removes_only_temp_files(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "last.pt").write_bytes(b"complete")
    (tmp_path / "notes.tmp").write_text("not ours: no leading dot")
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [".last.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "notes.tmp"]
