"""Shared helpers for the data-layer tests: IDX writers."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

TYPE_BYTES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX encoding of `array`: magic, type byte, dims as big-endian uint32, big-endian data."""
    type_byte = TYPE_BYTES[array.dtype.type]
    header = bytes([0, 0, type_byte, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """Write `array` as an IDX file (gzip-compressed when gz) and return the path."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture(name="write_idx")
def write_idx_fixture() -> Callable[..., Path]:
    """The IDX writer, for tests (conftest modules are not importable by name)."""
    return write_idx


@pytest.fixture(name="idx_bytes")
def idx_bytes_fixture() -> Callable[[np.ndarray], bytes]:
    """The IDX encoder, for tests."""
    return idx_bytes
