"""read_idx: round trips for every type byte, raw and gzip, and one DataError per way a file is wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from trainwise.data.idx import read_idx
from trainwise.errors import DataError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_every_type(tmp_path: Path, write_idx, dtype: type, gz: bool) -> None:
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else np.finfo(dtype)
    # extreme values catch a wrong byte order or item size
    values = np.array([info.min, info.max, 0, 1, 2, 3, -1 if info.min < 0 else 7, 5, 6, 8, 9, 10], dtype=dtype)
    array = values.reshape(2, 3, 2)
    result = read_idx(write_idx(tmp_path / "a.idx", array, gz=gz))
    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative
    assert result.shape == (2, 3, 2)
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 0  # the array is writable, not a view on read-only bytes


def test_gzip_is_told_by_magic_not_name(tmp_path: Path, write_idx) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", array)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "packed.idx", array, gz=True)), array)


def test_one_dimensional_labels(tmp_path: Path, write_idx) -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert read_idx(write_idx(tmp_path / "labels", labels)).shape == (5,)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope-idx3-ubyte.gz"
    with pytest.raises(DataError, match="file not found") as err:
        read_idx(path)
    assert err.value.source == str(path)
    assert str(path) in str(err.value)


def _header(type_byte: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + np.array(dims, dtype=">u4").tobytes()


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"\x01\x02\x08\x01" + b"\x00" * 8,
            r"bad magic: expected an IDX file starting with two zero bytes, found 0x0102",
        ),
        (_header(0x0A, (2,)) + b"\x00" * 2, r"unknown IDX type byte 0x0A; expected one of 0x08 \(uint8\)"),
        (_header(0x08, ()), r"bad number of dimensions 0; expected 1 to 8"),
        (bytes([0, 0, 8, 9]) + b"\x00" * 40, r"bad number of dimensions 9; expected 1 to 8"),
        (b"\x00\x00", r"truncated header: expected at least 4 bytes .*found 2"),
        (bytes([0, 0, 8, 3]) + b"\x00" * 5, r"truncated header: expected 16 bytes for 3 dimensions, found 9"),
        (
            _header(0x08, (60000, 28, 28)) + b"\x00" * 1000,
            r"truncated: expected 47040000 bytes of uint8 data for 60000x28x28, found 1000",
        ),
        (_header(0x0B, (2, 3)) + b"\x00" * 11, r"truncated: expected 12 bytes of int16 data for 2x3, found 11"),
        (
            _header(0x08, (2, 2)) + b"\x00" * 7,
            r"trailing garbage: expected 4 bytes of uint8 data for 2x2, found 7 \(3 extra\)",
        ),
    ],
    ids=[
        "magic",
        "type",
        "zero-dims",
        "too-many-dims",
        "short-header",
        "short-dims",
        "truncated",
        "odd-bytes",
        "garbage",
    ],
)
def test_bad_files(tmp_path: Path, payload: bytes, message: str, gz: bool) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DataError, match=message) as err:
        read_idx(path)
    assert err.value.source == str(path)


def test_corrupt_gzip(tmp_path: Path, idx_bytes) -> None:
    path = tmp_path / "corrupt.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip data at all")
    with pytest.raises(DataError, match=r"corrupt gzip data .*expected a complete gzip stream") as err:
        read_idx(path)
    assert err.value.source == str(path)


def test_truncated_gzip_stream(tmp_path: Path, idx_bytes) -> None:
    packed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="corrupt gzip data"):
        read_idx(path)


def test_empty_data_with_a_zero_dimension(tmp_path: Path, write_idx) -> None:
    result = read_idx(write_idx(tmp_path / "empty", np.zeros((0, 4), dtype=np.float32)))
    assert result.shape == (0, 4)
    assert result.dtype == np.float32


def test_directory_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path)


def test_reads_installed_fashion_mnist_labels() -> None:
    path = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    if not path.is_file():
        pytest.skip("dataset-fashion-mnist is not installed")
    labels = read_idx(path)
    assert labels.shape == (10000,)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)
