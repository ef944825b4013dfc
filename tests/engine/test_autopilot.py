"""The autopilot: rollback with a cut learning rate on divergence, a cut on a plateau, a stop with the best
weights on overfitting, every action in the history, its state across a resume; and the bar on mnist-5k."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.config import ScheduleConfig
from trainwise.engine import checkpoint
from trainwise.engine.autopilot import PLATEAU_FACTOR, ROLLBACK_FACTOR, Autopilot, scale_learning_rate
from trainwise.engine.optim import build_schedule
from trainwise.engine.state import Loop

Data = dict[str, tuple[torch.Tensor, torch.Tensor]]
RunFit = Callable[..., trainwise.FitResult]
MakeLoop = Callable[..., Loop]


def actions(history: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [(entry["epoch"], action) for entry in history for action in entry.get("autopilot", [])]


def test_divergence_rolls_back_cuts_the_learning_rate_and_goes_on(blobs: Data, run_fit: RunFit) -> None:
    settings = {"optimizer": "sgd", "learning_rate": 200.0, "epochs": 3}
    plain = run_fit(blobs, **settings)
    assert plain.stopped_reason == "diverged"
    result = run_fit(blobs, autopilot=True, **settings)
    assert result.stopped_reason == "completed"
    assert [e["epoch"] for e in result.history] == [1, 2, 3]
    assert all(math.isfinite(e["train_loss"]) for e in result.history)
    rollbacks = [a for _, a in actions(result.history) if a["action"] == "rollback"]
    assert rollbacks, result.history
    for action in rollbacks:
        assert action["lr_after"] == pytest.approx(action["lr_before"] * ROLLBACK_FACTOR)
        assert action["reason"] and action["step"] >= 1
    assert result.history[-1]["lr"] == pytest.approx(200.0 * ROLLBACK_FACTOR ** len(rollbacks))
    saved = [json.loads(line) for line in (result.run_dir / "history.jsonl").read_text().splitlines()]
    assert saved == result.history  # the diverged epoch's line is gone, the action is in the next one


def test_a_blown_up_but_finite_epoch_is_rolled_back_by_the_explode_check(blobs: Data, make_loop: MakeLoop) -> None:
    from trainwise.engine import loop as engine
    from trainwise.engine.callbacks import CallbackList

    loop = make_loop(blobs, epochs=3)
    verdicts: list[int] = []

    def exploded(losses: Any) -> str | None:  # the first epoch "blew up" once; then all is well
        verdicts.append(len(losses))
        return "too high" if len(losses) == 1 and len(verdicts) == 1 else None

    pilot = Autopilot(exploded)
    callbacks = CallbackList([pilot])
    engine.run(loop, callbacks)
    assert loop.state.stopped_reason == "diverged" and loop.state.epoch == 1
    assert pilot.recover(loop)
    assert loop.state.epoch == 0 and loop.state.history == [] and loop.lr == pytest.approx(0.1 * ROLLBACK_FACTOR)
    engine.run(loop, callbacks)
    assert loop.state.stopped_reason == "completed" and loop.state.epoch == 3
    [(epoch, action)] = actions(loop.state.history)
    assert epoch == 1 and action["action"] == "rollback" and "too high" in action["reason"]


def stalled_loop(make_loop: MakeLoop, blobs: Data, val: list[float], train: list[float]) -> Loop:
    """A loop whose history says what we want; the best epoch is the one with the lowest val_loss."""
    loop = make_loop(blobs, epochs=20)
    pairs = enumerate(zip(train, val, strict=True))
    loop.state.history = [{"epoch": i + 1, "train_loss": t, "val_loss": v, "lr": loop.lr} for i, (t, v) in pairs]
    loop.state.epoch = len(val)
    loop.state.best_epoch = 1 + val.index(min(val))
    loop.state.logs = loop.state.history[-1]
    return loop


def test_a_plateau_cuts_the_learning_rate_once_per_stall(blobs: Data, make_loop: MakeLoop) -> None:
    loop = stalled_loop(make_loop, blobs, val=[1.0, 0.5, 0.51, 0.50], train=[1.0, 0.6, 0.6, 0.6])
    pilot = Autopilot()
    pilot.on_epoch_end(loop)
    assert loop.lr == pytest.approx(0.1 * PLATEAU_FACTOR)
    [action] = loop.state.logs["autopilot"]
    assert action["action"] == "cut_lr" and "plateau" in action["reason"]
    assert (action["lr_before"], action["lr_after"]) == (pytest.approx(0.1), pytest.approx(0.1 * PLATEAU_FACTOR))
    loop.state.history.append({"epoch": 5, "train_loss": 0.6, "val_loss": 0.5, "lr": loop.lr})
    loop.state.epoch, loop.state.logs = 5, loop.state.history[-1]
    pilot.on_epoch_end(loop)  # one epoch after the cut: wait
    assert loop.lr == pytest.approx(0.1 * PLATEAU_FACTOR) and "autopilot" not in loop.state.logs


def test_overfitting_after_a_cut_stops_and_restores_the_best_weights(blobs: Data, make_loop: MakeLoop) -> None:
    loop = stalled_loop(make_loop, blobs, val=[1.0, 0.5], train=[1.0, 0.6])
    pilot = Autopilot()
    pilot.on_epoch_end(loop)  # epoch 2 is the best: its weights are kept
    best = {k: v.clone() for k, v in loop.model.state_dict().items()}
    with torch.no_grad():
        for p in loop.model.parameters():
            p.add_(1.0)
    for epoch, (train, val) in enumerate([(0.5, 0.56), (0.4, 0.6)], start=3):
        loop.state.history.append({"epoch": epoch, "train_loss": train, "val_loss": val, "lr": loop.lr})
        loop.state.epoch, loop.state.logs = epoch, loop.state.history[-1]
        pilot.on_epoch_end(loop)
    [cut] = loop.state.history[-1]["autopilot"]  # epoch 4: first a cut, from the best weights
    assert cut["action"] == "cut_lr" and cut["restore_epoch"] == 2 and "rising" in cut["reason"]
    assert all(torch.equal(v, best[k]) for k, v in loop.model.state_dict().items())
    with torch.no_grad():
        for p in loop.model.parameters():
            p.add_(1.0)
    for epoch, (train, val) in enumerate([(0.3, 0.7), (0.2, 0.8)], start=5):
        loop.state.history.append({"epoch": epoch, "train_loss": train, "val_loss": val, "lr": loop.lr})
        loop.state.epoch, loop.state.logs = epoch, loop.state.history[-1]
        pilot.on_epoch_end(loop)
    assert loop.state.stop and loop.state.stopped_reason == "overfitting"
    [stop] = loop.state.history[-1]["autopilot"]
    assert stop["action"] == "stop" and stop["restore_epoch"] == 2
    pilot.on_fit_end(loop)
    assert loop.state.weights_epoch == 2
    assert all(torch.equal(v, best[k]) for k, v in loop.model.state_dict().items())


@pytest.mark.parametrize("name", ["step", "cosine", "onecycle", "exponential"])
def test_a_cut_holds_under_every_schedule(blobs: Data, make_loop: MakeLoop, name: str) -> None:
    """The cut scales what the schedule computes from: the cut run's LR stays 0.1x its twin's."""
    twins = []
    for cut in (False, True):
        loop = make_loop(blobs)
        cfg = ScheduleConfig(name=name, step_size=1, gamma=0.5)
        loop.schedule = build_schedule(loop.optimizer, cfg, steps_per_epoch=8, epochs=4, mode_max=False)
        if cut:
            scale_learning_rate(loop, 0.1)
        lrs = []
        for _ in range(12):
            loop.optimizer.step()
            loop.schedule.scheduler.step()
            lrs.append(loop.lr)
        twins.append(lrs)
    assert twins[1] == pytest.approx([0.1 * lr for lr in twins[0]])


def test_the_autopilot_state_survives_a_resume(blobs: Data, run_fit: RunFit, tmp_path: Path) -> None:
    settings = {"optimizer": "sgd", "learning_rate": 200.0, "autopilot": True}
    first = run_fit(blobs, epochs=2, **settings)
    saved = checkpoint.load(first.run_dir / "checkpoints" / "last.pt")
    [state] = [s for key, s in saved["callbacks"].items() if key.endswith(":Autopilot")]
    assert state["rollbacks"] >= 1 and state["scale"] == pytest.approx(ROLLBACK_FACTOR ** state["rollbacks"])
    resumed = trainwise.fit(
        train=blobs["train"], val=blobs["val"], out=first.run_dir, resume=True, epochs=4, progress="off"
    )
    assert [e["epoch"] for e in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[-1]["lr"] == pytest.approx(first.history[-1]["lr"])
    pilot = Autopilot()
    pilot.load_state_dict(state)
    assert pilot.state_dict()["rollbacks"] == state["rollbacks"]


@pytest.mark.slow
def test_the_seed_mlp_at_adam_0_5_recovers_on_mnist_5k(tmp_path: Path) -> None:
    """The bar: without the autopilot the run ends near chance; with it, at >= 0.90 validation accuracy."""
    settings = {"learning_rate": 0.5, "threads": 1, "progress": "off"}  # one thread: the machine is shared
    config = Path(__file__).parents[2] / "examples" / "mnist-5k.toml"
    plain = trainwise.fit(config, out=tmp_path / "plain", **settings)
    piloted = trainwise.fit(config, out=tmp_path / "pilot", autopilot=True, **settings)
    assert plain.kept["val_accuracy"] < 0.3
    assert piloted.kept["val_accuracy"] >= 0.90, piloted.history
    assert next(a["action"] for _, a in actions(piloted.history)) == "rollback"
    assert "divergence" in [f.kind for f in plain.findings]


# --- with an EMA or SWA of the weights ---------------------------------------------------------------------


def state_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def poison(*modules: torch.nn.Module) -> None:
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.fill_(math.nan)


def test_a_rollback_restores_the_ema_too(blobs: Data, make_loop: MakeLoop) -> None:
    """The divergence poisoned both the weights and their EMA: the rollback brings back the EMA of the last good
    epoch (the weights validation and the final model use), not a NaN average."""
    from trainwise.engine import loop as engine
    from trainwise.engine.averaging import WeightAverage
    from trainwise.engine.callbacks import CallbackList

    loop = make_loop(blobs, epochs=1)
    loop.average = WeightAverage(loop.model, "ema", decay=0.9)
    pilot = Autopilot()
    engine.run(loop, CallbackList([pilot]))
    good_ema, good_model = state_of(loop.average.averaged), state_of(loop.model)
    assert not all(torch.equal(good_ema[f"module.{k}"], v) for k, v in good_model.items())  # the EMA lags
    poison(loop.model, loop.average.averaged)
    loop.state.stop, loop.state.stopped_reason, loop.state.diverged_step = True, "diverged", loop.state.step
    assert pilot.recover(loop)
    for key, value in state_of(loop.average.averaged).items():
        assert torch.equal(value, good_ema[key]), key
    for key, value in state_of(loop.model).items():
        assert torch.equal(value, good_model[key]), key


def test_a_rollback_to_before_swa_began_starts_swa_again(blobs: Data, make_loop: MakeLoop) -> None:
    """SWA from epoch 2 (index 1); epoch 2 blows up and is rolled back to the end of epoch 1, before SWA began:
    the average is empty again and SWA restarts (SWALR included) in the repeated epoch 2."""
    from trainwise.engine import loop as engine
    from trainwise.engine.averaging import WeightAverage
    from trainwise.engine.callbacks import CallbackList

    loop = make_loop(blobs, epochs=3)
    loop.average = WeightAverage(loop.model, "swa", start_epoch=1, swa_lr=0.05)
    calls: list[int] = []

    def exploded(losses: Any) -> str | None:  # epoch 2 "blew up" once
        calls.append(len(losses))
        return "too high" if calls.count(2) == 1 and len(losses) == 2 else None

    pilot = Autopilot(exploded)
    callbacks = CallbackList([pilot])
    engine.run(loop, callbacks)
    assert loop.state.stopped_reason == "diverged" and int(loop.average.averaged.n_averaged) == 1
    assert pilot.recover(loop)
    assert loop.state.epoch == 1 and int(loop.average.averaged.n_averaged) == 0 and loop.average.scheduler is None
    engine.run(loop, callbacks)
    assert loop.state.stopped_reason == "completed" and int(loop.average.averaged.n_averaged) == 2
    # SWALR holds swa_lr, cut along with everything else by the rollback
    assert [e["lr"] for e in loop.state.history] == pytest.approx([0.1, 0.05 * ROLLBACK_FACTOR, 0.05 * ROLLBACK_FACTOR])


def test_overfitting_restores_the_best_epochs_ema(blobs: Data, make_loop: MakeLoop) -> None:
    """With an EMA, the best epoch's weights include its average: after the stop, the final model (the EMA, put
    in by WeightAverage.finish) is the average validation saw at the best epoch, not the average at the end."""
    from trainwise.engine.averaging import WeightAverage

    loop = stalled_loop(make_loop, blobs, val=[1.0, 0.5], train=[1.0, 0.6])
    loop.average = WeightAverage(loop.model, "ema", decay=0.5)
    loop.average.update(loop.model)
    pilot = Autopilot()
    pilot.on_epoch_end(loop)  # epoch 2 is the best
    best_ema = state_of(loop.average.module)

    def drift() -> None:  # training goes on: the weights move and the EMA follows
        with torch.no_grad():
            for p in loop.model.parameters():
                p.add_(1.0)
        assert loop.average is not None
        loop.average.update(loop.model)

    for epoch, (train, val) in enumerate([(0.5, 0.56), (0.4, 0.6), (0.3, 0.7), (0.2, 0.8)], start=3):
        drift()
        loop.state.history.append({"epoch": epoch, "train_loss": train, "val_loss": val, "lr": loop.lr})
        loop.state.epoch, loop.state.logs = epoch, loop.state.history[-1]
        pilot.on_epoch_end(loop)
        if epoch == 4:  # the cut restored the best weights and their EMA
            assert all(torch.equal(v, best_ema[k]) for k, v in loop.average.module.state_dict().items())
    assert loop.state.stopped_reason == "overfitting"
    pilot.on_fit_end(loop)
    loop.average.finish(loop.model, [])
    assert all(torch.equal(v, best_ema[k]) for k, v in loop.model.state_dict().items())
    assert pilot.state_dict()["best_average"] is not None
