"""Does `[augment]` help? The CNN example with and without augmentation on Fashion-MNIST, same epochs.

Every arm runs examples/cnn-augment.toml and the arms differ only in `[augment]`: the "without" arm switches
it off, the augmented arm uses the example's table (the op flags change single ops of it), and each `--arm`
adds another augmented arm (to pick ops on validation accuracy in one paired run). For each seed all arms
train on the same random subset of the training split (`--train-samples`; 0 = all 54,000), from the same
initial weights and batch order, validate on the same 2,000 of the 6,000 held-out images (to save time) and
are tested on the official 10,000-image test set (the weights after the last epoch). Every run is a process
of one thread, all at once unless `--workers` says fewer. Prints per seed, and the mean and spread (standard
deviation over seeds) of each arm and of its paired difference from the "without" arm.

Cost: ~1 ms per training image per epoch on one thread, plus the validation; 3,000 images x 60 epochs is
~4 CPU minutes per run, so `--seeds 3` (six runs) takes ~15 minutes on two free cores and about three times
that on a machine shared with other work. The full training set is ~18x the work of 3,000 images.

    python benchmarks/augmentation.py [--epochs N] [--seeds 2] [--train-samples 3000] [--dropout P]
        [--flip P] [--crop-padding N] [--shift F] [--rotate DEG] [--cutout N] [--mixup A]
        [--arm crop_padding=2,cutout=8 ...] [--workers K]
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
EXAMPLE = trainwise.load_recipe(CONFIG)
EXAMPLE_ARM = {name: getattr(EXAMPLE.augment, name) for name in OFF}  # the example's [augment] table


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


def _parse_arm(text: str) -> dict[str, Any]:
    """'crop_padding=2,flip=0.5' -> the [augment] table of one more augmented arm (every other op off)."""
    arm: dict[str, Any] = dict(OFF)
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key.strip() not in OFF:
            raise SystemExit(f"--arm: unknown [augment] key '{key.strip()}'; expected one of {sorted(OFF)}")
        arm[key.strip()] = float(value) if "." in value else int(value)
    return arm


def _label(augment: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in augment.items() if v) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[2].replace("\n", " "),
    )
    parser.add_argument("--epochs", type=int, default=EXAMPLE.epochs, help="default: the example's")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (at least 2 for a spread)")
    parser.add_argument("--train-samples", type=int, default=3000, help="training subset size; 0 = all 54,000")
    ops = parser.add_argument_group("the augmented arm: the example's [augment] with these ops changed")
    ops.add_argument("--flip", type=float)
    ops.add_argument("--crop-padding", type=int)
    ops.add_argument("--shift", type=float)
    ops.add_argument("--rotate", type=float)
    ops.add_argument("--cutout", type=int)
    ops.add_argument("--mixup", type=float)
    parser.add_argument("--dropout", type=float, help="the CNN's dropout in all arms (default: the example's)")
    parser.add_argument(
        "--arm",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="one more augmented arm instead of the op flags, e.g. 'crop_padding=2,cutout=8' (repeatable)",
    )
    parser.add_argument("--workers", type=int, help="processes at once (default: every run at once)")
    args = parser.parse_args()
    flags = {name: getattr(args, name) for name in ("flip", "crop_padding", "shift", "rotate", "cutout", "mixup")}
    arms = [_parse_arm(text) for text in args.arm] or [
        EXAMPLE_ARM | {name: value for name, value in flags.items() if value is not None}
    ]
    runs = args.seeds * (1 + len(arms))
    with ProcessPoolExecutor(args.workers or runs) as pool:  # one thread each: paired arms see the same load
        futures = [
            [pool.submit(run, augment, args.epochs, seed, args.train_samples, args.dropout) for augment in [OFF, *arms]]
            for seed in range(args.seeds)
        ]
        results = [[future.result() for future in row] for row in futures]  # [seed][arm] (arm 0: without)
    samples = args.train_samples or "all"
    print(f"CNN example (examples/cnn-augment.toml) on Fashion-MNIST: {args.epochs} epochs, {samples} training images")
    print(f"(validation {VALIDATION:,}, official test set 10,000), torch {torch.__version__}")
    if args.dropout is not None:
        print(f"model.dropout = {args.dropout} in every arm")
    without = [row[0][0] for row in results]
    val_without = [row[0][1] for row in results]
    print(f"without: test {_spread(without)}, best validation {_spread(val_without)} (mean ± sd over seeds)")
    for index, augment in enumerate(arms, start=1):
        print(f"\naugment = {{{_label(augment)}}}")
        print(
            f"{'seed':>4}  {'test without':>12}  {'test with':>9}  {'with - without':>14}  {'best val w/o':>12}  "
            f"{'best val with':>13}  {'s/epoch w/o':>11}  {'s/epoch with':>12}"
        )
        for seed, row in enumerate(results):
            (test0, val0, sec0), (test1, val1, sec1) = row[0], row[index]
            print(
                f"{seed:>4}  {test0:>12.4f}  {test1:>9.4f}  {test1 - test0:>+14.4f}  {val0:>12.4f}  {val1:>13.4f}  "
                f"{sec0:>11.1f}  {sec1:>12.1f}"
            )
        with_aug = [row[index][0] for row in results]
        val_with = [row[index][1] for row in results]
        gains = [b - a for a, b in zip(without, with_aug, strict=True)]
        print(
            f"test accuracy, mean ± sd over {len(results)} seeds: without {_spread(without)}, with {_spread(with_aug)}"
        )
        print(f"best validation accuracy: without {_spread(val_without)}, with {_spread(val_with)}")
        mean_gain = statistics.fmean(gains)
        sd_gain = statistics.stdev(gains) if len(gains) > 1 else float("nan")
        verdict = "augmentation wins" if all(g > 0 for g in gains) else "augmentation does not win on every seed"
        print(f"with - without: {mean_gain:+.4f} ± {sd_gain:.4f} (paired by seed; {verdict})")


if __name__ == "__main__":
    main()
