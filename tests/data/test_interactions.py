"""read_interactions: columns by name, typed headers, counted duplicates, and errors naming row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainwise.data.interactions import Columns, interactions_from_arrays, read_interactions
from trainwise.errors import DataError

COLUMNS = Columns("user", "item", "rating", "time")


def _write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_ids_as_strings_ratings_and_times(tmp_path: Path) -> None:
    path = _write(tmp_path, "user,item,rating,time\nu1,i1,4,10\nu2,i1,3.5,11\nu1,i2,1,12\n")
    data = read_interactions(path, COLUMNS)
    assert list(data.users) == ["u1", "u2", "u1"]
    assert list(data.items) == ["i1", "i1", "i2"]
    np.testing.assert_array_equal(data.ratings, [4, 3.5, 1])
    assert data.timestamps is not None and list(data.timestamps) == [10, 11, 12]
    assert list(data.lines) == [2, 3, 4]
    assert data.counts == {"rows": 3, "duplicates": 0}


def test_typed_tab_separated_headers_as_in_recbole_files(tmp_path: Path) -> None:
    text = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n"
    data = read_interactions(_write(tmp_path, text, "ml.inter"), Columns("user_id", "item_id", "rating", "timestamp"))
    assert (data.users[0], data.items[0], float(data.ratings[0])) == ("196", "242", 3.0)


def test_without_a_rating_column_every_interaction_counts_one(tmp_path: Path) -> None:
    data = read_interactions(_write(tmp_path, "user,item\na,x\nb,y\n"), Columns("user", "item", None))
    np.testing.assert_array_equal(data.ratings, [1.0, 1.0])
    assert data.timestamps is None


def test_duplicates_keep_the_latest_row_and_are_counted(tmp_path: Path) -> None:
    text = "user,item,rating,time\na,x,1,5\na,x,5,9\nb,x,2,1\na,x,3,7\n"
    data = read_interactions(_write(tmp_path, text), COLUMNS)
    assert data.counts["duplicates"] == 2
    kept = {(u, i): float(r) for u, i, r in zip(data.users, data.items, data.ratings, strict=True)}
    assert kept == {("a", "x"): 5.0, ("b", "x"): 2.0}  # the row of time 9, not the last row of the file


def test_duplicates_without_time_keep_the_last_in_file_order(tmp_path: Path) -> None:
    data = read_interactions(_write(tmp_path, "user,item,rating\na,x,1\na,x,4\n"), Columns("user", "item", "rating"))
    assert list(data.ratings) == [4.0] and data.counts["duplicates"] == 1


def test_duplicates_can_be_an_error_naming_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "user,item,rating,time\na,x,1,5\nb,y,2,6\na,x,3,7\n")
    with pytest.raises(DataError, match=r"row 4: user 'a' and item 'x' occur more than once \(1 repeated rows\)"):
        read_interactions(path, COLUMNS, duplicates="error")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,item,score\na,x,1\n", r"no rating column 'rating' \(set data.rating\)"),
        ("usr,item,rating\na,x,1\n", r"no user column 'user'.*did you mean 'usr'"),
        ("user,item,rating,time\na,x,1,1\nb,y,good,2\n", r"row 3, column 'rating': 'good' is not a number"),
        ("user,item,rating,time\na,x,1,1\nb,y,,2\n", r"row 3, column 'rating': empty cell"),
        ("user,item,rating,time\na,x,1,1\nb,y,2,soon\n", r"row 3, column 'time': 'soon' is not a number"),
        ("user,item,rating,time\na,x,nan,1\n", r"row 2, column 'rating': nan is not a finite number"),
        ("user,item,rating,time\na,,1,1\n", r"row 2, column 'item': empty item id"),
        ("user,item,rating,time\na,x,1\n", r"row 2: expected 4 cells"),
    ],
)
def test_bad_cells_name_file_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as caught:
        read_interactions(path, COLUMNS)
    assert caught.value.source == str(path)


def test_rating_outside_the_declared_range_is_an_error_with_a_count(tmp_path: Path) -> None:
    path = _write(tmp_path, "user,item,rating,time\na,x,3,1\nb,x,6,2\nc,x,0,3\n")
    with pytest.raises(
        DataError, match=r"row 3, column 'rating': rating 6 is outside the declared range 1..5 \(2 such"
    ):
        read_interactions(path, COLUMNS, rating_range=(1, 5))


def test_a_binary_file_is_not_read_as_interactions(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(DataError, match="cannot read CSV"):
        read_interactions(path, COLUMNS)


def test_ids_that_concatenate_alike_are_different_pairs(tmp_path: Path) -> None:
    """('1', '12') and ('11', '2') are two pairs, not one repeated pair."""
    data = read_interactions(_write(tmp_path, "user,item,rating\n1,12,3\n11,2,4\n"), Columns("user", "item", "rating"))
    assert len(data) == 2 and data.counts["duplicates"] == 0


def test_decoded_columns_are_checked_like_a_file() -> None:
    arrays = {"users": np.array([1, 2, 1]), "items": np.array([7, 7, 7]), "ratings": np.array([3.0, 4.5, 2.0])}
    data = interactions_from_arrays(arrays, "pkg/movielens", rating_range=(0.5, 5))
    assert list(data.users) == ["2", "1"] and data.counts == {"rows": 3, "duplicates": 1}  # the later row of user 1
    assert list(data.ratings) == [4.5, 2.0]
    with pytest.raises(DataError, match=r"pkg/movielens: row 2, column 'rating': rating 4.5 is outside"):
        interactions_from_arrays(arrays, "pkg/movielens", rating_range=(1, 4))
    stamps = {**arrays, "timestamps": np.array([1.0, np.nan, 3.0])}
    with pytest.raises(DataError, match=r"row 2, column 'timestamp': nan is not a finite number"):
        interactions_from_arrays(stamps, "pkg/movielens")
