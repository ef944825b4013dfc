"""Run directories: numbered names, never reusing a non-empty folder, and what a resume may change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainwise import rundir
from trainwise.config import Recipe, build_recipe
from trainwise.errors import RunError

BASE: dict[str, Any] = {
    "name": "exp",
    "epochs": 5,
    "seed": 3,
    "data": {"name": "digits"},
    "model": {"hidden": [32]},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
}


def test_new_run_dir_numbers_taken_names(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    first = rundir.new_run_dir("exp", root)
    second = rundir.new_run_dir("exp", root)
    (root / "exp-3").write_text("a file, not a run")
    fourth = rundir.new_run_dir("exp", root)
    other = rundir.new_run_dir("other", root)
    assert [first, second, fourth, other] == [root / "exp", root / "exp-2", root / "exp-4", root / "other"]
    assert all(path.is_dir() for path in (first, second, fourth, other))


def test_claim_out_dir_takes_a_new_or_empty_folder(tmp_path: Path) -> None:
    assert rundir.claim_out_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "empty").mkdir()
    assert rundir.claim_out_dir(tmp_path / "empty") == tmp_path / "empty"


@pytest.mark.parametrize("kind", ["non-empty folder", "file"])
def test_claim_out_dir_refuses_anything_else(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("x")
    else:
        out.mkdir()
        (out / "summary.json").write_text("{}")
    with pytest.raises(RunError) as info:
        rundir.claim_out_dir(out)
    assert str(out) in str(info.value) and "--resume" in str(info.value)
    assert out.is_file() if kind == "file" else (out / "summary.json").read_text() == "{}"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder as fit leaves it: config.toml and a last.pt (its content is not read by resume_recipe)."""
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    rundir.write_config(folder, build_recipe(BASE))
    return folder


def recipe(*overrides: str) -> Recipe:
    return build_recipe(BASE, list(overrides))


def test_resume_recipe_is_the_saved_one(run_dir: Path) -> None:
    assert rundir.resume_recipe(run_dir, None).to_dict() == recipe().to_dict()
    assert rundir.resume_recipe(run_dir, recipe()).to_dict() == recipe().to_dict()


def test_resume_recipe_takes_only_the_resumable_changes(run_dir: Path) -> None:
    given = recipe("epochs=9", 'device="cpu"', "threads=1", "checkpoint_every_steps=50", 'name="renamed"')
    resumed = rundir.resume_recipe(run_dir, given)
    assert (resumed.epochs, resumed.device, resumed.threads, resumed.checkpoint_every_steps) == (9, "cpu", 1, 50)
    assert resumed.name == "exp"  # the run keeps its name
    assert sorted(rundir.RESUMABLE_CHANGES) == ["checkpoint_every_steps", "device", "epochs", "name", "threads"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("seed=4", "seed"),
        ("optimizer.learning_rate=0.02", "optimizer.learning_rate"),
        ('optimizer.name="sgd"', "optimizer.name"),
        ("model.hidden=[32, 32]", "model.hidden"),
        ("data.validation_split=0.2", "data.validation_split"),
        ("batch_size=64", "batch_size"),
        ("early_stopping.patience=2", "early_stopping"),
        ('schedule.name="cosine"', "schedule.name"),
    ],
)
def test_resume_recipe_rejects_other_changes(run_dir: Path, override: str, key: str) -> None:
    with pytest.raises(RunError) as info:
        rundir.resume_recipe(run_dir, recipe(override))
    message = str(info.value)
    assert f"'{key}'" in message and str(run_dir / "config.toml") in message and "\n" not in message


def test_resume_needs_a_last_checkpoint(run_dir: Path) -> None:
    (run_dir / "checkpoints" / "last.pt").unlink()
    with pytest.raises(RunError, match="nothing to resume"):
        rundir.resume_recipe(run_dir, recipe())


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_resume_cannot_extend_a_schedule_laid_out_over_the_epochs(tmp_path: Path, schedule: str) -> None:
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    rundir.write_config(folder, recipe(f'schedule.name="{schedule}"'))
    assert rundir.resume_recipe(folder, recipe(f'schedule.name="{schedule}"')).epochs == recipe().epochs
    with pytest.raises(RunError, match=f"schedule '{schedule}'.*cannot change epochs"):
        rundir.resume_recipe(folder, recipe(f'schedule.name="{schedule}"', "epochs=99"))


def test_resume_can_extend_a_step_schedule(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    rundir.write_config(folder, recipe('schedule.name="step"'))
    assert rundir.resume_recipe(folder, recipe('schedule.name="step"', "epochs=99")).epochs == 99
