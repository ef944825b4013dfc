"""read_csv / read_table / read_npz: numbers, class names, and errors that name the row and column."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from trainwise.data.tabular import read_csv, read_npz, read_table
from trainwise.errors import DataError


def _csv(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_numeric_features_and_integer_labels(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,label,b\n1.5,0,2\n-3,2,4e2\n0,1.0,7\n")
    x, y, classes = read_csv(path, "label")
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1.5, 2], [-3, 400], [0, 7]])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [0, 2, 1])
    assert classes is None


def test_fractional_labels_are_float32(tmp_path: Path) -> None:
    _, y, classes = read_csv(_csv(tmp_path, "x,target\n1,0.5\n2,3\n"), "target")
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.5, 3.0])
    assert classes is None


def test_string_labels_map_to_sorted_classes(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x,species\n1,versicolor\n2,setosa\n3,virginica\n4,setosa\n")
    _, y, classes = read_csv(path, "species")
    assert classes == ["setosa", "versicolor", "virginica"]
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [1, 0, 2, 0])


def test_tsv_is_tab_separated_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a\tb\tlabel\n1\t2\t0\n\n3\t4\t1\n", name="t.tsv")
    table = read_table(path, "label")
    np.testing.assert_array_equal(table.features, [[1, 2], [3, 4]])
    assert table.columns == ["a", "b"]
    np.testing.assert_array_equal(table.lines, [2, 4])


def test_unknown_label_column_lists_columns_and_closest(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x1,x2,labels\n1,2,0\n")
    with pytest.raises(
        DataError, match=r"no label column 'label'; expected one of labels, x1, x2; did you mean 'labels'"
    ) as err:
        read_csv(path, "label")
    assert err.value.source == str(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", r"row 3, column 'x2': 'abc' is not a number; features must be numbers"),
        ("", r"row 3, column 'x2': empty cell; features must be numbers"),
        ("nan", r"row 3, column 'x2': NaN; features must be finite numbers"),
        ("-inf", r"row 3, column 'x2': -inf; features must be finite numbers"),
        ("1e300", r"row 3, column 'x2': 1e\+300 is too large for float32; features must be finite numbers"),
    ],
)
def test_bad_feature_cells_name_row_and_column(tmp_path: Path, cell: str, message: str) -> None:
    path = _csv(tmp_path, f"x1,x2,label\n1,2,0\n3,{cell},1\n4,5,0\n")
    with pytest.raises(DataError, match=message) as err:
        read_csv(path, "label")
    assert err.value.source == str(path)


def test_row_numbers_count_skipped_blank_lines(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x,label\n1,0\n\n\n2,1\nNaN,0\n")
    with pytest.raises(DataError, match="row 6, column 'x': NaN"):
        read_csv(path, "label")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("nan", r"row 3, column 'label': NaN label"),
        ("inf", r"row 3, column 'label': inf label"),
        ("", r"row 3, column 'label': empty label"),
    ],
)
def test_bad_labels_name_the_row(tmp_path: Path, cell: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_csv(_csv(tmp_path, f"x,label\n1,0\n2,{cell}\n"), "label")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty file: expected a header row"),
        ("\n\n", r"empty file: expected a header row"),
        ("x,label\n", r"header only: expected data rows"),
        ("x,label\n1,0\n2\n", r"row 3: expected 2 cells \(one per column\), found 1"),
        ("label\n1\n", r"no feature columns: expected at least one column besides 'label'"),
        ("label,x,label\n1,2,3\n", r"label column 'label' appears 2 times; expected once"),
    ],
)
def test_malformed_tables(tmp_path: Path, text: str, message: str) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        read_csv(path, "label")
    assert err.value.source == str(path)


def test_missing_and_undecodable_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_csv(tmp_path / "absent.csv", "label")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"x,label\n\xff\xfe,1\n")
    with pytest.raises(DataError, match=r"cannot read CSV .*UnicodeDecodeError"):
        read_csv(path, "label")


# --- npz ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x_key", "y_key"), [("x", "y"), ("X", "y"), ("features", "labels")])
def test_npz_keys_and_per_sample_shape(tmp_path: Path, x_key: str, y_key: str) -> None:
    path = tmp_path / "d.npz"
    x = np.arange(24, dtype=np.int16).reshape(4, 2, 3)
    np.savez(path, **{x_key: x, y_key: np.array([0, 1, 1, 0], dtype=np.uint8)})
    features, labels, classes = read_npz(path)
    assert features.dtype == np.float32
    assert features.shape == (4, 2, 3)
    np.testing.assert_array_equal(features, x)
    assert labels.dtype == np.int64
    assert classes is None


def test_npz_string_labels_and_one_dimensional_features(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([1.0, 2.0, 3.0]), y=np.array(["dog", "cat", "dog"]))
    features, labels, classes = read_npz(path)
    assert features.shape == (3, 1)
    assert classes == ["cat", "dog"]
    np.testing.assert_array_equal(labels, [1, 0, 1])


def test_npz_float_labels_stay_float32(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((2, 2)), y=np.array([0.25, 1.5]))
    _, labels, _ = read_npz(path)
    assert labels.dtype == np.float32


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.ones((3, 2)), "y": np.zeros(2)}, r"3 samples of features but 2 labels; expected one label each"),
        ({"a": np.ones(2), "b": np.ones(2)}, r"expected arrays 'x'/'y', 'X'/'y', 'features'/'labels'; found a, b"),
        (
            {"x": np.array([[1.0, 2.0], [3.0, np.nan], [np.inf, 0]]), "y": np.zeros(3)},
            r"sample 1: NaN; features must be finite",
        ),
        ({"x": np.array([[1.0], [np.inf]]), "y": np.zeros(2)}, r"sample 1: inf; features must be finite"),
        ({"x": np.array(["a", "b"]), "y": np.zeros(2)}, r"features have dtype <U1; expected numbers"),
        ({"x": np.ones(2), "y": np.array([0.0, np.nan])}, r"sample 1: non-finite label"),
    ],
)
def test_bad_npz_contents(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = _npz(tmp_path, **arrays)
    with pytest.raises(DataError, match=message) as err:
        read_npz(path)
    assert err.value.source == str(path)


def test_npz_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match=r"cannot read \.npz .*no pickled objects"):
        read_npz(path)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (pickle.dumps({"x": [1, 2], "y": [0, 1]}), r"cannot read .npz"),
        (b"PK\x03\x04 this zip was cut short", r"cannot read .npz"),
        (b"", r"cannot read .npz"),
    ],
    ids=["pickle", "corrupt-zip", "empty"],
)
def test_corrupt_or_pickled_npz(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message) as err:
        read_npz(path)
    assert err.value.source == str(path)


def test_npy_file_is_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "array.npz"
    with path.open("wb") as file:
        np.save(file, np.ones(3))
    with pytest.raises(DataError, match=r"not an \.npz archive"):
        read_npz(path)


def test_missing_npz(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"file not found; expected an \.npz archive"):
        read_npz(tmp_path / "absent.npz")


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefflabel,x\n1,2\n".encode())
    _, y, _ = read_csv(path, "label")
    np.testing.assert_array_equal(y, [1])
