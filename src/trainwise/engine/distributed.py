"""One run over several processes: torch.distributed under torchrun (gloo on CPU, NCCL on CUDA).

Active only when the launcher's environment says so (`WORLD_SIZE` > 1); without it `setup` returns None and
the loop never touches anything here. Under DDP `batch_size` is the global batch: each optimizer step sees
the same samples as a single-process run (every rank draws the run's seeded permutation and takes a strided
share of each batch), so a recipe means the same training whatever the number of processes. Losses are
weighted by each rank's share of the batch, so DDP's mean of the ranks' gradients is the gradient of the
whole batch even when the last batch does not split evenly. Rank 0 alone writes; metrics are all-reduced.
"""

from __future__ import annotations

import atexit
import copy
import ctypes
import math
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from trainwise.engine.batches import Batch, Batches, LoaderBatches, TensorBatches
from trainwise.engine.metrics import Metric
from trainwise.errors import RunError

_PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent exits


@dataclass
class Distributed:
    """This process's place in the run, and the DDP-wrapped model once `attach` has made it."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device
    model: DistributedDataParallel | None = None

    @property
    def main(self) -> bool:
        """Rank 0: the one process that prints, writes the run directory, checkpoints and the store."""
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """The sums over all ranks of a few numbers (one all-reduce)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any rank (a stop must stop them all at the same step)."""
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def finite(self, loss: torch.Tensor, count: int) -> bool:
        """Whether every rank's batch loss is finite: all ranks agree, so they all stop at the same step."""
        tensor = (loss.detach().double() * count).reshape(1)
        dist.all_reduce(tensor)
        return math.isfinite(float(tensor))

    def reduce_metric(self, metric: Metric) -> Metric:
        """A copy of `metric` holding the sums of every rank's accumulators (the metric itself is untouched)."""
        reduced = copy.copy(metric)
        state: dict[str, torch.Tensor | int] = {}
        for key, value in metric.state().items():
            if isinstance(value, torch.Tensor):
                tensor = value.detach().clone().to(self.device)
                dist.all_reduce(tensor)
                state[key] = tensor
            else:
                total = torch.tensor([value], dtype=torch.int64, device=self.device)
                dist.all_reduce(total)
                state[key] = int(total)
        reduced.load_state(state)
        return reduced

    def reduce_sums(self, loss_sum: torch.Tensor, samples: int, metrics: list[Metric]) -> tuple[float, int]:
        """Loss sum and sample count over all ranks; each metric's accumulators replaced by their global sums."""
        total_loss, total_samples = self.sum([float(loss_sum), float(samples)])
        for i, metric in enumerate(metrics):
            metrics[i] = self.reduce_metric(metric)
        return total_loss, int(total_samples)

    def barrier(self) -> None:
        dist.barrier()

    def broadcast_text(self, text: str | None) -> str | None:
        """Rank 0's `text` on every rank (None when rank 0 had none, e.g. it failed to claim the run directory)."""
        if self.main:
            data = text.encode() if text is not None else b""
            size = torch.tensor([len(data) if text is not None else -1], dtype=torch.int64, device=self.device)
        else:
            data, size = b"", torch.zeros(1, dtype=torch.int64, device=self.device)
        dist.broadcast(size, 0)
        length = int(size)
        if length < 0:
            return None
        buffer = torch.zeros(length, dtype=torch.uint8, device=self.device)
        if self.main and length:
            buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        dist.broadcast(buffer, 0)
        return bytes(buffer.cpu().tolist()).decode()


def environment() -> tuple[int, int, int, int] | None:
    """(rank, world size, local rank, local world size) set by torchrun, or None outside a multi-process run."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return rank, world, local_rank, local_world


def is_main_process() -> bool:
    """Rank 0, or a process outside any launcher: the one that prints and writes."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def setup(device: torch.device) -> Distributed | None:
    """Join the launcher's process group (once per process); None when not launched as several processes.

    CUDA: NCCL, one GPU per local rank. CPU: gloo, and the cores shared out among this machine's processes.
    """
    env = environment()
    if env is None:
        return None
    rank, world, local_rank, local_world = env
    _die_with_launcher()
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RunError(
                f"local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                "expected --nproc at most the number of GPUs"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, cores() // local_world))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_teardown)
    return Distributed(rank, world, local_rank, local_world, device)


def _die_with_launcher() -> None:
    """Linux: be killed when the launcher dies (torchrun starts workers in their own sessions, so a kill -9 of
    the launcher would leave them training on, and writing, as orphans)."""
    if not os.environ.get("TORCHELASTIC_RUN_ID") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl: keep torch's behaviour
        return
    if os.getppid() == 1:  # the launcher died before prctl took effect
        os._exit(1)


def _teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Distributed) -> DistributedDataParallel:
    """DistributedDataParallel around `model` (its construction broadcasts rank 0's weights to every rank)."""
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    ctx.model = DistributedDataParallel(model, device_ids=ids)
    return ctx.model


def synced_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` with its batch-norm layers made SyncBatchNorm on CUDA, so they normalize by the whole batch's
    statistics as one process would (same parameters and buffers; torch syncs them on GPUs only, so on CPU
    each rank normalizes its own share and the model is returned unchanged)."""
    if device.type != "cuda" or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def rank_seed(seed: int, rank: int) -> int:
    """A per-rank seed (rank 0 keeps the run's seed), so ranks augment their shares differently."""
    return seed if rank == 0 else (seed * 1_000_003 + rank * 0x9E3779B1) % 2**62


class ShardedBatches:
    """Each batch of `inner` (same order on every rank), cut into strided shares: rank r takes items r, r+W, ...

    `num_samples`, `batch_size` and `len` stay global, so steps per epoch, schedules and checkpoint positions
    are those of a single-process run. A training rank whose share of a (last, small) batch is empty gets the
    batch's first sample with a zero weight: every rank still runs forward and backward, so DDP cannot hang.
    """

    def __init__(self, inner: Batches, ctx: Distributed, train: bool) -> None:
        self.inner, self.ctx, self.train = inner, ctx, train
        self.num_samples = inner.num_samples
        self.batch_size = inner.batch_size

    def __len__(self) -> int:
        return len(self.inner)

    def share(self, batch: int) -> int:
        """How many samples of batch `batch` this rank holds (0 when its share is empty)."""
        size = min(self.batch_size, self.num_samples - batch * self.batch_size)
        return max(0, math.ceil((size - self.ctx.rank) / self.ctx.world_size))

    def _indices(self, order: torch.Tensor | None, start: int) -> Iterator[torch.Tensor]:
        full = order if order is not None else torch.arange(self.num_samples)
        rank, world, size = self.ctx.rank, self.ctx.world_size, self.batch_size
        for begin in range(start * size, self.num_samples, size):
            chunk = full[begin : begin + size]
            index = chunk[rank::world]
            if len(index):
                yield index
            elif self.train:
                yield chunk[:1]

    def epoch(self, order: torch.Tensor | None, start: int = 0) -> Iterator[Batch]:
        inner = self.inner
        if isinstance(inner, TensorBatches):
            for index in self._indices(order, start):
                index = index.to(inner.device, non_blocking=True)
                yield inner.x[index], inner.y[index]
            return
        assert isinstance(inner, LoaderBatches)
        loader = DataLoader(
            inner.dataset,
            batch_sampler=[index.tolist() for index in self._indices(order, start)],
            num_workers=inner.num_workers,
            pin_memory=inner.device.type == "cuda",
            generator=torch.Generator() if inner.num_workers == 0 else None,
        )
        for x, y in loader:
            yield x.to(inner.device, non_blocking=True), y.to(inner.device, non_blocking=True)

    def all_reduce(self, loss_sum: torch.Tensor, samples: int, metrics: list[Metric]) -> tuple[float, int]:
        """Evaluation over shares: the global loss sum and count (metrics replaced by their global sums)."""
        return self.ctx.reduce_sums(loss_sum, samples, metrics)


def shard(batches: Batches, ctx: Distributed | None, train: bool = False) -> Batches:
    """`batches` cut into this rank's shares under DDP; unchanged in a single process."""
    if ctx is None:
        return batches
    return ShardedBatches(batches, ctx, train)


def attach(loop: Any, ctx: Distributed, compile_backend: Any = None) -> None:
    """Make a built Loop distributed: DDP forward, sharded train and validation data, per-rank augmentation."""
    loop.model = synced_batchnorm(loop.model, ctx.device)
    ddp = wrap(loop.model, ctx)
    loop.ddp = ctx
    loop.train = shard(loop.train, ctx, train=True)
    if loop.val is not None:
        loop.val = shard(loop.val, ctx)
    if loop.forward is not None and compile_backend is not None:
        from trainwise.engine.compiled import CompiledForward

        loop.forward = CompiledForward(ddp, compile_backend)
    else:
        loop.forward = ddp  # the full loop calls DDP's forward, whose backward all-reduces the gradients
    if loop.augment is not None:
        loop.augment.seed = rank_seed(loop.augment.seed, ctx.rank)
