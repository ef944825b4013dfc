"""Read user tables: CSV/TSV files with a header row, and .npz archives of feature and label arrays.

Both return (features as float32, labels, class names or None). Labels that are all numbers stay numbers
(int64 when all integral); string labels become class indices 0..K-1 in sorted order of the names.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainwise.errors import DataError, did_you_mean

NPZ_KEYS = (("x", "y"), ("X", "y"), ("features", "labels"))


@dataclass
class Table:
    """A parsed CSV: features (N, F) float32, labels, class names, feature columns, and file line numbers."""

    features: np.ndarray
    labels: np.ndarray
    classes: list[str] | None
    columns: list[str]
    lines: np.ndarray  # 1-based line number in the file of each row, for error messages


def read_csv(path: str | Path, label: str) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(features float32 (N, F), labels, class names) from a CSV (or tab-separated .tsv) with a header."""
    table = read_table(path, label)
    return table.features, table.labels, table.classes


def read_table(path: str | Path, label: str, *, delimiter: str | None = None) -> Table:
    """Parse a delimited text file with a header row; the delimiter defaults to tab for .tsv, else comma."""
    path = Path(path)
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    header, rows, lines = _read_rows(path, delimiter)
    if label not in header:
        raise DataError(f"no label column '{label}'; {did_you_mean(label, header)}", source=str(path))
    if header.count(label) > 1:
        raise DataError(f"label column '{label}' appears {header.count(label)} times; expected once", source=str(path))
    at = header.index(label)
    columns = [name for i, name in enumerate(header) if i != at]
    if not columns:
        raise DataError(f"no feature columns: expected at least one column besides '{label}'", source=str(path))
    features = _parse_features([[c for i, c in enumerate(r) if i != at] for r in rows], columns, lines, path)
    labels, classes = _parse_labels([r[at] for r in rows], label, lines, path)
    return Table(features, labels, classes, columns, np.asarray(lines, dtype=np.int64))


def _read_rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows (blank lines skipped) and their line numbers; ragged rows are errors."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [cell.strip() for cell in row]
                elif len(row) != len(header):
                    raise DataError(
                        f"row {reader.line_num}: expected {len(header)} cells (one per column), found {len(row)}",
                        source=str(path),
                    )
                else:
                    rows.append(row)
                    lines.append(reader.line_num)
    except FileNotFoundError:
        raise DataError("file not found; expected a CSV file with a header row", source=str(path)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read CSV ({exc.__class__.__name__}: {exc})", source=str(path)) from None
    if header is None:
        raise DataError("empty file: expected a header row of column names, then data rows", source=str(path))
    if not rows:
        raise DataError("header only: expected data rows after the header row", source=str(path))
    return header, rows, lines


def _parse_features(cells: list[list[str]], columns: list[str], lines: list[int], path: Path) -> np.ndarray:
    """Feature cells as float32 (N, F); a non-numeric, empty or non-finite cell names its row and column."""
    try:
        values = np.array(cells, dtype=str).astype(np.float64)
    except ValueError:
        values = np.empty((len(cells), len(columns)), dtype=np.float64)
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                where = f"row {lines[r]}, column '{columns[c]}'"
                if not cell.strip():
                    raise DataError(f"{where}: empty cell; features must be numbers", source=str(path)) from None
                try:
                    values[r, c] = float(cell)
                except ValueError:
                    raise DataError(
                        f"{where}: {cell!r} is not a number; features must be numbers", source=str(path)
                    ) from None
    with np.errstate(over="ignore"):
        features = values.astype(np.float32)
    bad = np.argwhere(~np.isfinite(features))
    if len(bad):
        r, c = (int(i) for i in bad[0])
        raise DataError(
            f"row {lines[r]}, column '{columns[c]}': {describe_bad_value(values[r, c])}; "
            "features must be finite numbers",
            source=str(path),
        )
    return features


def _parse_labels(cells: list[str], label: str, lines: list[int], path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Numbers stay numbers (int64 when all integral, else float32); otherwise sorted class names."""
    for r, cell in enumerate(cells):
        if not cell.strip():
            raise DataError(f"row {lines[r]}, column '{label}': empty label; expected a value", source=str(path))
    try:
        numbers = np.array([float(cell) for cell in cells], dtype=np.float64)
    except ValueError:
        names = [cell.strip() for cell in cells]
        classes = sorted(set(names))
        index = {name: i for i, name in enumerate(classes)}
        return np.array([index[name] for name in names], dtype=np.int64), classes
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        r = int(bad[0])
        raise DataError(
            f"row {lines[r]}, column '{label}': {describe_bad_value(numbers[r])} label; "
            "expected a finite number or a class name",
            source=str(path),
        )
    if np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) <= 2**53):
        return numbers.astype(np.int64), None
    return numbers.astype(np.float32), None


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(features float32 (N, ...), labels, class names) from an .npz with arrays x and y (no pickles)."""
    path = Path(path)
    x, y = _load_npz_pair(path)
    if x.dtype.kind not in "biuf":
        raise DataError(f"features have dtype {x.dtype}; expected numbers (bool, int or float)", source=str(path))
    if x.ndim == 0 or y.ndim == 0:
        raise DataError("features and labels must be arrays with one entry per sample, not scalars", source=str(path))
    if len(x) != len(y):
        raise DataError(f"{len(x)} samples of features but {len(y)} labels; expected one label each", source=str(path))
    with np.errstate(over="ignore"):
        features = x.astype(np.float32).reshape(len(x), -1) if x.ndim == 1 else x.astype(np.float32)
    flat = features.reshape(len(features), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if len(bad):
        i = int(bad[0])
        value = x.reshape(len(x), -1)[i][~np.isfinite(flat[i])][0]
        raise DataError(f"sample {i}: {describe_bad_value(value)}; features must be finite numbers", source=str(path))
    if y.dtype.kind in "US":
        names = [str(v) for v in y.astype(str).reshape(-1)]
        classes = sorted(set(names))
        index = {name: i for i, name in enumerate(classes)}
        return features, np.array([index[n] for n in names], dtype=np.int64).reshape(y.shape), classes
    if y.dtype.kind in "biu":
        return features, y.astype(np.int64), None
    if y.dtype.kind != "f":
        raise DataError(f"labels have dtype {y.dtype}; expected numbers or strings", source=str(path))
    bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
    if len(bad):
        raise DataError(f"sample {int(bad[0])}: non-finite label; expected a finite number", source=str(path))
    return features, y.astype(np.float32), None


def _load_npz_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (features, labels) arrays of an npz, refusing pickles and naming the keys it found."""
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError("file not found; expected an .npz archive with arrays x and y", source=str(path)) from None
    except unreadable as exc:
        raise _npz_error(exc, path) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError("not an .npz archive; expected arrays x and y saved with np.savez", source=str(path))
    with archive:
        keys = list(archive.keys())
        for x_key, y_key in NPZ_KEYS:
            if x_key in keys and y_key in keys:
                try:
                    return archive[x_key], archive[y_key]
                except unreadable as exc:
                    raise _npz_error(exc, path) from None
    pairs = ", ".join(f"'{a}'/'{b}'" for a, b in NPZ_KEYS)
    raise DataError(f"expected arrays {pairs}; found {', '.join(keys) or 'none'}", source=str(path))


def _npz_error(exc: Exception, path: Path) -> DataError:
    return DataError(
        f"cannot read .npz ({exc.__class__.__name__}: {exc}); expected numeric arrays, no pickled objects",
        source=str(path),
    )


def describe_bad_value(value: float) -> str:
    """'NaN', 'inf', '-inf', or the value that overflowed float32, for error messages."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g} is too large for float32"
