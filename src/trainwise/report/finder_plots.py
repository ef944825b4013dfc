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

    from trainwise.diagnose.data_size import LearningCurveResult
    from trainwise.tune.batch_size import BatchSizeResult
    from trainwise.tune.compare import CompareResult
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


def plot_compare(result: CompareResult, path: Path) -> None:
    """Left: the validation metric per epoch, mean over seeds with a 95% band; right: final scores with CIs."""
    import numpy as np

    from trainwise.tune.compare import mean_ci

    figure = new_figure(10.0, 4.2)
    curves: Any = figure.add_subplot(1, 2, 1)
    finals: Any = figure.add_subplot(1, 2, 2)
    labels = []
    for i, variant in enumerate(result.variants):
        stats = result.stats(variant)
        runs = [[np.nan if v is None else v for v in curve] for curve in stats["curves"]]
        length = max((len(r) for r in runs), default=0)
        if length:
            padded = np.array([r + [np.nan] * (length - len(r)) for r in runs], dtype=float)
            bands = [mean_ci(list(padded[:, e])) for e in range(length)]
            mean = np.array([b[0] for b in bands])
            half = np.nan_to_num(np.array([b[1] for b in bands]))
            epochs = np.arange(1, length + 1)
            curves.plot(epochs, mean, color=f"C{i}", label=f"{variant.label} (lr {stats['learning_rate']:.2g})")
            curves.fill_between(epochs, mean - half, mean + half, color=f"C{i}", alpha=0.2)
        finals.errorbar(
            [i], [stats["score_mean"]], yerr=[np.nan_to_num(stats["score_ci95"])], fmt="o", color=f"C{i}", capsize=6
        )
        finals.scatter([i] * len(stats["scores"]), stats["scores"], color=f"C{i}", alpha=0.35, s=12)
        labels.append(variant.label)
    if result.target == result.target:
        curves.axhline(result.target, color="0.5", linestyle=":", label=f"target {result.target:.3g}")
    curves.set_xlabel("epoch")
    curves.set_ylabel(f"{result.score_key} (mean, 95% CI over seeds)")
    curves.set_title(f"varying {result.key}")
    curves.legend(fontsize="small")
    curves.grid(True, alpha=0.3)
    finals.set_xticks(range(len(labels)), labels, rotation=20)
    finals.set_xlabel(result.key)
    finals.set_ylabel(f"final {result.score_key}")
    finals.set_title("final score: mean, 95% CI, each seed")
    finals.grid(True, axis="y", alpha=0.3)
    save_figure(figure, path)


def plot_learning_curve(result: LearningCurveResult, path: Path) -> None:
    """Validation score against training samples (log x): each seed, the means, the power law out to 4x."""
    import numpy as np

    figure = new_figure()
    axes: Any = figure.add_subplot()
    for size, row in zip(result.sizes, result.scores, strict=True):
        axes.scatter([size] * len(row), row, color="C0", alpha=0.35, s=14)
    means = [float(np.nanmean(row)) for row in result.scores]
    axes.plot(result.sizes, means, "o", color="C0", label="measured (mean over seeds)")
    grid = np.geomspace(result.sizes[0], 4 * result.full_size, 100)
    axes.plot(grid, [result.predict(n) for n in grid], color="C1", label="power-law fit")
    if len(result.samples):
        bands = np.array([result.interval(n) for n in grid])
        axes.fill_between(grid, bands[:, 0], bands[:, 1], color="C1", alpha=0.2, label="95% interval (bootstrap)")
    for k in (2, 4):
        n = k * result.full_size
        low, high = result.interval(n)
        value = result.predict(n)
        axes.errorbar([n], [value], yerr=[[value - low], [high - value]], fmt="s", color="C3", capsize=5)
        axes.annotate(f"{k}x: {value:.3f}", (n, value), textcoords="offset points", xytext=(-20, 10))
    axes.axvline(result.full_size, color="0.5", linestyle=":", label=f"all data ({result.full_size})")
    if result.fit_up_to < 1:
        axes.axvline(result.fit_up_to * result.full_size, color="0.7", linestyle="--", label="fitted up to here")
    axes.set_xscale("log")
    axes.set_xlabel("training samples (log scale)")
    axes.set_ylabel(result.score_key)
    axes.set_title("Would more data help?")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    save_figure(figure, path)


def plot_batch_size(result: BatchSizeResult, path: Path) -> None:
    """Left: throughput per batch size; right: validation score after the same training budget (log2 x axes)."""
    figure = new_figure(10.0, 4.2)
    speed: Any = figure.add_subplot(1, 2, 1)
    score: Any = figure.add_subplot(1, 2, 2)
    measured = [c for c in result.candidates if c.samples_per_second]
    speed.plot([c.batch_size for c in measured], [c.samples_per_second for c in measured], "o-", color="C0")
    for c in result.candidates:
        if c.out_of_memory:
            speed.axvline(c.batch_size, color="C3", linestyle=":", label=f"out of memory at {c.batch_size}")
    speed.set_xscale("log", base=2)
    speed.set_xlabel("batch size (log2 scale)")
    speed.set_ylabel("training samples / second")
    speed.set_title("throughput")
    speed.grid(True, which="both", alpha=0.3)
    scored = [c for c in result.candidates if c.score is not None]
    score.plot([c.batch_size for c in scored], [c.score for c in scored], "o-", color="C1")
    best = next((c for c in scored if c.batch_size == result.recommended), None)
    if best is not None:
        score.plot(
            [best.batch_size],
            [best.score],
            "*",
            color="C3",
            markersize=16,
            label=f"recommended {best.batch_size} (lr {best.learning_rate:.2g})",
        )
        score.legend(fontsize="small")
    score.set_xscale("log", base=2)
    score.set_xlabel("batch size (log2 scale)")
    score.set_ylabel(f"{result.score_key} after {result.budget:g} s of training")
    score.set_title(f"same time budget; {result.rule}")
    score.grid(True, which="both", alpha=0.3)
    if any(c.out_of_memory for c in result.candidates):
        speed.legend(fontsize="small")
    save_figure(figure, path)
