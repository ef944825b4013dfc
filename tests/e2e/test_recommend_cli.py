"""`trainwise fit` on interaction files: the baseline printed beside the model, and bad input as one line, exit 2.

Bad-input cases run through `cli.main` in this process (one also through the installed script, as a user runs
it); each must print exactly one `error: ...` line naming the file, row and column, exit 2, and leave nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainwise import cli

TRAINWISE = Path(sys.executable).parent / "trainwise"
GOOD = "user,item,rating,time\n" + "".join(
    f"u{u},m{i},{1 + (u * i) % 5},{u * 10 + i}\n" for u in range(12) for i in range(10) if (u + i) % 3
)


def config(data: str = "", **top: str) -> str:
    keys = {"task": '"recommend"', "epochs": "2", "batch_size": "32", "loss": '"mse"', **top}
    head = "".join(f"{k} = {v}\n" for k, v in keys.items())
    return f'{head}\n[data]\npath = "ratings.csv"\ntimestamp = "time"\n{data}\n[model]\nname = "mf"\nfactors = 4\n'


def _folder(tmp_path: Path, ratings: str | bytes, toml: str) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    if isinstance(ratings, bytes):
        (folder / "ratings.csv").write_bytes(ratings)
    else:
        (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    (folder / "run.toml").write_text(toml, encoding="utf-8")
    return folder


def _row(n: int, cells: str) -> str:
    """GOOD with its n-th file line (1 = header) replaced."""
    lines = GOOD.splitlines()
    lines[n - 1] = cells
    return "\n".join(lines) + "\n"


CASES = [
    ("missing-column", GOOD.replace("rating", "stars", 1), config(), "ratings.csv: no rating column 'rating'"),
    ("missing-user-column", GOOD, config('user = "customer"'), "ratings.csv: no user column 'customer'"),
    ("non-numeric-rating", _row(5, "u1,m9,five,3"), config(), "ratings.csv: row 5, column 'rating': 'five' is not"),
    ("non-numeric-time", _row(4, "u1,m9,3,later"), config(), "ratings.csv: row 4, column 'time': 'later' is not"),
    ("ragged-row", _row(6, "u1,m9,3"), config(), "ratings.csv: row 6: expected 4 cells"),
    ("not-a-csv", bytes(range(128, 256)) * 8, config(), "ratings.csv: cannot read CSV"),
    (
        "out-of-range",
        _row(7, "u3,m9,7,1"),
        config("rating_range = [1, 5]"),
        "ratings.csv: row 7, column 'rating': rating 7 is outside the declared range 1..5",
    ),
    (
        "duplicate-as-error",
        GOOD + "u0,m1,2,999\n",
        config('duplicates = "error"'),
        "ratings.csv: row 82: user 'u0' and item 'm1' occur more than once",
    ),
    ("implicit-with-mse", GOOD, config('feedback = "implicit"'), "loss: implicit feedback trains with loss 'bpr'"),
]


@pytest.mark.parametrize(("ratings", "toml", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_interactions_are_one_error_line_naming_file_row_and_column(
    ratings: str | bytes,
    toml: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _folder(tmp_path, ratings, toml)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.chdir(folder)
    code = cli.main(["fit", "run.toml", "--out", "run"])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected in lines[0]
    assert captured.out == ""
    assert sorted(p.name for p in folder.iterdir()) == before  # no run directory, nothing else


def test_the_installed_script_exits_2_on_a_rating_out_of_range(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _row(3, "u0,m2,0,5"), config("rating_range = [1, 5]"))
    done = subprocess.run(
        [str(TRAINWISE), "fit", "run.toml"], cwd=folder, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "ratings.csv: row 3, column 'rating': rating 0 is outside" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "runs").exists()


def test_fit_prints_the_baseline_beside_the_model_and_saves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, GOOD + "u99,m1,3,1\n", config("test_split = 0.3"))
    monkeypatch.chdir(folder)
    assert cli.main(["fit", "run.toml", "--out", "run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "model vs baseline (global mean + user/item biases" in out
    assert "rmse" in out and "cold start" in out
    summary = json.loads((folder / "run" / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["baseline"]["test"]) == {"rmse", "mae"}
    assert summary["interactions"]["rows"] == GOOD.count("\n")  # the header line is not a row; u99 is
    assert set(summary["cold_start"]["test"]) >= {"unknown_users", "unknown_items"}


def test_k_fold_reports_mean_and_sd_of_model_and_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, GOOD, config("folds = 3\nvalidation_split = 0.0"))
    monkeypatch.chdir(folder)
    assert cli.main(["fit", "run.toml", "--out", "cv", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    folds = [f["test"]["rmse"] for f in result["folds"]]
    assert len(folds) == 3 and len(set(folds)) == 3  # three different test parts
    summary = result["summary"]
    assert summary["test_rmse_mean"] == pytest.approx(sum(folds) / 3)
    assert summary["test_rmse_sd"] > 0 and summary["baseline_rmse_sd"] > 0
    assert sorted(p.name for p in (folder / "cv").iterdir()) == ["crossval.json", "fold-1", "fold-2", "fold-3"]
