"""The R data reader on the real Debian packages (when unpacked) and on corrupt or missing files."""

from __future__ import annotations

import bz2
import lzma
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from trainwise.data import rdata
from trainwise.errors import DataError

pytest.importorskip("rdata", reason="the R data reader needs the 'rdata' package (pip install 'trainwise[text]')")


def _require(package: str) -> Path:
    if not rdata.package_installed(package):
        pytest.skip(f"R data package '{package}' not unpacked in {rdata.data_dir()}: run scripts/install-r-data.sh")
    return rdata.package_dir(package) / "data"


def test_reads_a_data_frame_from_a_zlib_database() -> None:
    _require("dslabs")
    heights = rdata.read_r_object("dslabs", "heights")
    assert list(heights.columns) == ["sex", "height"]
    assert len(heights) == 1050
    assert set(heights["sex"].astype(str)) == {"Female", "Male"}


def test_reads_an_lzma_database_entry() -> None:
    _require("modeldata")
    train = rdata.read_r_object("modeldata", "testing_data")  # modeldata uses R's xz (raw LZMA2) entries
    assert list(train.columns) == ["product", "review", "score"]
    assert len(train) == 1000
    assert set(train["score"].astype(str)) == {"great", "other"}


def test_reads_a_character_vector() -> None:
    _require("janeaustenr")
    lines = rdata.read_r_object("janeaustenr", "persuasion")
    assert [str(line) for line in lines[:6] if str(line)][:2] == ["Persuasion", "by"]
    assert len(lines) > 8000


def test_lists_the_objects_of_a_database() -> None:
    folder = _require("janeaustenr")
    assert rdata.lazyload_names(folder / "Rdata") == [
        "emma",
        "mansfieldpark",
        "northangerabbey",
        "persuasion",
        "prideprejudice",
        "sensesensibility",
    ]


def test_unknown_object_names_the_database() -> None:
    _require("janeaustenr")
    with pytest.raises(DataError, match=r"Rdata\.rdx.*no object 'ulysses'"):
        rdata.read_r_object("janeaustenr", "ulysses")


def test_missing_package_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINWISE_DATA_DIR", str(tmp_path))
    assert rdata.data_dir() == tmp_path
    assert not rdata.package_installed("modeldata")
    with pytest.raises(DataError, match=r"'modeldata' is not installed.*install-r-data\.sh modeldata") as info:
        rdata.read_r_object("modeldata", "ames")
    assert "\n" not in str(info.value)


def _copy_package(package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = _require(package)
    target = tmp_path / "r" / package / "data"
    shutil.copytree(source, target)
    monkeypatch.setenv("TRAINWISE_DATA_DIR", str(tmp_path))
    return target


def test_truncated_index_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_package("dslabs", tmp_path, monkeypatch)
    rdx = folder / "Rdata.rdx"
    rdx.write_bytes(rdx.read_bytes()[:200])
    with pytest.raises(DataError, match=r"Rdata\.rdx: not a readable lazy-load index"):
        rdata.read_r_object("dslabs", "heights")


def test_garbage_index_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_package("dslabs", tmp_path, monkeypatch)
    (folder / "Rdata.rdx").write_bytes(b"this is not an R index\n" * 10)
    with pytest.raises(DataError, match=r"Rdata\.rdx: not a readable lazy-load index"):
        rdata.read_r_object("dslabs", "heights")


def test_truncated_database_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_package("janeaustenr", tmp_path, monkeypatch)
    rdb = folder / "Rdata.rdb"
    rdb.write_bytes(rdb.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"Rdata\.rdb: object 'sensesensibility' runs past the end"):
        rdata.read_r_object("janeaustenr", "sensesensibility")


def test_corrupt_database_entry_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_package("janeaustenr", tmp_path, monkeypatch)
    rdb = folder / "Rdata.rdb"
    blob = bytearray(rdb.read_bytes())
    blob[4:40] = b"\xff" * 36  # the first entry's zlib stream, past its length prefix
    rdb.write_bytes(bytes(blob))
    offset = min(offset for offset, _ in rdata._read_index(folder / "Rdata.rdx")[0].values())
    name = next(n for n, (o, _) in rdata._read_index(folder / "Rdata.rdx")[0].items() if o == offset)
    with pytest.raises(DataError, match=rf"Rdata\.rdb: object '{name}' does not decompress"):
        rdata.read_r_object("janeaustenr", name)


def test_garbage_rda_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.rda"
    path.write_bytes(b"RDX3\n" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"broken\.rda: not a readable R data file"):
        rdata.read_rda(path)


def test_plain_rda_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    import rdata as rdata_package

    folder = tmp_path / "r" / "tiny" / "data"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]})
    rdata_package.write_rda(folder / "tiny.rda", {"tiny": frame})
    monkeypatch.setenv("TRAINWISE_DATA_DIR", str(tmp_path))
    read = rdata.read_r_object("tiny", "tiny")
    assert list(read.columns) == ["x", "y"]
    assert read["x"].tolist() == [1.5, 2.5]
    assert [str(v) for v in read["y"]] == ["a", "b"]


PAYLOAD = b"X\n\x00\x00\x00\x03" + bytes(range(200)) * 20


def _entry(body: bytes) -> bytes:
    return struct.pack(">I", len(PAYLOAD)) + body


@pytest.mark.parametrize(
    ("compression", "body"),
    [
        (0, PAYLOAD),
        (1, zlib.compress(PAYLOAD)),
        (2, b"2" + bz2.compress(PAYLOAD)),
        (3, b"0" + PAYLOAD),
        (3, b"1" + zlib.compress(PAYLOAD)),
        (
            3,
            b"Z" + lzma.compress(PAYLOAD, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}]),
        ),
    ],
)
def test_every_compression_r_writes_is_decoded(compression: int, body: bytes) -> None:
    assert rdata._decompress(_entry(body), compression, Path("x.rdb"), "obj") == PAYLOAD


def test_wrong_length_prefix_is_a_data_error() -> None:
    blob = struct.pack(">I", len(PAYLOAD) + 1) + zlib.compress(PAYLOAD)
    with pytest.raises(DataError, match=r"x\.rdb: object 'obj' decompressed to \d+ bytes, the entry says"):
        rdata._decompress(blob, 1, Path("x.rdb"), "obj")


def test_unknown_compression_byte_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"unknown compression byte"):
        rdata._decompress(_entry(b"Q" + PAYLOAD), 3, Path("x.rdb"), "obj")
