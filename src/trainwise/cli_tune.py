"""`trainwise tune` and `trainwise report STUDY`: parse, call the tune API, print the leaderboard."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any


def add_tune_parser(commands: Any) -> None:
    tune = commands.add_parser("tune", help="search hyperparameters with Optuna (the config's [search] section)")
    tune.add_argument("config", help="a TOML config with a [search] section")
    tune.add_argument("--trials", type=int, help="trials in the study, earlier sessions' included (default 20)")
    tune.add_argument("--budget", help="stop after this much time, e.g. 90s, 10m, 1h30m")
    tune.add_argument("--workers", type=int, default=1, help="trial processes on this machine (default 1)")
    tune.add_argument("--storage", help="database URL (default: $TRAINWISE_STORAGE or ./trainwise.db)")
    tune.add_argument("--study", help="the study's name (default: the config's name); an existing study continues")
    tune.add_argument("--sampler", default="tpe", help="tpe (default), random, grid, gp, cmaes, qmc, nsga2")
    tune.add_argument("--pruner", default="hyperband", help="hyperband (default), median, successive-halving, none")
    tune.add_argument("--seed", type=int, help="the sampler's seed (default: the recipe's seed)")
    tune.add_argument("--export", metavar="BEST.toml", help="write the best recipe as a config for trainwise fit")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    tune.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    tune.add_argument(
        "--heartbeat", type=int, metavar="SECONDS", help="seconds between a running trial's heartbeats (default 10)"
    )
    tune.add_argument(
        "--grace", type=int, metavar="SECONDS", help="a trial silent this long is failed and retried (default 4 beats)"
    )
    tune.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)

    from trainwise.tune.study import tune

    result = tune(
        recipe,
        trials=args.trials,
        budget=args.budget,
        workers=args.workers,
        storage=args.storage,
        study=args.study,
        sampler=args.sampler,
        pruner=args.pruner,
        seed=args.seed,
        export=args.export,
        progress=not args.json,
        heartbeat=args.heartbeat,
        grace=args.grace,
    )
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        _print_study(result)
    if result.interrupted:
        done = result.counts["complete"] + result.counts["pruned"]
        print(
            f"interrupted: study '{result.study}' is saved ({done} trials done); run the same command to continue",
            file=sys.stderr,
        )
        return 130
    return 0


def _print_study(result: Any, top: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    from trainwise.cli import _cell
    from trainwise.tune.study import short_value

    console = Console()
    table = Table(title=f"study {result.study}: {', '.join(result.metrics)}")
    for column in ("rank", "trial", *result.metrics, "params", "epochs", "pruned at"):
        table.add_column(column, overflow="fold")  # a narrow terminal wraps a value, never cuts it off
    shown = result.leaderboard[:top]
    labels = short_names([key for row in shown for key in row["params"]])
    for row in shown:
        values = row["values"] or [None] * len(result.metrics)
        params = ", ".join(f"{labels[k]}={short_value(v)}" for k, v in row["params"].items())
        rank = str(row["rank"]) if row["rank"] else row["state"]
        table.add_row(
            rank,
            f"{row['number']} (recipe)" if row.get("from_recipe") else str(row["number"]),
            *(_cell(v) for v in values),
            params,
            str(row["epochs"] or "-"),
            str(row["pruned_at"] or "-"),
        )
    console.print(table)
    counts = result.counts
    console.print(
        f"{counts['trials']} trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed",
        highlight=False,
    )
    if result.importance:
        ranked = ", ".join(f"{k} {v:.2f}" for k, v in result.importance.items())
        console.print(f"importance: {ranked}", highlight=False)
    elif result.importance_note:
        console.print(result.importance_note, highlight=False)
    if result.exported:
        console.print(f"best recipe written to {result.exported} (train it: trainwise fit {result.exported})")
    console.print(f"saved to {result.files.get('tune.json')}", highlight=False)


def short_names(keys: list[str]) -> dict[str, str]:
    """Leaderboard labels for recipe keys, short enough that an 80-column table keeps each entry on one line:
    `optimizer.name` is `optimizer`, the learning rate `lr`, other keys their last part (`dropout`), unless two
    keys would then read the same: those keep their full names."""

    def short(key: str) -> str:
        if key.endswith(".name"):
            return key.rsplit(".", 1)[0]
        last = key.rsplit(".", 1)[-1]
        return "lr" if last == "learning_rate" else last

    label = {key: short(key) for key in set(keys)}
    taken = Counter(label.values())
    return {key: short if taken[short] == 1 else key for key, short in label.items()}


def report_study(args: argparse.Namespace) -> int:
    """`trainwise report STUDY`: plots and a self-contained HTML page of a tune study."""
    from pathlib import Path

    from trainwise.report.study import study_report
    from trainwise.storage import default_storage_url
    from trainwise.tune.results import load_study, summarize

    url = args.storage or default_storage_url()
    result = summarize(load_study(args.target, url), url)
    page = study_report(result, Path(args.out) if args.out else Path("runs") / result.study)
    if args.json:
        print(json.dumps(result.to_dict() | {"report": str(page)}, allow_nan=False))
    else:
        print(page)
    return 0
