"""Diagnosis of real runs on scikit-learn's digits (each a few seconds), and of run directories as files:
findings.json written atomically by `fit` and by `diagnose`, bad run directories named in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.errors import RunError

DIGITS = {
    "task": "image",
    "epochs": 5,
    "batch_size": 32,
    "threads": 1,
    "data": {"name": "digits", "validation_split": 0.2},
    "model": {"name": "mlp", "hidden": [64, 64]},
    "optimizer": {"name": "adam", "learning_rate": 1e-3},
}


def fit_digits(out: Path, **settings: Any) -> trainwise.FitResult:
    return trainwise.fit(DIGITS, out=out, progress="off", **settings)


def kinds(result: trainwise.FitResult) -> list[str]:
    return [finding.kind for finding in result.findings]


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


def test_a_healthy_digits_run_gets_no_finding(tmp_path: Path) -> None:
    result = fit_digits(tmp_path / "run")
    assert result.final["val_accuracy"] > 0.85
    assert result.findings == []
    assert json.loads((tmp_path / "run" / "findings.json").read_text()) == {"findings": []}


def test_a_large_mlp_on_a_few_hundred_digits_overfits(tmp_path: Path) -> None:
    result = fit_digits(
        tmp_path / "run", epochs=40, data={"validation_split": 0.8}, model={"hidden": [512, 512]}
    )  # 359 training images, no regularization
    assert "overfitting" in kinds(result)
    finding = next(f for f in result.findings if f.kind == "overfitting")
    best = finding.epochs[0]
    assert result.history[best - 1]["val_loss"] == min(e["val_loss"] for e in result.history)
    assert any(r.startswith("--set model.dropout=") for r in finding.remedies)


def test_sgd_at_learning_rate_10_diverges(tmp_path: Path) -> None:
    result = fit_digits(tmp_path / "run", optimizer={"name": "sgd", "learning_rate": 10.0})
    assert kinds(result)[0] == "divergence"
    assert any(r.startswith("--set optimizer.learning_rate=1 ") for r in result.findings[0].remedies)


def test_a_learning_rate_of_1e_6_underfits_on_a_plateau(tmp_path: Path) -> None:
    result = fit_digits(tmp_path / "run", optimizer={"learning_rate": 1e-6})
    assert set(kinds(result)) == {"underfitting", "plateau"}
    assert all(f.remedies[0].startswith("--set optimizer.learning_rate=1e-5") for f in result.findings)


def test_diagnose_reads_the_run_directory_and_rewrites_findings_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit_digits(run, epochs=3, optimizer={"learning_rate": 1e-6})
    saved = json.loads((run / "findings.json").read_text())
    (run / "findings.json").unlink()
    findings = trainwise.diagnose(run)
    assert {"findings": [f.to_dict() for f in findings]} == saved
    assert json.loads((run / "findings.json").read_text()) == saved
    assert trainwise.diagnose(str(run), write=False) == findings
    facts = json.loads((run / "facts.json").read_text())
    sizes = facts["data"]
    assert sizes["num_classes"] == 10 and sizes["train_size"] + sizes["val_size"] + sizes["test_size"] == 1797
    assert sizes["val_size"] == pytest.approx(0.2 * (sizes["train_size"] + sizes["val_size"]), abs=1)
    assert facts["system"]["torch"] == torch.__version__


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("missing", "no such run directory"),
        ("file", "not a run directory (a file)"),
        ("no-history", "not a run directory: no history.jsonl"),
        ("empty", "history.jsonl: is empty"),
        ("corrupt", "history.jsonl: line 2 is not valid JSON"),
        ("not-an-epoch", "history.jsonl: line 1 is not an epoch record"),
    ],
)
def test_bad_run_directories_are_named(tmp_path: Path, setup: str, expect: str) -> None:
    run = tmp_path / "run"
    if setup == "file":
        run.write_text("x")
    elif setup != "missing":
        run.mkdir()
        lines = {"empty": "", "corrupt": '{"epoch": 1}\n{"epoch": 2, "train_loss": \n', "not-an-epoch": "[1, 2]\n"}
        if setup in lines:
            (run / "history.jsonl").write_text(lines[setup])
    with pytest.raises(RunError) as caught:
        trainwise.diagnose(run)
    assert expect in str(caught.value) and "\n" not in str(caught.value)
    assert not (run / "findings.json").exists()
