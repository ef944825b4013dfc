"""A run's curves as PNG images (matplotlib, Agg canvas): loss, metrics and learning rate per epoch.

Built on `matplotlib.figure.Figure` with an Agg canvas rather than pyplot: no global state and no display,
so it works in threads and on machines without a screen. Every plot marks the best epoch and the epochs
where the autopilot acted; the learning-rate axis is logarithmic.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 6.4, 3.6, 110
TRAIN_COLOR, VAL_COLOR, BEST_COLOR, ACTION_COLOR = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"
LOG_SCALE_SPAN = 30.0  # a loss that spans more than this factor is drawn on a log axis (else the tail is flat)


def run_plots(history: Sequence[dict[str, Any]], best_epoch: int | None) -> dict[str, bytes]:
    """PNG images by name: "loss", one per other logged metric ("accuracy", ...), and "learning_rate"."""
    epochs = [int(entry["epoch"]) for entry in history]
    actions = [(int(entry["epoch"]), a.get("action", "?")) for entry in history for a in entry.get("autopilot", [])]
    plots = {"loss": _metric_plot(history, epochs, "loss", best_epoch, actions)}
    for name in metric_names(history):
        plots[name] = _metric_plot(history, epochs, name, best_epoch, actions)
    lrs = [_value(entry.get("lr")) for entry in history]
    if any(not math.isnan(v) and v > 0 for v in lrs):
        plots["learning_rate"] = _lr_plot(epochs, lrs, best_epoch, actions)
    return plots


def metric_names(history: Sequence[dict[str, Any]]) -> list[str]:
    """The metrics logged besides the loss, in the order the history names them (train_x or val_x)."""
    names: list[str] = []
    for entry in history:
        for key, value in entry.items():
            for prefix in ("train_", "val_"):
                name = key.removeprefix(prefix)
                if key.startswith(prefix) and name != "loss" and name not in names and _is_number(value):
                    names.append(name)
    return names


def _metric_plot(
    history: Sequence[dict[str, Any]],
    epochs: list[int],
    name: str,
    best_epoch: int | None,
    actions: list[tuple[int, str]],
) -> bytes:
    figure, axes = _figure()
    drawn: list[float] = []
    for prefix, label, color in (("train_", "train", TRAIN_COLOR), ("val_", "validation", VAL_COLOR)):
        values = [_value(entry.get(prefix + name)) for entry in history]
        if all(math.isnan(v) for v in values):
            continue
        axes.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
        drawn += [v for v in values if not math.isnan(v)]
    if not drawn:
        axes.text(0.5, 0.5, "no finite value: the run diverged", ha="center", transform=axes.transAxes, color="gray")
    positive = [v for v in drawn if v > 0]
    if name == "loss" and positive and len(positive) == len(drawn) and max(positive) / min(positive) > LOG_SCALE_SPAN:
        axes.set_yscale("log")
    _mark(axes, history, epochs, best_epoch, name, actions)
    axes.set_title(name.replace("_", " "))
    axes.set_xlabel("epoch")
    axes.set_ylabel(name.replace("_", " "))
    return _png(figure, axes)


def _lr_plot(epochs: list[int], lrs: list[float], best_epoch: int | None, actions: list[tuple[int, str]]) -> bytes:
    figure, axes = _figure()
    axes.step(epochs, lrs, where="post", marker="o", markersize=3, color=TRAIN_COLOR, label="learning rate")
    axes.set_yscale("log")
    if best_epoch is not None:
        axes.axvline(best_epoch, color=BEST_COLOR, linestyle="--", linewidth=1, label=f"best epoch {best_epoch}")
    _mark_actions(axes, actions)
    axes.set_title("learning rate (at each epoch's end)")
    axes.set_xlabel("epoch")
    axes.set_ylabel("learning rate (log scale)")
    return _png(figure, axes)


def _mark(
    axes: Any,
    history: Sequence[dict[str, Any]],
    epochs: list[int],
    best_epoch: int | None,
    name: str,
    actions: list[tuple[int, str]],
) -> None:
    """The best epoch as a dashed line with a star on this metric's validation (else training) value."""
    if best_epoch is not None and best_epoch in epochs:
        axes.axvline(best_epoch, color=BEST_COLOR, linestyle="--", linewidth=1, label=f"best epoch {best_epoch}")
        entry = history[epochs.index(best_epoch)]
        value = _value(entry.get(f"val_{name}", entry.get(f"train_{name}")))
        if not math.isnan(value):
            axes.plot([best_epoch], [value], marker="*", markersize=12, color=BEST_COLOR, linestyle="none")
    _mark_actions(axes, actions)


def _mark_actions(axes: Any, actions: list[tuple[int, str]]) -> None:
    for i, (epoch, action) in enumerate(actions):
        label = "autopilot action" if i == 0 else None
        axes.axvline(epoch, color=ACTION_COLOR, linestyle=":", linewidth=1.2, label=label)
        axes.annotate(
            action.replace("_", " "),
            (epoch, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=7,
            color=ACTION_COLOR,
        )


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, alpha=0.3)
    return figure, axes


def _png(figure: Figure, axes: Any) -> bytes:
    axes.xaxis.get_major_locator().set_params(integer=True)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _value(value: Any) -> float:
    return float(value) if _is_number(value) and math.isfinite(value) else math.nan


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
