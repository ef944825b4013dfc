"""Turn a DataConfig into train / validation / test numpy arrays, ready for any model (no torch here).

A built-in data set (by name) or user files (CSV/TSV, .npz, IDX images + labels) are read, scaled to
float32, checked against the task (class indices for classification) and split with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trainwise.data.catalog import get_builtin
from trainwise.data.idx import read_idx
from trainwise.data.splits import split_indices
from trainwise.data.tabular import read_npz, read_table
from trainwise.errors import DataError

if TYPE_CHECKING:  # pydantic is slow to import and the loader only reads attributes
    from trainwise.config import DataConfig


@dataclass
class ArraySplits:
    """Features (float32, (N, *input_shape)) and labels of each split; val_* and test_* may be None."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    classes: list[str] | None
    num_classes: int | None  # classification only: len(classes), else max label + 1
    input_shape: tuple[int, ...]
    source: str


@dataclass
class _Part:
    """One file's (or built-in split's) samples, and how to name sample i in an error."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str] | None
    source: str
    lines: np.ndarray | None = None  # CSV line numbers, so errors say "row 17" as the file does
    named: bool = False  # the labels were class names in the file (so they cannot be regression targets)

    def where(self, i: int) -> str:
        return f"row {int(self.lines[i])}" if self.lines is not None else f"sample {i}"


def load_arrays(cfg: DataConfig, *, classification: bool, binary: bool = False) -> ArraySplits:
    """Read the data named by `cfg`, scale it, check labels for the task, and carve the validation split.

    `binary` (a 0/1 loss such as bce) also requires every label to be 0 or 1.
    """
    if cfg.name is not None and cfg.path is not None:
        raise DataError("give either data.name (a built-in data set) or data.path (a file), not both")
    if cfg.name is not None:
        raw = get_builtin(cfg.name).load()
        train = _Part(raw.train_x, raw.train_y, raw.classes, raw.source)
        test = None
        if raw.test_x is not None and raw.test_y is not None:
            test = _Part(raw.test_x, raw.test_y, raw.classes, raw.source)
        name, source, scale = raw.name, raw.source, cfg.scale or raw.scale
    elif cfg.path is not None:
        train = _read_file(Path(cfg.path), cfg.labels_path, cfg.label)
        test = None
        if cfg.test_path is not None:
            test_path = Path(cfg.test_path)
            test_labels = None if test_path.suffix.lower() in TABLE_SUFFIXES else _idx_labels_beside(test_path)
            test = _match_classes(_read_file(test_path, test_labels, cfg.label), train)
        name, source, scale = Path(cfg.path).stem, cfg.path, cfg.scale
    else:
        raise DataError("no data: set data.name (a built-in, see `trainwise data ls`) or data.path")

    if len(train.x) == 0:
        raise DataError("no training samples; expected at least one", source=train.source)
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise DataError(
            f"test samples have shape {test.x.shape[1:]} but training samples {train.x.shape[1:]}; expected the same",
            source=test.source,
        )
    parts = [p for p in (train, test) if p is not None]
    for part in parts:
        part.y = _class_labels(part, binary) if classification else _targets(part)

    num_classes = None
    if classification:
        num_classes = len(train.classes) if train.classes else int(train.y.max()) + 1
        if test is not None and not train.classes:
            _check_test_labels_known(test, num_classes - 1)
    try:
        kept, held = split_indices(train.y, cfg.validation_split, cfg.split_seed, stratify=classification)
    except DataError as exc:
        raise DataError(exc.message, source=train.source, key="data.validation_split") from None
    return ArraySplits(
        name=name,
        train_x=_scaled(train.x[kept], scale),  # split first, then convert: one float copy per sample
        train_y=train.y[kept],
        val_x=_scaled(train.x[held], scale) if len(held) else None,
        val_y=train.y[held] if len(held) else None,
        test_x=_scaled(test.x, scale) if test is not None else None,
        test_y=test.y if test is not None else None,
        classes=train.classes,
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in train.x.shape[1:]),
        source=str(source),
    )


TABLE_SUFFIXES = (".csv", ".tsv", ".npz")


def _read_file(path: Path, labels_path: str | Path | None, label: str) -> _Part:
    """A CSV/TSV (label column `label`), an .npz, or else IDX images with the IDX labels at `labels_path`."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        table = read_table(path, label)
        return _Part(table.features, table.labels, table.classes, str(path), table.lines, table.classes is not None)
    if suffix == ".npz":
        x, y, classes = read_npz(path)
        return _Part(x, y, classes, str(path), named=classes is not None)
    if labels_path is None:
        raise DataError(
            "IDX images need their labels: set data.labels_path to the IDX labels file "
            "(or give a .csv, .tsv or .npz file)",
            source=str(path),
        )
    images, labels = read_idx(path), read_idx(labels_path)
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{len(images)} images but labels of shape {labels.shape} in {labels_path}; expected one label per image",
            source=str(path),
        )
    if images.ndim == 3:  # (N, H, W) grey images get their channel axis
        images = images[:, None, :, :]
    elif images.ndim == 1:
        images = images[:, None]
    return _Part(images, labels, None, str(path))


def _idx_labels_beside(images_path: Path) -> Path:
    """The labels file next to IDX test images, by the MNIST naming (t10k-images-idx3 -> t10k-labels-idx1)."""
    name = images_path.name
    labels_name = (
        name.replace("images-idx3", "labels-idx1") if "images-idx3" in name else name.replace("images", "labels")
    )
    if labels_name == name:
        raise DataError(
            "cannot tell the labels file of an IDX test_path; expected a name containing 'images' "
            "with the labels file beside it (e.g. t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz)",
            source=str(images_path),
        )
    return images_path.with_name(labels_name)


def _match_classes(test: _Part, train: _Part) -> _Part:
    """Re-index string test labels to the training file's classes (the two files may sort differently)."""
    if (test.classes is None) != (train.classes is None):
        kinds = ["numbers", "class names"]
        raise DataError(
            f"test labels are {kinds[test.classes is not None]} but training labels are "
            f"{kinds[train.classes is not None]}; expected the same kind",
            source=test.source,
        )
    if test.classes is None or train.classes is None:
        return test
    index = {name: i for i, name in enumerate(train.classes)}
    unknown = [name for name in test.classes if name not in index]
    if unknown:
        raise DataError(
            f"test label '{unknown[0]}' is not a class of the training data; expected one of "
            f"{', '.join(train.classes)}",
            source=test.source,
        )
    mapping = np.array([index[name] for name in test.classes], dtype=np.int64)
    return _Part(test.x, mapping[test.y], train.classes, test.source, test.lines, named=True)


def _scaled(x: np.ndarray, scale: float | None) -> np.ndarray:
    features = x.astype(np.float32, copy=True)  # a copy, so dividing in place is safe
    if scale:
        features /= np.float32(scale)
    return features


def _class_labels(part: _Part, binary: bool = False) -> np.ndarray:
    """Labels as int64 class indices (0 or 1 when `binary`); the first label out of range is an error."""
    y = part.y
    if y.ndim != 1:
        raise DataError(f"labels have shape {y.shape}; expected one class index per sample", source=part.source)
    wrong = y < 0
    if y.dtype.kind == "f":
        wrong |= y != np.round(y)
    bad = np.flatnonzero(wrong)
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{part.where(i)}: label {y[i]:g} is not a class index; expected integers >= 0 for classification",
            source=part.source,
        )
    above = np.flatnonzero(y > 1) if binary else np.empty(0, dtype=np.int64)
    if len(above):
        i = int(above[0])
        shown = f"'{part.classes[int(y[i])]}' (class {int(y[i])})" if part.classes else f"{y[i]:g}"
        raise DataError(
            f"{part.where(i)}: label {shown} is out of range; expected 0 or 1 for a binary loss (bce)",
            source=part.source,
        )
    return y.astype(np.int64)


def _targets(part: _Part) -> np.ndarray:
    """Regression targets as float32; class names cannot be regressed on."""
    if part.named and part.classes:
        raise DataError(
            f"labels are class names (e.g. '{part.classes[0]}'); expected numeric targets for regression",
            source=part.source,
        )
    return part.y.astype(np.float32)


def _check_test_labels_known(test: _Part, train_max: int) -> None:
    """A numeric test label the training data never shows would silently add an untrainable class."""
    unseen = np.flatnonzero(test.y > train_max)
    if len(unseen):
        i = int(unseen[0])
        raise DataError(
            f"{test.where(i)}: label {int(test.y[i])} never occurs in the training data; "
            f"expected test labels among the training labels 0..{train_max}",
            source=test.source,
        )
