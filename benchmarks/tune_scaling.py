"""How tune scales with workers, and what each trial costs in storage calls on SQLite vs PostgreSQL.

1. Throughput: `trainwise.tune(workers=K)` for K = 1, 2, 4 on a trial-bound objective (a real tiny trial: digits,
   an MLP, 3 epochs, no pruning), each on a study of its own in the same database. Trials per minute are counted
   from the first trial's start to the last trial's end (Optuna's own timestamps), so process start-up is left
   out; the session's wall clock is printed beside it. Ratios are against K = 1 measured in the same run.
2. Storage overhead per trial: an objective that samples two parameters and returns at once, so a trial is
   nothing but storage calls. Measured through trainwise's worker loop (study lock, stale-trial check, slot
   count, Optuna's ask/tell with the heartbeat thread) and through plain `study.optimize` (Optuna alone), on
   SQLite and on PostgreSQL, in alternating rounds (side by side: machine noise hits both alike); the median
   per-trial milliseconds and the ratios are printed.

    python benchmarks/tune_scaling.py                       # PostgreSQL from $TRAINWISE_TEST_POSTGRES_URL if set
    python benchmarks/tune_scaling.py --trials 8 --rounds 2 # quicker
    python benchmarks/tune_scaling.py --threads 1 --rounds 0 # throughput only, one torch thread per worker
Start a server with `bash scripts/dev-postgres.sh start` and export its URL as TRAINWISE_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import optuna

import trainwise
from trainwise.tune.slots import StudyLock, run_in_slots
from trainwise.tune.storage import open_storage
from trainwise.tune.study import quiet_optuna


def recipe(threads: int | None = None) -> dict[str, Any]:
    extra = {"threads": threads} if threads else {}  # none: 1 worker takes every core, K workers cores // K each
    return extra | {
        "task": "image",
        "name": "scaling",
        "epochs": 3,
        "batch_size": 64,
        "seed": 0,
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"name": "mlp", "hidden": [64]},
        "search": {
            "metric": "val_accuracy",
            "optimizer.learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
            "model.dropout": {"low": 0.0, "high": 0.3},
        },
    }


def throughput(url: str, workers: int, trials: int, runs: Path, threads: int | None) -> tuple[float, float]:
    """(trials per minute between the first start and the last end, the session's wall seconds)."""
    study = f"scaling-{workers}-{uuid.uuid4().hex[:6]}"
    began = time.perf_counter()
    trainwise.tune(recipe(threads), trials=trials, workers=workers, storage=url, study=study, pruner="none", runs=runs)
    wall = time.perf_counter() - began
    done = [t for t in optuna.load_study(study_name=study, storage=open_storage(url)).trials if t.datetime_complete]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return len(done) / span * 60, wall


def storage_ms(url: str, trials: int, through_trainwise: bool) -> float:
    """Median milliseconds per trial of an objective that returns at once."""
    storage = open_storage(url)
    name = f"overhead-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    times: list[float] = []
    last = [time.perf_counter()]

    def objective(trial: Any) -> float:
        return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1)

    def tick(study: Any, trial: Any) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    if through_trainwise:
        lock = StudyLock(storage, url, name)
        run_in_slots(study, objective, lock, trials=trials, deadline=None, callbacks=[tick])
    else:
        study.optimize(objective, n_trials=trials, callbacks=[tick])
    return statistics.median(times[1:]) * 1000  # the first pays for connecting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16, help="trials per worker count (throughput)")
    parser.add_argument("--overhead-trials", type=int, default=60, help="trials per overhead measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the overhead measurement")
    parser.add_argument("--threads", type=int, help="torch threads of every worker (default: cores // workers)")
    parser.add_argument("--throughput-rounds", type=int, default=2, help="rounds of 1, 2, 4 workers (median)")
    args = parser.parse_args()
    quiet_optuna()
    postgres = os.environ.get("TRAINWISE_TEST_POSTGRES_URL", "").strip()
    folder = Path(tempfile.mkdtemp(prefix="tune-scaling-"))
    sqlite = f"sqlite:///{folder / 'scaling.db'}"
    os.environ["TRAINWISE_STORAGE"] = postgres or sqlite
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores: {cores}; load average before: {os.getloadavg()[0]:.1f}")

    url = postgres or sqlite
    print(f"\n1. throughput, {args.trials} trials (digits MLP, 3 epochs) per worker count, storage {url.split(':')[0]}")
    measured: dict[int, list[tuple[float, float]]] = {}
    for _ in range(args.throughput_rounds):  # 1, 2, 4, 1, 2, 4, ...: load drifts hit every count alike
        for workers in (1, 2, 4):
            value = throughput(url, workers, args.trials, folder / "runs", args.threads)
            measured.setdefault(workers, []).append(value)
    base = statistics.median(m[0] for m in measured[1])
    for workers, values in measured.items():
        per_minute, wall = statistics.median(m[0] for m in values), statistics.median(m[1] for m in values)
        print(
            f"   workers {workers}: {per_minute:6.1f} trials/min (session wall {wall:5.1f} s)  "
            f"x{per_minute / base:.2f} vs 1 worker"
        )

    if args.rounds < 1:
        return
    print(f"\n2. storage overhead per trial (objective returns at once), {args.rounds} alternating rounds")
    backends = {"sqlite": sqlite, **({"postgresql": postgres} if postgres else {})}
    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for name, backend_url in backends.items():
            for through in (False, True):
                results.setdefault((name, through), []).append(storage_ms(backend_url, args.overhead_trials, through))
    for name in backends:
        plain = statistics.median(results[(name, False)])
        ours = statistics.median(results[(name, True)])
        print(
            f"   {name:10s}: optuna alone {plain:6.2f} ms/trial, trainwise worker loop {ours:6.2f} ms/trial "
            f"(x{ours / plain:.2f})"
        )
    if postgres:
        for through, label in ((False, "optuna alone"), (True, "trainwise loop")):
            pg, lite = (statistics.median(results[(name, through)]) for name in ("postgresql", "sqlite"))
            ratio = pg / lite
            print(f"   postgresql / sqlite, {label}: x{ratio:.2f}")
    else:
        print("   (no PostgreSQL: set TRAINWISE_TEST_POSTGRES_URL to compare)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
