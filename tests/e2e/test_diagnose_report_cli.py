"""`trainwise diagnose`, `trainwise report` and `fit --autopilot --report` at the command line, and their
bad input: one line `error: ...`, exit status 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainwise import cli
from trainwise.store.runs import RunQuery, RunStore

TRAINWISE = Path(sys.executable).parent / "trainwise"
CONFIG = """task = "image"
epochs = 3
batch_size = 32
threads = 1

[data]
name = "digits"
validation_split = 0.2

[model]
hidden = [32]

[optimizer]
name = "sgd"
learning_rate = 10.0
"""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`fit --autopilot --report --json` on digits with SGD at lr 10 (which diverges without the autopilot)."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "sgd.toml").write_text(CONFIG)
    done = subprocess.run(
        [str(TRAINWISE), "fit", "sgd.toml", "--autopilot", "--report", "--json", "--out", "run"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRAINWISE_STORAGE": f"sqlite:///{folder / 'trainwise.db'}"},
    )
    assert done.returncode == 0, done.stderr
    return folder / "run", json.loads(done.stdout)


def test_fit_json_carries_the_findings_and_the_autopilot_actions(fitted: tuple[Path, dict]) -> None:
    run, result = fitted
    assert result["config"]["autopilot"] is True
    assert json.loads((run / "findings.json").read_text())["findings"] == result["findings"]
    assert any(a["action"] == "rollback" for e in result["history"] for a in e.get("autopilot", []))
    assert (run / "report.html").is_file() and "Autopilot actions" in (run / "report.html").read_text()


def test_the_run_store_lists_the_report_among_the_runs_files(fitted: tuple[Path, dict]) -> None:
    run, _ = fitted
    store = RunStore(f"sqlite:///{run.parent / 'trainwise.db'}")
    runs, _ = store.list_runs(RunQuery())
    assert "report.html" in {a["path"] for a in store.get(runs[0]["id"])["artifacts"]}


def test_diagnose_prints_findings_and_json(fitted: tuple[Path, dict], capsys: pytest.CaptureFixture[str]) -> None:
    run, result = fitted
    assert cli.main(["diagnose", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"findings": result["findings"]}
    assert cli.main(["diagnose", str(run)]) == 0
    out = capsys.readouterr().out
    for finding in result["findings"]:
        assert finding["title"] in out and finding["remedies"][0] in out  # a remedy stays on one line


def test_report_writes_where_asked(
    fitted: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = fitted
    assert cli.main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("command", ["diagnose", "report"])
@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("missing", "no such run directory"),
        ("file", "not a run directory (a file)"),
        ("no-history", "no history.jsonl"),
        ("empty", "history.jsonl: is empty"),
        ("corrupt", "history.jsonl: line 2 is not valid JSON"),
    ],
)
def test_bad_run_directories_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, setup: str, expect: str
) -> None:
    run = tmp_path / "run"
    if setup == "file":
        run.write_text("not a folder")
    elif setup != "missing":
        run.mkdir()
        (run / "config.toml").write_text("epochs = 1\n")
        texts = {"empty": "\n", "corrupt": '{"epoch": 1, "train_loss": 1.0}\n{"epoch": 2,\n'}
        if setup in texts:
            (run / "history.jsonl").write_text(texts[setup])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert cli.main([command, str(run)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("error: ") and expect in line and str(run) in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_the_installed_script_reports_a_bad_run_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(TRAINWISE), "diagnose", "nowhere"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr
        == "error: nowhere: no such run directory; expected the folder `trainwise fit` wrote (runs/<name>)\n"
    )
