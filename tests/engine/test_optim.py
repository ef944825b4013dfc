"""Optimizers, losses, schedules and regularization: a contract every registered name passes, and exact checks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainwise
from trainwise.config import OptimizerConfig, RegularizationConfig
from trainwise.engine.callbacks import Callback
from trainwise.engine.optim import LOSSES, OPTIMIZERS, build_loss, build_optimizer, penalty, penalty_weights
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError
from trainwise.models import MLP

Split = tuple[torch.Tensor, torch.Tensor]
RunFit = Callable[..., trainwise.FitResult]

# Learning rates at which each optimizer makes clear progress on the tiny problems in a few epochs.
LEARNING_RATES = {
    "gd": 0.3,
    "sgd": 0.1,
    "momentum": 0.02,
    "nesterov": 0.02,
    "adam": 0.01,
    "adamw": 0.01,
    "rmsprop": 0.003,
    "adagrad": 0.1,
}
SCHEDULES: dict[str, dict[str, Any]] = {
    "none": {},
    "step": {"step_size": 1, "gamma": 0.5},
    "exponential": {"gamma": 0.8},
    "cosine": {"warmup_epochs": 1, "min_lr": 1e-4},
    "onecycle": {},
    "plateau": {"patience": 0, "factor": 0.5},
}


def test_registries_cover_the_documented_names() -> None:
    assert set(OPTIMIZERS) == {"gd", "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"}
    assert set(LOSSES) == {"mse", "mae", "huber", "cross_entropy", "bce", "bpr"}
    assert set(LEARNING_RATES) == set(OPTIMIZERS)


@pytest.fixture
def problems(blobs: dict[str, Split], linear: dict[str, Split]) -> dict[str, dict[str, Split]]:
    """One small problem per kind of target: real values, class indices, 0/1 labels."""
    binary = {name: (x, (y == 0).float()) for name, (x, y) in blobs.items()}
    return {"real": linear, "class": blobs, "binary": binary}


def train_losses(result: trainwise.FitResult) -> list[float]:
    return [entry["train_loss"] for entry in result.history]


# --- contract: every optimizer with every loss, every schedule with two optimizers -------------------------


# bpr ranks items for users: it trains on the recommend task's data (tests/tasks/test_recommend.py)
@pytest.mark.parametrize("loss", sorted(n for n in LOSSES if LOSSES[n](RegularizationConfig()).targets != "ranking"))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_reduces_every_loss(
    run_fit: RunFit, problems: dict[str, dict[str, Split]], optimizer: str, loss: str
) -> None:
    targets = LOSSES[loss](RegularizationConfig()).targets
    batch_size = "full" if optimizer == "gd" else 32
    result = run_fit(
        problems[targets],
        loss=loss,
        optimizer=optimizer,
        learning_rate=LEARNING_RATES[optimizer],
        batch_size=batch_size,
        epochs=12 if optimizer == "gd" else 4,  # gd takes one step per epoch
    )
    losses = train_losses(result)
    assert result.stopped_reason == "completed"
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize(("optimizer", "learning_rate"), [("sgd", 0.05), ("adam", 0.01)])  # onecycle peaks at 10x
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_every_schedule_trains(
    run_fit: RunFit, blobs: dict[str, Split], schedule: str, optimizer: str, learning_rate: float
) -> None:
    result = run_fit(
        blobs,
        optimizer=optimizer,
        learning_rate=learning_rate,
        schedule={"name": schedule, **SCHEDULES[schedule]},
        epochs=4,
    )
    losses = train_losses(result)
    assert losses[-1] < 0.9 * losses[0], losses
    rates = {entry["lr"] for entry in result.history}
    if schedule == "none":
        assert len(rates) == 1
    elif schedule != "plateau":  # a plateau may not come in four epochs; test_loop forces one
        assert len(rates) > 1


# --- exact updates ----------------------------------------------------------------------------------------


def tiny_classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))


def fit_one_full_batch_step(run_fit: RunFit, model: nn.Module, data: Split, **settings: Any) -> nn.Module:
    """One epoch of one full-batch step; no validation split, so every sample is in the batch."""
    result = run_fit({"train": data}, model=model, epochs=1, batch_size="full", validation_split=0.0, **settings)
    assert result.history[-1]["step"] == 1
    return result.model


@pytest.mark.parametrize(
    "regularization",
    [{}, {"l2": 0.05}, {"l1": 0.02}, {"weight_decay": 0.3}, {"l1": 0.01, "l2": 0.02, "weight_decay": 0.1}],
    ids=["plain", "l2", "l1", "weight_decay", "all"],
)
def test_gd_is_one_hand_written_full_batch_step(
    run_fit: RunFit, blobs: dict[str, Split], regularization: dict[str, float]
) -> None:
    x, y = blobs["train"]
    lr = 0.1
    model = tiny_classifier()
    reference = copy.deepcopy(model)
    trained = fit_one_full_batch_step(
        run_fit, model, (x, y), optimizer="gd", learning_rate=lr, regularization=regularization
    )

    # w <- w (1 - lr wd) - lr (dL/dw + 2 l2 w + l1 sign(w)), penalties on weight matrices only
    l1, l2, decay = (regularization.get(k, 0.0) for k in ("l1", "l2", "weight_decay"))
    F.cross_entropy(reference(x), y).backward()
    with torch.no_grad():
        for p in reference.parameters():
            assert p.grad is not None
            grad = p.grad + (2 * l2 * p + l1 * p.sign() if p.ndim > 1 else 0)
            p.mul_(1 - lr * decay).sub_(lr * grad)
    for got, want in zip(trained.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_gd_matches_torch_sgd_on_a_regression_loss(run_fit: RunFit, linear: dict[str, Split]) -> None:
    x, y = linear["train"]
    torch.manual_seed(3)
    model = nn.Linear(8, 1)
    reference = copy.deepcopy(model)
    trained = fit_one_full_batch_step(run_fit, model, (x, y), optimizer="gd", learning_rate=0.05, loss="huber")
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05)
    F.huber_loss(reference(x).reshape(-1), y).backward()
    optimizer.step()
    for got, want in zip(trained.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_decoupled_weight_decay_shrinks_every_parameter_by_lr_times_decay(
    run_fit: RunFit, blobs: dict[str, Split], optimizer: str
) -> None:
    """With and without decay, the first step differs by exactly -lr * wd * w0 (the gradient is taken first)."""
    lr, decay = 0.05, 0.4
    initial = tiny_classifier()
    plain = fit_one_full_batch_step(
        run_fit, copy.deepcopy(initial), blobs["train"], optimizer=optimizer, learning_rate=lr
    )
    decayed = fit_one_full_batch_step(
        run_fit,
        copy.deepcopy(initial),
        blobs["train"],
        optimizer=optimizer,
        learning_rate=lr,
        weight_decay=decay,
    )
    for w0, a, b in zip(initial.parameters(), plain.parameters(), decayed.parameters(), strict=True):
        torch.testing.assert_close(b - a, -lr * decay * w0.detach(), rtol=0, atol=1e-6)


def test_adamw_step_matches_torch_adamw(run_fit: RunFit, blobs: dict[str, Split]) -> None:
    x, y = blobs["train"]
    model = tiny_classifier(seed=5)
    reference = copy.deepcopy(model)
    trained = fit_one_full_batch_step(
        run_fit, model, (x, y), optimizer="adamw", learning_rate=0.01, weight_decay=0.5, betas=[0.8, 0.9]
    )
    optimizer = torch.optim.AdamW(reference.parameters(), lr=0.01, weight_decay=0.5, betas=(0.8, 0.9))
    F.cross_entropy(reference(x), y).backward()
    optimizer.step()
    for got, want in zip(trained.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


class CountSteps(Callback):
    """Counts optimizer steps with a torch step hook, independently of the loop's own counter."""

    def __init__(self) -> None:
        self.steps = 0

    def on_fit_start(self, loop: Loop) -> None:
        loop.optimizer.register_step_post_hook(self.count)

    def count(self, *_: Any) -> None:
        self.steps += 1


@pytest.mark.parametrize(("batch_size", "per_epoch"), [(1, 24), (7, 4), (24, 1)])
def test_sgd_takes_one_step_per_batch(
    run_fit: RunFit, blobs: dict[str, Split], batch_size: int, per_epoch: int
) -> None:
    x, y = blobs["train"]
    counter = CountSteps()
    result = run_fit(
        {"train": (x[:24], y[:24])},
        callbacks=[counter],
        validation_split=0.0,
        epochs=2,
        batch_size=batch_size,
        optimizer="sgd",
        learning_rate=0.01,
    )
    assert counter.steps == 2 * per_epoch
    assert [entry["step"] for entry in result.history] == [per_epoch, 2 * per_epoch]


# --- regularization terms ---------------------------------------------------------------------------------


def test_penalty_applies_to_weight_matrices_only() -> None:
    model = MLP(8, [5, 4], 3, batch_norm=True)
    chosen = penalty_weights(model)
    linear_weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    assert [id(p) for p in chosen] == [id(p) for p in linear_weights]
    assert penalty(chosen, 0.0, 0.0) is None


@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.3), (0.2, 0.0), (0.1, 0.05)])
def test_penalty_gradient_is_the_analytic_term(blobs: dict[str, Split], l1: float, l2: float) -> None:
    x, y = blobs["train"]
    torch.manual_seed(0)
    model = MLP(8, [5], 3, batch_norm=True)
    model(x)  # move the batch-norm statistics off their defaults; no effect on the gradients compared below

    def gradients(with_penalty: bool) -> list[torch.Tensor]:
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        extra = penalty(penalty_weights(model), l1, l2) if with_penalty else None
        (loss + extra if extra is not None else loss).backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    plain, penalized = gradients(False), gradients(True)
    for p, g0, g1 in zip(model.parameters(), plain, penalized, strict=True):
        expected = 2 * l2 * p.detach() + l1 * p.detach().sign() if p.ndim > 1 else torch.zeros_like(p)
        torch.testing.assert_close(g1 - g0, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_cross_entropy_label_smoothing_is_torchs(smoothing: float) -> None:
    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(20, 4, generator=gen), torch.randint(0, 4, (20,), generator=gen)
    loss = build_loss("cross_entropy", RegularizationConfig(label_smoothing=smoothing))
    expected = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    torch.testing.assert_close(loss.fn(logits, labels), expected)
    if smoothing:
        assert not torch.allclose(loss.fn(logits, labels), F.cross_entropy(logits, labels))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_bce_label_smoothing_equals_two_class_cross_entropy(smoothing: float) -> None:
    """A logit z for class 1 is the two-class logits (0, z); smoothing must agree with torch's cross-entropy."""
    gen = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(30, 1, generator=gen), torch.randint(0, 2, (30,), generator=gen)
    loss = build_loss("bce", RegularizationConfig(label_smoothing=smoothing))
    two_class = torch.cat([torch.zeros_like(logits), logits], dim=1)
    expected = F.cross_entropy(two_class, labels, label_smoothing=smoothing)
    torch.testing.assert_close(loss.fn(logits, labels.float()), expected)


def test_label_smoothing_raises_the_training_loss_of_a_confident_model(
    run_fit: RunFit, blobs: dict[str, Split]
) -> None:
    plain = run_fit(blobs, optimizer="adam", learning_rate=0.02, epochs=5)
    smoothed = run_fit(blobs, optimizer="adam", learning_rate=0.02, epochs=5, label_smoothing=0.2)
    assert smoothed.history[0]["train_loss"] != plain.history[0]["train_loss"]
    assert smoothed.history[-1]["train_loss"] > plain.history[-1]["train_loss"]


class GradientNorms(Callback):
    """Records the global gradient norm after each step (the loop clips before stepping; grads stay set)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_batch_end(self, loop: Loop) -> None:
        grads = [p.grad for p in loop.model.parameters() if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))


def test_grad_clip_bounds_the_global_gradient_norm(run_fit: RunFit, blobs: dict[str, Split]) -> None:
    clip = 0.05
    free, clipped = GradientNorms(), GradientNorms()
    run_fit(blobs, optimizer="sgd", learning_rate=0.01, epochs=1, callbacks=[free])
    run_fit(blobs, optimizer="sgd", learning_rate=0.01, epochs=1, callbacks=[clipped], grad_clip=clip)
    assert min(free.norms) > clip  # so clipping had work to do on every step
    assert len(clipped.norms) == len(free.norms)
    assert max(clipped.norms) <= clip * (1 + 1e-5)
    assert min(clipped.norms) >= clip * (1 - 1e-3)


# --- unknown names --------------------------------------------------------------------------------------


def test_unknown_optimizer_names_the_closest() -> None:
    model = nn.Linear(2, 1)
    with pytest.raises(ConfigError, match="did you mean 'adamw'") as caught:
        build_optimizer(model.parameters(), OptimizerConfig(name="adamww"), RegularizationConfig())
    assert caught.value.key == "optimizer.name"
    assert "rmsprop" in str(caught.value)  # the valid choices are listed


def test_unknown_loss_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'cross_entropy'") as caught:
        build_loss("cross_entropie", RegularizationConfig())
    assert caught.value.key == "loss"


def test_fit_rejects_an_unknown_optimizer_before_creating_the_run(
    tmp_path: Path, run_fit: RunFit, blobs: dict[str, Split]
) -> None:
    with pytest.raises(ConfigError, match="did you mean 'nesterov'"):
        run_fit(blobs, optimizer="nesterow")
    assert not any(tmp_path.iterdir())
