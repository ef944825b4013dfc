"""A new study's first trial trains the recipe as written, and pruning reports reach the study in batches."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

import trainwise
from tests.tune.recipes import digits_recipe
from trainwise.errors import ConfigError
from trainwise.tune.first_trial import SWEEP_FROM, SWEEP_STEPS, SWEEP_TO
from trainwise.tune.pruning import TrialReporter

pytestmark = pytest.mark.usefixtures("sandbox")


def digits(search: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """Two epochs; a recipe whose learning rate, optimizer and dropout lie in SPACE and whose hidden does not."""
    model = {"name": "mlp", "hidden": [16], "dropout": 0.1}
    optimizer = {"name": "adam", "learning_rate": 0.003}
    return digits_recipe(search, **({"epochs": 2, "model": model, "optimizer": optimizer} | settings))


SPACE = {
    "optimizer.learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
    "optimizer.name": {"choices": ["sgd", "adam"]},
    "optimizer.momentum": {"low": 0.5, "high": 0.99, "when": {"optimizer.name": "sgd"}},
    "model.hidden": {"choices": [[8], [32]]},  # the recipe's [16] is not a choice: sampled
    "model.dropout": {"low": 0.0, "high": 0.5},
}


def first(storage_url: str) -> optuna.trial.FrozenTrial:
    return min(optuna.load_study(study_name="digits", storage=storage_url).trials, key=lambda t: t.number)


def test_the_first_trial_trains_the_recipes_own_values_where_they_lie_in_the_space(storage_url: str) -> None:
    result = trainwise.tune(digits(SPACE), trials=2, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["from_recipe"] is True
    assert trial.params["optimizer.learning_rate"] == pytest.approx(0.003)
    assert trial.params["optimizer.name"] == "adam"
    assert trial.params["model.dropout"] == pytest.approx(0.1)
    assert "optimizer.momentum" not in trial.params  # its condition (sgd) does not hold for the recipe
    assert trial.params["model.hidden"] in ("[8]", "[32]")  # outside the choices: drawn by the sampler
    rows = {row["number"]: row for row in result.leaderboard}
    assert rows[trial.number]["from_recipe"] is True
    assert not any(row["from_recipe"] for number, row in rows.items() if number != trial.number)


def test_start_from_recipe_false_leaves_the_first_trial_to_the_sampler(storage_url: str) -> None:
    trainwise.tune(digits({**SPACE, "start_from_recipe": False}), trials=1, seed=3)
    trial = first(storage_url)
    assert "from_recipe" not in trial.user_attrs
    assert trial.params["optimizer.learning_rate"] != pytest.approx(0.003)


def test_a_resumed_study_does_not_queue_the_recipe_again(storage_url: str) -> None:
    trainwise.tune(digits(SPACE), trials=1, seed=3)
    trainwise.tune(digits(SPACE), trials=3, seed=3)
    trials = optuna.load_study(study_name="digits", storage=storage_url).trials
    assert [t.number for t in trials if t.user_attrs.get("from_recipe")] == [0]


def test_a_recipe_without_a_learning_rate_starts_from_the_lr_range_tests(storage_url: str) -> None:
    recipe = digits(SPACE, optimizer={"name": "adam"})  # no learning rate: Adam's generic 1e-3 is not used
    trainwise.tune(recipe, trials=1, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["learning_rate_from"] == "lr_find"
    # the range test trains what the trial will: the recipe's [16] is no choice, so the drawn hidden size, and
    # the trial's smoothed labels
    hidden = json.loads(trial.params["model.hidden"])
    point = {
        "optimizer": {"name": "adam"},
        "model": {"name": "mlp", "hidden": hidden, "dropout": 0.1},
        "regularization": {"label_smoothing": 0.1},
    }
    plain = {k: v for k, v in recipe.items() if k != "search"} | point
    found = trainwise.lr_find(plain, start_lr=SWEEP_FROM, end_lr=SWEEP_TO, steps=SWEEP_STEPS)
    assert trial.params["optimizer.learning_rate"] == pytest.approx(found.suggestion)
    assert trial.params["optimizer.learning_rate"] != pytest.approx(1e-3)
    # so the test above can tell them apart: the recipe's hidden size, or hard labels, suggest other rates
    for other in ({"model": point["model"] | {"hidden": [16]}}, {"regularization": {}}):
        on_other = trainwise.lr_find(plain | other, start_lr=SWEEP_FROM, end_lr=SWEEP_TO, steps=SWEEP_STEPS)
        assert on_other.suggestion != pytest.approx(found.suggestion)


def test_the_same_seed_queues_the_same_first_trial(storage_url: str, tmp_path: Path) -> None:
    recipe = digits(SPACE, optimizer={"name": "adam"})
    trainwise.tune(recipe, trials=1, seed=3)
    again = f"sqlite:///{tmp_path / 'again.db'}"
    trainwise.tune(recipe, trials=1, seed=3, storage=again)
    assert first(storage_url).params == first(again).params  # hidden drawn alike, so the same range test


def history(trial: optuna.trial.FrozenTrial) -> list[dict[str, Any]]:
    lines = (Path(trial.user_attrs["run_dir"]) / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


MEASURED = {"schedule.name": "cosine", "regularization.label_smoothing": 0.1}  # how a measured rate is trained


def test_a_measured_learning_rate_is_annealed_to_zero_with_smoothed_labels_and_the_other_trials_keep_the_recipe(
    storage_url: str,
) -> None:
    trainwise.tune(digits(SPACE, optimizer={"name": "adam"}), trials=3, seed=3)
    trials = sorted(optuna.load_study(study_name="digits", storage=storage_url).trials, key=lambda t: t.number)
    head, rest = trials[0], trials[1:]
    assert head.user_attrs["recipe_changes"] == MEASURED
    assert head.user_attrs["recipe"]["schedule"]["name"] == "cosine"  # what --export writes and fit retrains
    assert head.user_attrs["recipe"]["regularization"]["label_smoothing"] == 0.1
    rate = head.params["optimizer.learning_rate"]
    epochs = history(head)
    assert epochs[0]["lr"] == pytest.approx(rate / 2, rel=0.05)  # half-way down the cosine after epoch 1 of 2
    assert epochs[-1]["lr"] < rate / 100
    for trial in rest:
        assert "recipe_changes" not in trial.user_attrs
        assert trial.user_attrs["recipe"]["schedule"]["name"] == "none"
        assert trial.user_attrs["recipe"]["regularization"]["label_smoothing"] == 0
        assert history(trial)[-1]["lr"] == pytest.approx(trial.params["optimizer.learning_rate"])


def test_a_schedule_the_recipe_names_is_kept_with_a_measured_learning_rate(storage_url: str) -> None:
    recipe = digits(SPACE, optimizer={"name": "adam"}, schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    trainwise.tune(recipe, trials=1, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["learning_rate_from"] == "lr_find"
    assert trial.user_attrs["recipe_changes"] == {"regularization.label_smoothing": 0.1}  # open still
    assert trial.user_attrs["recipe"]["schedule"]["name"] == "step"


@pytest.mark.parametrize(
    ("settings", "search", "kept"),
    [
        # any schedule key the recipe sets names its schedule; smoothing is a key of its own, kept open by others
        ({"schedule": {"warmup_epochs": 1}}, {}, {"regularization.label_smoothing": 0.1}),
        ({"regularization": {"weight_decay": 0.01}}, {}, MEASURED),
        ({"regularization": {"label_smoothing": 0.0}}, {}, {"schedule.name": "cosine"}),
        ({}, {"regularization.label_smoothing": {"low": 0.0, "high": 0.2}}, {"schedule.name": "cosine"}),
        ({}, {"schedule.name": {"choices": ["none", "cosine"]}}, {"regularization.label_smoothing": 0.1}),
        # a smoothed loss is not comparable with the other trials' losses
        ({}, {"metric": "val_loss"}, {"schedule.name": "cosine"}),
        ({}, {"objectives": ["val_accuracy", "params"]}, MEASURED),
    ],
)
def test_the_recipe_or_the_search_keeps_its_word_on_how_a_measured_rate_is_trained(
    storage_url: str, settings: dict[str, Any], search: dict[str, Any], kept: dict[str, Any]
) -> None:
    trainwise.tune(digits(SPACE | search, optimizer={"name": "adam"}, **settings), trials=1, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["learning_rate_from"] == "lr_find"
    assert trial.user_attrs["recipe_changes"] == kept
    recipe = trial.user_attrs["recipe"]
    assert recipe["schedule"]["name"] == ("cosine" if "schedule.name" in kept else "none")
    if "regularization.label_smoothing" in kept:
        assert recipe["regularization"]["label_smoothing"] == 0.1


def test_without_a_learning_rate_anywhere_the_first_trial_is_still_measured_and_annealed(storage_url: str) -> None:
    space = {k: v for k, v in SPACE.items() if k != "optimizer.learning_rate"}  # tune finds the range itself
    trainwise.tune(digits(space, optimizer={"name": "adam"}), trials=1, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["learning_rate_from"] == "lr_find"
    assert trial.user_attrs["recipe_changes"] == MEASURED


def test_a_warm_start_from_an_annealed_first_trial_replays_it_annealed_unless_the_recipe_names_a_schedule(
    storage_url: str,
) -> None:
    def opening(study: str) -> optuna.trial.FrozenTrial:
        trials = optuna.load_study(study_name=study, storage=storage_url).trials
        return min(trials, key=lambda t: t.number)

    recipe = digits(SPACE, optimizer={"name": "adam"})
    trainwise.tune(recipe, trials=1, seed=3, study="first")  # one trial: the annealed recipe trial is the best
    trainwise.tune(recipe, trials=1, seed=3, study="second")
    replay = opening("second")
    assert replay.user_attrs["warm_start_from"] == "first#0"
    assert replay.params == opening("first").params
    assert replay.user_attrs["recipe_changes"] == MEASURED
    assert replay.user_attrs["recipe"]["schedule"]["name"] == "cosine"  # trained as the trial it replays
    step = {"name": "step", "step_size": 1, "gamma": 0.5}
    trainwise.tune(digits(SPACE, optimizer={"name": "adam"}, schedule=step), trials=1, seed=3, study="third")
    named = opening("third")
    assert named.user_attrs["warm_start_from"].startswith(("first#", "second#"))
    assert named.user_attrs["recipe_changes"] == {"regularization.label_smoothing": 0.1}  # what it leaves open
    assert named.user_attrs["recipe"]["schedule"]["name"] == "step"  # the recipe's word wins


def test_a_warm_start_whose_learning_rate_falls_outside_the_space_is_not_annealed(storage_url: str) -> None:
    trainwise.tune(digits(SPACE, optimizer={"name": "adam"}), trials=1, seed=3, study="first")
    narrow = {**SPACE, "optimizer.learning_rate": {"low": 1e-5, "high": 2e-5, "log": True}}
    trainwise.tune(digits(narrow, optimizer={"name": "adam"}), trials=1, seed=3, study="second")
    trials = optuna.load_study(study_name="second", storage=storage_url).trials
    replay = min(trials, key=lambda t: t.number)
    assert replay.user_attrs["warm_start_from"] == "first#0"
    assert replay.params["optimizer.learning_rate"] <= 2e-5  # the first study's measured rate is not in this space
    assert "recipe_changes" not in replay.user_attrs  # so the replay is another trial: no cosine carried over


def test_the_measured_learning_rate_stays_inside_the_searched_range(storage_url: str) -> None:
    space = {**SPACE, "optimizer.learning_rate": {"low": 1e-5, "high": 2e-4, "log": True}}
    trainwise.tune(digits(space, optimizer={"name": "adam"}), trials=1, seed=3)
    trial = first(storage_url)
    assert trial.user_attrs["learning_rate_from"] == "lr_find"
    assert trial.params["optimizer.learning_rate"] == pytest.approx(2e-4)  # the test's ~1e-2 is clipped to high


def test_a_learning_rate_the_recipe_sets_is_kept(storage_url: str) -> None:
    trainwise.tune(digits(SPACE), trials=1, seed=3)  # the recipe says 0.003
    trial = first(storage_url)
    assert "learning_rate_from" not in trial.user_attrs
    assert trial.params["optimizer.learning_rate"] == pytest.approx(0.003)


def test_start_from_recipe_must_be_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"search\.start_from_recipe.*true or false"):
        trainwise.tune(digits({**SPACE, "start_from_recipe": "yes"}), trials=1)


class Loop(SimpleNamespace):
    """The part of a fit loop a TrialReporter reads: the epoch's logs and the stop flags."""


def epoch_end(reporter: TrialReporter, epoch: int, value: float) -> Loop:
    loop = Loop(
        state=SimpleNamespace(logs={"epoch": epoch, "val_accuracy": value}, stop=False, stopped_reason=None),
        epochs=9,
    )
    reporter.on_epoch_end(loop)  # type: ignore[arg-type]
    return loop


def test_values_reach_the_study_before_each_pruning_decision_and_at_the_end() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reporter = TrialReporter(trial, "val_accuracy", decide_at={1, 3})

    def written() -> list[int]:
        return sorted(study.trials[0].intermediate_values)

    epoch_end(reporter, 1, 0.5)
    assert written() == [1]  # epoch 1 is a decision epoch: written before the pruner is asked
    epoch_end(reporter, 2, 0.6)
    assert written() == [1]  # held back: no decision at epoch 2
    epoch_end(reporter, 3, 0.7)
    assert written() == [1, 2, 3]
    epoch_end(reporter, 4, 0.8)
    reporter.on_fit_end(None)  # type: ignore[arg-type]
    assert study.trials[0].intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}
