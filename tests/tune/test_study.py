"""`trainwise.tune` end to end on real data (scikit-learn's digits) with a real SQLite Optuna storage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

import trainwise
from tests.tune.recipes import LR, digits_recipe
from trainwise.errors import ConfigError, RunError

pytestmark = pytest.mark.usefixtures("sandbox")

DROPOUT = {"model.dropout": {"low": 0.0, "high": 0.3}}


def digits(search: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """A quick recipe: digits, a 16-unit MLP, 3 epochs, one thread; by default searching lr and dropout."""
    return digits_recipe({**LR, **DROPOUT} if search is None else search, **settings)


def load(study: str, storage_url: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=storage_url)


def test_a_study_ranks_links_and_exports_a_best_recipe_that_fit_reproduces(storage_url: str, tmp_path: Path) -> None:
    result = trainwise.tune(digits(), trials=5, pruner="none", export=tmp_path / "best.toml")
    assert isinstance(result, trainwise.TuneResult)
    study = load("digits", storage_url)
    assert len(study.trials) == 5 and all(t.state.name == "COMPLETE" for t in study.trials)
    ranked = [row["values"][0] for row in result.leaderboard]
    assert ranked == sorted(ranked, reverse=True) and result.leaderboard[0]["rank"] == 1
    assert result.best_value == max(t.value for t in study.trials)
    for t in study.trials:  # every trial's run is linked to its study, and the other way round
        run = Path(t.user_attrs["run_dir"])
        assert run == Path("runs") / "digits" / f"trial-{t.number}"
        linked = json.loads((run / "trial.json").read_text())
        assert linked == {"study": "digits", "trial": t.number, "storage": storage_url}
        assert len((run / "history.jsonl").read_text().splitlines()) == 3
    saved = json.loads((Path("runs") / "digits" / "tune.json").read_text())
    assert saved["best"]["number"] == result.best["number"] and saved["summary"]["complete"] == 5
    assert (Path("runs") / "digits" / "tune.png").stat().st_size > 1000
    # the exported config trains the best trial again: same seed, same data, one thread -> the same val metric
    text = (tmp_path / "best.toml").read_text()
    assert "[search]" not in text
    best = study.best_trial
    refit = trainwise.fit(tmp_path / "best.toml", out=tmp_path / "refit", progress="off")
    assert refit.recipe.optimizer.learning_rate == best.params["optimizer.learning_rate"]
    assert max(e["val_accuracy"] for e in refit.history) == best.value  # exact on CPU


def test_the_same_call_resumes_a_study_and_counts_earlier_trials(storage_url: str) -> None:
    trainwise.tune(digits(), trials=2, pruner="none")
    result = trainwise.tune(digits(), trials=4, pruner="none")
    numbers = [t.number for t in load("digits", storage_url).trials]
    assert numbers == [0, 1, 2, 3]
    assert result.counts["trials"] == 4
    again = trainwise.tune(digits(), trials=4, pruner="none")  # already done: nothing new
    assert again.counts["trials"] == 4


def test_a_nan_loss_prunes_the_trial_with_its_reason(storage_url: str) -> None:
    search = {"optimizer.learning_rate": {"low": 1e12, "high": 1e14, "log": True}}
    trainwise.tune(digits(search, optimizer={"name": "sgd", "momentum": 0.9}), trials=2, sampler="random")
    trials = load("digits", storage_url).trials
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    assert all("NaN" in t.user_attrs["pruned_reason"] for t in trials)


def test_a_trial_that_raises_fails_with_its_message_and_the_study_goes_on(storage_url: str) -> None:
    search = {
        "optimizer.name": {"choices": ["gd", "adam"]},
        "auto_learning_rate": False,
    }  # gd needs batch_size = "full": the run refuses
    result = trainwise.tune(digits(search), trials=2, sampler="grid", pruner="none")
    states = {t.params["optimizer.name"]: t for t in load("digits", storage_url).trials}
    assert states["gd"].state.name == "FAIL"
    assert "full-batch gradient descent" in states["gd"].user_attrs["error"]
    assert states["adam"].state.name == "COMPLETE"
    assert result.best is not None and result.best["params"] == {"optimizer.name": "adam"}


def test_hyperband_prunes_by_epoch_and_the_leaderboard_says_when(storage_url: str) -> None:
    search = {"optimizer.learning_rate": {"low": 1e-5, "high": 1e-1, "log": True}}
    result = trainwise.tune(digits(search, epochs=6), trials=10, sampler="random")
    trials = load("digits", storage_url).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, "with ten trials over 1e-5..1e-1 Hyperband stops some early"
    for t in pruned:
        assert max(t.intermediate_values) == t.user_attrs["pruned_at"] < 6
        assert t.user_attrs["epochs"] == t.user_attrs["pruned_at"]
    rows = {row["number"]: row for row in result.leaderboard}
    assert all(rows[t.number]["pruned_at"] == t.user_attrs["pruned_at"] for t in pruned)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert all(len(t.intermediate_values) == 6 for t in complete)


def test_without_pruning_every_epoch_is_still_reported(storage_url: str) -> None:
    trainwise.tune(digits(epochs=3), trials=2, pruner="none")
    assert all(sorted(t.intermediate_values) == [1, 2, 3] for t in load("digits", storage_url).trials)


def test_several_objectives_give_a_pareto_front(storage_url: str) -> None:
    search = {
        "objectives": [{"metric": "val_accuracy"}, {"metric": "params"}],
        "model.hidden": {"choices": [[4], [16], [64]]},
        "auto_learning_rate": False,
    }
    result = trainwise.tune(digits(search), trials=3, sampler="grid")
    assert result.directions == ["maximize", "minimize"]
    params = {json.dumps(r["params"]["model.hidden"]): r["values"][1] for r in result.leaderboard}
    assert params["[4]"] < params["[16]"] < params["[64]"]  # parameter counts, measured
    assert result.pareto and any(r["params"]["model.hidden"] == [4] for r in result.pareto)  # the smallest is optimal


def test_warm_start_enqueues_the_best_of_an_earlier_study_on_the_same_data(storage_url: str) -> None:
    first = trainwise.tune(digits(), trials=3, pruner="none", study="first")
    second = trainwise.tune(digits(), trials=1, pruner="none", study="second")
    trial = load("second", storage_url).trials[0]
    assert trial.user_attrs["warm_start_from"] == f"first#{first.best['number']}"
    assert trial.params == load("first", storage_url).best_trial.params
    assert second.best is not None
    unrelated = trainwise.tune(
        digits({"metric": "val_loss", "model.dropout": {"low": 0.0, "high": 0.3}}), trials=1, study="third"
    )
    assert unrelated.leaderboard[0]["warm_start_from"] is None  # another metric: nothing to learn from


@pytest.mark.slow
def test_every_sampler_and_pruner_by_name(storage_url: str) -> None:
    for sampler in ("random", "grid", "gp", "cmaes", "qmc", "nsga2", "tpe"):
        trainwise.tune(digits(epochs=1), trials=2, sampler=sampler, study=f"s-{sampler}")
        assert len(load(f"s-{sampler}", storage_url).trials) == 2, sampler
    for pruner in ("median", "successive-halving", "hyperband", "none"):
        trainwise.tune(digits(epochs=2), trials=2, pruner=pruner, study=f"p-{pruner}")
        assert len(load(f"p-{pruner}", storage_url).trials) == 2, pruner
    with pytest.raises(ConfigError, match=r"unknown sampler 'tpee'; .*did you mean 'tpe'"):
        trainwise.tune(digits(), trials=1, sampler="tpee")
    with pytest.raises(ConfigError, match="unknown pruner"):
        trainwise.tune(digits(), trials=1, pruner="medain")


def test_a_study_refuses_a_config_that_changes_its_objective(storage_url: str) -> None:
    trainwise.tune(digits(), trials=1)
    with pytest.raises(ConfigError, match="maximize"):
        trainwise.tune(digits({"metric": "val_loss", "epochs": {"low": 1, "high": 2}}), trials=1)
    with pytest.raises(ConfigError, match="no \\[search\\] section"):
        trainwise.tune({k: v for k, v in digits().items() if k != "search"}, trials=1)
    with pytest.raises(ConfigError, match="metric 'val_acuracy' is not logged"):
        trainwise.tune(digits({"metric": "val_acuracy"}), trials=1, study="typo")


def test_report_of_a_study_is_a_self_contained_page(storage_url: str, tmp_path: Path) -> None:
    from trainwise.report.study import study_report
    from trainwise.tune.results import load_study, summarize

    trainwise.tune(digits(epochs=2), trials=5, pruner="none")
    result = summarize(load_study("digits", storage_url), storage_url)
    assert result.importance is not None and set(result.importance) == {"optimizer.learning_rate", "model.dropout"}
    page = study_report(result, tmp_path / "report")
    html = page.read_text()
    assert html.count("data:image/png;base64,") >= 3  # history, curves, importance
    assert '<table id="leaderboard">' in html and html.count("<tr>") >= 5
    with pytest.raises(RunError, match=r"no study 'nope'.*studies there: digits"):
        load_study("nope", storage_url)


def test_too_few_trials_for_importance_says_so(storage_url: str) -> None:
    result = trainwise.tune(digits(epochs=1), trials=2, pruner="none")
    assert result.importance is None
    assert result.importance_note is not None and "at least" in result.importance_note


def test_without_a_learning_rate_range_one_is_taken_around_the_lr_range_test(storage_url: str) -> None:
    from trainwise.tune.lr_find import lr_find

    search = {"model.dropout": {"low": 0.0, "high": 0.3}}
    trainwise.tune(digits(search), trials=3, pruner="none")
    study = load("digits", storage_url)
    low, high = study.user_attrs["learning_rate_range"]
    suggestion = lr_find(trainwise.Recipe.model_validate(digits({})), out=None).suggestion
    assert (low, high) == pytest.approx((suggestion / 10, suggestion * 3))
    assert all(low <= t.params["optimizer.learning_rate"] <= high for t in study.trials)
    trainwise.tune(digits(search), trials=4, pruner="none")  # a resume keeps the stored range
    assert load("digits", storage_url).user_attrs["learning_rate_range"] == [low, high]
    trainwise.tune(digits({**search, "auto_learning_rate": False}), trials=1, study="fixed")
    assert "optimizer.learning_rate" not in load("fixed", storage_url).trials[0].params
