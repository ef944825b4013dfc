"""A run's history as a pandas DataFrame and as matplotlib curves: what `FitResult.to_pandas()` / `.plot()` do.

pandas and matplotlib are optional (the `notebook` extra); a missing one is an error that names the extra.
"""

from __future__ import annotations

import sys
from typing import Any

from trainwise.errors import TrainwiseError


def history_frame(history: list[dict[str, Any]]) -> Any:
    """One row per epoch, indexed by epoch, one column per logged value (NaN where a value is missing)."""
    try:
        import pandas as pd
    except ImportError:
        raise TrainwiseError("to_pandas() needs pandas: pip install 'trainwise[notebook]' (or pandas)") from None
    frame = pd.DataFrame.from_records(history)
    return frame.set_index("epoch") if "epoch" in frame.columns else frame


def plot_history(history: list[dict[str, Any]], title: str | None = None) -> Any:
    """Loss curves (train and validation) and, beside them, each metric's curves; returns the Figure."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TrainwiseError("plot() needs matplotlib: pip install 'trainwise[notebook]' (or matplotlib)") from None
    _display_inline(Figure)
    epochs = [entry.get("epoch", i + 1) for i, entry in enumerate(history)]
    names = sorted({_name(key) for entry in history for key in entry if key.startswith(("train_", "val_"))})
    names.sort(key=lambda name: name != "loss")  # loss first
    fig = Figure(figsize=(4.5 * max(1, len(names)), 3.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        for split in ("train", "val"):
            values = [entry.get(f"{split}_{name}") for entry in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [float("nan") if v is None else v for v in values], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def _name(key: str) -> str:
    return key.split("_", 1)[1]


def _display_inline(figure_type: type) -> None:
    """In IPython, show a returned Figure as a PNG (a Figure made without pyplot has no display of its own)."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(figure_type, lambda fig: print_figure(fig, "png"))
