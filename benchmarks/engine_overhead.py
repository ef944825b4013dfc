"""How much does `trainwise.fit` cost over hand-written torch? Printed as ratios, measured side by side.

The seed MLP (784-64-64-10, Adam 1e-3) on 60,000 samples (Fashion-MNIST's training set when installed,
else random data of the same shape), validation on 10,000 every epoch, 2 threads, batch 32 and 256:
  lean        a hand-written in-memory loop: randperm, index, forward, backward, Adam (torch defaults)
  lean+fused  the same loop with `Adam(fused=True)`: shows how much of fit's edge is the fused kernel
  dataloader  the textbook loop: DataLoader(TensorDataset, shuffle=True), `loss.item()` every step
  fit         trainwise.fit (progress off; writes history and checkpoints every epoch, as it always does)
Methods run interleaved, `--repeats` times each, and the median seconds per epoch is kept. The cold start
of `trainwise fit` (a fresh process, to its first step) is printed beside a bare torch process's start.

    python benchmarks/engine_overhead.py [--epochs 2] [--repeats 3] [--batch-sizes 32 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trainwise

THREADS = 2


def seed_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    try:
        from trainwise.data import get_builtin

        raw = get_builtin("fashion-mnist").load()
        assert raw.test_x is not None and raw.test_y is not None
        x = torch.from_numpy(raw.train_x).float().div(255).reshape(-1, 784)
        xv = torch.from_numpy(raw.test_x).float().div(255).reshape(-1, 784)
        return x, torch.from_numpy(raw.train_y).long(), xv, torch.from_numpy(raw.test_y).long(), "fashion-mnist"
    except trainwise.TrainwiseError:
        g = torch.Generator().manual_seed(0)
        x, xv = torch.rand(60_000, 784, generator=g), torch.rand(10_000, 784, generator=g)
        y, yv = torch.randint(0, 10, (60_000,), generator=g), torch.randint(0, 10, (10_000,), generator=g)
        return x, y, xv, yv, "random"


def lean(x, y, xv, yv, batch_size: int, epochs: int, fused: bool = False) -> float:
    model = seed_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        total = torch.zeros(())
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        model.eval()
        with torch.inference_mode():
            val = sum(
                float(F.cross_entropy(model(xv[i : i + 1024]), yv[i : i + 1024], reduction="sum"))
                for i in range(0, len(xv), 1024)
            )
        _ = float(total), val
    return (time.perf_counter() - start) / epochs


def dataloader(x, y, xv, yv, batch_size: int, epochs: int) -> float:
    model = seed_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(xv, yv), batch_size=batch_size)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        running = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            running += loss.item()
        model.eval()
        with torch.no_grad():
            val = sum(F.cross_entropy(model(xb), yb).item() for xb, yb in val_loader)
        _ = running, val
    return (time.perf_counter() - start) / epochs


def fit(x, y, xv, yv, batch_size: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        trainwise.fit(
            model=seed_model(),
            train=(x, y),
            val=(xv, yv),
            epochs=epochs,
            batch_size=batch_size,
            optimizer="adam",
            learning_rate=1e-3,
            threads=THREADS,
            progress="off",
            out=Path(out) / "run",
        )
        return (time.perf_counter() - start) / epochs


TORCH_FLOOR = "import torch; torch.optim.Adam(torch.nn.Linear(1, 1).parameters())"


def cold_start(repeats: int) -> tuple[float, float]:
    """Median seconds to the first step of a fresh `trainwise fit`, and of a bare torch process (the floor).

    trainwise: wall time of `trainwise fit examples/mlp.toml --set epochs=1` minus the epoch's own reported
    time (so it also counts the final test pass and writes: an upper bound). The floor is what any torch
    training script pays before its first step: `import torch` plus building one torch.optim optimizer
    (which imports torch._dynamo).
    """
    cli = Path(sys.executable).parent / "trainwise"
    config = Path(__file__).resolve().parent.parent / "examples" / "mlp.toml"
    ours, floor = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            done = subprocess.run(
                [str(cli), "fit", str(config), "--set", "epochs=1", "--json", "--out", f"{out}/run"],
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - start
        ours.append(wall - sum(e["seconds"] for e in json.loads(done.stdout)["history"]))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", TORCH_FLOOR], check=True)
        floor.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    x, y, xv, yv, name = load_data()
    print(f"data: {name}, {len(x)} train + {len(xv)} validation samples; torch {torch.__version__}, {THREADS} threads")
    methods: dict[str, Callable[..., float]] = {
        "lean": lean,
        "lean+fused": lambda *a: lean(*a, fused=True),
        "dataloader": dataloader,
        "fit": fit,
    }
    print(f"{'batch':>5}  " + "  ".join(f"{m:>12}" for m in methods) + "   fit/lean  fit/lean+fused  fit/dataloader")
    for batch_size in args.batch_sizes:
        times: dict[str, list[float]] = {m: [] for m in methods}
        for _ in range(args.repeats):
            for method, run in methods.items():
                times[method].append(run(x, y, xv, yv, batch_size, args.epochs))
        med = {m: statistics.median(t) for m, t in times.items()}
        cells = "  ".join(f"{med[m]:>11.2f}s" for m in methods)
        print(
            f"{batch_size:>5}  {cells}   {med['fit'] / med['lean']:>8.3f}x  {med['fit'] / med['lean+fused']:>13.3f}x"
            f"  {med['fit'] / med['dataloader']:>13.3f}x"
        )
    startup, floor = cold_start(args.repeats)
    print(
        f"cold start of `trainwise fit examples/mlp.toml` to its first step: {startup:.2f}s; a bare torch process "
        f"(import torch + one torch.optim optimizer): {floor:.2f}s; trainwise's own share: {startup - floor:.2f}s"
        f" ({startup / floor:.2f}x the floor; {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
