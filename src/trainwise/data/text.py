"""Labelled texts for the text task: user files (CSV, TSV, JSONL) and the built-ins `food-reviews`, `austen`.

Texts and labels stay strings here; the text task tokenizes them. Every problem with a file names the file,
the row (its line number) and the column. Built-ins come from R data packages (see `trainwise.data.rdata`)
and are cached as string arrays after the first read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainwise.data.cache import cached_arrays
from trainwise.data.rdata import package_files, package_installed, read_r_object
from trainwise.data.splits import split_indices
from trainwise.errors import DataError, did_you_mean

if TYPE_CHECKING:
    from trainwise.config import DataConfig

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl")
TEST_SPLIT_SEED = 20240601  # fixed: a built-in's test split never depends on user settings
AUSTEN_BOOKS = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}


@dataclass
class TextPart:
    """Texts and their labels (as strings) from one file or built-in split, with where each came from."""

    texts: list[str]
    labels: list[str]
    source: str
    rows: list[int] | None = None  # file line numbers, for error messages
    label_column: str = "label"

    def where(self, i: int) -> str:
        row = f"row {self.rows[i]}" if self.rows is not None else f"sample {i}"
        return f"{row}, column '{self.label_column}'"

    def take(self, index: np.ndarray) -> TextPart:
        rows = [self.rows[i] for i in index] if self.rows is not None else None
        return TextPart(
            [self.texts[i] for i in index], [self.labels[i] for i in index], self.source, rows, self.label_column
        )


@dataclass
class TextSplits:
    """Train / validation / test texts with class indices; classes are the training labels, sorted."""

    name: str
    source: str
    classes: list[str]
    train_texts: list[str]
    train_y: np.ndarray
    val_texts: list[str] | None = None
    val_y: np.ndarray | None = None
    test_texts: list[str] | None = None
    test_y: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_texts(cfg: DataConfig) -> TextSplits:
    """The recipe's texts: a built-in or a file, split into train / validation (seeded) / test."""
    test: TextPart | None
    if cfg.name is not None:
        if cfg.name not in TEXT_BUILTINS:
            raise DataError(
                f"unknown text data set '{cfg.name}'; {did_you_mean(cfg.name, TEXT_BUILTINS)}", key="data.name"
            )
        train, test = TEXT_BUILTINS[cfg.name](cfg)
        name = cfg.name
    elif cfg.path is not None:
        train = read_text_file(cfg.path, cfg.text, cfg.label)
        test = read_text_file(cfg.test_path, cfg.text, cfg.label) if cfg.test_path else None
        name = Path(cfg.path).stem
    else:
        raise DataError("no data: set data.name (a built-in, see `trainwise data ls`) or data.path")
    classes = sorted(set(train.labels))
    try:
        kept, held = split_indices(np.asarray(train.labels), cfg.validation_split, cfg.split_seed, stratify=True)
    except DataError as exc:
        raise DataError(exc.message, source=train.source, key="data.validation_split") from None
    fit, val = train.take(kept), train.take(held)
    splits = TextSplits(name, train.source, classes, fit.texts, _indices(fit, classes))
    if len(held):
        splits.val_texts, splits.val_y = val.texts, _indices(val, classes)
    if test is not None:
        splits.test_texts, splits.test_y = test.texts, _indices(test, classes)
    return splits


def _indices(part: TextPart, classes: list[str]) -> np.ndarray:
    """Labels as class indices; a label the training split never shows is an error naming its row."""
    index = {name: i for i, name in enumerate(classes)}
    for i, label in enumerate(part.labels):
        if label not in index:
            raise DataError(
                f"{part.where(i)}: label '{label}' is not seen in the training data; expected one of "
                f"{', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''}",
                source=part.source,
            )
    return np.array([index[label] for label in part.labels], dtype=np.int64)


# --- user files ----------------------------------------------------------------------------------------


def read_text_file(path: str | Path, text: str, label: str) -> TextPart:
    """Texts and labels from a .csv/.tsv (header row) or .jsonl (one object per line) file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise DataError(f"unsupported text file type '{suffix}'; expected {', '.join(TEXT_SUFFIXES)}", source=str(path))
    if not path.is_file():
        raise DataError(f"file not found; expected a {suffix} file of texts and labels", source=str(path))
    try:
        records = _jsonl_records(path) if suffix == ".jsonl" else _delimited_records(path, suffix)
        texts, labels, rows = [], [], []
        for row, record in records:
            for column in (text, label):
                if column not in record:
                    raise DataError(
                        f"row {row}: no column '{column}'; {did_you_mean(column, list(record))}", source=str(path)
                    )
            value = record[text]
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"row {row}, column '{text}': empty text; expected some words", source=str(path))
            tag = record[label]
            if tag is None or isinstance(tag, (dict, list)) or not str(tag).strip():
                raise DataError(f"row {row}, column '{label}': empty label; expected a class name", source=str(path))
            texts.append(value)
            labels.append(str(tag).strip())
            rows.append(row)
    except UnicodeDecodeError as exc:
        raise DataError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", source=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read ({exc.__class__.__name__}: {exc})", source=str(path)) from None
    if not texts:
        raise DataError("no rows: expected texts with labels", source=str(path))
    return TextPart(texts, labels, str(path), rows, label)


def _delimited_records(path: Path, suffix: str) -> Any:
    """(line number, {column: cell}) for each data row of a CSV/TSV file with a header row."""
    delimiter = "\t" if suffix == ".tsv" else ","
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, delimiter=delimiter)
        header: list[str] | None = None
        try:
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                if header is None:
                    header = [c.strip() for c in cells]
                    continue
                if len(cells) != len(header):
                    raise DataError(
                        f"row {reader.line_num}: expected {len(header)} cells (one per column), found {len(cells)}; "
                        f"is this a {suffix} file?",
                        source=str(path),
                    )
                yield reader.line_num, dict(zip(header, cells, strict=True))
        except csv.Error as exc:
            raise DataError(
                f"row {reader.line_num}: not valid {suffix[1:].upper()} ({exc})", source=str(path)
            ) from None


def _jsonl_records(path: Path) -> Any:
    """(line number, object) for each non-blank line of a JSON Lines file."""
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"row {number}: not JSON ({exc.msg}); expected one JSON object per line", source=str(path)
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"row {number}: expected a JSON object per line, found {type(record).__name__}", source=str(path)
                )
            yield number, record


# --- built-ins -----------------------------------------------------------------------------------------


def _food_reviews(cfg: DataConfig) -> tuple[TextPart, TextPart]:
    """Amazon fine-food reviews (modeldata): 4,000 train + 1,000 test, score great/other."""

    def decode() -> dict[str, np.ndarray]:
        arrays = {}
        for split, obj in (("train", "training_data"), ("test", "testing_data")):
            frame = read_r_object("modeldata", obj)
            arrays.update(pack_strings(f"{split}_text", [str(t) for t in frame["review"]]))
            arrays.update(pack_strings(f"{split}_label", [str(s) for s in frame["score"]]))
        return arrays

    arrays = _cached("food-reviews", "modeldata", decode)
    source = str(package_files("modeldata")[0].parent)
    return (
        TextPart(unpack_strings(arrays, "train_text"), unpack_strings(arrays, "train_label"), source, None, "score"),
        TextPart(unpack_strings(arrays, "test_text"), unpack_strings(arrays, "test_label"), source, None, "score"),
    )


def _austen(cfg: DataConfig) -> tuple[TextPart, TextPart]:
    """Which of Jane Austen's six novels a passage of `passage_lines` non-empty lines comes from.

    Passages, not lines, are split (20% test, seeded), so no passage shares lines across splits.
    """

    def decode() -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for key in AUSTEN_BOOKS:
            arrays.update(pack_strings(key, [str(line) for line in read_r_object("janeaustenr", key)]))
        return arrays

    books = _cached("austen", "janeaustenr", decode)
    texts, labels = [], []
    size = cfg.passage_lines
    for key, title in AUSTEN_BOOKS.items():
        lines = [line.strip() for line in unpack_strings(books, key) if line.strip()]
        for start in range(0, len(lines) - size + 1, size):
            texts.append(" ".join(lines[start : start + size]))
            labels.append(title)
    source = str(package_files("janeaustenr")[0].parent)
    part = TextPart(texts, labels, source, None, "book")
    train, test = split_indices(np.asarray(labels), 0.2, TEST_SPLIT_SEED, stratify=True)
    return part.take(train), part.take(test)


def pack_strings(key: str, strings: list[str]) -> dict[str, np.ndarray]:
    """Strings as one UTF-8 byte array plus end offsets: compact in an .npz (fixed-width 'U' arrays are not)."""
    encoded = [text.encode("utf-8") for text in strings]
    ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    return {f"{key}.bytes": np.frombuffer(b"".join(encoded), dtype=np.uint8), f"{key}.ends": ends}


def unpack_strings(arrays: dict[str, np.ndarray], key: str) -> list[str]:
    """The strings `pack_strings` stored under `key`."""
    blob, ends = arrays[f"{key}.bytes"].tobytes(), arrays[f"{key}.ends"].tolist()
    return [blob[start:end].decode("utf-8") for start, end in zip([0, *ends], ends, strict=False)]


def _cached(name: str, package: str, decode: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not package_installed(package):
        read_r_object(package, "")  # raises the "not installed; install it with ..." error
    return cached_arrays(name, package_files(package), decode)


TEXT_BUILTINS: dict[str, Callable[[DataConfig], tuple[TextPart, TextPart]]] = {
    "food-reviews": _food_reviews,
    "austen": _austen,
}
