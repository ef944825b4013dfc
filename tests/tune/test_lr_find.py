"""The LR range test: a ramp on its own copy of the model, a readable curve, a suggestion, and files on request."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import trainwise
from trainwise.tune.lr_find import RULES, lr_find, suggest_all

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


def blobs_recipe(**settings: object) -> dict[str, object]:
    return {"task": "tabular", "batch_size": 16, "model": {"hidden": [16]}, "threads": 1, **settings}


def test_the_ramp_is_exponential_and_stops_when_the_loss_blows_up(blobs: Splits) -> None:
    result = lr_find(blobs_recipe(), train=blobs["train"], val=blobs["val"], optimizer="momentum", steps=80)
    lrs = np.array(result.lrs)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, (10.0 / 1e-7) ** (1 / 79))
    assert lrs[0] == pytest.approx(1e-7)
    assert result.stopped == "blow-up"  # SGD with momentum 0.9 cannot survive lr ~ 10
    assert len(result.lrs) < 80
    assert len(result.losses) == len(result.raw_losses) == len(result.lrs)
    assert result.start_lr < result.suggestion < result.lrs[-1]


def test_smoothing_is_bias_corrected(blobs: Splits) -> None:
    result = lr_find(blobs_recipe(), train=blobs["train"], smoothing=0.9, steps=20, end_lr=1e-6)
    raw = result.raw_losses
    assert result.losses[0] == pytest.approx(raw[0])  # no pull towards zero at the start
    expected = (0.9 * 0.1 * raw[0] + 0.1 * raw[1]) / (1 - 0.9**2)
    assert result.losses[1] == pytest.approx(expected)
    assert result.stopped == "end" and len(result.lrs) == 20


def test_suggestion_lies_where_the_loss_falls(blobs: Splits) -> None:
    result = lr_find(blobs_recipe(), train=blobs["train"], optimizer="adam", steps=100)
    at = int(np.argmin(np.abs(np.log(np.array(result.lrs)) - math.log(result.suggestion))))
    best = int(np.argmin(result.losses))
    assert at <= best  # before the minimum, never in the blow-up
    assert result.losses[at] < result.losses[0]  # at a learning rate that already trains
    assert result.rule.startswith("min/10")


def test_rules_on_a_constructed_curve() -> None:
    """A loss flat until 1e-4, falling until 1e-1, blowing up after: every rule lands in the falling part."""
    lrs = list(np.logspace(-7, 1, 100))
    log = np.log10(lrs)
    losses = list(np.where(log < -4, 2.0, np.where(log < -1, 2.0 - 0.6 * (log + 4), 0.2 + 5 * (log + 1) ** 2)))
    rules = suggest_all(lrs, losses)
    assert set(rules) == set(RULES)
    for name, value in rules.items():
        assert 1e-5 <= value <= 1e-1, name
    assert rules["min/10"] == pytest.approx(lrs[int(np.argmin(losses))] / 10)


def test_the_user_model_and_its_state_are_not_touched(blobs: Splits) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.123)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_find(model=model, train=blobs["train"], steps=30, threads=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert optimizer.param_groups[0]["lr"] == 0.123
    assert model.training
    assert len(result.lrs) > 10


def test_out_writes_json_and_png_and_none_writes_nothing(
    tmp_path: Path, blobs: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lr_find(blobs_recipe(), train=blobs["train"], steps=30)
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.name == "trainwise.db"]
    result = trainwise.lr_find(blobs_recipe(), train=blobs["train"], steps=30, out=tmp_path / "lr")
    saved = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert saved["suggestion"] == result.suggestion
    assert saved["summary"]["suggested_learning_rate"] == result.suggestion
    assert all(isinstance(v, (str, int, float)) for v in saved["summary"].values())
    assert saved["lrs"] == result.lrs
    png = (tmp_path / "lr" / "lr_find.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_bad_settings_are_config_errors(blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match="start_lr"):
        lr_find(blobs_recipe(), train=blobs["train"], start_lr=1.0, end_lr=0.1)
    with pytest.raises(trainwise.ConfigError, match="rule"):
        lr_find(blobs_recipe(), train=blobs["train"], rule="magic")
    with pytest.raises(trainwise.ConfigError, match="optimizer"):
        lr_find(blobs_recipe(), train=blobs["train"], optimizer="sdg")


def test_a_loss_that_blows_up_at_once_is_an_error(blobs: Splits) -> None:
    with pytest.raises(trainwise.RunError, match="start_lr"):
        lr_find(
            blobs_recipe(),
            train=(blobs["train"][0] * 1e4, blobs["train"][1]),
            optimizer="sgd",
            start_lr=10.0,
            end_lr=1e4,
        )


def test_works_on_a_builtin_image_config() -> None:
    result = lr_find("examples/digits.toml", steps=40, threads=1)
    assert result.recipe.data.name == "digits"
    assert len(result.lrs) >= 10 and result.suggestion > 0


# --- the recipe's training features: the range test trains the way `fit` would ------------------------------


def image_splits() -> tuple[torch.Tensor, torch.Tensor]:
    """256 tiny (1, 8, 8) images in 3 classes: a bright top half, a bright left half, or neither."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(256) % 3
    x = torch.rand(256, 1, 8, 8, generator=g) * 0.3
    x[y == 0, :, :4] += 0.7
    x[y == 1, :, :, :4] += 0.7
    return x, y


def image_recipe(**settings: object) -> dict[str, object]:
    base = {"task": "image", "model": {"hidden": [16]}, "threads": 1, "optimizer": {"name": "sgd"}}
    return {**base, "data": {"validation_split": 0.0}, **settings}  # 256 samples: 4 batches of 64


def test_accumulated_steps_give_the_big_batch_curve() -> None:
    """Batches of 32 accumulated 2 at a time are steps over 64 samples: the same curve as batches of 64."""
    train = image_splits()
    big = lr_find(image_recipe(batch_size=64), train=train, steps=20, end_lr=1.0)
    accumulated = lr_find(image_recipe(batch_size=32, accumulate_steps=2), train=train, steps=20, end_lr=1.0)
    assert accumulated.lrs == pytest.approx(big.lrs)
    assert accumulated.raw_losses == pytest.approx(big.raw_losses, rel=1e-5)
    small = lr_find(image_recipe(batch_size=32), train=train, steps=20, end_lr=1.0)
    assert small.raw_losses != pytest.approx(big.raw_losses, rel=1e-3)  # without accumulation: other steps


def test_augmentation_and_bf16_shape_the_range_test() -> None:
    """Mixup batches and bf16 autocast are trained on (their losses differ from the plain run's), and the test
    still finds a falling stretch and a suggestion inside the ramp."""
    train = image_splits()
    plain = lr_find(image_recipe(batch_size=32), train=train, steps=30)
    mixed = lr_find(image_recipe(batch_size=32, augment={"mixup": 0.4, "flip": 0.5}), train=train, steps=30)
    bf16 = lr_find(image_recipe(batch_size=32, precision="bf16", ema_decay=0.9), train=train, steps=30)
    assert mixed.raw_losses[:5] != pytest.approx(plain.raw_losses[:5], rel=1e-4)
    assert bf16.raw_losses[:5] != pytest.approx(plain.raw_losses[:5], rel=1e-6)
    assert bf16.raw_losses[:5] == pytest.approx(plain.raw_losses[:5], rel=0.05)  # bf16 rounding, same model
    for result in (mixed, bf16):
        assert result.start_lr < result.suggestion < result.lrs[-1]
