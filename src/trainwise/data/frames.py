"""Tables with typed columns for the tabular task: CSV/TSV/Parquet or a built-in, preprocessed for a network.

Columns are numeric or categorical (declared in `data.numeric` / `data.categorical`, else inferred). All
statistics are fitted on the training split only: numeric columns get median imputation, a missing-value
indicator (when training has gaps) and standardization; categorical columns are one-hot encoded over the
categories seen in training (unseen ones encode as all zeros). Built-ins: diabetes, breast-cancer, wine
(scikit-learn) and ames (modeldata house prices).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainwise.data.splits import split_indices
from trainwise.errors import DataError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from trainwise.config import DataConfig

TEST_SPLIT_SEED = 20240601
FRAME_SUFFIXES = (".csv", ".tsv", ".parquet")
MAX_CATEGORIES = 50  # the most frequent categories of a column get a one-hot unit; the rest share "other"


@dataclass
class Frame:
    """A table as read: features, target column, where it came from, and each row's line in the file."""

    table: pd.DataFrame
    target: pd.Series
    source: str
    lines: np.ndarray | None  # 1-based file line of each row (CSV), else None


@dataclass
class FrameSplits:
    """Preprocessed float32 features and targets for train / validation / test, with the feature names."""

    name: str
    source: str
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    features: list[str]
    classes: list[str] | None
    numeric: list[str]
    categorical: list[str]
    target_offset: float = 0.0  # regression: the training mean, subtracted from every target (add it back)


def uses_frames(cfg: DataConfig) -> bool:
    """Whether the tabular task reads this data with typed columns (else the plain numeric CSV/npz reader)."""
    if cfg.name is not None:
        return cfg.name in FRAME_BUILTINS
    suffix = Path(cfg.path or "").suffix.lower()
    return suffix == ".parquet" or cfg.categorical is not None or cfg.numeric is not None or cfg.preprocess


def load_frame_splits(cfg: DataConfig, classification: bool) -> FrameSplits:
    """Read, split (fixed seeds), fit the preprocessing on the training split, and transform every split."""
    if cfg.name is not None:
        if cfg.name not in FRAME_BUILTINS:
            raise DataError(f"unknown tabular data set '{cfg.name}'; {did_you_mean(cfg.name, FRAME_BUILTINS)}")
        whole, test = FRAME_BUILTINS[cfg.name](cfg)
        name = cfg.name
    elif cfg.path is not None:
        whole = read_frame(cfg.path, cfg.label)
        test = read_frame(cfg.test_path, cfg.label) if cfg.test_path else None
        name = Path(cfg.path).stem
    else:
        raise DataError("no data: set data.name (a built-in, see `trainwise data ls`) or data.path")
    numeric, categorical = column_types(whole, cfg)
    classes = None
    if classification:
        classes = sorted({_label(v) for v in whole.target})
        train_y = _class_indices(whole, classes)
    else:
        train_y = _real_targets(whole, cfg.log_target)
    try:
        kept, held = split_indices(train_y, cfg.validation_split, cfg.split_seed, stratify=classification)
    except DataError as exc:
        raise DataError(exc.message, source=whole.source, key="data.validation_split") from None
    # Regression targets are centred on the training mean: RMSE and MAE are unchanged, and the network's
    # output bias need not first travel to, say, log(price) ~ 12 at Adam's pace of ~lr per step.
    offset = 0.0 if classification else float(train_y[kept].mean())
    train_y = train_y - np.float32(offset) if offset else train_y
    encoder = Encoder.fit(whole.table.iloc[kept], numeric, categorical, whole, kept)
    train = (encoder.transform(whole, kept), train_y[kept])
    val = (encoder.transform(whole, held), train_y[held]) if len(held) else None
    test_pair = None
    if test is not None:
        test_y = _class_indices(test, classes) if classes is not None else _real_targets(test, cfg.log_target)
        test_y = test_y - np.float32(offset) if offset else test_y
        test_pair = (encoder.transform(test, np.arange(len(test.table))), test_y)
    return FrameSplits(name, whole.source, train, val, test_pair, encoder.names, classes, numeric, categorical, offset)


# --- reading --------------------------------------------------------------------------------------------


def read_frame(path: str | Path, label: str) -> Frame:
    """A CSV/TSV (every cell read as text, types decided later) or Parquet file, split off its label column."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise DataError(f"unsupported table type '{suffix}'; expected {', '.join(FRAME_SUFFIXES)}", source=str(path))
    if not path.is_file():
        raise DataError(f"file not found; expected a {suffix} table", source=str(path))
    lines = None
    try:
        if suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DataError("reading Parquet needs pyarrow: pip install pyarrow", source=str(path)) from None
            table = pd.read_parquet(path)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
            lines = np.arange(len(table), dtype=np.int64) + 2  # header is line 1 (no blank or multi-line rows)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})", source=str(path)) from None
    except Exception as exc:  # pandas/pyarrow parser errors: the file is not the declared format
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DataError(f"not a readable {suffix[1:].upper()} file ({first})", source=str(path)) from None
    table.columns = [str(c).strip() for c in table.columns]
    if label not in table.columns:
        raise DataError(f"no label column '{label}'; {did_you_mean(label, list(table.columns))}", source=str(path))
    if len(table) == 0:
        raise DataError("no data rows: expected rows after the header", source=str(path))
    if len(table.columns) < 2:
        raise DataError(f"no feature columns: expected at least one column besides '{label}'", source=str(path))
    return Frame(table.drop(columns=[label]), table[label], str(path), lines)


def column_types(frame: Frame, cfg: DataConfig) -> tuple[list[str], list[str]]:
    """(numeric, categorical) column names: declared ones as given, the rest inferred from the values."""
    columns = list(frame.table.columns)
    for key, declared in (("data.numeric", cfg.numeric), ("data.categorical", cfg.categorical)):
        for column in declared or []:
            if column not in columns:
                raise DataError(
                    f"column '{column}' is not in the data; {did_you_mean(column, columns)}",
                    source=frame.source,
                    key=key,
                )
    numeric, categorical = [], []
    for column in columns:
        if cfg.categorical and column in cfg.categorical:
            categorical.append(column)
        elif (cfg.numeric and column in cfg.numeric) or _looks_numeric(frame.table[column]):
            numeric.append(column)
        else:
            categorical.append(column)
    return numeric, categorical


def _looks_numeric(values: pd.Series) -> bool:
    """Numeric dtype, or text of which at least 90% of the non-empty cells are numbers (the rest are typos)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values[_present(values)]
    if len(present) == 0:
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return bool(parsed.notna().mean() >= 0.9)


def _present(values: pd.Series) -> np.ndarray:
    """True where a cell holds a value (not NaN/NA, not an empty or NA-spelled string)."""
    missing = values.isna().to_numpy().copy()
    if values.dtype == object or str(values.dtype).startswith(("string", "str")):
        text = values.astype(str).str.strip().str.lower()
        missing = missing | text.isin(["", "na", "nan", "null", "none", "<na>"]).to_numpy()
    return ~missing


def _where(frame: Frame, row: int, column: str) -> str:
    line = f"row {int(frame.lines[row])}" if frame.lines is not None else f"sample {row}"
    return f"{line}, column '{column}'"


def _label(value: Any) -> str:
    return str(value).strip()


def _class_indices(frame: Frame, classes: list[str] | None) -> np.ndarray:
    assert classes is not None
    index = {name: i for i, name in enumerate(classes)}
    labels = [_label(v) for v in frame.target]
    for row, label in enumerate(labels):
        if label == "" or label.lower() in ("nan", "na", "<na>"):
            raise DataError(f"{_where(frame, row, str(frame.target.name))}: empty label", source=frame.source)
        if label not in index:
            raise DataError(
                f"{_where(frame, row, str(frame.target.name))}: label '{label}' is not seen in the training data; "
                f"expected one of {', '.join(classes[:10])}",
                source=frame.source,
            )
    return np.array([index[label] for label in labels], dtype=np.int64)


def _real_targets(frame: Frame, log: bool) -> np.ndarray:
    values = _numbers(frame, frame.target, str(frame.target.name), allow_missing=False)
    if log:
        bad = np.flatnonzero(values <= -1)
        if len(bad):
            raise DataError(
                f"{_where(frame, int(bad[0]), str(frame.target.name))}: {values[bad[0]]:g} has no log1p; "
                "expected targets > -1 with data.log_target",
                source=frame.source,
            )
        values = np.log1p(values)
    return values.astype(np.float32)


def _numbers(frame: Frame, values: pd.Series, column: str, *, allow_missing: bool) -> np.ndarray:
    """A column as float64 (NaN where missing); a cell that is not a number names its row and column."""
    import pandas as pd

    present = _present(values)
    parsed = pd.to_numeric(values.where(present), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(present & ~np.isfinite(parsed))
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"{_where(frame, row, column)}: {values.iloc[row]!r} is not a number; expected a number "
            "(or declare the column in data.categorical)",
            source=frame.source,
        )
    if not allow_missing and not present.all():
        row = int(np.flatnonzero(~present)[0])
        raise DataError(f"{_where(frame, row, column)}: missing value; expected a number", source=frame.source)
    return parsed


# --- preprocessing fitted on the training split -----------------------------------------------------------


@dataclass
class Encoder:
    """Imputation, indicators, standardization and one-hot vocabularies learnt from the training rows."""

    numeric: list[str]
    categorical: list[str]
    medians: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    indicators: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def fit(cls, rows: pd.DataFrame, numeric: list[str], categorical: list[str], frame: Frame, index: Any) -> Encoder:
        sub = Frame(
            rows, frame.target.iloc[index], frame.source, frame.lines[index] if frame.lines is not None else None
        )
        medians, means, stds, indicators = [], [], [], []
        for column in numeric:
            values = _numbers(sub, rows[column], column, allow_missing=True)
            median = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
            filled = np.where(np.isnan(values), median, values)
            medians.append(median)
            means.append(float(filled.mean()))
            stds.append(float(filled.std()) or 1.0)
            if np.isnan(values).any():
                indicators.append(column)
        categories = {}
        for column in categorical:
            cells = _categories(rows[column])
            unique, counts = np.unique(cells, return_counts=True)
            order = np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]
            categories[column] = sorted(str(unique[i]) for i in order)
        return cls(numeric, categorical, np.array(medians), np.array(means), np.array(stds), indicators, categories)

    @property
    def names(self) -> list[str]:
        names = list(self.numeric) + [f"{c}_missing" for c in self.indicators]
        return names + [f"{c}={v}" for c in self.categorical for v in self.categories[c]]

    def transform(self, frame: Frame, index: np.ndarray) -> np.ndarray:
        rows = frame.table.iloc[index]
        sub = Frame(
            rows, frame.target.iloc[index], frame.source, frame.lines[index] if frame.lines is not None else None
        )
        blocks = []
        if self.numeric:
            raw = np.column_stack([_numbers(sub, rows[c], c, allow_missing=True) for c in self.numeric])
            missing = np.isnan(raw)
            filled = np.where(missing, self.medians, raw)
            blocks.append((filled - self.means) / self.stds)
            if self.indicators:
                at = [self.numeric.index(c) for c in self.indicators]
                blocks.append(missing[:, at].astype(np.float64))
        for column in self.categorical:
            cells = _categories(rows[column])
            known = self.categories[column]
            blocks.append((cells[:, None] == np.array(known, dtype=object)[None, :]).astype(np.float64))
        if not blocks:
            return np.zeros((len(index), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)


def _categories(values: pd.Series) -> np.ndarray:
    present = _present(values)
    cells = values.astype(str).str.strip().to_numpy(dtype=object)
    cells[~present] = "(missing)"
    return cells


# --- built-ins ----------------------------------------------------------------------------------------------


def _sklearn(loader: str, classes: list[str] | None) -> Any:
    def load(cfg: DataConfig) -> tuple[Frame, Frame]:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        table = bunch.frame.drop(columns=["target"])
        target = bunch.frame["target"]
        if classes is not None:
            target = target.map(lambda i: classes[int(i)])
        return _hold_out_test(Frame(table, target.rename("target"), f"sklearn.datasets.{loader}", None))

    return load


def _ames(cfg: DataConfig) -> tuple[Frame, Frame]:
    from trainwise.data.rdata import read_r_object

    frame = read_r_object("modeldata", "ames")
    return _hold_out_test(Frame(frame.drop(columns=["Sale_Price"]), frame["Sale_Price"], "modeldata::ames", None))


def _hold_out_test(frame: Frame) -> tuple[Frame, Frame]:
    """A fixed 20% test split of a built-in (its seed never depends on user settings)."""
    keep, test = split_indices(np.zeros(len(frame.table)), 0.2, TEST_SPLIT_SEED, stratify=False)

    def part(index: np.ndarray) -> Frame:
        return Frame(
            frame.table.iloc[index].reset_index(drop=True),
            frame.target.iloc[index].reset_index(drop=True),
            frame.source,
            None,
        )

    return part(keep), part(test)


FRAME_BUILTINS: dict[str, Any] = {
    "diabetes": _sklearn("load_diabetes", None),
    "breast-cancer": _sklearn("load_breast_cancer", ["malignant", "benign"]),
    "wine": _sklearn("load_wine", ["class_0", "class_1", "class_2"]),
    "ames": _ames,
}
