"""Is lr-find's suggestion any good? Compared with the best of a 9-point log-spaced learning-rate grid.

For each task x optimizer (SGD with momentum 0.9, Adam): every grid learning rate (1e-4 .. 1, half-decade
steps) trains the same epochs from the same seed and is scored on validation accuracy (final epoch, mean over
`--seeds`); lr-find runs once on the same recipe. A case passes when the suggestion is within 3x of the
grid-best learning rate. Time is wall clock: lr-find (including its data and model setup) against the whole
grid. Every rule's suggestion is shown; the default rule is the one `trainwise lr-find` uses.

Tasks (all offline): digits (image, MLP 64), mnist-5k (image, MLP 64-64), fashion-mnist 6,000-image subset as
a tabular .npz file (MLP 128). One torch thread.

    python benchmarks/lr_find_quality.py [--seeds 1] [--tasks digits,mnist-5k,fashion-tabular]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import trainwise
from trainwise.tune.lr_find import DEFAULT_RULE, RULES

GRID = [10 ** (-4 + 0.5 * k) for k in range(9)]
OPTIMIZERS = {"sgd-momentum": {"name": "momentum", "momentum": 0.9}, "adam": {"name": "adam"}}


def fashion_npz(folder: Path) -> Path:
    from trainwise.data import get_builtin

    raw = get_builtin("fashion-mnist").load()
    pick = np.random.default_rng(0).permutation(len(raw.train_x))[:6000]
    path = folder / "fashion-6k.npz"
    np.savez(path, x=raw.train_x[pick].reshape(6000, -1).astype(np.float32), y=raw.train_y[pick].astype(np.int64))
    return path


def tasks(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    base = {"batch_size": 32, "threads": 1, "metrics": ["accuracy"]}
    every = {
        "digits": {
            **base,
            "task": "image",
            "epochs": 5,
            "data": {"name": "digits", "validation_split": 0.2},
            "model": {"hidden": [64]},
        },
        "mnist-5k": {
            **base,
            "task": "image",
            "epochs": 3,
            "data": {"name": "mnist-5k", "validation_split": 0.2},
            "model": {"hidden": [64, 64]},
        },
    }
    if "fashion-tabular" in names:
        every["fashion-tabular"] = {
            **base,
            "task": "tabular",
            "epochs": 3,
            "data": {"path": str(fashion_npz(folder)), "validation_split": 0.25, "scale": 255.0},
            "model": {"hidden": [128]},
        }
    return {name: every[name] for name in names}


def score(recipe: dict[str, Any], optimizer: dict[str, Any], lr: float, seeds: int, out: Path) -> float:
    values = []
    for seed in range(seeds):
        result = trainwise.fit(
            recipe,
            optimizer={**optimizer, "learning_rate": lr},
            seed=seed,
            out=out / f"{lr:.0e}-{seed}",
            progress="off",
        )
        accuracy = result.final.get("val_accuracy")
        values.append(accuracy if accuracy is not None and math.isfinite(accuracy) else 0.0)
    return statistics.fmean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--save", help="also write the curves and grid scores to this JSON file")
    parser.add_argument("--tasks", default="digits,mnist-5k,fashion-tabular")
    args = parser.parse_args()
    rows = []
    curves: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for task, recipe in tasks(folder, args.tasks.split(",")).items():
            trainwise.fit(recipe, epochs=1, out=folder / f"warm-{task}", progress="off")  # data cache warm
            for label, optimizer in OPTIMIZERS.items():
                began = time.perf_counter()
                found = trainwise.lr_find(recipe, optimizer=optimizer)
                find_seconds = time.perf_counter() - began
                began = time.perf_counter()
                scores = [score(recipe, optimizer, lr, args.seeds, folder / task / label) for lr in GRID]
                grid_seconds = time.perf_counter() - began
                best = GRID[int(np.argmax(scores))]
                rows.append((task, label, best, max(scores), found.rules, find_seconds, grid_seconds, scores))
                curves.append(
                    {
                        "task": task,
                        "optimizer": label,
                        "lrs": found.lrs,
                        "raw": found.raw_losses,
                        "grid": GRID,
                        "scores": scores,
                        "find_s": find_seconds,
                        "grid_s": grid_seconds,
                    }
                )
                print(f"  {task} {label}: grid {' '.join(f'{s:.3f}' for s in scores)}", flush=True)
    print_table(rows)
    if args.save:
        Path(args.save).write_text(json.dumps(curves))


def within(suggested: float, best: float) -> bool:
    return abs(math.log(suggested / best)) <= math.log(3) + 1e-9


def print_table(rows: list[Any]) -> None:
    names = list(RULES)
    head = f"{'task':16} {'optimizer':13} {'grid best':>9} {'val acc':>7} "
    head += " ".join(f"{n + ('*' if n == DEFAULT_RULE else ''):>12}" for n in names)
    head += f" {'acc@sugg*':>9} {'find s':>7} {'grid s':>7} {'ratio':>6}"
    print(head)
    passed = dict.fromkeys(names, 0)
    find_total = grid_total = 0.0
    for task, label, best, top, rules, find_s, grid_s, scores in rows:
        cells = []
        for n in names:
            ok = within(rules[n], best)
            passed[n] += ok
            cells.append(f"{rules[n]:.2e} {'ok' if ok else '--'}".rjust(12))
        nearest = int(np.argmin([abs(math.log(rules[DEFAULT_RULE] / lr)) for lr in GRID]))
        find_total += find_s
        grid_total += grid_s
        print(
            f"{task:16} {label:13} {best:9.2e} {top:7.3f} {' '.join(cells)} {scores[nearest]:9.3f} "
            f"{find_s:7.1f} {grid_s:7.1f} {find_s / grid_s:6.1%}"
        )
    print("within 3x of the grid best: " + ", ".join(f"{n} {passed[n]}/{len(rows)}" for n in names))
    print(f"lr-find time / grid time: {find_total:.1f} s / {grid_total:.1f} s = {find_total / grid_total:.1%}")
    print(f"(* = default rule '{DEFAULT_RULE}'; acc@sugg = grid accuracy at the grid point nearest the suggestion)")


if __name__ == "__main__":
    main()
