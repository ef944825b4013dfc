"""Comparing recorded runs: the config keys that differ, their final metrics, and an overlay plot (matplotlib).

Writes `runs_compare.json` (with a flat `"summary"`) and `runs_compare.png`, the `<command>.json + .png` pair
every command leaves in the folder it writes to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainwise.atomic import atomic_write, atomic_write_text

BOOKKEEPING = ("lr", "step", "seconds")  # logged each epoch, but not results worth comparing


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"optimizer": {"name": "adam"}}` -> `{"optimizer.name": "adam"}` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def differing_config(runs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Config key -> each run's value, for the keys whose values are not all equal (missing counts as None)."""
    flats = [flatten(r["config"]) for r in runs]
    keys = sorted({k for f in flats for k in f})
    table = {k: [f.get(k) for f in flats] for k in keys}
    return {k: values for k, values in table.items() if any(v != values[0] for v in values[1:])}


def final_metrics(runs: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Metric -> each run's final value, over the metrics any of the runs has."""
    keys = sorted({k for r in runs for k in r["final"] if k not in BOOKKEEPING})
    return {k: [r["final"].get(k) for r in runs] for k in keys}


def plotted_metrics(runs: list[dict[str, Any]]) -> list[str]:
    """The curves worth overlaying: the losses, then the first validation metric that is not a loss."""
    keys = {k for r in runs for e in r["history"] for k, v in e.items() if isinstance(v, (int, float))}
    chosen = [k for k in ("train_loss", "val_loss") if k in keys]
    extra = sorted(k for k in keys if k.startswith("val_") and k != "val_loss")
    return chosen + extra[:1]


def overlay_plot(runs: list[dict[str, Any]], path: Path) -> None:
    """One panel per metric, one line per run (validation solid, training dashed), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = plotted_metrics(runs)
    losses = [m for m in metrics if m.endswith("_loss")]
    panels = [losses, *[[m] for m in metrics if m not in losses]] if losses else [[m] for m in metrics]
    panels = panels or [[]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(axes[0], panels, strict=True):
        for i, run in enumerate(runs):
            for metric in panel:
                points = [(e["epoch"], e[metric]) for e in run["history"] if e.get(metric) is not None]
                if not points:
                    continue
                xs, ys = zip(*points, strict=True)
                style = "--" if metric.startswith("train_") else "-"
                label = f"#{run['id']} {run['name']} {metric}"
                ax.plot(xs, ys, style, color=colors[i % len(colors)], label=label, marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(" / ".join(panel) or "no metrics recorded")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)


def compare_runs(runs: list[dict[str, Any]], out: Path | None) -> dict[str, Any]:
    """The comparison as plain data; with `out`, also `runs_compare.json` and `runs_compare.png` there."""
    metrics = final_metrics(runs)
    summary: dict[str, Any] = {"runs": len(runs), "differing config keys": 0}
    diff = differing_config(runs)
    summary["differing config keys"] = len(diff)
    for key in ("val_loss", "val_accuracy", "test_accuracy"):
        values = metrics.get(key)
        if values and any(v is not None for v in values):
            best = (max if key.endswith("accuracy") else min)(v for v in values if v is not None)
            summary[f"best {key}"] = best
            summary[f"best {key} run"] = runs[values.index(best)]["id"]
    result = {
        "summary": summary,
        "runs": [{"id": r["id"], "name": r["name"], "status": r["status"]} for r in runs],
        "config": diff,
        "metrics": metrics,
    }
    if out is not None:
        overlay_plot(runs, out / "runs_compare.png")
        result["plot"] = str(out / "runs_compare.png")
        atomic_write_text(out / "runs_compare.json", json.dumps(result, indent=2, default=str) + "\n")
    return result
