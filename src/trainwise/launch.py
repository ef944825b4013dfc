"""`trainwise fit CONFIG --nproc N`: the same command run as N processes by torch's elastic launcher.

This is `torchrun --nproc-per-node N -m trainwise fit CONFIG ...` (torch.distributed.run, in this process):
the launcher starts the workers, each joins the process group from torchrun's environment
(engine/distributed.py). `--nnodes`, `--node-rank`, `--master-addr` and `--master-port` pass through for
several machines: run the same command on each, with its own `--node-rank`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from trainwise.errors import ConfigError, TrainwiseError

EXIT_USAGE = 2
LAUNCHER_FLAGS = ("nproc", "nnodes", "node_rank", "master_addr", "master_port", "oversubscribe")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The launcher's flags on `trainwise fit`."""
    group = parser.add_argument_group("several processes (DDP through torchrun)")
    group.add_argument("--nproc", type=int, metavar="N", help="train as N processes on this machine (one per GPU)")
    group.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines taking part (default 1)")
    group.add_argument("--node-rank", type=int, default=0, metavar="R", help="this machine's number, 0 to M-1")
    group.add_argument("--master-addr", metavar="ADDR", help="host of the node with rank 0 (default 127.0.0.1)")
    group.add_argument("--master-port", type=int, metavar="PORT", help="a free port on that host (default 29500)")
    group.add_argument("--oversubscribe", action="store_true", help="allow more CPU processes than cores")


def check(args: argparse.Namespace, recipe: Any) -> None:
    """Bad launcher input is a ConfigError naming the flag: checked before any process starts."""
    nproc = int(args.nproc)
    if os.environ.get("TORCHELASTIC_RUN_ID") or os.environ.get("LOCAL_RANK"):
        raise ConfigError("--nproc: this process was already started by torchrun; drop --nproc (or torchrun)")
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1; got {nproc}")
    if args.nnodes < 1:
        raise ConfigError(f"--nnodes must be at least 1; got {args.nnodes}")
    if not 0 <= args.node_rank < args.nnodes:
        raise ConfigError(f"--node-rank {args.node_rank} is out of range; expected 0 to {args.nnodes - 1}")
    if args.master_port is not None and not 1 <= args.master_port <= 65535:
        raise ConfigError(f"--master-port {args.master_port} is not a port; expected 1 to 65535")
    if recipe.data.folds > 1:
        raise ConfigError("--nproc does not combine with cross-validation (data.folds > 1)")
    import torch

    from trainwise.engine.distributed import cores

    on_gpu = recipe.device.startswith("cuda") or (recipe.device == "auto" and torch.cuda.is_available())
    if on_gpu:
        gpus = torch.cuda.device_count()
        if nproc > gpus:
            raise ConfigError(f"--nproc {nproc} is more than the {gpus} GPU(s) here; expected 1 to {gpus}")
        return
    available = cores()
    if nproc > available and not args.oversubscribe:
        raise ConfigError(
            f"--nproc {nproc} is more than the {available} CPU core(s) here; expected 1 to {available} "
            "(or pass --oversubscribe)"
        )


def forwarded(args: argparse.Namespace) -> list[str]:
    """The `trainwise fit` arguments each worker gets: everything but the launcher's flags."""
    argv = ["fit", str(args.config)]
    for override in args.overrides:
        argv += ["--set", override]
    if args.out:
        argv += ["--out", str(args.out)]
    for flag in ("resume", "json", "quiet", "autopilot", "report", "no_store"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    return argv


def torchrun_argv(args: argparse.Namespace) -> list[str]:
    """torch.distributed.run's command line for this launch (`torchrun ... -m trainwise fit ...`)."""
    argv = ["--nproc-per-node", str(args.nproc), "--nnodes", str(args.nnodes), "--node-rank", str(args.node_rank)]
    if args.nnodes == 1 and args.master_port is None and args.master_addr is None:
        argv.append("--standalone")  # one machine: a free port on localhost, no clash with other runs
    else:
        argv += ["--master-addr", args.master_addr or "127.0.0.1", "--master-port", str(args.master_port or 29500)]
    return [*argv, "-m", "trainwise", *forwarded(args)]


def launch_fit(args: argparse.Namespace, recipe: Any) -> int:
    """Run `trainwise fit` as --nproc workers under torch's elastic launcher; returns the exit status.

    A worker that met bad input printed `error: ...` and exited 2: the launch exits 2 too, without the
    launcher's traceback. Any other failure is reported in one line with its rank and exit code.
    """
    check(args, recipe)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from trainwise.engine.distributed import cores

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores() // int(args.nproc))))  # else torchrun sets 1
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the workers report errors
    try:
        run(parse_args(torchrun_argv(args)))
    except ChildFailedError as exc:
        codes = {rank: failure.exitcode for rank, failure in exc.failures.items()}
        if EXIT_USAGE in codes.values():
            return EXIT_USAGE
        rank, code = min(codes.items())
        raise TrainwiseError(f"worker rank {rank} failed with exit code {code}") from None
    except SignalException as exc:  # Ctrl-C / SIGTERM: torchrun passed it on; the workers stop and save
        print(f"interrupted ({exc.sigval.name})", file=sys.stderr)
        return 130
    return 0
