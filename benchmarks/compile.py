"""`compile = true` against eager on CPU: seconds per epoch for the seed MLP and the CNN example, side by side.

Each model trains on the first `--samples` Fashion-MNIST training images (random data of that shape when the
set is not installed) for `--epochs` epochs, eager and compiled alternately. Epoch 1 of a compiled run includes
inductor's compile time; the later epochs show the steady speed, which is what the ratio compares.

    python benchmarks/compile.py [--samples 12000] [--epochs 2] [--threads 2] [--models mlp cnn]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from typing import Any

import torch

import trainwise

MODELS: dict[str, dict[str, Any]] = {
    "mlp": {"name": "mlp", "hidden": [64, 64]},  # the seed example (examples/mlp.toml)
    "cnn": {"name": "cnn", "channels": [32, 64], "hidden": [128], "dropout": 0.3},  # examples/cnn.toml
}
BATCH = {"mlp": 32, "cnn": 64}


def load(samples: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from trainwise.data import get_builtin

        raw = get_builtin("fashion-mnist").load()
        x = torch.from_numpy(raw.train_x[:samples]).float().div(255).reshape(-1, 1, 28, 28)
        return x, torch.from_numpy(raw.train_y[:samples]).long(), "fashion-mnist"
    except trainwise.TrainwiseError:
        g = torch.Generator().manual_seed(0)
        return torch.rand(samples, 1, 28, 28, generator=g), torch.randint(0, 10, (samples,), generator=g), "random"


def run(model: str, compiled: bool, x: torch.Tensor, y: torch.Tensor, epochs: int, threads: int) -> list[float]:
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainwise.fit(
            train=(x, y),
            model=MODELS[model],
            compile=compiled,
            epochs=epochs,
            batch_size=BATCH[model],
            validation_split=0.0,
            threads=threads,
            device="cpu",
            progress="off",
            out=f"{out}/r",
        )
    for warning in caught:
        print(f"  warning ({model}, compile={compiled}): {warning.message}")
    return [e["seconds"] for e in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=list(MODELS))
    args = parser.parse_args()
    x, y, name = load(args.samples)
    print(f"data: {name}, {len(x)} samples; {args.epochs} epochs, {args.threads} threads, torch {torch.__version__}")
    print(f"{'model':>5}  {'eager s/epoch':>13}  {'compiled s/epoch':>16}  {'compiled epoch 1':>16}  compiled/eager")
    for model in args.models:
        eager = run(model, False, x, y, args.epochs, args.threads)
        compiled = run(model, True, x, y, args.epochs, args.threads)
        steady_eager = statistics.median(eager[1:] or eager)
        steady_compiled = statistics.median(compiled[1:] or compiled)
        print(
            f"{model:>5}  {steady_eager:>13.2f}  {steady_compiled:>16.2f}  {compiled[0]:>16.1f}"
            f"  {steady_compiled / steady_eager:>13.3f}x"
        )


if __name__ == "__main__":
    main()
