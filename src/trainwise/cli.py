"""The `trainwise` command: one function per command that parses, calls the Python API and prints.

User errors (TrainwiseError) become one line `error: ...` on stderr and exit status 2; anything else is a
bug and keeps its traceback. Heavy imports happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from trainwise._version import __version__
from trainwise.errors import TrainwiseError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trainwise", description="Train, tune and diagnose PyTorch models.")
    parser.add_argument("--version", action="version", version=f"trainwise {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fit = commands.add_parser("fit", help="train a model from a TOML config")
    fit.add_argument("config", help="the TOML config (see examples/)")
    fit.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optimizer.learning_rate=0.01 (repeatable)",
    )
    fit.add_argument("--out", help="the run directory (default: runs/<name>, numbered when taken)")
    fit.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    fit.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress off)")
    fit.add_argument("--quiet", action="store_true", help="no progress and no table; print the run directory")
    fit.set_defaults(func=cmd_fit)
    add_lr_find_parser(commands)
    add_tune_parser(commands)
    add_report_parser(commands)

    data = commands.add_parser("data", help="built-in data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    data_ls = data_commands.add_parser("ls", help="list built-in data sets, installed or not")
    data_ls.add_argument("--json", action="store_true", help="print JSON")
    data_ls.set_defaults(func=cmd_data_ls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TrainwiseError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_fit(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)  # before torch loads: a config typo is reported at once

    from trainwise.training import fit

    progress = "off" if (args.json or args.quiet) else "auto"
    result = fit(recipe, out=args.out, resume=args.resume, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    elif args.quiet:
        print(result.run_dir)
    else:
        _print_result(result)
    return 0


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    final = result.kept
    names = [key.removeprefix("train_") for key in final if key.startswith("train_")]
    restored = " (best, restored)" if result.weights_epoch is not None else ""
    console.print(f"{result.data}: weights of epoch {final.get('epoch', '-')}{restored}", highlight=False)
    table = Table()
    table.add_column("metric")
    for column in ("train", "validation", "test"):
        table.add_column(column, justify="right")
    test = result.test or {}
    for name in names:
        cells = [final.get(f"train_{name}"), final.get(f"val_{name}"), test.get(name)]
        table.add_row(name, *(_cell(v) for v in cells))
    console.print(table)
    best = f"best epoch {result.best_epoch} ({result.monitor} {_cell(result.best_value)})" if result.best_epoch else ""
    reason = result.stopped_reason
    if reason == "diverged":
        reason = f"diverged at step {result.diverged_step}: the loss became NaN/Inf (try a lower learning rate)"
    console.print(f"stopped: {reason}   {best}", highlight=False)
    console.print(f"saved to {result.run_dir}", highlight=False)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_data_ls(args: argparse.Namespace) -> int:
    from trainwise.data.catalog import BUILTINS

    rows: list[dict[str, Any]] = [
        {
            "name": d.name,
            "installed": d.installed(),
            "description": d.description,
            "source": d.source,
            "install": d.install,
        }
        for d in BUILTINS.values()
    ]
    if args.json:
        print(json.dumps(rows))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="built-in data sets")
    for column in ("name", "installed", "description", "to install"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            "yes" if row["installed"] else "no",
            row["description"],
            "" if row["installed"] else row["install"],
        )
    Console().print(table)
    return 0


def _add_common(command: argparse.ArgumentParser, what: str) -> None:
    """The arguments every finder command takes: a config, --set overrides, --out and --json."""
    command.add_argument("config", help="the TOML config (see examples/)")
    command.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optimizer.name=sgd (repeatable)",
    )
    command.add_argument("--out", help=f"where to write {what} (default: a new folder runs/<config-stem>-<command>)")
    command.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _out_dir(args: argparse.Namespace, recipe: Any, command: str) -> Any:
    """--out as given (created if needed; an existing run folder is fine), else a new runs/<stem>-<command>."""
    from pathlib import Path

    from trainwise import rundir

    return Path(args.out) if args.out else rundir.new_run_dir(f"{recipe.name or 'run'}-{command}")


def add_lr_find_parser(commands: Any) -> None:
    lr = commands.add_parser("lr-find", help="learning-rate range test: suggest a learning rate")
    _add_common(lr, "lr_find.json and lr_find.png")
    lr.add_argument("--apply", action="store_true", help="write the suggestion into the config file")
    lr.add_argument("--steps", type=int, default=100, help="optimizer steps of the ramp (default 100)")
    lr.add_argument("--start-lr", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    lr.add_argument("--end-lr", type=float, default=10.0, help="last learning rate (default 10)")
    lr.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)

    from trainwise.tune.config_edit import set_config_value
    from trainwise.tune.lr_find import lr_find, save

    settings = {"steps": args.steps, "start_lr": args.start_lr, "end_lr": args.end_lr}
    result = lr_find(recipe, progress="off", **settings)  # checks everything before a folder is made
    save(result, _out_dir(args, recipe, "lr-find"))
    if args.apply:
        set_config_value(args.config, "optimizer.learning_rate", float(f"{result.suggestion:.3g}"))
    if args.json:
        print(json.dumps({**result.to_dict(), "applied": bool(args.apply)}, allow_nan=False))
        return 0
    print(f"suggested learning rate: {result.suggestion:.3g} ({result.rule})")
    configured = recipe.optimizer.learning_rate
    print(f"optimizer {recipe.optimizer.name}, configured {configured:g}; {len(result.lrs)} steps ({result.stopped})")
    if args.apply:
        print(f"wrote optimizer.learning_rate = {result.suggestion:.3g} into {args.config}")
    print(f"saved to {result.out}")
    return 0


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

    console = Console()
    table = Table(title=f"study {result.study}: {', '.join(result.metrics)}")
    for column in ("rank", "trial", *result.metrics, "params", "epochs", "pruned at"):
        table.add_column(column)
    for row in result.leaderboard[:top]:
        values = row["values"] or [None] * len(result.metrics)
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items())
        rank = str(row["rank"]) if row["rank"] else row["state"]
        table.add_row(
            rank,
            str(row["number"]),
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


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="an HTML report of a run directory or a tune study")
    report.add_argument("target", help="a run directory, or the name of a study in --storage")
    report.add_argument("--storage", help="database URL of the study (default: $TRAINWISE_STORAGE or ./trainwise.db)")
    report.add_argument("--out", help="folder for report.html and its PNGs (default: runs/<study>)")
    report.add_argument("--json", action="store_true", help="print the study's results as JSON")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.target).is_dir():  # a run directory: the run report (diag branch) handles it
        raise TrainwiseError(f"{args.target}: run reports are not available in this build; expected a study name")
    return report_study(args)


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    raise SystemExit(main())
