"""Where batches come from: whole tensors on the device (fast path) or a DataLoader (everything else).

Both are driven by an order (a permutation of sample indices) that the loop owns and checkpoints, and a
start position, so a run resumed mid-epoch sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

Batch = tuple[torch.Tensor, torch.Tensor]


class Batches(Protocol):
    """A sized source of (inputs, targets) batches that can start at any batch of a given order."""

    num_samples: int
    batch_size: int

    def __len__(self) -> int: ...

    def epoch(self, order: torch.Tensor | None, start: int = 0) -> Iterator[Batch]: ...


class TensorBatches:
    """The fast path: x and y live on the device; a batch is an index gather (or a view when unshuffled)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device) -> None:
        self.x = x.to(device)
        self.y = y.to(device)
        self.device = device
        self.num_samples = len(x)
        self.batch_size = min(batch_size, max(1, self.num_samples))

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def epoch(self, order: torch.Tensor | None, start: int = 0) -> Iterator[Batch]:
        size, x, y = self.batch_size, self.x, self.y
        if order is None:
            for begin in range(start * size, self.num_samples, size):
                yield x[begin : begin + size], y[begin : begin + size]
            return
        order = order.to(self.device, non_blocking=True)
        for begin in range(start * size, self.num_samples, size):
            index = order[begin : begin + size]
            yield x[index], y[index]


class _OrderedBatchSampler:
    """Yields lists of indices: the given order (or 0..n-1), cut into batches, from a start batch."""

    def __init__(self, order: Sequence[int], batch_size: int, start: int) -> None:
        self.order, self.batch_size, self.start = order, batch_size, start

    def __len__(self) -> int:
        return max(0, math.ceil(len(self.order) / self.batch_size) - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for begin in range(self.start * self.batch_size, len(self.order), self.batch_size):
            yield list(self.order[begin : begin + self.batch_size])


class LoaderBatches:
    """The general path: any map-style Dataset of (input, target) pairs through a DataLoader."""

    def __init__(self, dataset: Dataset[Any], batch_size: int, device: torch.device, num_workers: int = 0) -> None:
        self.dataset = dataset
        self.device = device
        self.num_samples = len(dataset)  # type: ignore[arg-type]
        self.batch_size = min(batch_size, max(1, self.num_samples))
        self.num_workers = num_workers

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def epoch(self, order: torch.Tensor | None, start: int = 0) -> Iterator[Batch]:
        indices = order.tolist() if order is not None else range(self.num_samples)
        # Each DataLoader iterator draws a worker base seed from the global RNG unless given a generator;
        # without workers that seed is unused, and drawing it would shift dropout masks away from the fast path.
        loader = DataLoader(
            self.dataset,
            batch_sampler=_OrderedBatchSampler(indices, self.batch_size, start),
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator() if self.num_workers == 0 else None,
        )
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def make_batches(data: Any, batch_size: int | None, device: torch.device, num_workers: int = 0) -> Batches:
    """Tensors (a pair, or a TensorDataset) take the fast path; any other Dataset goes through a DataLoader.

    `batch_size=None` means the whole set in one batch (full-batch gradient descent).
    """
    pair = _as_tensor_pair(data)
    if pair is not None:
        size = batch_size or len(pair[0])
        return TensorBatches(pair[0], pair[1], size, device)
    size = batch_size or len(data)
    return LoaderBatches(data, size, device, num_workers)


def _as_tensor_pair(data: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return data[0], data[1]
    tensors = getattr(data, "tensors", None)  # torch.utils.data.TensorDataset
    if isinstance(data, torch.utils.data.TensorDataset) and tensors is not None and len(tensors) == 2:
        return tensors[0], tensors[1]
    return None
