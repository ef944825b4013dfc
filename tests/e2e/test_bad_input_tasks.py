"""Bad input to the text and tabular tasks at the command line: one line naming file, row and column, exit 2.

Two cases run the installed `trainwise` script as a user would; the rest go through `cli.main` in this
process (the same code path after argument parsing) to keep the suite fast. No case may leave a run behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainwise import cli

pytest.importorskip("tokenizers", reason="the text task needs 'tokenizers' (pip install 'trainwise[text]')")

TRAINWISE = Path(sys.executable).parent / "trainwise"
TEXT_CONFIG = """task = "text"
epochs = 1
batch_size = 8
[data]
path = "{train}"
test_path = "{test}"
text = "review"
label = "score"
max_length = 8
vocab_size = 50
[model]
name = "bag"
embedding_dim = 8
hidden = [8]
"""
TABLE_CONFIG = """task = "tabular"
epochs = 1
batch_size = 8
loss = "{loss}"
[data]
path = "{train}"
label = "price"
preprocess = true
[model]
hidden = [4]
"""


def reviews(rows: int = 24) -> list[dict[str, str]]:
    return [
        {"review": f"review number {i} was {'good' if i % 2 else 'bad'}", "score": "gd"[i % 2]} for i in range(rows)
    ]


def write_jsonl(path: Path, records: list[dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path.name


def write_csv(path: Path, rows: list[str]) -> str:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path.name


def table_rows(n: int = 24) -> list[str]:
    return ["size,colour,price", *(f"{i},{['red', 'blue'][i % 2]},{3 * i}" for i in range(n))]


def text_case(tmp_path: Path, train: list[dict[str, str]], test: list[dict[str, str]] | None = None) -> Path:
    names = {"train": write_jsonl(tmp_path / "train.jsonl", train)}
    names["test"] = write_jsonl(tmp_path / "test.jsonl", test if test is not None else reviews(6))
    config = tmp_path / "bad.toml"
    config.write_text(TEXT_CONFIG.format(**names), encoding="utf-8")
    return config


def table_case(tmp_path: Path, rows: list[str], loss: str = "mse", name: str = "table.csv") -> Path:
    config = tmp_path / "bad.toml"
    config.write_text(TABLE_CONFIG.format(train=write_csv(tmp_path / name, rows), loss=loss), encoding="utf-8")
    return config


def run_main(config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.chdir(config.parent)
    before = sorted(p.name for p in config.parent.iterdir())
    code = cli.main(["fit", config.name, "--quiet", "--set", "threads=1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in config.parent.iterdir()) == before  # nothing saved, no run directory
    return err


def run_script(config: Path) -> str:
    before = sorted(p.name for p in config.parent.iterdir())
    done = subprocess.run(
        [str(TRAINWISE), "fit", config.name],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert sorted(p.name for p in config.parent.iterdir()) == before
    return done.stderr


def test_script_empty_text(tmp_path: Path) -> None:
    records = reviews()
    records[4]["review"] = "  "
    assert "train.jsonl: row 5, column 'review': empty text" in run_script(text_case(tmp_path, records))


def test_script_non_numeric_value_in_numeric_column(tmp_path: Path) -> None:
    rows = table_rows()
    rows[9] = "eight,red,27"
    err = run_script(table_case(tmp_path, rows))
    assert "table.csv: row 10, column 'size': 'eight' is not a number" in err


def test_text_missing_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"body": r["review"], "score": r["score"]} for r in reviews()]
    err = run_main(text_case(tmp_path, records), monkeypatch, capsys)
    assert "train.jsonl: row 1: no column 'review'" in err


def test_text_label_not_seen_in_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    test = reviews(4)
    test[2]["score"] = "meh"
    err = run_main(text_case(tmp_path, reviews(), test), monkeypatch, capsys)
    assert "test.jsonl: row 3, column 'score': label 'meh' is not seen in the training data" in err


def test_text_file_not_in_declared_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = text_case(tmp_path, reviews())
    (tmp_path / "train.jsonl").write_text("review,score\nnice,g\n", encoding="utf-8")
    err = run_main(config, monkeypatch, capsys)
    assert "train.jsonl: row 1: not JSON" in err


@pytest.mark.parametrize(
    ("setting", "expect"),
    [
        ('weighting = "idf"', "model.weighting: "),
        ('weighting = "tfidf"\nname = "text-cnn"', "model.weighting: weighting 'tfidf' weighs a bag of tokens"),
    ],
)
def test_text_bad_bag_weighting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str, expect: str
) -> None:
    config = text_case(tmp_path, reviews())
    config.write_text(config.read_text().replace('name = "bag"', "") + setting + "\n", encoding="utf-8")
    err = run_main(config, monkeypatch, capsys)
    assert expect in err and ("tfidf" in err or "mean" in err)


def test_table_missing_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [row.replace("price", "cost") for row in table_rows()]
    err = run_main(table_case(tmp_path, rows), monkeypatch, capsys)
    assert "table.csv: no label column 'price'" in err


def test_table_missing_target_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = table_rows()
    rows[6] = "5,red,"
    err = run_main(table_case(tmp_path, rows), monkeypatch, capsys)
    assert "table.csv: row 7, column 'price': missing value; expected a number" in err


def test_table_file_not_in_declared_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = table_case(tmp_path, table_rows())
    (tmp_path / "table.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    err = run_main(config, monkeypatch, capsys)
    assert "table.csv: not a UTF-8 text file" in err or "table.csv: not a readable CSV file" in err
