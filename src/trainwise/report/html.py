"""`trainwise.report`: one self-contained HTML file per run (inline CSS, plots as base64 PNG, no requests).

It shows the outcome, the findings and autopilot actions, the curves with the best epoch marked, the results
of the other commands found in the run directory (any `<command>.json` with a `"summary"` object, beside its
`<command>.png`), the config, and the data and system facts. Every string from a file is escaped.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from trainwise.atomic import atomic_write_text
from trainwise.diagnose.rundata import FACTS, FINDINGS, HISTORY, check_run_dir, load_history, load_json
from trainwise.report.plots import metric_names, run_plots
from trainwise.report.style import CSS

REPORT = "report.html"
OWN_FILES = {"summary.json", FACTS, FINDINGS}  # the run's own records; any other *.json with a summary is a result


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's HTML report to `out` (default: RUN_DIR/report.html) and return its path.

    >>> trainwise.report("runs/mlp")                      # doctest: +SKIP
    PosixPath('runs/mlp/report.html')
    """
    folder = check_run_dir(run_dir)
    target = Path(out) if out is not None else folder / REPORT
    atomic_write_text(target, render(folder))
    return target


def render(folder: Path) -> str:
    """The report of the run in `folder` as one HTML document."""
    history = load_history(folder)
    summary = load_json(folder / "summary.json") or {}
    facts = load_json(folder / FACTS) or {}
    findings = _findings(folder)
    best = summary.get("best_epoch") if isinstance(summary.get("best_epoch"), int) else None
    plots = run_plots(history, best)
    title = f"trainwise report: {folder.resolve().name}"
    sections = [
        _outcome(folder, history, summary, facts),
        _findings_section(findings),
        _actions_section(history),
        _curves_section(plots),
        _results_section(folder),
        _epochs_section(history),
        _config_section(folder),
        _facts_section(facts),
    ]
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(title)}</h1>"
        f"<p class='muted'>{escape(str(folder))} &middot; written {created}</p></header>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body>\n</html>\n"
    )


# --- sections ------------------------------------------------------------------------------------------


def _outcome(folder: Path, history: list[dict[str, Any]], summary: dict[str, Any], facts: dict[str, Any]) -> str:
    final = history[-1]
    data = (facts.get("data") or {}).get("name") or summary.get("data") or ""
    reason = summary.get("stopped_reason", "")
    best = summary.get("best_epoch")
    cards = [
        ("data", data),
        ("epochs", f"{len(history)}"),
        ("stopped", reason),
        ("best epoch", f"{best} ({summary.get('monitor', '')} {_num(summary.get('best_value'))})" if best else "-"),
        ("training time", f"{sum(_float(e.get('seconds')) for e in history):.1f} s"),
    ]
    card_html = "".join(f"<div class='card'><span>{escape(k)}</span><b>{escape(str(v))}</b></div>" for k, v in cards)
    kept = _kept(history, summary)
    names = ["loss", *metric_names(history)]
    saved_test = summary.get("test")
    test: dict[str, Any] = saved_test if isinstance(saved_test, dict) else {}
    rows = [
        [name, _num(kept.get(f"train_{name}")), _num(kept.get(f"val_{name}")), _num(test.get(name))] for name in names
    ]
    kept_note = f"weights of epoch {kept.get('epoch', final.get('epoch'))}"
    return (
        "<section><h2>Outcome</h2>"
        f"<div class='cards'>{card_html}</div>"
        f"<h3>Metrics ({escape(kept_note)})</h3>"
        + _table(["metric", "train", "validation", "test"], rows)
        + "</section>"
    )


def _findings_section(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<section><h2>Diagnosis</h2><p class='ok'>No finding: the curves look healthy.</p></section>"
    items = []
    for finding in findings:
        severity = str(finding.get("severity", "info"))
        remedies = "".join(f"<li><code>{escape(str(r))}</code></li>" for r in finding.get("remedies", []))
        items.append(
            f"<div class='finding {escape(severity)}'>"
            f"<div class='head'><span class='badge'>{escape(severity)}</span> "
            f"<b>{escape(str(finding.get('title', '')))}</b> "
            f"<span class='muted'>({escape(str(finding.get('kind', '')))})</span></div>"
            f"<p>{escape(str(finding.get('evidence', '')))}</p>"
            + (f"<p class='muted'>What to try:</p><ul class='remedies'>{remedies}</ul>" if remedies else "")
            + "</div>"
        )
    return f"<section><h2>Diagnosis</h2>{''.join(items)}</section>"


def _actions_section(history: list[dict[str, Any]]) -> str:
    rows = [
        [
            entry.get("epoch"),
            action.get("action", ""),
            action.get("reason", ""),
            action.get("step", ""),
            f"{_num(action.get('lr_before'))} → {_num(action.get('lr_after'))}",
        ]
        for entry in history
        for action in entry.get("autopilot", [])
        if isinstance(action, dict)
    ]
    if not rows:
        return ""
    header = ["epoch", "action", "reason", "step", "learning rate"]
    return f"<section><h2>Autopilot actions</h2>{_table(header, rows)}</section>"


def _curves_section(plots: dict[str, bytes]) -> str:
    figures = "".join(_image(png, f"{name.replace('_', ' ')} per epoch") for name, png in plots.items())
    legend = "<p class='muted'>Dashed green line: the best epoch; dotted red lines: autopilot actions.</p>"
    return f"<section><h2>Curves</h2>{legend}<div class='grid'>{figures}</div></section>"


def _results_section(folder: Path) -> str:
    """Every other command's result in the run directory: `<command>.json` with a "summary", plus its PNG."""
    blocks = []
    for path in sorted(folder.glob("*.json")):
        if path.name in OWN_FILES:
            continue
        data = load_json(path)
        summary = data.get("summary") if data else None
        if not isinstance(summary, dict):
            continue
        rows = [[key, _num(value) if isinstance(value, (int, float)) else value] for key, value in summary.items()]
        png = path.with_suffix(".png")
        picture = _image(png.read_bytes(), f"{path.stem} plot") if png.is_file() else ""
        blocks.append(
            f"<div class='result'><h3>{escape(path.stem.replace('_', ' '))}</h3><div class='grid'>"
            f"<div>{_table(['', 'value'], rows)}</div>{picture}</div></div>"
        )
    return f"<section><h2>Other results</h2>{''.join(blocks)}</section>" if blocks else ""


def _epochs_section(history: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for entry in history:
        keys += [k for k, v in entry.items() if k not in keys and (isinstance(v, (int, float)) or v is None)]
    rows = [[_num(entry.get(key)) if key != "epoch" else entry.get(key) for key in keys] for entry in history]
    return (
        f"<section><h2>Epochs</h2><details><summary>{len(history)} epochs, from {HISTORY}</summary>"
        + _table(keys, rows, numeric=True)
        + "</details></section>"
    )


def _config_section(folder: Path) -> str:
    config = folder / "config.toml"
    if not config.is_file():
        return ""
    text = config.read_text(encoding="utf-8", errors="replace")
    return f"<section><h2>Config</h2><pre>{escape(text)}</pre></section>"


def _facts_section(facts: dict[str, Any]) -> str:
    if not facts:
        return ""
    parts = []
    for group in ("data", "model", "system"):
        values = facts.get(group)
        if isinstance(values, dict):
            parts.append(f"<div><h3>{group}</h3>{_table(['', ''], [[k, _plain(v)] for k, v in values.items()])}</div>")
    when = [[k, _plain(facts[k])] for k in ("started", "finished", "wall_seconds", "stopped_reason") if k in facts]
    if when:
        parts.append(f"<div><h3>run</h3>{_table(['', ''], when)}</div>")
    return f"<section><h2>Data and system</h2><div class='grid facts'>{''.join(parts)}</div></section>"


# --- helpers -------------------------------------------------------------------------------------------


def _findings(folder: Path) -> list[dict[str, Any]]:
    saved = load_json(folder / FINDINGS)
    if saved is not None and isinstance(saved.get("findings"), list):
        return [f for f in saved["findings"] if isinstance(f, dict)]
    from trainwise.diagnose.run import diagnose

    return [finding.to_dict() for finding in diagnose(folder, write=False)]


def _kept(history: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """The epoch whose weights the run kept: the restored best when early stopping or the autopilot restored one."""
    epochs = {entry.get("epoch"): entry for entry in history}
    reason = summary.get("stopped_reason")
    best = summary.get("best_epoch")
    if reason in ("early_stopping", "overfitting") and best in epochs:
        return epochs[best]
    return history[-1]


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: bool = False) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_plain(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    css = " class='numeric'" if numeric else ""
    return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<figure><img alt='{escape(alt)}' src='data:image/png;base64,{data}'></figure>"


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    return f"{value:.4g}"


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float):
        return _num(value)
    return "-" if value is None else str(value)
