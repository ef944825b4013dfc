"""`FitResult`: what one run produced, as `fit` returns it and summary.json records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from trainwise import rundir
from trainwise.config import Recipe


@dataclass
class FitResult:
    """What a run produced: its history, test metrics, best epoch, why it stopped, and the trained model."""

    run_dir: Path
    history: list[dict[str, Any]]
    test: dict[str, float] | None
    best_epoch: int | None
    best_value: float | None
    monitor: str
    stopped_reason: str
    diverged_step: int | None
    recipe: Recipe
    model: nn.Module = field(repr=False)
    data: str = ""
    weights_epoch: int | None = None  # the epoch whose weights `model` holds (early stopping may restore one)
    findings: list[Any] = field(default_factory=list)  # trainwise.diagnose's findings (also in findings.json)
    report: dict[str, Any] = field(default_factory=dict)  # the task's extra figures (baseline, counts)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's logs (empty if no epoch finished)."""
        return self.history[-1] if self.history else {}

    @property
    def kept(self) -> dict[str, Any]:
        """The logs of the epoch whose weights the returned model holds (the restored best, or the last)."""
        if self.weights_epoch is not None and 0 < self.weights_epoch <= len(self.history):
            return self.history[self.weights_epoch - 1]
        return self.final

    def to_pandas(self) -> Any:
        """The history as a pandas DataFrame indexed by epoch (needs pandas: the `notebook` extra)."""
        from trainwise.notebook import history_frame

        return history_frame(self.history)

    def plot(self) -> Any:
        """Loss and metric curves per epoch, train and validation; returns a matplotlib Figure."""
        from trainwise.notebook import plot_history

        return plot_history(self.history, title=self.data or None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json` and summary.json (NaN/Inf become null)."""
        return rundir.json_safe(
            {
                "run_dir": str(self.run_dir),
                "data": self.data,
                "history": self.history,
                "test": self.test,
                "best_epoch": self.best_epoch,
                "best_value": self.best_value,
                "monitor": self.monitor,
                "stopped_reason": self.stopped_reason,
                "diverged_step": self.diverged_step,
                "epochs_completed": len(self.history),
                "config": self.recipe.to_dict(),
                "findings": [finding.to_dict() for finding in self.findings],
                **self.report,
            }
        )
