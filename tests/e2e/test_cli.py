"""The `trainwise` command as a real subprocess: fit (--json, --set, --quiet, plain, --resume), data ls, --version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import trainwise
from trainwise.data.catalog import BUILTINS

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """
task = "image"
epochs = 2
batch_size = 128
seed = 1

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [16]

[optimizer]
name = "adam"
learning_rate = 0.003
"""


@dataclass
class Run:
    config: Path
    out: Path
    process: subprocess.CompletedProcess[str]

    @property
    def json(self) -> Any:
        return json.loads(self.process.stdout)


def trainwise_cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRAINWISE), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Run:
    """One `fit --json --set optimizer.learning_rate=0.01` run, shared by the tests that only read its output."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "tiny.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "TRAINWISE_CACHE_DIR": str(shared_cache)}
    out = folder / "run"
    process = trainwise_cli(
        "fit", config, "--json", "--set", "optimizer.learning_rate=0.01", "--out", out, cwd=folder, env=env
    )
    assert process.returncode == 0, process.stderr
    return Run(config, out, process)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_json_prints_exactly_one_object_and_no_progress(json_run: Run) -> None:
    stdout = json_run.process.stdout
    assert stdout.count("\n") == 1 and stdout.endswith("\n")
    result = json_run.json
    assert "epoch 1/" not in json_run.process.stderr
    assert result["run_dir"] == str(json_run.out)
    assert result["stopped_reason"] == "completed"
    history = result["history"]
    assert [e["epoch"] for e in history] == [1, 2]
    for epoch in history:
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "seconds"):
            assert isinstance(epoch[key], float), key
        assert 0.0 <= epoch["val_accuracy"] <= 1.0
    val_losses = [e["val_loss"] for e in history]
    assert result["best_epoch"] == 1 + val_losses.index(min(val_losses))
    assert set(result["test"]) == {"loss", "accuracy"}  # digits has a fixed test split


def test_json_is_what_the_run_dir_saved(json_run: Run) -> None:
    result = json_run.json
    assert json.loads((json_run.out / "summary.json").read_text()) == result
    lines = (json_run.out / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == result["history"]
    assert (json_run.out / "checkpoints" / "last.pt").is_file()
    assert (json_run.out / "checkpoints" / "best.pt").is_file()


def test_set_overrides_the_file_and_is_saved_in_the_run_config(json_run: Run) -> None:
    saved = tomllib.loads((json_run.out / "config.toml").read_text())
    assert tomllib.loads(CONFIG)["optimizer"]["learning_rate"] != 0.01
    assert saved["optimizer"]["learning_rate"] == 0.01
    assert json_run.json["config"]["optimizer"]["learning_rate"] == 0.01
    assert {e["lr"] for e in json_run.json["history"]} == {0.01}  # no schedule: the optimizer used it throughout
    given = trainwise.load_recipe(json_run.config, ["optimizer.learning_rate=0.01"])
    assert trainwise.load_recipe(json_run.out / "config.toml").to_dict() == given.to_dict()


def test_quiet_prints_only_the_run_dir(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "quiet"
    done = trainwise_cli("fit", config, "--quiet", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{out}\n"
    assert done.stderr == ""
    assert len((out / "history.jsonl").read_text().splitlines()) == 2


def test_plain_text_prints_progress_on_stderr_and_a_table_on_stdout(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain"
    done = trainwise_cli("fit", config, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/2" in done.stderr and "epoch 2/2" in done.stderr  # not a terminal: one line per epoch
    assert "epoch 1/2" not in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    accuracy = next(line for line in done.stdout.splitlines() if "accuracy" in line)
    final = summary["history"][-1]
    cells = [f"{final['train_accuracy']:.4f}", f"{final['val_accuracy']:.4f}", f"{summary['test']['accuracy']:.4f}"]
    assert all(cell in accuracy for cell in cells), accuracy
    assert "stopped: completed" in done.stdout
    assert done.stdout.rstrip().endswith(f"saved to {out}")


def test_resume_extends_a_finished_run(json_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "extended"
    shutil.copytree(json_run.out, out)
    done = trainwise_cli(
        "fit",
        json_run.config,
        "--set",
        "optimizer.learning_rate=0.01",
        "--set",
        "epochs=4",
        "--resume",
        "--out",
        out,
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    history = json.loads(done.stdout)["history"]
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[:2] == json_run.json["history"]  # the finished epochs come back from the checkpoint unchanged
    steps = [e["step"] for e in history]
    assert steps == [steps[0] * k for k in (1, 2, 3, 4)]
    assert len((out / "history.jsonl").read_text().splitlines()) == 4


def test_resume_with_a_changed_recipe_is_refused(json_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "changed"
    shutil.copytree(json_run.out, out)
    before = (out / "checkpoints" / "last.pt").read_bytes()
    done = trainwise_cli("fit", json_run.config, "--resume", "--out", out, "--json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "optimizer.learning_rate" in done.stderr
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


def test_user_data_without_a_test_split_gives_test_null(tmp_path: Path) -> None:
    rows = ["a,b,label"] + [f"{i % 7 / 7},{(i * 3) % 5 / 5},{i % 2}" for i in range(60)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "table.toml"
    config.write_text('task = "tabular"\nepochs = 1\n[data]\npath = "table.csv"\n[model]\nhidden = [4]\n')
    done = trainwise_cli("fit", config, "--json", "--out", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["test"] is None
    assert [e["epoch"] for e in result["history"]] == [1]


def test_data_ls_json_lists_every_builtin_with_its_install_command(tmp_path: Path) -> None:
    env = {**os.environ, "TRAINWISE_FASHION_MNIST_DIR": str(tmp_path / "nowhere")}
    done = trainwise_cli("data", "ls", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert set(rows) == set(BUILTINS) and {"fashion-mnist", "mnist-5k", "digits"} <= set(rows)  # tasks add theirs
    assert rows["fashion-mnist"]["installed"] is False  # its folder was pointed at nothing
    for name, row in rows.items():
        assert row["install"] == BUILTINS[name].install and row["install"]
        if name != "fashion-mnist":
            assert row["installed"] is BUILTINS[name].installed()


def test_data_ls_table_shows_how_to_install_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "TRAINWISE_FASHION_MNIST_DIR": str(tmp_path / "nowhere"), "COLUMNS": "250"}
    done = trainwise_cli("data", "ls", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    for name in BUILTINS:
        assert name in done.stdout
    assert BUILTINS["fashion-mnist"].install in done.stdout


def test_version(tmp_path: Path) -> None:
    done = trainwise_cli("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"trainwise {trainwise.__version__}"


def test_python_dash_m_is_the_same_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trainwise", "--version"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"trainwise {trainwise.__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "trainwise", "fit", "absent.toml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "absent.toml" in bad.stderr
