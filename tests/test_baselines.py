"""Classic baselines on a recipe's own splits, and `trainwise baseline CONFIG`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainwise import cli
from trainwise.baselines import run_baselines
from trainwise.config import build_recipe
from trainwise.errors import ConfigError

pytest.importorskip("sklearn", reason="baselines need scikit-learn")


def text_recipe(tmp_path: Path) -> object:
    good, bad = ["tasty", "lovely", "fresh"], ["stale", "soggy", "awful"]
    for name, rows in (("train", 120), ("test", 40)):
        lines = [
            json.dumps({"review": f"the bar was {(good if i % 2 else bad)[i % 3]} today", "score": "gb"[i % 2]})
            for i in range(rows)
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {"path": str(tmp_path / "train.jsonl"), "test_path": str(tmp_path / "test.jsonl"), "text": "review"}
    return build_recipe({"task": "text", "threads": 1, "data": {**data, "label": "score"}})


def table_recipe(tmp_path: Path) -> object:
    rows = ["x,colour,y", *(f"{i % 17},{['red', 'blue'][i % 2]},{2 * (i % 17) + 5 * (i % 2)}" for i in range(200))]
    (tmp_path / "train.csv").write_text("\n".join(rows[:161]) + "\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("\n".join([rows[0], *rows[161:]]) + "\n", encoding="utf-8")
    data = {"path": str(tmp_path / "train.csv"), "test_path": str(tmp_path / "test.csv"), "label": "y"}
    return build_recipe({"task": "tabular", "threads": 1, "loss": "mse", "data": {**data, "preprocess": True}})


def test_text_baseline_scores_the_test_split(tmp_path: Path) -> None:
    result = run_baselines(text_recipe(tmp_path))
    (model,) = result["models"]
    assert model["name"] == "tfidf+logistic"
    assert model["test"]["accuracy"] == 1.0 and model["test"]["macro_f1"] == 1.0
    assert result["summary"]["tfidf+logistic test accuracy"] == 1.0


def test_tabular_baselines_fit_a_linear_target(tmp_path: Path) -> None:
    result = run_baselines(table_recipe(tmp_path))
    names = [m["name"] for m in result["models"]]
    assert names == ["ridge", "hist-gradient-boosting"]
    ridge = result["models"][0]["test"]
    assert ridge["rmse"] < 0.5 and ridge["mae"] <= ridge["rmse"]


def test_image_task_has_no_baseline() -> None:
    with pytest.raises(ConfigError, match=r"task: no baseline for task 'image'"):
        run_baselines(build_recipe({"task": "image"}))


def test_cli_prints_one_line_per_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table_recipe(tmp_path)
    config = tmp_path / "t.toml"
    config.write_text(
        'task = "tabular"\nloss = "mse"\n[data]\npath = "train.csv"\ntest_path = "test.csv"\n'
        'label = "y"\npreprocess = true\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["baseline", "t.toml", "--set", "threads=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["ridge", "hist-gradient-boosting"]
    assert all("test_rmse" in line for line in lines)
