"""Reading labelled texts: CSV/TSV/JSONL files with errors naming file, row and column; the R built-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainwise.config import DataConfig
from trainwise.data import rdata
from trainwise.data.text import load_texts, pack_strings, read_text_file, unpack_strings
from trainwise.errors import DataError


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "review,score") -> Path:
    lines = [header, *(f'"{text}",{label}' for text, label in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS = [("good tasty snack", "great"), ("stale and bland", "other"), ("loved it", "great"), ("awful", "other")]


def test_reads_csv_tsv_and_jsonl_alike(tmp_path: Path) -> None:
    csv_part = read_text_file(write_csv(tmp_path / "a.csv", ROWS), "review", "score")
    tsv = tmp_path / "a.tsv"
    tsv.write_text("review\tscore\n" + "".join(f"{t}\t{s}\n" for t, s in ROWS), encoding="utf-8")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps({"review": t, "score": s}) + "\n" for t, s in ROWS), encoding="utf-8")
    for part in (csv_part, read_text_file(tsv, "review", "score"), read_text_file(jsonl, "review", "score")):
        assert part.texts == [t for t, _ in ROWS]
        assert part.labels == [s for _, s in ROWS]
    assert csv_part.rows == [2, 3, 4, 5]


def test_missing_column_names_file_row_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ROWS)
    with pytest.raises(DataError, match=r"a\.csv: row 2: no column 'text'; expected one of review, score"):
        read_text_file(path, "text", "score")


def test_empty_text_names_its_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [*ROWS[:2], ("   ", "great")])
    with pytest.raises(DataError, match=r"a\.csv: row 4, column 'review': empty text"):
        read_text_file(path, "review", "score")


def test_empty_label_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"review": "fine", "score": "great"}) + "\n" + json.dumps({"review": "x", "score": ""}))
    with pytest.raises(DataError, match=r"a\.jsonl: row 2, column 'score': empty label"):
        read_text_file(path, "review", "score")


def test_file_not_in_the_declared_format(tmp_path: Path) -> None:
    not_json = write_csv(tmp_path / "reviews.jsonl", ROWS)
    with pytest.raises(DataError, match=r"reviews\.jsonl: row 1: not JSON"):
        read_text_file(not_json, "review", "score")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"review,score\n\xff\xfe\x00garbage,great\n")
    with pytest.raises(DataError, match=r"b\.csv: not a UTF-8 text file"):
        read_text_file(binary, "review", "score")
    with pytest.raises(DataError, match=r"c\.parquet: unsupported text file type"):
        read_text_file(tmp_path / "c.parquet", "review", "score")


def test_ragged_csv_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("review,score\ngood,great\nbad,other,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.csv: row 3: expected 2 cells"):
        read_text_file(path, "review", "score")


def test_test_label_unseen_in_training_is_an_error(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ROWS * 3)
    test = write_csv(tmp_path / "test.csv", [("fine", "great"), ("meh", "okay")])
    cfg = DataConfig(path=str(train), test_path=str(test), text="review", label="score", validation_split=0.0)
    with pytest.raises(DataError, match=r"test\.csv: row 3, column 'score': label 'okay' is not seen in the training"):
        load_texts(cfg)


def test_splits_are_seeded_and_classes_sorted(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", [(f"text number {i}", ["b", "a"][i % 2]) for i in range(40)])
    cfg = DataConfig(path=str(train), text="review", label="score", validation_split=0.25)
    first, again = load_texts(cfg), load_texts(cfg)
    assert first.classes == ["a", "b"]
    assert len(first.train_texts) == 30 and first.val_texts is not None and len(first.val_texts) == 10
    assert first.val_texts == again.val_texts
    assert not set(first.train_texts) & set(first.val_texts)
    other = load_texts(cfg.model_copy(update={"split_seed": 1}))
    assert other.val_texts != first.val_texts


def test_packed_strings_round_trip() -> None:
    strings = ["héllo wörld", "", "line\nbreak", "🙂"]
    assert unpack_strings(pack_strings("k", strings), "k") == strings


def _require(package: str) -> None:
    pytest.importorskip("rdata", reason="needs the 'rdata' package (pip install 'trainwise[text]')")
    if not rdata.package_installed(package):
        pytest.skip(f"R data package '{package}' not unpacked in {rdata.data_dir()}: run scripts/install-r-data.sh")


def test_food_reviews_has_the_published_splits() -> None:
    _require("modeldata")
    splits = load_texts(DataConfig(name="food-reviews", validation_split=0.1))
    assert splits.classes == ["great", "other"]
    assert (len(splits.train_texts), len(splits.val_texts or []), len(splits.test_texts or [])) == (3600, 400, 1000)
    assert 0.6 < float((splits.test_y == 0).mean()) < 0.7  # about 65% great


def test_austen_is_split_by_passage() -> None:
    _require("janeaustenr")
    splits = load_texts(DataConfig(name="austen", passage_lines=10, validation_split=0.1))
    assert len(splits.classes) == 6 and "Emma" in splits.classes
    test = splits.test_texts or []
    total = len(splits.train_texts) + len(splits.val_texts or []) + len(test)
    assert 5000 < total < 8000  # about 62,000 non-empty lines in passages of 10
    assert abs(len(test) / total - 0.2) < 0.01
    assert not set(test) & set(splits.train_texts)
    longer = load_texts(DataConfig(name="austen", passage_lines=20, validation_split=0.1))
    assert (
        abs(2 * (len(longer.train_texts) + len(longer.test_texts or [])) - (total - len(splits.val_texts or []))) < 400
    )


def test_text_builtins_are_listed_with_their_install_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainwise.data.catalog import BUILTINS

    monkeypatch.setenv("TRAINWISE_DATA_DIR", str(tmp_path))
    for name, package in (("food-reviews", "modeldata"), ("austen", "janeaustenr")):
        assert not BUILTINS[name].installed()
        assert f"install-r-data.sh {package}" in BUILTINS[name].install
        with pytest.raises(DataError, match=rf"'{package}' is not installed.*install-r-data\.sh {package}"):
            load_texts(DataConfig(name=name))
    (tmp_path / "r" / "janeaustenr" / "data").mkdir(parents=True)
    (tmp_path / "r" / "janeaustenr" / "data" / "Rdata.rdx").write_bytes(b"x")
    (tmp_path / "r" / "janeaustenr" / "data" / "Rdata.rdb").write_bytes(b"x")
    assert BUILTINS["austen"].installed()
