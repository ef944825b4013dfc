"""Heartbeat settings (arguments, environment, errors), the storage options they make, and database URLs."""

from __future__ import annotations

import optuna
import pytest

from trainwise.errors import ConfigError
from trainwise.storage import driver_url
from trainwise.tune.heartbeat import ENV, Heartbeat, heartbeat_settings, storage_options
from trainwise.tune.slots import _fail_stale
from trainwise.tune.storage import open_storage


def test_defaults_arguments_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert heartbeat_settings() == Heartbeat(10, 40)
    assert heartbeat_settings(2) == Heartbeat(2, 8)  # grace: four missed beats
    assert heartbeat_settings(2, 5) == Heartbeat(2, 5)
    monkeypatch.setenv(ENV, "3/20")
    assert heartbeat_settings() == Heartbeat(3, 20)
    assert heartbeat_settings(5) == Heartbeat(5, 20)  # an argument wins over the environment
    monkeypatch.setenv(ENV, "7")
    assert heartbeat_settings() == Heartbeat(7, 28)


@pytest.mark.parametrize(
    ("interval", "grace", "env", "expected"),
    [
        (0, None, "", "--heartbeat: the heartbeat must be a whole number of seconds >= 1, got 0"),
        (5, 5, "", "--grace: the grace period must be whole seconds longer than the heartbeat (5 s), got 5"),
        (None, None, "soon", f"{ENV}: expected SECONDS or SECONDS/GRACE"),
        (None, None, "10/2", f"{ENV}: the grace period must be whole seconds longer"),
    ],
)
def test_bad_settings_are_one_line_naming_where(
    monkeypatch: pytest.MonkeyPatch, interval: int | None, grace: int | None, env: str, expected: str
) -> None:
    monkeypatch.setenv(ENV, env)
    with pytest.raises(ConfigError) as caught:
        heartbeat_settings(interval, grace)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_the_storage_beats_and_retries_stale_trials(storage_url: str) -> None:
    storage = open_storage(storage_url, Heartbeat(2, 9))
    assert storage.heartbeat_interval == 2 and storage.grace_period == 9
    assert storage.get_heartbeat_stale_trial_callback() is not None
    options = storage_options(Heartbeat(1, 3))
    assert {"heartbeat_interval": 1, "grace_period": 3}.items() <= options.items()


def test_a_stale_trial_is_failed_and_queued_again_with_its_parameters(storage_url: str) -> None:
    """A RUNNING trial whose worker stopped beating: the next look fails it and queues a retry (real SQLite)."""
    import time

    storage = open_storage(storage_url, Heartbeat(1, 2))
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    storage.record_heartbeat(trial._trial_id)  # it beat once, then its process "died"
    time.sleep(3.2)
    _fail_stale(study)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params


def test_a_trial_that_never_beat_is_failed_after_the_grace_period(storage_url: str) -> None:
    """A worker killed between creating its trial and its first heartbeat: Optuna skips such a trial, so its slot
    would stay taken forever; once older than the grace period it is failed and queued again."""
    import time

    storage = open_storage(storage_url, Heartbeat(1, 2))
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    _fail_stale(study)
    assert [t.state.name for t in study.get_trials()] == ["RUNNING"]  # younger than the grace period: left alone
    time.sleep(2.5)
    _fail_stale(study)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params


def test_postgresql_urls_name_psycopg_3() -> None:
    assert driver_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert driver_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert driver_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"  # a driver named: kept
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.usefixtures("sandbox", "storage_url")
def test_stale_trials_are_looked_for_before_a_resumed_studys_first_trial_not_a_new_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A study created by this session cannot hold a dead worker's trial: its first look waits an interval."""
    import trainwise
    import trainwise.tune.slots as slots
    import trainwise.tune.study as study_module
    from tests.tune.recipes import digits_recipe

    events: list[str] = []
    look, trial = slots._fail_stale, study_module.run_trial
    monkeypatch.setattr(slots, "_fail_stale", lambda study: events.append("look") or look(study))
    monkeypatch.setattr(study_module, "run_trial", lambda t, ctx: events.append("trial") or trial(t, ctx))
    trainwise.tune(digits_recipe(epochs=1), trials=1)
    assert events == ["trial"]
    events.clear()
    trainwise.tune(digits_recipe(epochs=1), trials=2)  # the same command again: a resume
    assert events == ["look", "trial"]
