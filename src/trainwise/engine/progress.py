"""Progress on stderr: a rich bar per epoch on a terminal, one plain line per epoch otherwise.

The bar refreshes at most every 0.2 s, and only then reads the running loss from the device, so showing
progress costs the loop almost nothing.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from trainwise.engine.callbacks import Callback
from trainwise.engine.state import Loop

_REFRESH_SECONDS = 0.2


def format_logs(logs: dict[str, Any], skip: tuple[str, ...] = ("epoch", "step", "seconds")) -> str:
    """`train_loss 0.4321  val_accuracy 0.8712  lr 0.001`: the values of an epoch, compactly."""
    parts = []
    for key, value in logs.items():
        if key in skip or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key} {_number(float(value))}")
    return "  ".join(parts)


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:.4f}"


class PlainProgress(Callback):
    """One line per epoch, for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def on_epoch_end(self, loop: Loop) -> None:
        logs = loop.state.logs
        line = f"epoch {logs['epoch']}/{loop.epochs}  {format_logs(logs)}  {logs['seconds']:.1f}s"
        print(line, file=self.stream, flush=True)

    def on_fit_end(self, loop: Loop) -> None:
        if loop.state.stopped_reason == "diverged":
            print(diverged_message(loop), file=self.stream, flush=True)


class BarProgress(Callback):
    """A rich progress bar per epoch: batches, loss and metrics so far, samples/s, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[values]}"),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None
        self.last = 0.0
        self.started = 0.0
        self.start_samples = 0

    def on_fit_start(self, loop: Loop) -> None:
        self.progress.start()

    def on_epoch_start(self, loop: Loop) -> None:
        description = f"epoch {loop.state.epoch + 1}/{loop.epochs}"
        self.task = self.progress.add_task(
            description, total=len(loop.train), completed=loop.state.batch, values="", speed=""
        )
        self.started = time.perf_counter()
        self.start_samples = loop.progress.samples if loop.state.batch else 0

    def on_batch_end(self, loop: Loop) -> None:
        now = time.perf_counter()
        if now - self.last < _REFRESH_SECONDS:
            return
        self.last = now
        values = f"loss {_number(loop.running_loss())}"
        for metric in loop.train_metrics:
            values += f"  {metric.name} {_number(metric.compute())}"
        rate = (loop.progress.samples - self.start_samples) / max(now - self.started, 1e-9)
        self.progress.update(self.task, completed=loop.state.batch, values=values, speed=f"{rate:,.0f} samples/s")

    def on_epoch_end(self, loop: Loop) -> None:
        logs = loop.state.logs
        self.progress.remove_task(self.task)
        self.console.print(
            f"[bold]epoch {logs['epoch']}/{loop.epochs}[/bold]  {format_logs(logs)}  {logs['seconds']:.1f}s",
            highlight=False,
        )

    def on_fit_end(self, loop: Loop) -> None:
        self.progress.stop()
        if loop.state.stopped_reason == "diverged":
            self.console.print(f"[red]{diverged_message(loop)}[/red]")


def diverged_message(loop: Loop) -> str:
    """NaN/Inf, or (the autopilot's verdict) a finite loss that blew up."""
    value = loop.state.logs.get("train_loss")
    what = "blew up" if isinstance(value, float) and math.isfinite(value) else "became NaN/Inf"
    return f"stopped: loss {what} at step {loop.state.diverged_step}"


def make_progress(mode: str) -> Callback | None:
    """`bar` on a terminal, `plain` lines otherwise, or None for `off`; `auto` picks by stderr."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() or in_jupyter() else "plain"
    if mode == "bar":
        return BarProgress()
    if mode == "plain":
        return PlainProgress()
    return None


def in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel, where rich draws its live bar as a widget (needs ipywidgets)."""
    if "ipykernel" not in sys.modules:
        return False
    from rich.console import Console

    return Console().is_jupyter
