"""A trainwise recipe against the classic baselines, trained and scored in one command on the same splits.

For each config: `trainwise.fit` (progress off, a temporary run directory) and `run_baselines` (TF-IDF +
logistic regression for text; ridge/logistic and HistGradientBoosting for tabular) on the recipe's own
train / validation / test split. Prints one row per model with its test scores, and the ratio of the
network's headline score to the best baseline's.

    python benchmarks/task_vs_baseline.py examples/food-reviews.toml examples/austen.toml [--set KEY=VALUE ...]

With `--seeds N` the network is trained N times (seeds 0..N-1, same splits) and its row is the mean ± sd.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import trainwise
from trainwise.baselines import run_baselines
from trainwise.config import load_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seeds", type=int, default=1, help="train the network with seeds 0..N-1; report mean ± sd")
    args = parser.parse_args()
    for config in args.configs:
        recipe = load_recipe(config, args.overrides)
        start = time.perf_counter()
        tests, epochs = [], []
        for seed in range(args.seeds) if args.seeds > 1 else [recipe.seed]:
            seeded = recipe.model_copy(update={"seed": seed})
            with tempfile.TemporaryDirectory() as folder:
                result = trainwise.fit(seeded, out=Path(folder) / "run", progress="off", store=False)
            tests.append(result.test or {})
            epochs.append(result.weights_epoch or len(result.history))
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        baselines = run_baselines(recipe)
        base_seconds = time.perf_counter() - start
        test = {k: statistics.fmean(t[k] for t in tests) for k in tests[0]}
        headline = "accuracy" if "accuracy" in test else "rmse"
        print(f"\n{config}  (data {baselines['data']}, fit {fit_seconds:.0f} s, baselines {base_seconds:.0f} s)")
        if len(tests) > 1:
            cells = "  ".join(
                f"{k} {test[k]:.4f} ± {statistics.stdev(t[k] for t in tests):.4f}" for k in test if k != "loss"
            )
            print(f"  {f'trainwise {recipe.model.name} ({len(tests)} seeds, epochs {epochs})':<34} {cells}")
        else:
            print(
                f"  {f'trainwise {recipe.model.name} (epoch {epochs[0]})':<34} "
                + "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "loss")
            )
        for name, scores in [(m["name"], m["test"]) for m in baselines["models"]]:
            cells = "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != "loss")
            print(f"  {name:<34} {cells}")
        values = [m["test"][headline] for m in baselines["models"] if headline in m["test"]]
        if headline in test and values:
            best = max(values) if headline == "accuracy" else min(values)
            print(f"  trainwise / best baseline {headline}: {test[headline] / best:.3f}")


if __name__ == "__main__":
    main()
