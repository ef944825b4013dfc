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
    fit.add_argument(
        "--autopilot",
        action="store_true",
        help="on divergence roll back and cut the learning rate, on a plateau cut it, on overfitting stop",
    )
    fit.add_argument("--report", action="store_true", help="write report.html into the run directory at the end")
    fit.add_argument("--no-store", action="store_true", help="do not record this run in the run store")
    from trainwise.launch import add_arguments as add_launch_arguments

    add_launch_arguments(fit)  # --nproc, --nnodes, --node-rank, --master-addr, --master-port
    fit.set_defaults(func=cmd_fit)
    from trainwise.cli_finders import add_finder_commands

    add_finder_commands(commands)  # lr-find, compare, learning-curve, batch-size

    diagnose = commands.add_parser("diagnose", help="what went wrong in a run, and what to change")
    diagnose.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (runs/<name>)")
    diagnose.add_argument("--json", action="store_true", help="print the findings as JSON")
    diagnose.set_defaults(func=cmd_diagnose)
    from trainwise.cli_tune import add_tune_parser

    add_tune_parser(commands)
    add_report_parser(commands)

    data = commands.add_parser("data", help="built-in data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    data_ls = data_commands.add_parser("ls", help="list built-in data sets, installed or not")
    data_ls.add_argument("--json", action="store_true", help="print JSON")
    data_ls.set_defaults(func=cmd_data_ls)

    baseline = commands.add_parser("baseline", help="score classic baselines on a config's splits (text, tabular)")
    baseline.add_argument("config", help="the TOML config whose data and splits the baselines use")
    baseline.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    baseline.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    baseline.set_defaults(func=cmd_baseline)

    from trainwise.cli_runs import add_dashboard_command, add_runs_commands

    add_runs_commands(commands)
    add_dashboard_command(commands)
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

    overrides = [*args.overrides, *(["autopilot=true"] if args.autopilot else [])]
    recipe = load_recipe(args.config, overrides)  # before torch loads: a config typo is reported at once
    if getattr(args, "nproc", None) is not None:  # several processes: torchrun runs this command N times
        from trainwise.launch import launch_fit

        return launch_fit(args, recipe)

    if recipe.data.folds > 1:  # k-fold cross-validation: one run per fold, mean +- sd
        return _cmd_crossval(args, recipe)

    from trainwise.training import fit

    progress = "off" if (args.json or args.quiet) else "auto"
    result = fit(
        recipe, out=args.out, resume=args.resume, progress=progress, store=not args.no_store, report=args.report
    )
    from trainwise.engine.distributed import is_main_process

    if not is_main_process():
        return 0  # under torchrun rank 0 alone prints
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))  # with "findings"
    elif args.quiet:
        print(result.run_dir)
    else:
        _print_result(result)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from trainwise.diagnose.run import diagnose

    findings = diagnose(args.run_dir)
    if args.json:
        print(json.dumps({"findings": [finding.to_dict() for finding in findings]}, allow_nan=False))
    else:
        _print_findings(findings, empty="no finding: the curves look healthy")
    return 0


def report_run(args: argparse.Namespace) -> int:
    """`trainwise report RUN_DIR`: the run's self-contained HTML report."""
    from trainwise.report.html import report

    print(report(args.target, args.out))
    return 0


def _print_findings(findings: list[Any], empty: str | None = None) -> None:
    """A short block per finding: severity, title, evidence, and the remedies to paste."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True)  # a remedy stays one line: it is meant to be pasted
    if not findings:
        if empty:
            console.print(empty, highlight=False)
        return
    colors = {"critical": "red", "warning": "yellow", "info": "blue"}
    console.print("[bold]diagnosis[/bold]")
    for finding in findings:
        color = colors.get(finding.severity, "white")
        console.print(f"[{color}]{finding.severity}[/{color}] {escape(finding.title)}", highlight=False)
        console.print(f"  {escape(finding.evidence)}", highlight=False, style="dim")
        for remedy in finding.remedies[:3]:
            console.print(f"  try: {escape(remedy)}", highlight=False)


def _print_autopilot(history: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape

    actions = [(entry["epoch"], action) for entry in history for action in entry.get("autopilot", [])]
    if not actions:
        return
    console = Console(soft_wrap=True)
    console.print("[bold]autopilot[/bold]")
    for epoch, action in actions:
        lr = f"lr {action.get('lr_before', 0):.3g} -> {action.get('lr_after', 0):.3g}"
        console.print(f"  epoch {epoch}: {action['action']} ({lr}): {escape(action['reason'])}", highlight=False)


def _print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    final = result.kept
    names = [key.removeprefix("train_") for key in final if key.startswith("train_")]
    names += [k.removeprefix("val_") for k in final if k.startswith("val_") and k.removeprefix("val_") not in names]
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
    _print_autopilot(result.history)
    _print_findings(result.findings)
    best = f"best epoch {result.best_epoch} ({result.monitor} {_cell(result.best_value)})" if result.best_epoch else ""
    reason = result.stopped_reason
    if reason == "diverged":
        last = result.history[-1].get("train_loss") if result.history else None
        what = "blew up" if isinstance(last, float) and last == last and abs(last) != float("inf") else "became NaN/Inf"
        reason = f"diverged at step {result.diverged_step}: the loss {what} (try a lower learning rate)"
    console.print(f"stopped: {reason}   {best}", highlight=False)
    _print_baseline(console, result)
    console.print(f"saved to {result.run_dir}", highlight=False)


def _cmd_crossval(args: argparse.Namespace, recipe: Any) -> int:
    from trainwise.crossval import cross_validate
    from trainwise.errors import ConfigError

    if args.resume:
        raise ConfigError("--resume continues one run; resume a fold's run with --out DIR/fold-K", key="data.folds")
    progress = "off" if (args.json or args.quiet) else "auto"
    result = cross_validate(recipe, out=args.out, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return 0
    if args.quiet:
        print(result.run_dir)
        return 0
    from rich.console import Console

    console = Console()
    for name, mean in result.mean.items():
        line = f"test {name}: {mean:.4f} +- {result.sd[name]:.4f} over {len(result.folds)} folds"
        if name in result.baseline_mean:
            line += f"   baseline {result.baseline_mean[name]:.4f} +- {result.baseline_sd[name]:.4f}"
        console.print(line, highlight=False)
    console.print(f"baseline: {result.baseline_name}; saved to {result.run_dir}", highlight=False)
    return 0


def _print_baseline(console: Any, result: Any) -> None:
    """A task's classic baseline (scored in the same run) next to the model's test scores, and what it counted."""
    baseline = result.report.get("baseline")
    if not baseline:
        return
    part = "test" if result.test and baseline.get("test") else "val"
    model = result.test if part == "test" else {k.removeprefix("val_"): v for k, v in result.kept.items()}
    scores = baseline.get(part) or {}
    figures = ", ".join(f"{name} {_cell(model.get(name))} vs {_cell(value)}" for name, value in scores.items())
    console.print(f"{part}: model vs baseline ({baseline['name']}): {figures}", highlight=False)
    for split, counts in (result.report.get("cold_start") or {}).items():
        unknown = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k != "policy")
        console.print(f"{split}: cold start: {unknown} ({counts.get('policy', '')})", highlight=False)
    duplicates = (result.report.get("interactions") or {}).get("duplicates")
    if duplicates:
        console.print(f"data: {duplicates} repeated (user, item) rows merged, the latest kept", highlight=False)


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


def cmd_baseline(args: argparse.Namespace) -> int:
    from trainwise.baselines import run_baselines
    from trainwise.config import load_recipe

    result = run_baselines(load_recipe(args.config, args.overrides))
    if args.json:
        print(json.dumps(result))
        return 0
    for model in result["models"]:
        scores = "  ".join(f"test_{k} {v:.4f}" for k, v in model["test"].items())
        print(f"{result['data']}  {model['name']}  {scores}")
    return 0


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="an HTML report of a run directory or a tune study")
    report.add_argument("target", help="a run directory, or the name of a study in --storage")
    report.add_argument("--storage", help="database URL of the study (default: $TRAINWISE_STORAGE or ./trainwise.db)")
    report.add_argument(
        "-o",
        "--out",
        help="a run's HTML file (default: RUN_DIR/report.html); a study's folder for report.html and its PNGs "
        "(default: runs/<study>)",
    )
    report.add_argument("--json", action="store_true", help="print the study's results as JSON")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    target = Path(args.target)
    if target.exists() or len(target.parts) > 1:  # a path: a run directory (or a one-line error naming it)
        return report_run(args)
    from trainwise.cli_tune import report_study

    return report_study(args)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    raise SystemExit(main())
