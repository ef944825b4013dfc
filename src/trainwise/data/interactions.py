"""Read user-item interactions (user, item, rating, optional timestamp) from a CSV/TSV file or a built-in.

Ids stay strings here; the recommend task maps them to contiguous indices from its training split. Every
row that is dropped or merged is counted (duplicates), and every value that is wrong (missing column,
non-numeric or out-of-range rating) is an error naming the file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from trainwise.data.tabular import _read_rows
from trainwise.errors import DataError, did_you_mean


@dataclass(frozen=True)
class Columns:
    """Which header names hold the user, item, rating and (optional) timestamp."""

    user: str = "user"
    item: str = "item"
    rating: str | None = "rating"
    timestamp: str | None = None


@dataclass
class Interactions:
    """One row per (user, item) pair after the duplicate rule; ratings are 1.0 when the file has none."""

    users: np.ndarray  # str ids
    items: np.ndarray  # str ids
    ratings: np.ndarray  # float32
    timestamps: np.ndarray | None  # float64, or None without a timestamp column
    lines: np.ndarray  # 1-based line number in the file of each row
    source: str
    counts: dict[str, int] = field(default_factory=dict)  # rows read, duplicates merged, ...

    def __len__(self) -> int:
        return len(self.users)

    def take(self, index: np.ndarray) -> Interactions:
        """The rows at `index` (same source and counts)."""
        stamps = self.timestamps[index] if self.timestamps is not None else None
        part = self.items[index]
        return Interactions(
            self.users[index], part, self.ratings[index], stamps, self.lines[index], self.source, dict(self.counts)
        )


def read_interactions(
    path: str | Path,
    columns: Columns,
    *,
    rating_range: tuple[float, float] | None = None,
    duplicates: Literal["error", "last"] = "last",
    delimiter: str | None = None,
) -> Interactions:
    """Parse an interactions file with a header row (tab for .tsv/.inter, else comma).

    Typed headers such as `user_id:token` (RecBole's atomic files) are read as `user_id`. A rating outside
    `rating_range` is an error; a repeated (user, item) pair is an error or keeps its latest row (by timestamp,
    then file order) and is counted under `duplicates`.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".inter") else ","
    header, rows, lines = _read_rows(path, delimiter)
    header = [name.split(":", 1)[0] if ":" in name else name for name in header]
    where = _column_positions(header, columns, path)
    line_numbers = np.asarray(lines, dtype=np.int64)
    users = np.array([row[where["user"]].strip() for row in rows])
    items = np.array([row[where["item"]].strip() for row in rows])
    for name, ids in (("user", users), ("item", items)):
        empty = np.flatnonzero(ids == "")
        if len(empty):
            column = getattr(columns, name)
            raise DataError(f"row {lines[empty[0]]}, column '{column}': empty {name} id", source=str(path))
    if columns.rating is not None and "rating" in where:
        ratings = _numbers([row[where["rating"]] for row in rows], columns.rating, lines, path).astype(np.float32)
        _check_range(ratings, rating_range, columns.rating, lines, path)
    else:
        ratings = np.ones(len(rows), dtype=np.float32)
    stamps = None
    if columns.timestamp is not None:
        stamps = _numbers([row[where["timestamp"]] for row in rows], columns.timestamp, lines, path)
    data = Interactions(users, items, ratings, stamps, line_numbers, str(path), {"rows": len(rows)})
    return _deduplicate(data, duplicates)


def interactions_from_arrays(
    arrays: dict[str, np.ndarray],
    source: str,
    *,
    rating_range: tuple[float, float] | None = None,
    duplicates: Literal["error", "last"] = "last",
) -> Interactions:
    """Interactions from decoded columns `users`, `items`, `ratings`, `timestamps` (rows numbered from 1)."""
    lines = list(range(1, len(arrays["users"]) + 1))
    ratings = np.asarray(arrays["ratings"], dtype=np.float64)
    for key in ("ratings", "timestamps"):
        values = np.asarray(arrays.get(key, ratings), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            where = f"row {lines[bad[0]]}, column '{key.removesuffix('s')}'"
            raise DataError(f"{where}: {values[bad[0]]} is not a finite number", source=source)
    _check_range(ratings.astype(np.float32), rating_range, "rating", lines, Path(source))
    data = Interactions(
        np.asarray(arrays["users"]).astype(str),
        np.asarray(arrays["items"]).astype(str),
        ratings.astype(np.float32),
        np.asarray(arrays["timestamps"], dtype=np.float64) if "timestamps" in arrays else None,
        np.asarray(lines, dtype=np.int64),
        source,
        {"rows": len(lines)},
    )
    return _deduplicate(data, duplicates)


def _column_positions(header: list[str], columns: Columns, path: Path) -> dict[str, int]:
    wanted = {"user": columns.user, "item": columns.item}
    if columns.rating is not None:
        wanted["rating"] = columns.rating
    if columns.timestamp is not None:
        wanted["timestamp"] = columns.timestamp
    positions: dict[str, int] = {}
    for role, name in wanted.items():
        if name not in header:
            raise DataError(
                f"no {role} column '{name}' (set data.{role}); {did_you_mean(name, header)}", source=str(path)
            )
        positions[role] = header.index(name)
    return positions


def _numbers(cells: list[str], column: str, lines: list[int], path: Path) -> np.ndarray:
    """A column as float64; the first empty, non-numeric or non-finite cell names its row."""
    try:
        values = np.array(cells, dtype=str).astype(np.float64)
    except ValueError:
        for r, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                shown = "empty cell" if not cell.strip() else f"{cell.strip()!r} is not a number"
                raise DataError(f"row {lines[r]}, column '{column}': {shown}", source=str(path)) from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        r = int(bad[0])
        raise DataError(f"row {lines[r]}, column '{column}': {values[r]} is not a finite number", source=str(path))
    return values


def _check_range(
    ratings: np.ndarray, rating_range: tuple[float, float] | None, column: str, lines: list[int], path: Path
) -> None:
    if rating_range is None:
        return
    low, high = rating_range
    bad = np.flatnonzero((ratings < low) | (ratings > high))
    if len(bad):
        r = int(bad[0])
        raise DataError(
            f"row {lines[r]}, column '{column}': rating {ratings[r]:g} is outside the declared range "
            f"{low:g}..{high:g} ({len(bad)} such rows; fix them or widen data.rating_range)",
            source=str(path),
        )


def _deduplicate(data: Interactions, rule: Literal["error", "last"]) -> Interactions:
    """Keep one row per (user, item): the latest by timestamp, then by file order; or fail on the first repeat."""
    _, user_codes = np.unique(data.users, return_inverse=True)
    item_ids, item_codes = np.unique(data.items, return_inverse=True)
    pairs = user_codes.astype(np.int64) * len(item_ids) + item_codes
    stamps = data.timestamps if data.timestamps is not None else np.zeros(len(pairs))
    order = np.lexsort((np.arange(len(pairs)), stamps, pairs))  # by pair, then time, then file order
    ordered = pairs[order]
    last_of_pair = np.ones(len(order), dtype=bool)
    last_of_pair[:-1] = ordered[:-1] != ordered[1:]
    repeats = len(order) - int(last_of_pair.sum())
    data.counts["duplicates"] = repeats
    if not repeats:
        return data
    if rule == "error":
        first_repeat = order[int(np.flatnonzero(~last_of_pair)[0]) + 1]
        raise DataError(
            f"row {data.lines[first_repeat]}: user '{data.users[first_repeat]}' and item "
            f"'{data.items[first_repeat]}' occur more than once ({repeats} repeated rows); "
            'set data.duplicates = "last" to keep the latest of each',
            source=data.source,
        )
    kept = np.sort(order[last_of_pair])
    return data.take(kept)
