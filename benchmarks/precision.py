"""CPU bf16 autocast against fp32 on the seed example (the Keras MLP on Fashion-MNIST), side by side.

Each precision trains the same recipe (examples/mlp.toml, same seed) for `--epochs` epochs; runs alternate
(32, bf16, 32, bf16, ...) `--repeats` times and the median seconds per epoch is kept, with the test accuracy.

    python benchmarks/precision.py [--epochs 2] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

import trainwise

CONFIG = Path(__file__).resolve().parent.parent / "examples" / "mlp.toml"


def run(precision: str, epochs: int, threads: int) -> tuple[float, float]:
    """Median seconds per epoch and the test accuracy of one run at `precision`."""
    with tempfile.TemporaryDirectory() as out:
        result = trainwise.fit(
            CONFIG, epochs=epochs, precision=precision, threads=threads, device="cpu", progress="off", out=f"{out}/r"
        )
    assert result.test is not None
    return statistics.median(e["seconds"] for e in result.history), result.test["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"32": [], "bf16": []}
    accuracy: dict[str, float] = {}
    for _ in range(args.repeats):
        for precision in seconds:
            took, accuracy[precision] = run(precision, args.epochs, args.threads)
            seconds[precision].append(took)
    fp32, bf16 = statistics.median(seconds["32"]), statistics.median(seconds["bf16"])
    print(f"seed MLP on Fashion-MNIST, {args.epochs} epochs, {args.threads} threads, torch {torch.__version__}")
    print(f"{'precision':>9}  {'s/epoch':>8}  {'test accuracy':>13}")
    for name, took in (("32", fp32), ("bf16", bf16)):
        print(f"{name:>9}  {took:>8.2f}  {accuracy[name]:>13.4f}")
    print(
        f"bf16/fp32 time: {bf16 / fp32:.3f}x; accuracy difference (bf16 - fp32): "
        f"{accuracy['bf16'] - accuracy['32']:+.4f}"
    )


if __name__ == "__main__":
    main()
