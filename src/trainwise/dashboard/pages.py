"""The dashboard's HTML: plain functions returning strings, every user-supplied value escaped by `e()`.

No inline scripts: pages carry data in `data-*` attributes and load /static/dashboard.js, so the
Content-Security-Policy can forbid inline code (a second wall behind the escaping).
"""

from __future__ import annotations

import html
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from trainwise.store.compare import flatten

STATUSES = ("running", "finished", "failed", "diverged", "killed", "interrupted")


def e(value: Any) -> str:
    """Escape any value for HTML text and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else e(value)


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def layout(title: str, body: str, *, plotly: bool = False) -> str:
    scripts = '<script src="/static/plotly.min.js"></script>' if plotly else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)} - trainwise</title>"
        '<link rel="icon" href="data:,"><link rel=stylesheet href="/static/style.css">'
        f'{scripts}<script src="/static/dashboard.js" defer></script></head><body>'
        '<nav><a href="/">runs</a> <a href="/studies">studies</a></nav>'
        f"<main>{body}</main></body></html>"
    )


def runs_page(rows: list[dict[str, Any]], total: int, params: dict[str, Any], tasks: list[str]) -> str:
    """The runs table with filters (task, status, tag), sort, paging, and boxes to overlay several runs."""
    metrics = metric_columns(rows, params["sort"])

    def options(name: str, values: list[str]) -> str:
        chosen = params.get(name) or ""
        items = [f'<option value=""{" selected" if not chosen else ""}>any {name}</option>']
        items += [f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(v)}</option>' for v in values]
        return f'<select name="{name}">{"".join(items)}</select>'

    def sort_link(key: str) -> str:
        query = {k: v for k, v in params.items() if v and k not in ("sort", "offset")}
        return f'<a href="/?{e(urlencode({**query, "sort": key}))}">{e(key)}</a>'

    filters = (
        '<form method=get action="/" class=filters>'
        f"{options('task', tasks)}{options('status', list(STATUSES))}"
        f'<input name=tag placeholder=tag value="{e(params.get("tag") or "")}">'
        f'<input name=sort placeholder=sort value="{e(params["sort"])}">'
        "<button>filter</button></form>"
    )
    head = "".join(f"<th>{sort_link(c)}</th>" for c in ("id", "name")) + "<th>task</th>"
    head += f"<th>{sort_link('status')}</th><th>{sort_link('started')}</th><th>{sort_link('epochs')}</th>"
    head += "".join(f"<th>{sort_link(m)}</th>" for m in metrics) + "<th>tags</th><th>study</th>"
    body = []
    for row in rows:
        cells = [
            f'<td><input type=checkbox name=ids value="{row["id"]}" form=overlay aria-label="select run {row["id"]}">'
            f' <a href="/runs/{row["id"]}">{row["id"]}</a></td>',
            f'<td class=name><a href="/runs/{row["id"]}">{e(row["name"])}</a></td>',
            f"<td>{e(row['task'])}</td>",
            f'<td class="status {e(row["status"])}">{e(row["status"])}</td>',
            f"<td>{when(row['started_at'])}</td>",
            f"<td class=num>{row['epochs']}</td>",
            *(f"<td class=num>{num(row['final'].get(m))}</td>" for m in metrics),
            f"<td>{e(', '.join(row['tags']))}</td>",
            f"<td>{_study_link(row)}</td>",
        ]
        body.append(f'<tr data-run-id="{row["id"]}">{"".join(cells)}</tr>')
    shown = f"{len(rows)} of {total} runs" if total > len(rows) else f"{total} runs"
    nxt = ""
    if params["offset"] + len(rows) < total:
        query = {k: v for k, v in params.items() if v}
        query["offset"] = params["offset"] + len(rows)
        nxt = f' <a href="/?{e(urlencode(query))}">next page</a>'
    return layout(
        "runs",
        f"<h1>runs</h1>{filters}"
        '<form id=overlay method=get action="/compare"><button>overlay selected runs</button></form>'
        f'<p class=count id=run-count data-total="{total}">{shown}{nxt}</p>'
        f"<table id=runs><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    )


def _study_link(row: dict[str, Any]) -> str:
    if not row.get("study"):
        return ""
    trial = f" #{e(row['trial'])}" if row.get("trial") is not None else ""
    return f'<a href="/studies/{e(quote(row["study"], safe=""))}">{e(row["study"])}</a>{trial}'


def metric_columns(rows: list[dict[str, Any]], sort: str, limit: int = 5) -> list[str]:
    keys = {k for r in rows for k in r["final"]}
    ordered = [sort] if sort in keys else []
    ordered += sorted(k for k in keys if k.startswith("val_"))
    ordered += sorted(k for k in keys if k.startswith("test_"))
    return list(dict.fromkeys(ordered))[:limit]


def run_page(run: dict[str, Any]) -> str:
    """One run: facts, live curves (polled), findings, autopilot actions, artifacts and config."""
    rid = run["id"]
    facts = [
        ("status", f'<span id=run-status class="status {e(run["status"])}">{e(run["status"])}</span>'),
        ("task", e(run["task"])),
        ("started", when(run["started_at"])),
        ("ended", when(run["ended_at"])),
        ("epochs", f"<span id=run-epochs>{run['epochs']}</span>"),
        ("stopped because", e(run.get("stopped_reason") or "-")),
        ("host / pid", f"{e(run['host'])} / {run['pid']}"),
        ("run directory", e(run["run_dir"])),
        ("tags", e(", ".join(run["tags"]) or "-")),
    ]
    if run.get("study"):
        facts.append(("tuning trial", _study_link(run)))
    if run.get("error"):
        facts.append(("error", e(run["error"])))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    reports = [a for a in run["artifacts"] if a["kind"] == "report"]
    report_links = "".join(f'<a class=report href="{_file_url(rid, a["path"])}">{e(a["path"])}</a> ' for a in reports)
    parts = [
        f"<h1>run {rid}: <span class=name>{e(run['name'])}</span></h1>",
        f"<p>{report_links}</p>" if reports else "",
        f"<dl class=facts>{dl}</dl>",
        f'<div id=curves data-run-id="{rid}" data-status="{e(run["status"])}">'
        "<div id=curve-loss class=chart></div><div id=curve-metrics class=chart></div></div>",
        findings_section(run["findings"]),
        autopilot_section(run["history"]),
        artifacts_section(rid, run["artifacts"]),
        table_section("final metrics", run["final"]),
        table_section("config", flatten(run["config"])),
    ]
    return layout(f"run {rid}", "".join(parts), plotly=True)


def findings_section(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<h2>findings</h2><p>none recorded</p>"
    rows = "".join(
        f'<tr><td class="severity {e(f["severity"])}">{e(f["severity"])}</td><td>{e(f["kind"])}</td>'
        f"<td>{e(f['title'])}</td><td>{e(f['evidence'])}</td>"
        f"<td><ul>{''.join(f'<li>{e(r)}</li>' for r in f['remedies'])}</ul></td></tr>"
        for f in findings
    )
    head = "<tr><th>severity</th><th>kind</th><th>finding</th><th>evidence</th><th>remedies</th></tr>"
    return f"<h2>findings</h2><table id=findings>{head}{rows}</table>"


def autopilot_section(history: list[dict[str, Any]]) -> str:
    actions = [
        (logs.get("epoch"), act) for logs in history for act in (logs.get("autopilot") or []) if isinstance(act, dict)
    ]
    if not actions:
        return ""
    rows = "".join(
        f"<tr><td>{e(epoch)}</td><td>{e(a.get('step'))}</td><td>{e(a.get('action'))}</td><td>{e(a.get('reason'))}</td>"
        f"<td>{e(_details(a))}</td></tr>"
        for epoch, a in actions
    )
    head = "<tr><th>epoch</th><th>step</th><th>action</th><th>reason</th><th>details</th></tr>"
    return f"<h2>autopilot actions</h2><table id=autopilot>{head}{rows}</table>"


def _details(action: dict[str, Any]) -> str:
    rest = {k: v for k, v in action.items() if k not in ("action", "reason", "step")}
    return json.dumps(rest, default=str) if rest else ""


def _file_url(run_id: int, path: str) -> str:
    return e(f"/files/{run_id}/{quote(path)}")


def artifacts_section(run_id: int, artifacts: list[dict[str, Any]]) -> str:
    if not artifacts:
        return ""
    items = "".join(
        f'<li><a href="{_file_url(run_id, a["path"])}">{e(a["path"])}</a> ({e(a["kind"])}, {a["size"]} bytes)</li>'
        for a in artifacts
    )
    images = "".join(
        f'<figure><img src="{_file_url(run_id, a["path"])}" alt="{e(a["path"])}"><figcaption>{e(a["path"])}'
        "</figcaption></figure>"
        for a in artifacts
        if a["kind"] == "plot"
    )
    return f"<h2>artifacts</h2><ul id=artifacts>{items}</ul>{images}"


def table_section(title: str, items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{e(k)}</td><td class=num>{num(v)}</td></tr>" for k, v in items.items())
    return f"<h2>{e(title)}</h2><table class=kv>{rows}</table>"


def compare_page(runs: list[dict[str, Any]]) -> str:
    names = "".join(
        f'<li><a href="/runs/{r["id"]}">#{r["id"]} {e(r["name"])}</a> ({e(r["status"])})</li>' for r in runs
    )
    ids = ",".join(str(r["id"]) for r in runs)
    return layout(
        "overlay",
        f"<h1>overlay of {len(runs)} runs</h1><ul>{names}</ul>"
        f'<div id=overlay-charts data-run-ids="{ids}"><div id=overlay-loss class=chart></div>'
        "<div id=overlay-metrics class=chart></div></div>",
        plotly=True,
    )


def studies_page(studies: list[dict[str, Any]], note: str = "") -> str:
    rows = "".join(
        f'<tr><td><a href="/studies/{e(quote(s["name"], safe=""))}">{e(s["name"])}</a></td>'
        f"<td>{e(s['directions'])}</td><td class=num>{s['trials']}</td><td class=num>{num(s['best'])}</td></tr>"
        for s in studies
    )
    head = "<tr><th>study</th><th>direction</th><th>trials</th><th>best value</th></tr>"
    body = f"<p>{e(note)}</p>" if note else f"<table id=studies>{head}{rows}</table>"
    return layout("studies", f"<h1>studies</h1>{body}")


def study_page(name: str, info: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    charts = "".join(
        f'<section><h2>{e(title)}</h2><div id="study-{key}" class=chart></div></section>'
        for key, title in (
            ("history", "optimization history"),
            ("importance", "hyperparameter importance"),
            ("parallel", "parallel coordinates"),
            ("pareto", "Pareto front"),
        )
    )
    return layout(
        f"study {name}",
        f"<h1>study <span class=name>{e(name)}</span></h1><p>{e(info['directions'])}, {info['trials']} trials, "
        f"best value {num(info['best'])}</p>"
        f'<div id=study data-study="{e(name)}">{charts}</div>{trial_runs(runs)}',
        plotly=True,
    )


def trial_runs(runs: list[dict[str, Any]]) -> str:
    """The recorded runs that are trials of the study, linked to their run pages."""
    if not runs:
        return "<h2>runs of this study</h2><p>no recorded runs are trials of this study</p>"
    rows = "".join(
        f'<tr><td>{e(r["trial"])}</td><td><a href="/runs/{r["id"]}">#{r["id"]} {e(r["name"])}</a></td>'
        f'<td class="status {e(r["status"])}">{e(r["status"])}</td>'
        f"<td class=num>{num(r['final'].get('val_loss'))}</td></tr>"
        for r in runs
    )
    head = "<tr><th>trial</th><th>run</th><th>status</th><th>val_loss</th></tr>"
    return f"<h2>runs of this study</h2><table id=trial-runs>{head}{rows}</table>"
