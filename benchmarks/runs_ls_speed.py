"""How fast is `trainwise runs ls` over 10,000 runs? Printed beside a baseline measured in the same run.

A fresh store gets N runs (benchmarks/store_fill.py). Then, each `--repeats` times, interleaved:
  python -c pass                      interpreter start (floor)
  python -c "import sqlalchemy"       the baseline: the least any SQLAlchemy-based command can cost
  trainwise runs ls                   the CLI in a fresh process (newest 50, rich table)
  trainwise runs ls --sort val_accuracy --status finished
  trainwise runs ls --json --limit 0  every run, as JSON
and, in this process, the query alone (`RunStore.list_runs`, the default page and a metric sort).
Medians are printed; the goal is `runs ls` under 1 s.

    python benchmarks/runs_ls_speed.py [--runs 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_fill import fill

from trainwise.store.runs import RunQuery, RunStore

TRAINWISE = str(Path(sys.executable).with_name("trainwise"))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh process: CPU time barely moves when other
    work shares the machine, wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'trainwise.db'}"
        start = time.perf_counter()
        fill(url, args.runs)
        print(f"filled {args.runs} runs in {time.perf_counter() - start:.1f} s")
        env = {**os.environ, "TRAINWISE_STORAGE": url, "COLUMNS": "160"}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import sqlalchemy' (baseline)": [sys.executable, "-c", "import sqlalchemy"],
            "python -c 'import trainwise' (package: pydantic config)": [sys.executable, "-c", "import trainwise"],
            "trainwise runs ls": [TRAINWISE, "runs", "ls"],
            "trainwise runs ls --sort val_accuracy --status finished": [
                TRAINWISE,
                "runs",
                "ls",
                "--sort",
                "val_accuracy",
                "--status",
                "finished",
            ],
            "trainwise runs ls --json --limit 0 (all runs)": [TRAINWISE, "runs", "ls", "--json", "--limit", "0"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                wall, used = timed(cmd, env)
                times[name].append(wall)
                cpu[name].append(used)
        store = RunStore(url, create=False)
        queries = {
            "query: newest 50": RunQuery(),
            "query: best 50 by val_accuracy, finished": RunQuery(sort="val_accuracy", status="finished"),
        }
        for name, query in queries.items():
            times[name], cpu[name] = [], []
            for _ in range(args.repeats):
                begin, begin_cpu = time.perf_counter(), time.process_time()
                store.list_runs(query)
                times[name].append(time.perf_counter() - begin)
                cpu[name].append(time.process_time() - begin_cpu)
    key = "python -c 'import sqlalchemy' (baseline)"
    baseline, baseline_cpu = statistics.median(times[key]), statistics.median(cpu[key])
    print(f"\n{'what':58s} {'wall s':>8s} {'x base':>7s} {'cpu s':>7s} {'x base':>7s}")
    for name, values in times.items():
        wall, used = statistics.median(values), statistics.median(cpu[name])
        print(f"{name:58s} {wall:8.3f} {wall / baseline:7.2f} {used:7.3f} {used / baseline_cpu:7.2f}")
    ls = statistics.median(times["trainwise runs ls"])
    ls_cpu = statistics.median(cpu["trainwise runs ls"])
    verdict = "under" if ls < 1 else "OVER"
    print(f"\nruns ls over {args.runs} runs: {ls:.3f} s wall ({verdict} the 1 s goal), {ls_cpu:.3f} s CPU")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
