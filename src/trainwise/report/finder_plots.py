"""PNG plots of the finder commands (lr-find, batch-size, learning-curve, compare): matplotlib, Agg backend.

Each plot is drawn into memory and written atomically, so a crash never leaves half a PNG behind.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainwise.atomic import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from trainwise.tune.lr_find import LRFindResult


def new_figure(width: float = 7.0, height: float = 4.2) -> Figure:
    """A figure that needs no display (no pyplot state, so it is safe in threads and servers)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save_figure(figure: Figure, path: Path) -> None:
    """Render to PNG in memory, then replace `path` atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def plot_lr_find(result: LRFindResult, path: Path) -> None:
    """Smoothed (and raw) training loss against the learning rate on a log axis, the suggestion marked."""
    figure = new_figure()
    axes: Any = figure.add_subplot()
    axes.plot(result.lrs, result.raw_losses, color="0.75", linewidth=0.8, label="loss per step")
    axes.plot(result.lrs, result.losses, color="C0", linewidth=2, label="smoothed loss")
    axes.axvline(result.suggestion, color="C3", linestyle="--", label=f"suggested {result.suggestion:.2g}")
    configured = result.recipe.optimizer.learning_rate
    if result.lrs and result.lrs[0] <= configured <= result.lrs[-1]:
        axes.axvline(configured, color="0.4", linestyle=":", label=f"configured {configured:.2g}")
    axes.set_xscale("log")
    low, high = min(result.losses), max(result.losses[: max(3, len(result.losses) // 10)])
    axes.set_ylim(low - 0.1 * abs(high - low) - 1e-9, high + 0.4 * abs(high - low) + 1e-9)
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("training loss")
    axes.set_title(f"LR range test ({result.recipe.optimizer.name}): {result.rule.split(':')[0]} rule")
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    save_figure(figure, path)
