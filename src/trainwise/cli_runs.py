"""The `trainwise runs ...` and `trainwise dashboard` commands: parse, call the store's API, print.

Kept out of cli.py so the store's commands import only what they need (SQLAlchemy, rich; never torch):
`trainwise runs ls` starts fast.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from trainwise.errors import TrainwiseError

STATUS_CHOICES = ("running", "finished", "failed", "diverged", "killed", "interrupted")
METRIC_COLUMNS = 5


def add_runs_commands(commands: Any) -> None:
    """Add `runs ls|show|compare|rm|export|tag` to the CLI's subcommands."""
    runs = commands.add_parser("runs", help="recorded runs: list, show, compare, tag, export, remove")
    from trainwise.cli import _Parser

    sub = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)

    ls = sub.add_parser("ls", help="list runs (newest first)")
    ls.add_argument("--task", help="only runs of this task")
    ls.add_argument("--status", choices=STATUS_CHOICES, help="only runs with this status")
    ls.add_argument("--tag", help="only runs with this tag")
    ls.add_argument("--sort", default="started", help="started (default), id, name, status, epochs, or a metric")
    ls.add_argument("--limit", type=int, default=50, help="at most N runs (default 50; 0: all)")
    _common(ls)
    ls.set_defaults(func=cmd_runs_ls)

    show = sub.add_parser("show", help="one run: config, metrics, findings, artifacts")
    show.add_argument("id", type=int)
    _common(show)
    show.set_defaults(func=cmd_runs_show)

    compare = sub.add_parser("compare", help="configs that differ, final metrics, and an overlay plot")
    compare.add_argument("ids", type=int, nargs="+", metavar="ID")
    compare.add_argument("--out", default=".", help="folder for runs_compare.json and runs_compare.png (default .)")
    _common(compare)
    compare.set_defaults(func=cmd_runs_compare)

    rm = sub.add_parser("rm", help="remove a run's records (its run directory stays)")
    rm.add_argument("id", type=int)
    rm.add_argument("--yes", action="store_true", help="do not ask")
    _common(rm)
    rm.set_defaults(func=cmd_runs_rm)

    export = sub.add_parser("export", help="a run's epochs as CSV, or everything as JSON")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=("csv", "json"), default="json")
    export.add_argument("--out", help="write to this file (default: stdout)")
    export.add_argument("--storage", help="database URL (default: $TRAINWISE_STORAGE or ./trainwise.db)")
    export.set_defaults(func=cmd_runs_export)

    tag = sub.add_parser("tag", help="tag a run")
    tag.add_argument("id", type=int)
    tag.add_argument("name")
    _common(tag)
    tag.set_defaults(func=cmd_runs_tag)


def add_dashboard_command(commands: Any) -> None:
    """Add `trainwise dashboard`."""
    dash = commands.add_parser("dashboard", help="a local web dashboard of runs and studies (read-only)")
    dash.add_argument("--port", type=int, default=8765)
    dash.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dash.add_argument("--storage", help="database URL (default: $TRAINWISE_STORAGE or ./trainwise.db)")
    dash.set_defaults(func=cmd_dashboard)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--storage", help="database URL (default: $TRAINWISE_STORAGE or ./trainwise.db)")


def _store(args: argparse.Namespace, *, create: bool = False) -> Any:
    from trainwise.store.runs import RunStore

    return RunStore(args.storage, create=create)


# --- commands ------------------------------------------------------------------------------------------


def cmd_runs_ls(args: argparse.Namespace) -> int:
    from trainwise.store.query import RunQuery

    if args.limit < 0:
        raise TrainwiseError(f"--limit must be >= 0, got {args.limit}")
    store = _store(args)
    store.reap()
    query = RunQuery(task=args.task, status=args.status, tag=args.tag, sort=args.sort, limit=args.limit or None)
    rows, total = store.list_runs(query)
    if args.json:
        print(json.dumps({"total": total, "runs": rows}, default=str))
        return 0
    from rich.table import Table

    metrics = _metric_columns(rows, args.sort)
    columns: dict[str, list[str]] = {
        "id": [str(row["id"]) for row in rows],
        "name": [row["name"] for row in rows],
        "task": [row["task"] for row in rows],
        "status": [row["status"] for row in rows],
        "started": [_when(row["started_at"]) for row in rows],
        "epochs": [str(row["epochs"]) for row in rows],
        **{m: [_num(row["final"].get(m)) for row in rows] for m in metrics},
        "tags": [", ".join(row["tags"]) for row in rows],
    }
    console = _console()
    columns, hidden = fit_columns(columns, [row["started_at"] for row in rows], metrics, console.width)
    title = f"{len(rows)} of {total} runs" if total > len(rows) else f"{total} runs"
    if "task" in hidden and rows:
        title += f"; task: {rows[0]['task']}"  # the column was left out: every row said the same
    hidden = [h for h in hidden if h not in ("tags", "task")]  # an empty tags column or one task: nothing lost
    table = Table(title=title)
    if hidden:
        table.caption = f"not shown at {console.width} columns: {', '.join(hidden)} (--json has every field)"
    for column in columns:
        numeric = column in ("id", "epochs", *metrics)
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column != "name")
    for cells in zip(*columns.values(), strict=True):
        table.add_row(*cells)
    console.print(table)
    return 0


def fit_columns(
    columns: dict[str, list[str]], started: list[float | None], metrics: list[str], width: int
) -> tuple[dict[str, list[str]], list[str]]:
    """The `runs ls` columns that fit `width` terminal columns with every value whole (a cut-off `0.86…` or
    `fini…` tells nothing): an empty tags column and a task column that is the same on every row go first,
    then the start time loses its year and seconds, then metrics after the first go (the rightmost first),
    then the start time and the epochs. The id, name, status and first metric always stay. Returns the
    columns kept and the names of those left out."""
    kept = dict(columns)
    hidden: list[str] = []

    steps: list[str] = []
    if not any(kept["tags"]):
        steps.append("tags")
    if len(set(kept["task"])) <= 1:
        steps.append("task")
    steps += ["short start", *reversed(metrics[1:]), "started", "epochs"]
    for step in steps:
        if _table_width(kept) <= width:
            break
        if step == "short start":
            kept["started"] = [_when(s, short=True) for s in started]
        else:
            del kept[step]
            hidden.append(step)
    return kept, hidden


def _table_width(columns: dict[str, list[str]]) -> int:
    """The width rich gives a table of these columns (header: cells) unwrapped: one space either side of each
    cell, one border between columns and around them."""
    return sum(max([len(name), *map(len, cells)]) + 3 for name, cells in columns.items()) + 1


def cmd_runs_show(args: argparse.Namespace) -> int:
    from trainwise.store.compare import flatten

    store = _store(args)
    store.reap()
    run = store.get(args.id)
    if args.json:
        print(json.dumps(run, default=str))
        return 0
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    ended = _when(run["ended_at"]) if run["ended_at"] else "-"
    console.print(f"[bold]run {run['id']}[/bold] {escape(run['name'])}  status {run['status']}")
    console.print(f"task {escape(run['task'])}  started {_when(run['started_at'])}  ended {ended}", markup=False)
    console.print(f"host {run['host']}  pid {run['pid']}  epochs {run['epochs']}  dir {run['run_dir']}", markup=False)
    if run["study"]:
        console.print(f"tuning: study {run['study']}, trial {run['trial']}", markup=False)
    if run["tags"]:
        console.print(f"tags: {', '.join(run['tags'])}", markup=False)
    for title, items in (("config", flatten(run["config"])), ("final metrics", run["final"])):
        table = Table(title=title)
        table.add_column("key")
        table.add_column("value", justify="right")
        for key, value in items.items():
            table.add_row(key, _num(value) if isinstance(value, float) else str(value))
        console.print(table)
    for finding in run["findings"]:
        console.print(f"finding [{finding['severity']}] {finding['title']}: {finding['evidence']}", markup=False)
    for artifact in run["artifacts"]:
        console.print(f"artifact {artifact['kind']}: {artifact['path']} ({artifact['size']} bytes)", markup=False)
    return 0


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from trainwise.store.compare import compare_runs

    store = _store(args)
    runs = [store.get(run_id) for run_id in args.ids]  # every id checked before anything is written
    result = compare_runs(runs, Path(args.out))
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    from rich.table import Table

    console = _console()
    headers = [f"#{run['id']} {run['name']}" for run in runs]
    rows = [(key, [_num(v) for v in values]) for key, values in (*result["config"].items(), *result["metrics"].items())]
    table = Table(title="runs compared")
    table.add_column("key", overflow="fold")  # a narrow terminal folds what does not fit, never cuts it off
    columns = {"key": [key for key, _ in rows], **{h: [cells[i] for _, cells in rows] for i, h in enumerate(headers)}}
    # when the table is wider than the terminal, a run's column is no wider than its longest value or word of
    # its name (its header wraps): the keys get the rest
    cramped = _table_width(columns) > console.width
    for header in headers:
        widest = max(len(word) for word in [*header.split(), *columns[header]])
        table.add_column(header, justify="right", overflow="fold", max_width=widest if cramped else None)
    for number, (key, cells) in enumerate(rows):
        if number == len(result["config"]) and result["config"]:
            table.add_section()
        table.add_row(key, *cells)
    console.print(table)
    console.print(f"overlay plot: {result['plot']}", markup=False)
    return 0


def cmd_runs_rm(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get(args.id)
    if not args.yes:
        print(f"remove run {run['id']} ({run['name']}) from the store? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("not removed")
            return 1
    store.delete(args.id)
    print(f"removed run {args.id} (its run directory {run['run_dir']} stays)")
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    run = _store(args).get(args.id)
    text = json.dumps(run, indent=2, default=str) + "\n" if args.format == "json" else epochs_csv(run["history"])
    if args.out:
        from trainwise.atomic import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_runs_tag(args: argparse.Namespace) -> int:
    added = _store(args).tag(args.id, args.name)
    if args.json:
        print(json.dumps({"id": args.id, "tag": args.name, "added": added}))
    else:
        print(f"run {args.id}: tag '{args.name}' {'added' if added else 'was there already'}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from trainwise.dashboard.server import serve

    serve(host=args.host, port=args.port, url=args.storage)
    return 0


# --- helpers -------------------------------------------------------------------------------------------


def epochs_csv(history: list[dict[str, Any]]) -> str:
    """One row per epoch, one column per number logged (lists such as autopilot actions are left out)."""
    keys: list[str] = []
    for logs in history:
        keys += [k for k, v in logs.items() if k not in keys and not isinstance(v, (list, dict))]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def _metric_columns(rows: list[dict[str, Any]], sort: str) -> list[str]:
    keys = {k for r in rows for k in r["final"] if k not in ("lr", "step", "seconds")}
    ordered = [sort] if sort in keys else []
    ordered += sorted(k for k in keys if k.startswith("val_"))
    ordered += sorted(k for k in keys if k.startswith("test_"))
    ordered += ["train_loss"] if "train_loss" in keys else []
    unique = list(dict.fromkeys(ordered))
    return unique[:METRIC_COLUMNS]


def _console() -> Any:
    """A rich console; piped output gets 160 columns instead of 80, so tables stay readable in logs."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _when(seconds: float | None, short: bool = False) -> str:
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
