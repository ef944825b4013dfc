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
    fit.add_argument("--no-store", action="store_true", help="do not record this run in the run store")
    fit.set_defaults(func=cmd_fit)

    data = commands.add_parser("data", help="built-in data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    data_ls = data_commands.add_parser("ls", help="list built-in data sets, installed or not")
    data_ls.add_argument("--json", action="store_true", help="print JSON")
    data_ls.set_defaults(func=cmd_data_ls)

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

    recipe = load_recipe(args.config, args.overrides)  # before torch loads: a config typo is reported at once

    from trainwise.training import fit

    progress = "off" if (args.json or args.quiet) else "auto"
    result = fit(recipe, out=args.out, resume=args.resume, progress=progress, store=not args.no_store)
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    raise SystemExit(main())
