"""Does `[augment]` help? The CNN example (examples/cnn.toml, Fashion-MNIST) with and without it, same epochs.

Both runs use the same recipe and seed and differ only in `[augment]` (default: horizontal flip 0.5 and a
random crop after 2 pixels of padding); they train at the same time in two processes of one thread each,
and the script prints both test accuracies (the weights after the last epoch) and seconds per epoch.

    python benchmarks/augmentation.py [--epochs 5] [--flip 0.5] [--crop-padding 2] [--shift 0] [--rotate 0]
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

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "cnn.toml"


def run(augment: dict[str, Any], epochs: int) -> tuple[float, float, float]:
    """Test accuracy, best validation accuracy and median seconds per epoch of the CNN example."""
    with tempfile.TemporaryDirectory() as out:
        result = trainwise.fit(
            CONFIG, epochs=epochs, augment=augment, threads=1, device="cpu", progress="off", out=f"{out}/r"
        )
    assert result.test is not None
    best_val = max(e["val_accuracy"] for e in result.history)
    return result.test["accuracy"], best_val, statistics.median(e["seconds"] for e in result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--flip", type=float, default=0.5)
    parser.add_argument("--crop-padding", type=int, default=2)
    parser.add_argument("--shift", type=float, default=0.0)
    parser.add_argument("--rotate", type=float, default=0.0)
    args = parser.parse_args()
    augment = {"flip": args.flip, "crop_padding": args.crop_padding, "shift": args.shift, "rotate": args.rotate}
    with ProcessPoolExecutor(2) as pool:
        plain = pool.submit(run, {}, args.epochs)
        augmented = pool.submit(run, augment, args.epochs)
        results = {"without": plain.result(), "with": augmented.result()}
    print(f"CNN example on Fashion-MNIST, {args.epochs} epochs, torch {torch.__version__}; augment = {augment}")
    print(f"{'augment':>8}  {'test acc':>8}  {'best val acc':>12}  {'s/epoch':>8}")
    for name, (test, val, seconds) in results.items():
        print(f"{name:>8}  {test:>8.4f}  {val:>12.4f}  {seconds:>8.1f}")
    gain = results["with"][0] - results["without"][0]
    verdict = "augmentation wins" if gain > 0 else "augmentation does not win"
    print(f"test accuracy with - without: {gain:+.4f} ({verdict})")


if __name__ == "__main__":
    main()
