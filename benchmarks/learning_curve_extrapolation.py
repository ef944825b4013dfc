"""How far off is learning-curve's extrapolation? Fit on fractions <= 50% only, predict the score at 100%.

For each data set: train on 10, 20, 30, 40, 50 and 100% of the training set (3 seeds each, same validation set,
same epochs), fit err(n) = a * n^-b + c to the points up to 50% only, and compare the predicted validation
accuracy at 100% with the measured mean there. Prints the error in accuracy points, whether the measured
value lies in the bootstrap 95% interval, and the measured spread over seeds for scale.

    python benchmarks/learning_curve_extrapolation.py [--seeds 3] [--sets digits,mnist-5k,fashion-tabular]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trainwise.diagnose.data_size import learning_curve

FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 1.0]


def recipes(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    base = {"batch_size": 32, "threads": 1, "metrics": ["accuracy"], "optimizer": {"name": "adam"}}
    every: dict[str, dict[str, Any]] = {
        "digits": {
            **base,
            "task": "image",
            "epochs": 15,
            "data": {"name": "digits", "validation_split": 0.2},
            "model": {"hidden": [64]},
            "optimizer": {"name": "adam", "learning_rate": 0.003},
        },
        "mnist-5k": {
            **base,
            "task": "image",
            "epochs": 8,
            "data": {"name": "mnist-5k", "validation_split": 0.2},
            "model": {"hidden": [64, 64]},
        },
    }
    if "fashion-tabular" in names:
        from trainwise.data import get_builtin

        raw = get_builtin("fashion-mnist").load()
        pick = np.random.default_rng(0).permutation(len(raw.train_x))[:8000]
        path = folder / "fashion-8k.npz"
        np.savez(path, x=raw.train_x[pick].reshape(8000, -1).astype(np.float32), y=raw.train_y[pick].astype(np.int64))
        every["fashion-tabular"] = {
            **base,
            "task": "tabular",
            "epochs": 6,
            "model": {"hidden": [128]},
            "data": {"path": str(path), "validation_split": 0.25, "scale": 255.0},
        }
    return {name: every[name] for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", default="digits,mnist-5k,fashion-tabular")
    args = parser.parse_args()
    print(
        f"{'data set':16} {'n(100%)':>8} {'predicted':>9} {'95% interval':>17} {'measured':>8} {'seed sd':>7} "
        f"{'error (points)':>14} {'in interval':>11}"
    )
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in recipes(Path(tmp), args.sets.split(",")).items():
            result = learning_curve(recipe, fractions=FRACTIONS, seeds=args.seeds, fit_up_to=0.5)
            n = result.full_size
            predicted = result.predict(n)
            low, high = result.interval(n)
            measured = result.measured()
            spread = statistics.stdev(result.scores[-1]) if len(result.scores[-1]) > 1 else float("nan")
            error = 100 * (predicted - measured)
            errors.append(abs(error))
            inside = "yes" if low <= measured <= high else "no"
            print(
                f"{name:16} {n:8d} {predicted:9.4f} {f'{low:.4f}..{high:.4f}':>17} {measured:8.4f} {spread:7.4f} "
                f"{error:+14.2f} {inside:>11}"
            )
    print(f"mean |error| {statistics.fmean(errors):.2f} accuracy points, max {max(errors):.2f}")


if __name__ == "__main__":
    main()
