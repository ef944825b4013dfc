"""Read data sets from R data packages without R: plain `.rda` files and lazy-load databases.

`scripts/install-r-data.sh` unpacks Debian's r-cran-<pkg> packages into
`${TRAINWISE_DATA_DIR:-~/.local/share/trainwise}/r/<pkg>/`; this module finds them there and parses them
with the pure-Python `rdata` package. A lazy-load database is `data/Rdata.rdx` (a gzip'ed RDS index:
object name -> (offset, length) into `data/Rdata.rdb`, plus the compression type) and `data/Rdata.rdb` (each
entry a 4-byte big-endian length, then the compressed RDS stream; R's serialize.c, lazyLoadDBinsertValue).

    >>> reviews = read_r_object("modeldata", "training_data")  # doctest: +SKIP
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainwise.errors import DataError

INSTALL_HINT = "bash scripts/install-r-data.sh {package}"


def data_dir() -> Path:
    """Where trainwise keeps installed data: $TRAINWISE_DATA_DIR, else ~/.local/share/trainwise."""
    configured = os.environ.get("TRAINWISE_DATA_DIR")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "trainwise"


def package_dir(package: str) -> Path:
    """The folder of an unpacked R package (the one holding `data/`); it may not exist."""
    return data_dir() / "r" / package


def package_installed(package: str) -> bool:
    """True when the package's data folder is in place (a file check; nothing is parsed)."""
    return (package_dir(package) / "data").is_dir()


def package_files(package: str) -> list[Path]:
    """The data files an object of `package` may be read from (the lazy-load pair, else the .rda files)."""
    folder = package_dir(package) / "data"
    rdx, rdb = folder / "Rdata.rdx", folder / "Rdata.rdb"
    if rdx.is_file() or not folder.is_dir():
        return [rdx, rdb]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".rda", ".rdata"))


def read_r_object(package: str, name: str) -> Any:
    """One object of an installed R data package, converted (data frames become pandas DataFrames)."""
    folder = package_dir(package) / "data"
    if not folder.is_dir():
        raise DataError(
            f"R data package '{package}' is not installed (looked in {folder.parent}); "
            f"install it with: {INSTALL_HINT.format(package=package)}",
            source=package,
        )
    if (folder / "Rdata.rdx").is_file():
        return read_lazyload(folder / "Rdata", name)
    for path in package_files(package):
        if path.stem == name:
            return read_rda(path)[name]
    raise DataError(f"R data package '{package}' has no object '{name}'", source=str(folder))


def read_rda(path: str | Path) -> dict[str, Any]:
    """All objects of a plain `.rda`/`.RData` file (any compression R writes), converted."""
    rdata = _rdata()
    path = Path(path)
    try:
        with _quiet():
            parsed = rdata.parser.parse_file(path)
            return {str(k): _plain_names(v) for k, v in rdata.conversion.convert(parsed).items()}
    except FileNotFoundError:
        raise DataError("file not found", source=str(path)) from None
    except Exception as exc:  # rdata raises many kinds on corrupt input; any of them means an unreadable file
        raise DataError(f"not a readable R data file ({exc.__class__.__name__}: {exc})", source=str(path)) from None


def lazyload_names(base: str | Path) -> list[str]:
    """The object names in a lazy-load database (`base` is the path without .rdx/.rdb)."""
    return sorted(_read_index(Path(f"{base}.rdx"))[0])


def read_lazyload(base: str | Path, name: str) -> Any:
    """One object from a lazy-load database `base`.rdx + `base`.rdb, converted."""
    rdx, rdb = Path(f"{base}.rdx"), Path(f"{base}.rdb")
    variables, compression = _read_index(rdx)
    if name not in variables:
        raise DataError(f"no object '{name}' in this R data package; it has {len(variables)} others", source=str(rdx))
    offset, length = variables[name]
    try:
        with rdb.open("rb") as file:
            file.seek(offset)
            blob = file.read(length)
    except OSError as exc:
        raise DataError(f"cannot read ({exc.__class__.__name__}: {exc})", source=str(rdb)) from None
    if len(blob) != length:
        raise DataError(f"object '{name}' runs past the end of the file (truncated?)", source=str(rdb))
    data = _decompress(blob, compression, rdb, name)
    rdata = _rdata()
    try:
        with _quiet():
            return _plain_names(rdata.conversion.convert(rdata.parser.parse_data(data)))
    except Exception as exc:  # corrupt or unsupported stream: say which object and file
        raise DataError(
            f"object '{name}' is not a readable R object ({exc.__class__.__name__}: {exc})", source=str(rdb)
        ) from None


def _read_index(rdx: Path) -> tuple[dict[str, tuple[int, int]], int]:
    """The .rdx index: name -> (offset, length) into the .rdb, and the compression type (0..3)."""
    rdata = _rdata()
    if not rdx.is_file():
        raise DataError("lazy-load index not found", source=str(rdx))
    try:
        with _quiet():
            index = rdata.conversion.convert(rdata.parser.parse_file(rdx))
        variables = {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}
        compressed = index.get("compressed", 1)
        compression = int(compressed[0] if hasattr(compressed, "__len__") else compressed)
    except Exception as exc:  # truncated gzip, wrong layout, garbage: all mean an unreadable index
        raise DataError(f"not a readable lazy-load index ({exc.__class__.__name__}: {exc})", source=str(rdx)) from None
    return variables, compression


def _decompress(blob: bytes, compression: int, rdb: Path, name: str) -> bytes:
    """One .rdb entry: a 4-byte big-endian length, then the payload compressed as the index says."""
    if len(blob) < 5:
        raise DataError(f"object '{name}' entry is too short ({len(blob)} bytes)", source=str(rdb))
    (size,) = struct.unpack(">I", blob[:4])
    body = blob[4:]
    try:
        if compression == 1:
            data = zlib.decompress(body)
        elif compression in (2, 3):
            kind, body = body[:1], body[1:]
            if kind == b"Z":
                filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
                data = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters).decompress(body)
            elif kind == b"2":
                data = bz2.decompress(body)
            elif kind == b"1":
                data = zlib.decompress(body)
            elif kind == b"0":
                data = body
            else:
                raise ValueError(f"unknown compression byte {kind!r}")
        elif compression == 0:
            data = body
        else:
            raise ValueError(f"unknown compression type {compression}")
    except (ValueError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise DataError(
            f"object '{name}' does not decompress ({exc.__class__.__name__}: {exc})", source=str(rdb)
        ) from None
    if len(data) != size:
        raise DataError(f"object '{name}' decompressed to {len(data)} bytes, the entry says {size}", source=str(rdb))
    return data


def _plain_names(value: Any) -> Any:
    """Data frames get plain `str` column names (rdata gives numpy strings) and a 0-based index."""
    if hasattr(value, "columns") and hasattr(value, "reset_index"):
        value = value.reset_index(drop=True)
        value.columns = [str(c) for c in value.columns]
    return value


def _rdata() -> Any:
    """The `rdata` package, imported on first use (it pulls in pandas)."""
    try:
        import rdata
        import rdata.conversion
        import rdata.parser
    except ImportError:
        raise DataError(
            "reading R data needs the 'rdata' package; install it with: pip install 'trainwise[text]'"
        ) from None
    return rdata


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """rdata warns that an .rdx "is assumed RDS" (it is one) and that tibbles become data frames: nothing
    for a user to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield
