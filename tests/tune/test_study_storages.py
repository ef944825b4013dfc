"""The tune study's contract on every storage: SQLite and a fresh PostgreSQL database (`database_url`).

Create a study, run trials, resume it with the same call, rank and export; each trial's run lands in the run
store of the same database, once. `postgresql://` URLs (no driver named) open with psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

import trainwise
from tests.tune.recipes import digits_recipe
from trainwise.errors import ConfigError
from trainwise.storage import driver_url
from trainwise.store.runs import RunQuery, RunStore

pytestmark = pytest.mark.usefixtures("sandbox")


def digits(**settings: Any) -> dict[str, Any]:
    return digits_recipe(**({"epochs": 2} | settings))


def test_create_run_resume_rank_and_export(database_url: str, tmp_path: Path) -> None:
    first = trainwise.tune(digits(), trials=2, pruner="none", storage=database_url)
    assert first.counts["complete"] == 2
    result = trainwise.tune(digits(), trials=3, pruner="none", storage=database_url, export=tmp_path / "best.toml")
    study = optuna.load_study(study_name="digits", storage=driver_url(database_url))
    assert [t.number for t in study.trials] == [0, 1, 2]  # the earlier two counted: one more trial
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    ranked = [row["values"][0] for row in result.leaderboard]
    assert ranked == sorted(ranked, reverse=True) and result.best_value == study.best_value
    assert "[search]" not in (tmp_path / "best.toml").read_text()
    assert study.user_attrs["metrics"] == ["val_accuracy"]
    # every trial's run is in the run store of the same database, linked to its trial, once
    rows, total = RunStore(database_url).list_runs(RunQuery(limit=100))
    assert total == 3 and sorted((r["study"], r["trial"], r["status"]) for r in rows) == [
        ("digits", n, "finished") for n in range(3)
    ]


def test_a_changed_direction_is_refused_and_the_study_is_untouched(database_url: str) -> None:
    trainwise.tune(digits(), trials=1, pruner="none", storage=database_url)
    loss = digits(search={"metric": "val_loss", "optimizer.learning_rate": {"low": 1e-3, "high": 3e-2, "log": True}})
    with pytest.raises(ConfigError, match="optimizes maximize but the config asks for minimize"):
        trainwise.tune(loss, trials=2, storage=database_url)
    study = optuna.load_study(study_name="digits", storage=driver_url(database_url))
    assert len(study.trials) == 1


def test_a_postgresql_url_without_a_driver_opens_with_psycopg(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert driver_url(plain) == postgres_url and driver_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    result = trainwise.tune(digits(epochs=1), trials=1, pruner="none", storage=plain)
    assert result.counts["complete"] == 1
    assert RunStore(plain).count() == 1 and RunStore(postgres_url).count() == 1  # one database, either spelling
