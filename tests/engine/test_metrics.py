"""Streaming metrics: accumulated over uneven batches they equal scikit-learn on the whole set."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from trainwise.engine.direction import higher_is_better
from trainwise.engine.metrics import METRICS, Metric, build_metric
from trainwise.errors import ConfigError

CUTS = [0, 1, 8, 30, 31, 77, 100]  # uneven batches, one of a single sample


def classification(n: int = 100, classes: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits (no ties) and labels that agree with the argmax about half the time."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=gen)
    labels = torch.where(torch.rand(n, generator=gen) < 0.5, logits.argmax(1), torch.randint(0, classes, (n,)))
    return logits, labels


def streamed(metric: Metric, outputs: torch.Tensor, targets: torch.Tensor) -> float:
    for begin, end in itertools.pairwise(CUTS):
        metric.update(outputs[begin:end], targets[begin:end])
    return metric.compute()


def test_registry_names_match_metric_names() -> None:
    assert set(METRICS) == {"accuracy", "macro_f1", "mse", "rmse", "mae"}
    for name in METRICS:
        assert build_metric(name).name == name
    assert build_metric("top3_accuracy").name == "top3_accuracy"


def test_accuracy_equals_sklearn() -> None:
    logits, labels = classification()
    expected = sk.accuracy_score(labels.numpy(), logits.argmax(1).numpy())
    assert streamed(build_metric("accuracy"), logits, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_equals_sklearn(k: int) -> None:
    logits, labels = classification(seed=k)
    expected = sk.top_k_accuracy_score(labels.numpy(), logits.numpy(), k=k, labels=np.arange(5))
    assert streamed(build_metric(f"top{k}_accuracy"), logits, labels) == pytest.approx(expected, abs=1e-12)


def test_top_k_beyond_the_class_count_is_always_right() -> None:
    logits, labels = classification(classes=3)
    assert streamed(build_metric("top5_accuracy"), logits, labels) == 1.0


def test_macro_f1_equals_sklearn() -> None:
    logits, labels = classification(classes=6, seed=4)
    expected = sk.f1_score(labels.numpy(), logits.argmax(1).numpy(), average="macro")
    assert streamed(build_metric("macro_f1"), logits, labels) == pytest.approx(expected, abs=1e-12)


def test_macro_f1_skips_classes_that_never_occur() -> None:
    """Classes absent from labels and predictions do not count as F1 = 0 (as in scikit-learn)."""
    logits, labels = classification(classes=3, seed=2)
    padded = torch.cat([logits, torch.full((len(logits), 4), -100.0)], dim=1)  # 4 more classes, never predicted
    expected = sk.f1_score(labels.numpy(), logits.argmax(1).numpy(), average="macro")
    assert streamed(build_metric("macro_f1"), padded, labels) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", [(100,), (100, 1)], ids=["flat", "column"])
def test_binary_metrics_threshold_a_single_logit_at_zero(shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(shape, generator=gen)
    labels = torch.randint(0, 2, (100,), generator=gen).float()
    predicted = (logits.reshape(-1) > 0).long().numpy()
    assert streamed(build_metric("accuracy"), logits, labels) == pytest.approx(
        sk.accuracy_score(labels.numpy(), predicted), abs=1e-12
    )
    assert streamed(build_metric("macro_f1"), logits, labels) == pytest.approx(
        sk.f1_score(labels.numpy(), predicted, average="macro"), abs=1e-12
    )


REGRESSION: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "mse": sk.mean_squared_error,
    "rmse": sk.root_mean_squared_error,
    "mae": sk.mean_absolute_error,
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
@pytest.mark.parametrize("shape", [(100,), (100, 3)], ids=["single", "multi_output"])
def test_regression_metrics_equal_sklearn(name: str, shape: tuple[int, ...]) -> None:
    """Errors pool over every target element (for several outputs: not sklearn's mean of per-output RMSEs)."""
    gen = torch.Generator().manual_seed(3)
    targets = torch.randn(shape, generator=gen) * 4
    outputs = targets + torch.randn(shape, generator=gen)
    expected = REGRESSION[name](targets.numpy().reshape(-1), outputs.numpy().reshape(-1))
    assert streamed(build_metric(name), outputs, targets) == pytest.approx(expected, rel=1e-6)


def test_regression_outputs_of_shape_n_by_1_match_flat_targets() -> None:
    targets = torch.linspace(-1, 1, 100)
    outputs = (targets + 0.5).reshape(-1, 1)
    assert streamed(build_metric("mae"), outputs, targets) == pytest.approx(0.5, rel=1e-6)


ALL = ["accuracy", "top2_accuracy", "macro_f1", "mse", "rmse", "mae"]


def data_for(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name in REGRESSION:
        gen = torch.Generator().manual_seed(5)
        targets = torch.randn(100, generator=gen)
        return targets + torch.randn(100, generator=gen), targets
    return classification(seed=5)


@pytest.mark.parametrize("name", ALL)
def test_state_round_trip_continues_exactly(name: str) -> None:
    """A metric restored from `state()` mid-stream ends where the uninterrupted one does."""
    outputs, targets = data_for(name)
    whole = build_metric(name)
    first = build_metric(name)
    first.update(outputs[:37], targets[:37])
    resumed = build_metric(name)
    resumed.load_state({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in first.state().items()})
    resumed.update(outputs[37:], targets[37:])
    whole.update(outputs, targets)
    assert resumed.compute() == pytest.approx(whole.compute(), rel=1e-6)  # float32 sums, in another order
    assert resumed.name == name


@pytest.mark.parametrize("name", ALL)
def test_reset_forgets_and_empty_is_nan(name: str) -> None:
    outputs, targets = data_for(name)
    metric = build_metric(name)
    assert math.isnan(metric.compute())
    metric.update(outputs, targets)
    before = metric.compute()
    metric.reset()
    assert math.isnan(metric.compute())
    metric.update(outputs, targets)
    assert metric.compute() == before


@pytest.mark.parametrize("name", ["acuracy", "top0_accuracy", "f1", "rmsee"])
def test_unknown_metric_lists_the_choices(name: str) -> None:
    with pytest.raises(ConfigError, match="expected one of") as caught:
        build_metric(name)
    assert caught.value.key == "metrics"


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'accuracy'"):
        build_metric("acuracy")


@pytest.mark.parametrize(
    ("name", "upward"),
    [
        ("val_accuracy", True),
        ("train_top5_accuracy", True),
        ("val_macro_f1", True),
        ("val_loss", False),
        ("train_rmse", False),
        ("mae", False),
        ("lr", False),
        ("val_ndcg@10", True),
        ("test_hr@10", True),
        ("recall@20", True),
        ("val_recall", False),  # not a metric trainwise logs: read from the name, not guessed
    ],
)
def test_direction_of_improvement(name: str, upward: bool) -> None:
    assert higher_is_better(name) is upward
