"""The finder commands (`lr-find`, `compare`, `learning-curve`, `batch-size`): parse, call the API, print.

Each takes a config, `--set` overrides, `--out` and `--json` alike, and prints its summary or its JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from trainwise.errors import TrainwiseError


def add_finder_commands(commands: Any) -> None:
    """Add the four finder commands to the CLI's subcommands."""
    add_lr_find_parser(commands)
    add_compare_parser(commands)
    add_learning_curve_parser(commands)
    add_batch_size_parser(commands)


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
    """--out as given (an existing run folder is fine), else the first free runs/<stem>-<command>[-N].

    Not created here: the command makes it once its input has been checked, so bad input leaves nothing behind.
    """
    from pathlib import Path

    from trainwise import rundir

    if args.out:
        return Path(args.out)
    name = f"{recipe.name or 'run'}-{command}"
    for attempt in range(1, 10_000):
        path = rundir.DEFAULT_ROOT / (name if attempt == 1 else f"{name}-{attempt}")
        if not path.exists():
            return path
    raise TrainwiseError(f"no free run directory name for '{name}'")


def add_lr_find_parser(commands: Any) -> None:
    lr = commands.add_parser("lr-find", help="learning-rate range test: suggest a learning rate")
    _add_common(lr, "lr_find.json and lr_find.png")
    lr.add_argument("--apply", action="store_true", help="write the suggestion into the config file")
    lr.add_argument("--steps", type=int, default=200, help="optimizer steps of the ramp (default 200)")
    lr.add_argument("--start-lr", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    lr.add_argument("--end-lr", type=float, default=10.0, help="last learning rate (default 10)")
    lr.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)
    if args.apply and load_recipe(args.config).optimizer.name != recipe.optimizer.name:
        raise TrainwiseError(
            f"--apply would write a learning rate found for optimizer '{recipe.optimizer.name}' into a config for "
            f"'{load_recipe(args.config).optimizer.name}'; drop --apply or the --set of optimizer.name"
        )

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


def add_compare_parser(commands: Any) -> None:
    cmp = commands.add_parser("compare", help="compare optimizers (or values of any key) fairly, over seeds")
    _add_common(cmp, "compare.json, compare.png and each run")
    cmp.add_argument("--optimizers", help="comma-separated optimizers, e.g. sgd,momentum,adam,rmsprop")
    cmp.add_argument("--vary", metavar="KEY=V1,V2,...", help="compare values of any recipe key instead")
    cmp.add_argument("--seeds", type=int, default=5, help="seeds per variant (default 5)")
    cmp.add_argument(
        "--lr",
        choices=("find", "grid", "keep"),
        help="each variant's learning rate: lr-find (default for --optimizers), best of --lr-grid, or as configured",
    )
    cmp.add_argument("--lr-grid", help="comma-separated learning rates for --lr grid, e.g. 1e-3,1e-2,1e-1")
    cmp.add_argument("--budget", type=float, help="train each run for this many seconds instead of the epochs")
    cmp.add_argument("--target", type=float, help="score whose time-to-reach is compared (default: worst mean)")
    cmp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)
    grid = _floats(args.lr_grid, "--lr-grid") if args.lr_grid else None
    optimizers = args.optimizers.split(",") if args.optimizers is not None else None
    lr = args.lr or ("grid" if grid else None)

    from trainwise.tune.compare import compare

    result = compare(
        recipe,
        optimizers=optimizers,
        vary=args.vary,
        seeds=args.seeds,
        lr=lr,
        lr_grid=grid,
        budget=args.budget,
        target=args.target,
        out=_out_dir(args, recipe, "compare"),
        progress="off" if args.json else "plain",
    )
    return _print_summary(result, args.json)


def add_learning_curve_parser(commands: Any) -> None:
    curve = commands.add_parser("learning-curve", help="would more data help? train on growing fractions")
    _add_common(curve, "learning_curve.json, learning_curve.png and each run")
    curve.add_argument("--fractions", default="0.1,0.2,0.4,0.7,1.0", help="fractions of the training set")
    curve.add_argument("--seeds", type=int, default=3, help="seeds (subsets and initialisations) per fraction")
    curve.set_defaults(func=cmd_learning_curve)


def cmd_learning_curve(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)
    fractions = _floats(args.fractions, "--fractions")

    from trainwise.diagnose.data_size import learning_curve

    out = _out_dir(args, recipe, "learning-curve")
    progress = "off" if args.json else "plain"
    result = learning_curve(recipe, fractions=fractions, seeds=args.seeds, out=out, progress=progress)
    return _print_summary(result, args.json)


def _floats(text: str, option: str) -> list[float]:
    """Numbers separated by commas, e.g. "0.1,0.3,1"; a ConfigError naming `option` otherwise."""
    from trainwise.errors import ConfigError

    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected numbers separated by commas, got '{text}'", key=option) from None


def _print_summary(result: Any, as_json: bool) -> int:
    """A finder's result: its JSON on stdout, or its summary a line a key and where it was saved."""
    if as_json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return 0
    for key, value in result.to_dict()["summary"].items():
        print(f"{key}: {value}")
    print(f"saved to {result.out}")
    return 0


def add_batch_size_parser(commands: Any) -> None:
    bs = commands.add_parser("batch-size", help="throughput per batch size, then the best score in a time budget")
    _add_common(bs, "batch_size.json, batch_size.png and each run")
    bs.add_argument("--budget", type=float, default=10.0, help="training seconds per batch size (default 10)")
    bs.add_argument("--scaling", choices=("sqrt", "linear"), default="sqrt", help="learning-rate scaling rule")
    bs.add_argument("--min", dest="min_batch", type=int, default=8, help="smallest batch size (default 8)")
    bs.add_argument("--max", dest="max_batch", type=int, help="largest batch size (default: data size, 8192 on CPU)")
    bs.set_defaults(func=cmd_batch_size)


def cmd_batch_size(args: argparse.Namespace) -> int:
    from trainwise.config import load_recipe

    recipe = load_recipe(args.config, args.overrides)

    from trainwise.tune.batch_size import batch_size

    result = batch_size(
        recipe,
        budget=args.budget,
        scaling=args.scaling,
        min_batch=args.min_batch,
        max_batch=args.max_batch,
        out=_out_dir(args, recipe, "batch-size"),
        progress="off" if args.json else "plain",
    )
    return _print_summary(result, args.json)
