"""Typed tables: column types, preprocessing fitted on the training split only, errors naming row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainwise.config import DataConfig
from trainwise.data import rdata
from trainwise.data.frames import load_frame_splits, read_frame, uses_frames
from trainwise.errors import DataError

pytest.importorskip("pandas", reason="typed tables need pandas (pip install 'trainwise[text]')")


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def table(path: Path, n: int = 40) -> Path:
    rows = ["size,colour,weight,price"]
    for i in range(n):
        weight = "" if i % 10 == 3 else f"{10 + i % 7}"
        rows.append(f"{i},{['red', 'green', 'blue'][i % 3]},{weight},{2 * i + (i % 3)}")
    return write(path, rows)


def test_types_are_inferred_and_declared(tmp_path: Path) -> None:
    cfg = DataConfig(path=str(table(tmp_path / "t.csv")), label="price", preprocess=True, validation_split=0.0)
    splits = load_frame_splits(cfg, classification=False)
    assert splits.numeric == ["size", "weight"] and splits.categorical == ["colour"]
    assert splits.features == ["size", "weight", "weight_missing", "colour=blue", "colour=green", "colour=red"]
    declared = load_frame_splits(cfg.model_copy(update={"categorical": ["size"]}), classification=False)
    assert "size" in declared.categorical and "size" not in declared.numeric


def test_statistics_come_from_the_training_split_only(tmp_path: Path) -> None:
    cfg = DataConfig(path=str(table(tmp_path / "t.csv")), label="price", preprocess=True, validation_split=0.25)
    splits = load_frame_splits(cfg, classification=False)
    x, _ = splits.train
    assert np.allclose(x[:, 0].mean(), 0, atol=1e-5) and np.allclose(x[:, 0].std(), 1, atol=1e-4)
    assert splits.val is not None
    val_x, _ = splits.val
    assert not np.allclose(val_x[:, 0].mean(), 0, atol=1e-3)  # validation rows are scaled with training stats
    missing = x[:, splits.features.index("weight_missing")]
    assert set(missing.tolist()) <= {0.0, 1.0} and missing.sum() >= 1
    one_hot = x[:, 3:]
    assert (one_hot.sum(axis=1) == 1).all()


def test_unseen_category_encodes_as_zeros(tmp_path: Path) -> None:
    train = table(tmp_path / "train.csv")
    test = write(tmp_path / "test.csv", ["size,colour,weight,price", "3,purple,12,7"])
    cfg = DataConfig(path=str(train), test_path=str(test), label="price", preprocess=True, validation_split=0.0)
    splits = load_frame_splits(cfg, classification=False)
    assert splits.test is not None
    assert splits.test[0][0, 3:].tolist() == [0.0, 0.0, 0.0]


def test_non_number_in_a_numeric_column_names_row_and_column(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    cells = lines[6].split(",")
    cells[2] = "heavy"
    lines[6] = ",".join(cells)
    write(path, lines)
    cfg = DataConfig(path=str(path), label="price", preprocess=True)
    with pytest.raises(DataError, match=r"t\.csv: row 7, column 'weight': 'heavy' is not a number"):
        load_frame_splits(cfg, classification=False)


def test_unseen_test_label_names_row_and_column(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", ["a,b,y", *(f"{i},{i % 2},{['x', 'z'][i % 2]}" for i in range(20))])
    test = write(tmp_path / "test.csv", ["a,b,y", "1,0,x", "2,1,w"])
    cfg = DataConfig(path=str(train), test_path=str(test), label="y", preprocess=True)
    with pytest.raises(DataError, match=r"test\.csv: row 3, column 'y': label 'w' is not seen in the training"):
        load_frame_splits(cfg, classification=True)


def test_missing_label_column_and_declared_column(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"t\.csv: no label column 'cost'"):
        read_frame(path, "cost")
    cfg = DataConfig(path=str(path), label="price", categorical=["shade"])
    with pytest.raises(
        DataError, match=r"data\.categorical: column 'shade' is not in the data; expected one of colour, size, weight"
    ):
        load_frame_splits(cfg, classification=False)


def test_parquet_needs_pyarrow_or_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    assert uses_frames(DataConfig(path=str(path)))
    with pytest.raises(DataError, match=r"t\.parquet: (reading Parquet needs pyarrow|not a readable PARQUET file)"):
        read_frame(path, "y")


def test_plain_numeric_csv_keeps_the_plain_reader(tmp_path: Path) -> None:
    assert not uses_frames(DataConfig(path=str(tmp_path / "t.csv")))
    assert uses_frames(DataConfig(name="wine"))


@pytest.mark.parametrize(
    ("name", "rows", "classes"), [("wine", 178, 3), ("breast-cancer", 569, 2), ("diabetes", 442, 0)]
)
def test_sklearn_builtins(name: str, rows: int, classes: int) -> None:
    pytest.importorskip("sklearn", reason="needs scikit-learn")
    splits = load_frame_splits(DataConfig(name=name, validation_split=0.1), classification=classes > 0)
    assert splits.test is not None and splits.val is not None
    total = len(splits.train[0]) + len(splits.val[0]) + len(splits.test[0])
    assert total == rows and abs(len(splits.test[0]) - round(0.2 * rows)) <= 1
    assert len(splits.classes or []) == classes


def test_ames_mixes_types_and_logs_the_price() -> None:
    if not rdata.package_installed("modeldata"):
        pytest.skip("R data package 'modeldata' not unpacked: run scripts/install-r-data.sh")
    splits = load_frame_splits(DataConfig(name="ames", label="Sale_Price", log_target=True), classification=False)
    assert len(splits.categorical) > 20 and len(splits.numeric) > 20
    assert 11 < splits.target_offset < 13  # the mean of log1p(Sale_Price), about 12
    assert 0.2 < float(splits.train[1].std()) < 0.6


def test_regression_targets_are_centred_on_the_training_mean(tmp_path: Path) -> None:
    train = table(tmp_path / "train.csv")
    test = write(tmp_path / "test.csv", ["size,colour,weight,price", "3,red,12,1000"])
    cfg = DataConfig(path=str(train), test_path=str(test), label="price", preprocess=True, validation_split=0.2)
    splits = load_frame_splits(cfg, classification=False)
    assert abs(float(splits.train[1].mean())) < 1e-4
    assert splits.target_offset > 10
    assert splits.test is not None
    assert splits.test[1][0] == pytest.approx(1000 - splits.target_offset)
    classes = load_frame_splits(cfg.model_copy(update={"label": "colour"}), classification=True)
    assert classes.target_offset == 0.0 and classes.train[1].dtype == np.int64
