"""Read IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed, into numpy arrays.

IDX: two zero bytes, a type byte, a byte with the number of dimensions, each dimension as a big-endian
uint32, then the data in big-endian order. Every way a file can be wrong is a one-line DataError.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from trainwise.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
MAX_DIMS = 8  # real IDX files have 1 to 4; more means a corrupt header

# type byte -> big-endian dtype of the data
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip, told apart by its first bytes) as a native-endian array.

    >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape
    (10000,)
    """
    path = Path(path)
    payload = _read_bytes(path)
    dtype, shape, offset = _parse_header(payload, path)
    expected = math.prod(shape) * dtype.itemsize
    found = len(payload) - offset
    dims = "x".join(str(d) for d in shape)
    if found < expected:
        raise DataError(
            f"truncated: expected {expected} bytes of {dtype.name} data for {dims}, found {found}",
            source=str(path),
        )
    if found > expected:
        raise DataError(
            f"trailing garbage: expected {expected} bytes of {dtype.name} data for {dims}, "
            f"found {found} ({found - expected} extra)",
            source=str(path),
        )
    data = np.frombuffer(payload, dtype=dtype, count=math.prod(shape), offset=offset)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when they start with the gzip magic."""
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found; expected an IDX file (raw or .gz)", source=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read IDX file ({exc.__class__.__name__}: {exc})", source=str(path)) from None
    if not payload.startswith(GZIP_MAGIC):
        return payload
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"corrupt gzip data ({exc.__class__.__name__}: {exc}); expected a complete gzip stream",
            source=str(path),
        ) from None


def _parse_header(payload: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, offset of the data) from an IDX header, checking each field."""
    if len(payload) < 4:
        raise DataError(
            f"truncated header: expected at least 4 bytes (magic, type, dims), found {len(payload)}",
            source=str(path),
        )
    if payload[:2] != b"\x00\x00":
        raise DataError(
            f"bad magic: expected an IDX file starting with two zero bytes, found 0x{payload[:2].hex()}",
            source=str(path),
        )
    type_byte, ndim = payload[2], payload[3]
    if type_byte not in IDX_TYPES:
        known = ", ".join(f"0x{t:02X} ({d.name})" for t, d in IDX_TYPES.items())
        raise DataError(f"unknown IDX type byte 0x{type_byte:02X}; expected one of {known}", source=str(path))
    if not 1 <= ndim <= MAX_DIMS:
        raise DataError(
            f"bad number of dimensions {ndim}; expected 1 to {MAX_DIMS}",
            source=str(path),
        )
    offset = 4 + 4 * ndim
    if len(payload) < offset:
        raise DataError(
            f"truncated header: expected {offset} bytes for {ndim} dimensions, found {len(payload)}",
            source=str(path),
        )
    shape = tuple(int(d) for d in np.frombuffer(payload, dtype=">u4", count=ndim, offset=4))
    return IDX_TYPES[type_byte], shape, offset
