"""The autopilot: a callback that acts on what a diagnosis would say, while the run is still going.

- Divergence (a NaN/Inf loss, or an epoch whose loss blew up): the loop stops as "diverged"; `recover` puts
  back the state of the last good epoch end (an in-memory snapshot), cuts the learning rate by
  `ROLLBACK_FACTOR` and lets the caller run the loop again, at most `MAX_ROLLBACKS` times.
- Plateau (the monitored value has not improved for `PATIENCE` epochs): cut the learning rate by
  `PLATEAU_FACTOR` (at most `MAX_CUTS` times); if the validation loss was climbing, from the best weights.
- Overfitting (no improvement again after a cut, validation loss `OVERFIT_RISE` above its best while the
  training loss kept falling): stop, and put back the best epoch's weights.

With an EMA or SWA of the weights (`loop.average`), the snapshot and the best epoch's weights hold the average
too, so a rollback or a restore puts back the averaged weights that validation and the final model use.

Every action goes into the history, in the line of the epoch it happened in (a rollback: the first epoch
finished after it) under "autopilot": [{"action", "reason", "step", "lr_before", "lr_after", ...}].
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from trainwise.engine import checkpoint
from trainwise.engine.callbacks import Callback
from trainwise.engine.state import Loop

# A good learning rate sits about a decade below the rate where the loss blows up (lr-find's rule), and a rate
# that diverged is above that point: go down a decade and a half. (A tenth left the seed MLP at Adam 0.05,
# which trains but ends 3-5 points short of what 0.005 reaches on mnist-5k.)
ROLLBACK_FACTOR = 0.03
MAX_ROLLBACKS = 3  # still diverging at 3e-5 x the rate: something other than the learning rate is wrong
PLATEAU_FACTOR = 0.1  # ReduceLROnPlateau's default cut
MAX_CUTS = 3
PATIENCE = 2  # epochs without improvement (and since the last action) before acting
OVERFIT_RISE = 0.05  # validation loss this far above its best, with training loss below its level then

# Takes the training losses so far (NaN for missing) and says why the last one blew up, or None.
ExplodeCheck = Callable[[Sequence[float]], str | None]


class Autopilot(Callback):
    """Rolls back and cuts the learning rate on divergence, cuts it on a plateau, stops on overfitting."""

    def __init__(self, exploded: ExplodeCheck | None = None) -> None:
        self.exploded = exploded
        self.snapshot: dict[str, Any] | None = None  # in memory only: a resume starts from last.pt, a good state
        self.snapshot_scale = 1.0
        self.scale = 1.0  # product of every learning-rate cut so far
        self.rollbacks = 0
        self.cuts = 0
        self.last_cut_epoch = 0
        self.last_action_epoch = 0
        self.pending: list[dict[str, Any]] = []  # actions to write into the next finished epoch's line
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_average: dict[str, Any] | None = None  # the EMA/SWA state at the best epoch (None: no average)
        self.best_epoch: int | None = None
        self.stopped = False
        self.pending_reason: str | None = None  # why this callback itself declared the last epoch diverged

    # --- hooks -----------------------------------------------------------------------------------------

    def on_fit_start(self, loop: Loop) -> None:
        self._take_snapshot(loop)

    def on_epoch_end(self, loop: Loop) -> None:
        state, logs = loop.state, loop.state.logs
        if state.stopped_reason == "diverged":
            return
        reason = self._blew_up(loop)
        if reason is not None:
            state.stop, state.stopped_reason, state.diverged_step = True, "diverged", state.step
            self.pending_reason = reason
            return
        if self.pending:
            logs["autopilot"] = self.pending
            self.pending = []
        if state.best_epoch == state.epoch:
            self.best_epoch = state.epoch
            self.best_weights = _cpu_copy(loop.model.state_dict())
            self.best_average = _cpu_copy(loop.average.state_dict()) if loop.average is not None else None
        elif not state.stop:
            self._act_on_stall(loop)
        self._take_snapshot(loop)

    def on_fit_end(self, loop: Loop) -> None:
        if self.stopped and self.best_weights is not None and loop.state.stopped_reason == "overfitting":
            self._restore_best(loop)
            loop.state.weights_epoch = self.best_epoch

    def recover(self, loop: Loop) -> bool:
        """After a run stopped as diverged: restore the last good state with a cut learning rate and say
        whether to run the loop again (False when there is nothing to roll back to or the budget is spent)."""
        state = loop.state
        if state.stopped_reason != "diverged" or self.snapshot is None or self.rollbacks >= MAX_ROLLBACKS:
            return False
        failed_epoch, step, lr_before = state.epoch, state.diverged_step, loop.lr
        reason = self.pending_reason or f"the loss became NaN/Inf at step {step}"
        self.pending_reason = None
        checkpoint.restore(loop, copy.deepcopy(self.snapshot))
        self.scale *= ROLLBACK_FACTOR
        scale_learning_rate(loop, self.scale / self.snapshot_scale)
        state.stop, state.stopped_reason, state.diverged_step, state.weights_epoch = False, None, None, None
        self.rollbacks += 1
        self.pending.append(
            {
                "action": "rollback",
                "reason": f"epoch {failed_epoch}: {reason}",
                "step": step,
                "to_epoch": state.epoch,
                "lr_before": lr_before,
                "lr_after": loop.lr,
            }
        )
        self._take_snapshot(loop)
        return True

    # --- resume ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "rollbacks": self.rollbacks,
            "cuts": self.cuts,
            "last_action_epoch": self.last_action_epoch,
            "last_cut_epoch": self.last_cut_epoch,
            "pending": self.pending,
            "best_weights": self.best_weights,
            "best_average": self.best_average,
            "best_epoch": self.best_epoch,
            "stopped": self.stopped,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.rollbacks, self.cuts = state["scale"], state["rollbacks"], state["cuts"]
        self.last_action_epoch, self.pending = state["last_action_epoch"], list(state["pending"])
        self.last_cut_epoch = state["last_cut_epoch"]
        self.best_weights, self.best_epoch, self.stopped = state["best_weights"], state["best_epoch"], state["stopped"]
        self.best_average = state.get("best_average")  # absent in checkpoints from before it was kept
        self.snapshot = None  # taken again at on_fit_start, from the restored checkpoint
        self.snapshot_scale = self.scale

    # --- rules -----------------------------------------------------------------------------------------

    def _blew_up(self, loop: Loop) -> str | None:
        logs = loop.state.logs
        for key in ("train_loss", "val_loss"):
            value = logs.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                return f"{key} became NaN/Inf"
        if self.exploded is None:
            return None
        losses = [_finite(entry.get("train_loss")) for entry in loop.state.history]
        why = self.exploded(losses)
        return f"train_loss {losses[-1]:.4g} blew up: {why}" if why else None

    def _act_on_stall(self, loop: Loop) -> None:
        """No improvement for PATIENCE epochs: cut the learning rate once; still none after the cut and the
        validation loss rising while the training loss falls: overfitting, stop. A cut comes first because a
        too-large step also makes the validation loss climb, and a cut is cheap to try."""
        state, logs = loop.state, loop.state.logs
        best = state.best_epoch
        if best is None or state.epoch - best < PATIENCE or state.epoch - self.last_action_epoch < PATIENCE:
            return
        at_best = state.history[best - 1]
        val, val_best = _finite(logs.get("val_loss")), _finite(at_best.get("val_loss"))
        train, train_best = _finite(logs.get("train_loss")), _finite(at_best.get("train_loss"))
        overfitting = val > (1 + OVERFIT_RISE) * val_best and train < train_best
        can_cut = self.cuts < MAX_CUTS and loop.schedule.interval != "plateau"  # a plateau schedule cuts itself
        if can_cut and self.last_cut_epoch < best:
            lr_before = loop.lr
            restore: dict[str, Any] = {}
            if overfitting and self.best_weights is not None:  # the climb since the best was damage: undo it
                self._restore_best(loop)
                restore = {"restore_epoch": self.best_epoch}
            scale_learning_rate(loop, PLATEAU_FACTOR)
            self.scale *= PLATEAU_FACTOR
            self.cuts += 1
            self.last_cut_epoch = state.epoch
            what = "val_loss rising while train_loss falls" if overfitting else "plateau"
            self._record(
                loop,
                "cut_lr",
                f"{loop.monitor} has not improved for {state.epoch - best} epochs (best at epoch {best}): {what}",
                lr_before=lr_before,
                **restore,
            )
        elif overfitting:
            self._record(
                loop,
                "stop",
                f"val_loss {val:.4g} is {val / val_best - 1:.0%} above its best {val_best:.4g} (epoch {best}) while "
                f"train_loss fell from {train_best:.4g} to {train:.4g}: overfitting; restoring epoch {best}",
                restore_epoch=best,
            )
            state.stop, state.stopped_reason, self.stopped = True, "overfitting", True

    def _record(self, loop: Loop, action: str, reason: str, **extra: Any) -> None:
        entry = {"action": action, "reason": reason, "step": loop.state.step, **extra}
        entry.setdefault("lr_before", loop.lr)
        entry["lr_after"] = loop.lr
        loop.state.logs.setdefault("autopilot", []).append(entry)
        self.last_action_epoch = loop.state.epoch

    def _restore_best(self, loop: Loop) -> None:
        """Put back the best epoch's weights and, with EMA/SWA, its average (the weights validation saw)."""
        assert self.best_weights is not None
        loop.model.load_state_dict(self.best_weights)
        if loop.average is not None and self.best_average is not None:
            loop.average.load_state_dict(copy.deepcopy(self.best_average), loop.optimizer)

    def _take_snapshot(self, loop: Loop) -> None:
        """The state to roll back to: everything a checkpoint holds (model, optimizer, RNGs, EMA/SWA, ...)."""
        self.snapshot = _cpu_copy(checkpoint.capture(loop, {}))
        self.snapshot_scale = self.scale


def scale_learning_rate(loop: Loop, factor: float) -> None:
    """Multiply the learning rate by `factor` everywhere it lives: each param group (and the peaks and
    floors a one-cycle schedule keeps there, and SWA's constant rate) and the base rates a schedule computes from."""
    for group in loop.optimizer.param_groups:
        for key in ("lr", "initial_lr", "max_lr", "min_lr", "swa_lr"):
            if isinstance(group.get(key), float | int):
                group[key] = group[key] * factor
    if loop.average is not None and loop.average.swa_lr is not None:  # the rate SWA starts at, if not begun yet
        loop.average.swa_lr *= factor
    scheduler = loop.schedule.scheduler
    for name in ("base_lrs", "_last_lr"):
        values = getattr(scheduler, name, None)
        if isinstance(values, list):
            setattr(scheduler, name, [v * factor for v in values])


def _cpu_copy(value: Any) -> Any:
    """A deep copy with every tensor on the CPU: snapshots must not hold accelerator memory twice."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cpu_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_cpu_copy(v) for v in value)
    return copy.deepcopy(value)


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.nan
