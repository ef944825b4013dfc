"""What makes a study cheap per trial keeps every promise: runs recorded once with all epochs, a reopened
database without alembic, atomic-but-unsynced trial files, batched epoch writes; and the defaults measured."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import trainwise
from tests.tune.recipes import LR, digits_recipe
from trainwise import atomic
from trainwise.store.runs import RunQuery, RunStore
from trainwise.tune.quickopen import made_by_this_optuna
from trainwise.tune.storage import open_storage

pytestmark = pytest.mark.usefixtures("sandbox")


def digits(search: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return digits_recipe(search, **settings)


def test_every_trial_run_is_in_the_store_once_with_all_its_epochs(storage_url: str) -> None:
    trainwise.tune(digits(LR), trials=3, pruner="none")
    trials = optuna.load_study(study_name="digits", storage=storage_url).trials
    runs, total = RunStore(storage_url).list_runs(RunQuery(study="digits"))
    assert total == 3 and sorted(r["trial"] for r in runs) == [t.number for t in trials]
    store = RunStore(storage_url)
    for run in runs:
        recorded = store.get(run["id"])
        assert recorded["status"] == "finished"
        assert [e["epoch"] for e in recorded["history"]] == [1, 2, 3]  # buffered epochs all reach the store
        trial = trials[run["trial"]]
        assert recorded["final"]["val_accuracy"] == trial.intermediate_values[3]


def test_a_pruned_trial_run_is_recorded_with_the_epochs_it_ran(storage_url: str) -> None:
    search = {"optimizer.learning_rate": {"low": 1e-5, "high": 1e-1, "log": True}}
    trainwise.tune(digits(search, epochs=6), trials=8, sampler="random")
    trials = optuna.load_study(study_name="digits", storage=storage_url).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, "Hyperband stops some of eight trials over 1e-5..1e-1"
    store = RunStore(storage_url)
    runs = {r["trial"]: r for r in store.list_runs(RunQuery(study="digits", limit=None))[0]}
    assert sorted(runs) == [t.number for t in trials]
    for t in pruned:
        assert len(store.get(runs[t.number]["id"])["history"]) == t.user_attrs["pruned_at"]


def test_a_database_this_optuna_made_reopens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    study.enqueue_trial({"x": 1.0})
    assert made_by_this_optuna(tmp_path / "studies.db")
    code = (
        "import sys, optuna; from trainwise.tune.storage import open_storage; "
        f"s = optuna.load_study(study_name='s', storage=open_storage({url!r})); "
        "print(len(s.trials), 'alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "False"]


def test_a_database_of_another_optuna_version_takes_optunas_own_checks(tmp_path: Path) -> None:
    path = tmp_path / "studies.db"
    open_storage(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE version_info SET library_version = '3.0.0'")
    connection.close()
    assert not made_by_this_optuna(path)
    assert not made_by_this_optuna(tmp_path / "missing.db")
    storage = open_storage(f"sqlite:///{path}")  # Optuna's full path: stamps and checks, still opens
    assert optuna.create_study(storage=storage, study_name="t").study_name == "t"


def test_process_crash_safe_writes_stay_atomic_but_skip_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    atomic.atomic_write_text(tmp_path / "a.txt", "durable")
    durable = len(calls)
    assert durable >= 1
    with atomic.process_crash_safe():
        atomic.atomic_write_text(tmp_path / "a.txt", "quick")
        assert len(calls) == durable
    atomic.atomic_write_text(tmp_path / "a.txt", "durable again")
    assert len(calls) > durable and (tmp_path / "a.txt").read_text() == "durable again"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_record_epochs_stores_what_record_epoch_would(tmp_path: Path) -> None:
    store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    logs = [{"epoch": e, "train_loss": 1.0 / e, "val_accuracy": 0.5 + e / 10, "lr": 0.01} for e in (1, 2, 3)]
    one = store.start_run(name="one", run_dir=tmp_path / "one")
    many = store.start_run(name="many", run_dir=tmp_path / "many")
    for entry in logs:
        store.record_epoch(one, entry)
    store.record_epochs(many, logs[:2])
    store.record_epochs(many, [{**logs[1], "val_accuracy": 0.0}, logs[2]])  # a rewritten epoch replaces the old
    store.record_epochs(many, [])
    a, b = store.get(one), store.get(many)
    assert [e["epoch"] for e in b["history"]] == [1, 2, 3] and b["epochs"] == a["epochs"] == 3
    assert b["history"][1]["val_accuracy"] == 0.0
    assert a["final"] == b["final"]


def test_the_default_sampler_and_pruner_are_the_ones_the_benchmark_measured() -> None:
    from trainwise.tune.pruning import FlooredHyperband, make_pruner
    from trainwise.tune.samplers import make_sampler
    from trainwise.tune.space import Param, SearchSpace

    space = SearchSpace([Param("model.dropout", "float", 0.0, 0.5)], [])
    sampler = make_sampler("tpe", space, seed=0)
    assert sampler._n_startup_trials == 5 and sampler._multivariate
    pruner = make_pruner("hyperband", 20)
    assert isinstance(pruner, FlooredHyperband)
    assert pruner.hyperband._min_resource == 1 and pruner.hyperband._max_resource == 20


def test_a_hopeless_trial_is_stopped_at_epoch_three_even_when_hyperband_would_keep_it() -> None:
    from trainwise.tune.pruning import make_pruner

    study = optuna.create_study(direction="maximize", pruner=make_pruner("hyperband", 20))
    for _ in range(3):  # three good trials complete
        trial = study.ask()
        for epoch in range(1, 21):
            trial.report(0.9, epoch)
        study.tell(trial, 0.9)
    hopeless = study.ask()
    for epoch in (1, 2, 3):
        hopeless.report(0.1, epoch)
    assert hopeless.should_prune()
    fine = study.ask()
    for epoch in (1, 2, 3):
        fine.report(0.95, epoch)
    assert not fine.should_prune()


def frozen_trial(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return next(t for t in study.get_trials() if t.number == trial.number)


def _finished(study: optuna.Study, curve: dict[int, float]) -> None:
    trial = study.ask()
    for epoch, value in curve.items():
        trial.report(value, epoch)
    study.tell(trial, list(curve.values())[-1])


def test_a_trial_worse_at_epoch_three_than_another_was_at_epoch_one_is_outpaced_and_stopped() -> None:
    from trainwise.tune.pruning import make_pruner

    pruner = make_pruner("hyperband", 20)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    _finished(study, {1: 0.9, 2: 0.93, 3: 0.95})
    slow = study.ask()
    for epoch in (1, 2, 3):
        slow.report(0.5 + 0.1 * epoch, epoch)  # 0.8 at epoch 3, below the other's 0.9 at epoch 1
    frozen = frozen_trial(study, slow)
    assert not pruner.hyperband.prune(study, frozen)  # Hyperband alone keeps it ...
    assert pruner._outpaced(study, frozen)  # ... but being 3x slower stops it
    assert slow.should_prune()
    quick = study.ask()
    for epoch in (1, 2, 3):
        quick.report(0.85 + 0.02 * epoch, epoch)  # 0.91 at epoch 3: better than anyone at epoch 1
    assert not pruner._outpaced(study, frozen_trial(study, quick))


def test_outpaced_reads_the_direction_and_waits_for_epoch_three() -> None:
    from trainwise.tune.pruning import make_pruner

    pruner = make_pruner("hyperband", 20)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    _finished(study, {1: 0.3, 2: 0.2, 3: 0.1})
    trial = study.ask()
    trial.report(2.0, 1)
    trial.report(1.0, 2)
    assert not pruner._outpaced(study, frozen_trial(study, trial))  # epoch 2: too early to judge
    trial.report(0.5, 3)  # a loss of 0.5 at epoch 3, above the other's 0.3 at epoch 1
    assert pruner._outpaced(study, frozen_trial(study, trial))
    better = study.ask()
    for epoch, loss in ((1, 0.4), (2, 0.3), (3, 0.25)):
        better.report(loss, epoch)
    assert not pruner._outpaced(study, frozen_trial(study, better))


def test_a_pruning_decision_reads_the_trials_once_and_later_ones_see_new_trials(tmp_path: Path) -> None:
    from trainwise.tune.pruning import one_read

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s", direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    elsewhere = optuna.load_study(study_name="s", storage=open_storage(url))  # another worker's connection
    storage = study._storage
    with one_read(study):
        elsewhere.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
        assert len(study.get_trials(deepcopy=False)) == 2  # one read for the whole decision
        assert storage.get_study_id_from_name("s") == study._study_id
        with one_read(study):  # a block inside keeps the outer read and leaves it in place
            assert len(study.get_trials(deepcopy=False)) == 2
        assert len(study.get_trials(deepcopy=False)) == 2
    assert len(study.get_trials(deepcopy=False)) == 3  # the next decision reads again
    assert "get_study_id_from_name" not in vars(storage) and "_read_trials_from_remote_storage" not in vars(storage)
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("no-such-study")  # the real lookup is back


def test_a_pruning_decision_serves_the_running_trial_from_its_read(tmp_path: Path) -> None:
    """Successive halving reads the judged trial's system attributes: from the decision's read, no query."""
    from sqlalchemy import event

    from trainwise.tune.pruning import one_read

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s", direction="maximize")
    running = study.ask()
    running.report(0.5, 1)
    study._storage.set_trial_system_attr(running._trial_id, "completed_rung_0", 0.5)
    storage = study._storage
    queries: list[str] = []
    event.listen(storage._backend.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    with one_read(study):
        queries.clear()
        seen = storage.get_trial_system_attrs(running._trial_id)
        assert queries == []
        assert seen["completed_rung_0"] == 0.5 and storage.get_trial(running._trial_id).intermediate_values == {1: 0.5}
    assert "get_trial" not in vars(storage)
    storage.get_trial(running._trial_id)
    assert queries  # after the decision a running trial is read from the database again
