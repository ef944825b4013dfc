"""How a batch is cut into ranks' shares, and what `trainwise fit --nproc` refuses before starting anything."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from trainwise import cli, launch
from trainwise.engine.batches import make_batches
from trainwise.engine.distributed import Distributed, ShardedBatches, cores, environment, rank_seed

CONFIG = """
task = "image"
epochs = 1
device = "cpu"

[data]
name = "digits"
"""


def shards(n: int, batch_size: int, world: int, train: bool) -> list[list[torch.Tensor]]:
    """Each rank's batches (as sample indices) over one epoch of n samples in a fixed shuffled order."""
    x = torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    per_rank = []
    for rank in range(world):
        ctx = Distributed(rank, world, rank, world, torch.device("cpu"))
        sharded = ShardedBatches(make_batches((x, x), batch_size, ctx.device), ctx, train)
        per_rank.append([xb for xb, _ in sharded.epoch(order)])
    return per_rank


@pytest.mark.parametrize(("n", "batch_size", "world"), [(10, 4, 2), (11, 4, 2), (23, 5, 3), (9, 9, 2)])
def test_the_shares_of_each_batch_make_up_the_single_process_batch(n: int, batch_size: int, world: int) -> None:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    per_rank = shards(n, batch_size, world, train=True)
    steps = -(-n // batch_size)
    assert all(len(batches) == steps for batches in per_rank)  # same number of steps on every rank: no hang
    for step in range(steps):
        union = torch.cat([per_rank[rank][step] for rank in range(world)])
        expected = order[step * batch_size : (step + 1) * batch_size]
        assert sorted(union.tolist()) == sorted(expected.tolist())
        sizes = [len(per_rank[rank][step]) for rank in range(world)]
        assert max(sizes) - min(sizes) <= 1


def test_an_empty_share_gets_a_stand_in_sample_in_training_and_nothing_in_evaluation() -> None:
    # 9 samples in batches of 4: the last batch holds one sample, so rank 1's share of it is empty
    x = torch.arange(9)
    ctx = Distributed(1, 2, 1, 2, torch.device("cpu"))
    train = ShardedBatches(make_batches((x, x), 4, ctx.device), ctx, train=True)
    assert [train.share(b) for b in range(3)] == [2, 2, 0]  # the loop weights the stand-in by 0
    batches = list(train.epoch(None))
    assert len(batches) == 3 and batches[2][0].tolist() == [8]
    evaluation = ShardedBatches(make_batches((x, x), 4, ctx.device), ctx, train=False)
    assert [xb.tolist() for xb, _ in evaluation.epoch(None)] == [[1, 3], [5, 7]]


def test_a_dataset_that_is_not_tensors_is_sharded_the_same_way() -> None:
    class Pairs(torch.utils.data.Dataset[tuple[int, int]]):
        def __len__(self) -> int:
            return 11

        def __getitem__(self, i: int) -> tuple[int, int]:
            return i, i

    order = torch.randperm(11, generator=torch.Generator().manual_seed(1))
    ctx = Distributed(1, 2, 1, 2, torch.device("cpu"))
    loader = ShardedBatches(make_batches(Pairs(), 4, ctx.device), ctx, train=True)
    assert [xb.tolist() for xb, _ in loader.epoch(order)] == [order[b : b + 4][1::2].tolist() for b in (0, 4, 8)]


def test_a_mid_epoch_start_skips_whole_global_batches() -> None:
    x = torch.arange(12)
    ctx = Distributed(0, 2, 0, 2, torch.device("cpu"))
    sharded = ShardedBatches(make_batches((x, x), 4, ctx.device), ctx, train=True)
    assert [xb.tolist() for xb, _ in sharded.epoch(None, start=1)] == [[4, 6], [8, 10]]


def test_the_launcher_environment_and_rank_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert environment() is None  # a plain process: nothing distributed happens
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert environment() == (3, 4, 1, 2)
    assert rank_seed(7, 0) == 7 and len({rank_seed(7, r) for r in range(4)}) == 4


def fit_args(*extra: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["fit", "c.toml", *extra])


def test_the_launch_command_passes_every_fit_flag_and_the_machine_flags() -> None:
    args = fit_args("--nproc", "2", "--set", "epochs=3", "--out", "r", "--resume", "--no-store", "--json")
    argv = launch.torchrun_argv(args)
    assert argv[:7] == ["--nproc-per-node", "2", "--nnodes", "1", "--node-rank", "0", "--standalone"]
    assert " ".join(argv[7:]) == "-m trainwise fit c.toml --set epochs=3 --out r --resume --json --no-store"
    nodes = fit_args("--nproc", "1", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.5")
    argv = launch.torchrun_argv(nodes)
    assert " ".join(argv[:10]) == (
        "--nproc-per-node 1 --nnodes 2 --node-rank 1 --master-addr 10.0.0.5 --master-port 29500"
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--nproc", "0"], "--nproc must be at least 1; got 0"),
        (["--nproc", str(cores() + 1)], f"more than the {cores()} CPU core(s) here; expected 1 to {cores()}"),
        (["--nproc", "1", "--nnodes", "2", "--node-rank", "2"], "--node-rank 2 is out of range; expected 0 to 1"),
        (["--nproc", "1", "--master-port", "70000"], "--master-port 70000 is not a port"),
        (["--nproc", "x"], "argument --nproc: invalid int value: 'x'"),
    ],
)
def test_bad_launcher_input_is_one_line_and_exit_2_before_anything_starts(
    flags: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG, encoding="utf-8")
    try:
        code = cli.main(["fit", "c.toml", *flags])
    except SystemExit as exc:  # argparse's own errors
        code = int(str(exc.code))
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and err.startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # no run directory, no database


def test_nproc_inside_torchrun_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert cli.main(["fit", "c.toml", "--nproc", "2"]) == 2
    assert "already started by torchrun" in capsys.readouterr().err


def test_more_processes_than_cores_with_oversubscribe_passes_the_check() -> None:
    from trainwise.config import Recipe

    recipe = Recipe.model_validate({"task": "image", "device": "cpu", "data": {"name": "digits"}})
    launch.check(fit_args("--nproc", str(cores() + 1), "--oversubscribe"), recipe)
