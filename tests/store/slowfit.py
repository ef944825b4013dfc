"""A real, slow `trainwise.fit` in its own process, for tests that watch or kill a run while it trains.

    python slowfit.py RUN_DIR EPOCHS SECONDS_PER_EPOCH [NAME]

Trains a small MLP on Gaussian blobs, sleeping after each epoch so a watcher sees epochs arrive one by one.
"""

from __future__ import annotations

import sys
import time

import torch

import trainwise
from trainwise.engine.callbacks import Callback


class Sleep(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_end(self, loop: object) -> None:
        time.sleep(self.seconds)


def main() -> None:
    out, epochs, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    name = sys.argv[4] if len(sys.argv) > 4 else "slow"
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=gen) * 3
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 8, generator=gen)
    trainwise.fit(
        {
            "task": "tabular",
            "name": name,
            "epochs": epochs,
            "batch_size": 32,
            "device": "cpu",
            "threads": 1,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
        },
        model={"hidden": [16]},
        train=(x[:240], y[:240]),
        val=(x[240:], y[240:]),
        out=out,
        progress="off",
        callbacks=[Sleep(seconds)],
    )


if __name__ == "__main__":
    main()
