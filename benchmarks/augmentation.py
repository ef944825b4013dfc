"""Does `[augment]` help? The CNN example with and without augmentation on Fashion-MNIST, same epochs.

Both arms run examples/cnn-augment.toml (crop after 2 pixels of padding + horizontal flip) and differ only in
`[augment]`, which the "without" arm switches off. For each seed both arms train on the same random subset
of the training split (`--train-samples`; 0 = all 54,000), from the same initial weights and batch order,
validate on the same 2,000 of the 6,000 held-out images (to save time) and are tested on the official
10,000-image test set (the weights after the last epoch). Every run is a process of one thread, all at once.
Prints per seed and the mean and spread (standard deviation over seeds) of both arms and of the difference.

Takes about 40 minutes with the defaults on two CPU cores shared with other work (four runs of ~240 CPU
seconds each); with the machine to itself, about 10 minutes. The full training set is ~10x the work.

    python benchmarks/augmentation.py [--epochs 24] [--seeds 2] [--train-samples 5000] [--flip 0.5]
        [--crop-padding 2] [--shift 0] [--rotate 0] [--cutout 0] [--mixup 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

import trainwise
from trainwise.config import AugmentConfig
from trainwise.prepare import prepare, resolve

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "cnn-augment.toml"
VALIDATION = 2000  # validation images per epoch (the same for every run)
OFF = {name: 0 for name in AugmentConfig.model_fields if name != "mix_probability"}


def run(
    augment: dict[str, Any], epochs: int, seed: int, train_samples: int, dropout: float | None = None
) -> tuple[float, float, float]:
    """Test accuracy (last epoch), best validation accuracy and median seconds per epoch of one arm."""
    torch.set_num_threads(1)
    settings: dict[str, Any] = {"epochs": epochs, "seed": seed, "augment": augment}
    if dropout is not None:  # both arms: the same CNN either way
        settings["model"] = {"dropout": dropout}
    recipe, _ = resolve(CONFIG, settings=settings)
    data = prepare(recipe).data  # the built-in train/validation/test split, as `fit` makes it
    x, y = data.train
    if train_samples and train_samples < len(x):
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(1000 + seed))[:train_samples]
        x, y = x[keep], y[keep]
    val_x, val_y = data.val
    chosen = torch.randperm(len(val_x), generator=torch.Generator().manual_seed(0))[:VALIDATION]
    with tempfile.TemporaryDirectory() as out:
        result = trainwise.fit(
            recipe,
            train=(x, y),
            val=(val_x[chosen], val_y[chosen]),
            test=data.test,
            threads=1,
            device="cpu",
            progress="off",
            out=f"{out}/r",
            store=False,
            checkpoints=False,
        )
    assert result.test is not None
    best_val = max(e["val_accuracy"] for e in result.history)
    return result.test["accuracy"], best_val, statistics.median(e["seconds"] for e in result.history)


def _spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:.4f} ± {sd:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[2].replace("\n", " "),
    )
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (at least 2 for a spread)")
    parser.add_argument("--train-samples", type=int, default=5000, help="training subset size; 0 = all 54,000")
    parser.add_argument("--flip", type=float, default=0.5)
    parser.add_argument("--crop-padding", type=int, default=2)
    parser.add_argument("--shift", type=float, default=0.0)
    parser.add_argument("--rotate", type=float, default=0.0)
    parser.add_argument("--cutout", type=int, default=0)
    parser.add_argument("--mixup", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, help="the CNN's dropout in both arms (default: the example's)")
    args = parser.parse_args()
    augment = {
        **OFF,
        "flip": args.flip,
        "crop_padding": args.crop_padding,
        "shift": args.shift,
        "rotate": args.rotate,
        "cutout": args.cutout,
        "mixup": args.mixup,
    }
    with ProcessPoolExecutor(2 * args.seeds) as pool:  # one thread each: paired arms see the same load
        futures = [
            (
                seed,
                pool.submit(run, OFF, args.epochs, seed, args.train_samples, args.dropout),
                pool.submit(run, augment, args.epochs, seed, args.train_samples, args.dropout),
            )
            for seed in range(args.seeds)
        ]
        rows = [(seed, plain.result(), augmented.result()) for seed, plain, augmented in futures]
    used = {k: v for k, v in augment.items() if v}
    samples = args.train_samples or "all"
    print(f"CNN example (examples/cnn-augment.toml) on Fashion-MNIST: {args.epochs} epochs, {samples} training images")
    print(f"(validation {VALIDATION:,}, official test set 10,000), torch {torch.__version__}; augment = {used}")
    if args.dropout is not None:
        print(f"model.dropout = {args.dropout} in both arms")
    print(
        f"{'seed':>4}  {'test without':>12}  {'test with':>9}  {'with - without':>14}  {'best val w/o':>12}  "
        f"{'best val with':>13}  {'s/epoch w/o':>11}  {'s/epoch with':>12}"
    )
    for seed, (test0, val0, sec0), (test1, val1, sec1) in rows:
        print(
            f"{seed:>4}  {test0:>12.4f}  {test1:>9.4f}  {test1 - test0:>+14.4f}  {val0:>12.4f}  {val1:>13.4f}  "
            f"{sec0:>11.1f}  {sec1:>12.1f}"
        )
    without = [r[1][0] for r in rows]
    with_aug = [r[2][0] for r in rows]
    gains = [b - a for a, b in zip(without, with_aug, strict=True)]
    print(f"test accuracy, mean ± sd over {len(rows)} seeds: without {_spread(without)}, with {_spread(with_aug)}")
    mean_gain = statistics.fmean(gains)
    sd_gain = statistics.stdev(gains) if len(gains) > 1 else float("nan")
    verdict = "augmentation wins" if all(g > 0 for g in gains) else "augmentation does not win on every seed"
    print(f"with - without: {mean_gain:+.4f} ± {sd_gain:.4f} (paired by seed; {verdict})")


if __name__ == "__main__":
    main()
