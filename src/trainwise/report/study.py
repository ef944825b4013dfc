"""Plots and a self-contained HTML page for a tune study: history, learning curves, importance, Pareto front.

Matplotlib with the Agg backend (no display); every PNG is written atomically and embedded in the page as
base64, so `report.html` can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

from trainwise.atomic import atomic_write, atomic_write_text


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    data = buffer.getvalue()
    atomic_write(path, lambda handle: handle.write(data))
    return path


def history_png(result: Any, path: Path) -> Path | None:
    """Each trial's value (complete: dots, pruned: crosses) and the best so far; None without values."""
    points = [h for h in result.history if h["value"] is not None and math.isfinite(h["value"])]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    done = [h for h in points if h["state"] == "complete"]
    pruned = [h for h in points if h["state"] != "complete"]
    ax.scatter([h["number"] for h in done], [h["value"] for h in done], s=18, label="complete")
    ax.scatter([h["number"] for h in pruned], [h["value"] for h in pruned], s=18, marker="x", alpha=0.5, label="pruned")
    best = [h for h in result.history if h["best_so_far"] is not None]
    ax.step([h["number"] for h in best], [h["best_so_far"] for h in best], where="post", color="C3", label="best")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.metrics[0])
    ax.set_title(f"study {result.study}: optimization history")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def curves_png(result: Any, path: Path) -> Path | None:
    """Each trial's metric per epoch (what the pruner saw); pruned trials drawn faint."""
    rows = [r for r in result.leaderboard if r["intermediate"]]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in rows:
        steps = [int(k) for k in r["intermediate"]]
        faint = r["state"] != "complete"
        ax.plot(steps, list(r["intermediate"].values()), alpha=0.25 if faint else 0.8, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(result.metrics[0])
    ax.set_title("learning curves of every trial (pruned: faint)")
    return _save(fig, path)


def importance_png(result: Any, path: Path) -> Path | None:
    if not result.importance:
        return None
    plt = _pyplot()
    names = list(result.importance)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
    ax.barh(names, [result.importance[n] for n in names])
    ax.set_xlabel("importance (share of the variance of the objective)")
    ax.set_title("parameter importance")
    return _save(fig, path)


def pareto_png(result: Any, path: Path) -> Path | None:
    """All complete trials on the first two objectives, the Pareto front highlighted."""
    if len(result.metrics) < 2:
        return None
    complete = [r for r in result.leaderboard if r["state"] == "complete" and r["values"]]
    if not complete:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter([r["values"][0] for r in complete], [r["values"][1] for r in complete], s=16, alpha=0.5, label="trials")
    front = sorted(result.pareto, key=lambda r: r["values"][0])
    ax.plot([r["values"][0] for r in front], [r["values"][1] for r in front], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(f"{result.metrics[0]} ({result.directions[0]})")
    ax.set_ylabel(f"{result.metrics[1]} ({result.directions[1]})")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def study_report(result: Any, folder: Path) -> Path:
    """Write history/curves/importance/Pareto PNGs and `report.html` (images embedded) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    makers = {
        "history": history_png,
        "curves": curves_png,
        "importance": importance_png,
        "pareto": pareto_png,
    }
    images: dict[str, Path] = {}
    for name, make in makers.items():
        made = make(result, folder / f"study-{name}.png")
        if made is not None:
            images[name] = made
    page = _page(result, images)
    target = folder / "report.html"
    atomic_write_text(target, page)
    return target


def _page(result: Any, images: dict[str, Path]) -> str:
    esc = html.escape
    summary = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>" for k, v in result.summary().items())
    headers = ["rank", "trial", "state", *result.metrics, "params", "epochs", "pruned at", "note"]
    rows = []
    for r in result.leaderboard:
        values = r["values"] or [None] * len(result.metrics)
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items())
        cells = [r["rank"], r["number"], r["state"], *values, params, r["epochs"], r["pruned_at"], r["reason"] or ""]
        rows.append("<tr>" + "".join(f"<td>{esc(_fmt(c))}</td>" for c in cells) + "</tr>")
    figures = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"></figure>'
        for name, path in images.items()
    )
    note = f"<p>{esc(result.importance_note)}</p>" if result.importance_note else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>study {esc(result.study)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}}figure{{display:inline-block;margin:.5em}}
</style></head><body>
<h1>Study {esc(result.study)}</h1>
<table id="summary">{summary}</table>
{figures}{note}
<h2>Leaderboard</h2>
<table id="leaderboard"><tr>{"".join(f"<th>{esc(h)}</th>" for h in headers)}</tr>{"".join(rows)}</table>
</body></html>
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
