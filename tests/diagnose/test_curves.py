"""Diagnosis rules on constructed histories: each kind is found, a healthy run gets nothing, and remedies
come from the run's own recipe."""

from __future__ import annotations

import math
from typing import Any

import pytest

import trainwise
from trainwise.config import build_recipe
from trainwise.diagnose.curves import diagnose_history
from trainwise.diagnose.facts import RunFacts
from trainwise.diagnose.remedies import fmt

CHANCE = math.log(10)


def history(train: list[float | None], val: list[float | None] | None = None, **series: list[Any]) -> list[dict]:
    """Epoch dicts as in history.jsonl: train/val loss, plus any other key given as a list (lr, val_accuracy...)."""
    entries = []
    for i, loss in enumerate(train):
        entry: dict[str, Any] = {"epoch": i + 1, "train_loss": loss, "lr": 1e-3}
        if val is not None:
            entry["val_loss"] = val[i]
        for key, values in series.items():
            entry[key] = values[i]
        entries.append(entry)
    return entries


def kinds(entries: list[dict], **facts: Any) -> list[str]:
    return [f.kind for f in diagnose_history(entries, RunFacts(**facts))]


def recipe(**raw: Any) -> trainwise.Recipe:
    return build_recipe(raw)


HEALTHY = history(
    [1.2, 0.55, 0.38, 0.30, 0.25, 0.21],
    [0.70, 0.45, 0.36, 0.31, 0.29, 0.28],
    train_accuracy=[0.70, 0.85, 0.89, 0.91, 0.93, 0.94],
    val_accuracy=[0.80, 0.87, 0.89, 0.90, 0.91, 0.915],
)


def test_a_healthy_run_gets_no_finding() -> None:
    assert diagnose_history(HEALTHY, RunFacts(recipe(), num_classes=10, train_size=5400, val_size=600)) == []


def test_nan_loss_is_divergence_with_a_tenth_of_the_learning_rate() -> None:
    entries = history([1.0, 0.8, None], [0.9, 0.7, None], lr=[0.3, 0.3, 0.3])
    [finding] = [f for f in diagnose_history(entries, RunFacts(recipe(), num_classes=10)) if f.kind == "divergence"]
    assert finding.severity == "critical" and finding.epochs == [3]
    assert "--set optimizer.learning_rate=0.03  # a tenth of the learning rate that blew up" in finding.remedies
    assert any(r.startswith("--set regularization.grad_clip=") for r in finding.remedies)


def test_a_finite_loss_far_above_chance_is_divergence_and_hides_oscillation_and_plateau() -> None:
    entries = history([40.0, 3.4, 2.34, 2.36, 2.33, 2.35, 2.34], [2.4] * 7)
    found = diagnose_history(entries, RunFacts(recipe(), num_classes=10))
    assert [f.kind for f in found] == ["divergence", "underfitting"]
    assert "40" in found[0].evidence and "uniform guess" in found[0].evidence
    assert found[1].remedies[0].startswith("--set optimizer.learning_rate=1e-4")  # lower, not higher: it blew up


def test_a_loss_that_blows_up_later_is_divergence_without_knowing_chance() -> None:
    entries = history([1.0, 0.5, 0.4, 5.0], [1.0, 0.6, 0.5, 4.0])
    assert "divergence" in kinds(entries)  # a regression run: no chance level, the rise alone tells


def test_overfitting_names_the_best_epoch_and_regularizes_the_recipe() -> None:
    entries = history([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [0.9, 0.6, 0.5, 0.55, 0.62, 0.70])
    [finding] = diagnose_history(entries, RunFacts(recipe(model={"dropout": 0.0}), num_classes=10))
    assert finding.kind == "overfitting" and finding.epochs == [3, 6]
    assert "0.5 (epoch 3)" in finding.evidence and "0.7 (epoch 6)" in finding.evidence
    assert "--set model.dropout=0.3  # randomly silence hidden units while training" in finding.remedies
    assert any(r.startswith("--set regularization.l2=1e-4") for r in finding.remedies)
    assert any(r.startswith("--set epochs=3") for r in finding.remedies)


def test_overfitting_remedies_respect_the_recipe_and_a_user_model() -> None:
    entries = history([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [0.9, 0.6, 0.5, 0.55, 0.62, 0.70])
    tuned = recipe(model={"dropout": 0.3}, regularization={"l2": 1e-3}, early_stopping={"patience": 2})
    [finding] = diagnose_history(entries, RunFacts(tuned, num_classes=10))
    assert any(r.startswith("--set model.dropout=0.5") for r in finding.remedies)
    assert any(r.startswith("--set regularization.l2=0.01") for r in finding.remedies)
    assert not any("early_stopping" in r for r in finding.remedies)
    [user] = diagnose_history(entries, RunFacts(tuned, num_classes=10, builtin_model=False))
    assert not any("model." in r for r in user.remedies)  # a user's nn.Module has no [model] keys


def test_a_large_accuracy_gap_is_overfitting() -> None:
    entries = history(
        [0.8, 0.4, 0.2, 0.1], [0.8, 0.6, 0.55, 0.54], train_accuracy=[0.8, 0.9, 0.97, 0.99], val_accuracy=[0.7] * 4
    )
    [finding] = diagnose_history(entries, RunFacts(num_classes=10))
    assert finding.kind == "overfitting" and "gap" in finding.title


def test_training_loss_near_chance_is_underfitting() -> None:
    entries = history([2.31, 2.0, 1.7, 1.5, 1.3, 1.2])  # falls, but stays above half of log(10)
    [finding] = diagnose_history(entries, RunFacts(recipe(), num_classes=10))
    assert finding.kind == "underfitting" and finding.severity == "warning"
    assert any("epochs=" in r for r in finding.remedies)  # still falling: train longer
    assert any("model.hidden=[128,128]" in r for r in finding.remedies)
    assert kinds(entries) == []  # without the class count there is no chance level to compare with


def test_a_loss_that_never_moves_is_a_plateau_and_raises_the_learning_rate() -> None:
    entries = history([2.303, 2.302, 2.302, 2.301], lr=[1e-6] * 4)
    found = diagnose_history(entries, RunFacts(recipe(optimizer={"learning_rate": 1e-6}), num_classes=10))
    assert [f.kind for f in found] == ["underfitting", "plateau"]
    assert found[1].remedies[0].startswith("--set optimizer.learning_rate=1e-5")
    assert found[0].remedies[0].startswith("--set optimizer.learning_rate=1e-5")


def test_a_stall_after_progress_is_a_plateau_unless_converged() -> None:
    entries = history([2.0, 1.2, 0.9, 0.80, 0.799, 0.798, 0.797], [1.5, 1.1, 0.95, 0.9, 0.9, 0.9, 0.9])
    found = diagnose_history(entries, RunFacts(recipe(), num_classes=10))
    assert [f.kind for f in found] == ["plateau"] and found[0].epochs == [4, 7]
    assert "--set schedule.name=plateau  # cut the learning rate when progress stalls" in found[0].remedies
    done = history([2.0, 0.5, 0.05, 0.01, 0.0099, 0.0098, 0.0098], [1.5, 0.5, 0.1, 0.08, 0.08, 0.08, 0.08])
    assert kinds(done, recipe=recipe(), num_classes=10) == []


def test_an_oscillating_loss_points_at_the_learning_rate() -> None:
    entries = history([1.0, 0.6, 0.8, 0.5, 0.7, 0.45, 0.65], [0.9, 0.7, 0.8, 0.6, 0.75, 0.6, 0.7], lr=[0.1] * 7)
    [finding] = diagnose_history(entries, RunFacts(recipe(batch_size=32), num_classes=10))
    assert finding.kind == "oscillation" and finding.epochs == [3, 5, 7]
    assert finding.remedies[0].startswith("--set optimizer.learning_rate=0.0333")
    assert "--set batch_size=64  # larger batches: less noisy steps" in finding.remedies


def test_a_small_validation_set_is_noisy_and_the_remedy_sizes_it() -> None:
    entries = [dict(e) for e in HEALTHY]
    facts = RunFacts(recipe(data={"name": "digits", "validation_split": 0.1}), 10, train_size=1617, val_size=180)
    for entry in entries:
        entry["val_accuracy"] = 0.85
    [finding] = diagnose_history(entries, facts)
    se = math.sqrt(0.85 * 0.15 / 180)
    assert finding.kind == "noisy_validation" and finding.numbers["standard_error"] == pytest.approx(se)
    assert f"{se:.3f}" in finding.evidence
    assert finding.remedies[0].startswith("--set data.validation_split=0.30")
    assert diagnose_history(entries, RunFacts(facts.recipe, 10, train_size=1617, val_size=5000)) == []


def test_findings_are_sorted_by_severity_and_serialize() -> None:
    entries = history([40.0, 3.4, 2.34, 2.33], [2.4] * 4, val_accuracy=[0.1] * 4)
    found = diagnose_history(entries, RunFacts(recipe(), num_classes=10, val_size=50))
    assert [f.severity for f in found] == sorted((f.severity for f in found), key=["critical", "warning", "info"].index)
    assert set(found[0].to_dict()) == {"kind", "severity", "title", "evidence", "remedies", "epochs", "numbers"}


@pytest.mark.parametrize(("value", "text"), [(3e-4, "3e-4"), (0.05, "0.05"), (1.5e-6, "1.5e-6"), (1200.0, "1200")])
def test_numbers_in_remedies_are_pasteable(value: float, text: str) -> None:
    assert fmt(value) == text
    assert float(text) == pytest.approx(value)


def test_diagnose_accepts_a_history_list() -> None:
    assert trainwise.diagnose(HEALTHY, num_classes=10) == []
    assert [f.kind for f in trainwise.diagnose(history([1.0, None]))] == ["divergence"]


def test_a_loss_near_chance_with_accuracy_well_above_chance_is_barely_learning() -> None:
    entries = history([2.30, 2.29, 2.28, 2.27], train_accuracy=[0.12, 0.18, 0.24, 0.29])
    [finding, *_] = diagnose_history(entries, RunFacts(recipe(), num_classes=10))
    assert finding.kind == "underfitting" and finding.severity == "warning"
    assert finding.title.startswith("barely learning") and "train_accuracy 0.290" in finding.evidence
    flat = history([2.30, 2.29, 2.28, 2.27], train_accuracy=[0.1, 0.11, 0.1, 0.12])
    assert diagnose_history(flat, RunFacts(recipe(), num_classes=10))[0].severity == "critical"
