"""compare: each variant over seeds on one split, mean and t-interval, time to target, files on request."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch

import trainwise
from trainwise.tune.compare import compare, mean_ci

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


def recipe(**settings: object) -> dict[str, object]:
    return {"task": "tabular", "epochs": 2, "batch_size": 32, "model": {"hidden": [8]}, "threads": 1, **settings}


def test_mean_ci_is_the_t_interval() -> None:
    values = [0.8, 0.82, 0.79, 0.81, 0.83]
    mean, half = mean_ci(values)
    assert mean == pytest.approx(statistics.fmean(values))
    assert half == pytest.approx(2.7764451 * statistics.stdev(values) / math.sqrt(5), rel=1e-6)
    assert math.isnan(mean_ci([0.5])[1])


def test_optimizers_each_get_their_own_learning_rate(tmp_path: Path, blobs: Splits) -> None:
    result = compare(
        recipe(), optimizers=["sgd", "adam"], seeds=2, train=blobs["train"], val=blobs["val"], out=tmp_path / "c"
    )
    rows = {row["label"]: row for row in result.to_dict()["variants"]}
    assert set(rows) == {"sgd", "adam"}
    assert all(row["lr_source"].startswith("lr-find") for row in rows.values())
    assert rows["sgd"]["learning_rate"] != rows["adam"]["learning_rate"]
    for row in rows.values():
        assert len(row["scores"]) == 2 and all(0 <= s <= 1 for s in row["scores"])
        assert len(row["runs"]) == 2 and all(Path(r).is_dir() for r in row["runs"])
    saved = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert saved["summary"]["varied"] == "optimizer.name" and saved["summary"]["best"] in rows
    assert (tmp_path / "c" / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_vary_any_key_keeps_the_learning_rate_and_the_seeds(blobs: Splits) -> None:
    result = trainwise.compare(
        recipe(optimizer={"learning_rate": 0.01}),
        vary="model.hidden=[4],[16]",
        seeds=2,
        train=blobs["train"],
        val=blobs["val"],
    )
    assert [v.label for v in result.variants] == ["[4]", "[16]"]
    assert [v.recipe.model.hidden for v in result.variants] == [[4], [16]]
    assert {v.recipe.optimizer.learning_rate for v in result.variants} == {0.01}
    assert [t.seed for t in result.variants[0].trials] == [0, 1]
    assert result.out is None


def test_time_to_target_and_budget(blobs: Splits) -> None:
    result = compare(
        recipe(epochs=50),
        vary="regularization.l2=0,0.01",
        seeds=2,
        budget=0.3,
        target=0.0,
        train=blobs["train"],
        val=blobs["val"],
    )
    for variant in result.variants:
        assert all(t.stopped == "budget" for t in variant.trials)
        assert all(len(t.history) >= 1 for t in variant.trials)  # a budget replaces the epoch count: no cap here
        stats = result.stats(variant)
        assert stats["reached_target"] == 2  # accuracy >= 0 is reached at the first epoch


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizers": ["sgd", "adamm"]}, "adamm"),
        ({"vary": "regularization.l3=0,1"}, "l3"),
        ({"vary": "regularization.l2=0"}, "two or more"),
        ({"optimizers": ["sgd", "adam"], "seeds": 1}, "2 seeds"),
        ({}, "exactly one"),
        ({"optimizers": ["sgd", "adam"], "lr": "grid"}, "lr-grid"),
    ],
)
def test_bad_requests_are_config_errors(kwargs: dict[str, object], match: str, blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match=match):
        compare(recipe(), train=blobs["train"], val=blobs["val"], **kwargs)  # type: ignore[arg-type]


def test_no_validation_set_is_refused(blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match="validation"):
        compare(recipe(data={"validation_split": 0.0}), vary="regularization.l2=0,1", train=blobs["train"])


def test_lr_keep_keeps_the_configured_learning_rate_for_every_optimizer(blobs: Splits) -> None:
    result = compare(
        recipe(epochs=1, optimizer={"name": "adam", "learning_rate": 0.02, "betas": [0.5, 0.9]}),
        optimizers=["sgd", "adam"],
        lr="keep",
        seeds=2,
        train=blobs["train"],
        val=blobs["val"],
    )
    assert [v.recipe.optimizer.learning_rate for v in result.variants] == [0.02, 0.02]
    assert result.variants[1].recipe.optimizer.betas == (0.9, 0.999)  # adam's own defaults, not the recipe's
    assert {v.lr_source for v in result.variants} == {"as configured"}


def test_a_trial_stopped_mid_epoch_is_scored_on_its_averaged_weights(tmp_path: Path, blobs: Splits) -> None:
    """With an EMA this slow, the averaged weights stay where they began: every sample goes to class 0."""
    from trainwise.config import build_recipe
    from trainwise.tasks import TaskData
    from trainwise.tune.trials import run_trial

    start = torch.nn.Linear(8, 3)
    with torch.no_grad():
        start.weight.zero_()
        start.bias.copy_(torch.tensor([50.0, 0.0, 0.0]))
    splits = TaskData("blobs", blobs["train"], blobs["val"], None, (8,), num_classes=3)
    val_y = blobs["val"][1]
    share_of_class_0 = float((val_y == 0).float().mean())
    scores = {}
    for decay in (None, 0.99999):
        settings = recipe(epochs=50, optimizer={"learning_rate": 0.1}, ema_decay=decay)
        out = tmp_path / str(decay)
        trial = run_trial(build_recipe(settings), splits, label="x", seed=0, out=out, budget=1.0, model=start)
        assert trial.stopped == "budget"
        scores[decay] = trial.score
    assert scores[0.99999] == pytest.approx(share_of_class_0)
    assert scores[None] > share_of_class_0 + 0.2  # the raw weights did learn: the two scores are of different models


def test_summary_lines_never_read_nan() -> None:
    """One seed reaching the target gives a mean without an interval; none gives no mean at all."""
    from trainwise.tune.compare import mean_ci, plus_minus

    assert plus_minus(*mean_ci([0.1, 0.3]), 2).startswith("0.20 ± ")
    assert plus_minus(*mean_ci([0.1, math.nan]), 2) == "0.10"
    assert plus_minus(*mean_ci([math.nan, math.nan]), 2) == "-"
