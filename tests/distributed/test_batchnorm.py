"""Batch norm under DDP: SyncBatchNorm on CUDA (whole-batch statistics, as in one process), unchanged on CPU."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.engine.distributed import synced_batchnorm
from trainwise.models.mlp import MLP


def test_on_cuda_batch_norm_layers_become_sync_batch_norm_with_the_same_parameters_and_buffers() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    parameters = [id(p) for p in model.parameters()]  # the optimizer, built before, must still hold them
    keys = list(model.state_dict())
    synced = synced_batchnorm(model, torch.device("cuda", 0))  # converting needs no GPU; running it would
    assert [type(m) for m in synced.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] == [nn.SyncBatchNorm]
    assert [id(p) for p in synced.parameters()] == parameters
    assert list(synced.state_dict()) == keys  # checkpoints load either way


def test_a_model_that_is_a_batch_norm_layer_is_replaced_whole() -> None:
    synced = synced_batchnorm(nn.BatchNorm1d(3), torch.device("cuda", 0))
    assert isinstance(synced, nn.SyncBatchNorm)


def test_on_cpu_and_without_batch_norm_the_model_is_left_as_it_is() -> None:
    with_norm = MLP(inputs=4, hidden=[8], outputs=2, batch_norm=True)
    assert synced_batchnorm(with_norm, torch.device("cpu")) is with_norm
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in with_norm.modules())  # gloo cannot sync them
    plain = nn.Sequential(nn.Linear(4, 2))
    assert synced_batchnorm(plain, torch.device("cuda", 0)) is plain
