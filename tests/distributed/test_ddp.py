"""One run over two processes with real torch.distributed (gloo on CPU), launched by `trainwise fit --nproc`.

Every DDP run here is compared with one single-process run of the same recipe (`batch_size` is the global
batch, so both take the same optimizer steps over the same samples). Tolerance: weights agree to
`ATOL` = 1e-5 (absolute; the weights are of order 0.1 to 1). They are not bit-identical because each rank
averages its half of a batch and DDP then averages the ranks' gradients (a mean of two half-batch means,
summed by an all-reduce in its own order) where one process takes one mean over the whole batch: float32
rounding differs in the last bits, and 3 epochs of SGD carry that to about 1e-7 here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.store.runs import RunStore

TRAINWISE = Path(sys.executable).with_name("trainwise")
ATOL = 1e-5

# 1,150 training samples in global batches of 67: the last batch (11) splits 6/5, which the loss weighting
# must handle for the weights to match; momentum and a per-step schedule make every step's position matter.
CONFIG = """
task = "image"
epochs = {epochs}
batch_size = 67
seed = 3
device = "cpu"

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [16]

[optimizer]
name = "sgd"
learning_rate = 0.3
momentum = 0.9

[schedule]
name = "cosine"
"""


def write_config(folder: Path, epochs: int) -> Path:
    path = folder / f"ddp-{epochs}.toml"
    path.write_text(CONFIG.format(epochs=epochs), encoding="utf-8")
    return path


def launch(*args: str | Path, cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(TRAINWISE), "fit", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finish(process: subprocess.Popen[str], timeout: float = 240) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out, err


def finish_nodes(*nodes: subprocess.Popen[str], timeout: float = 240) -> list[tuple[str, str]]:
    """Wait for every node; if one hangs, stop them all and fail with what each printed, so the failure says
    which node hung and where (a rare hang at the end of the two-node test was reported with node 0's output
    alone: it had finished training and waited for node 1)."""
    deadline = time.monotonic() + timeout
    done: list[tuple[str, str]] = []
    for node in nodes:
        try:
            done.append(node.communicate(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            for other in nodes:
                other.kill()
            report = []
            for number, other in enumerate(nodes):
                out, err = done[number] if number < len(done) else other.communicate()
                report.append(f"node {number}: exit {other.returncode}\nstdout: {out[-500:]}\nstderr: {err[-3000:]}")
            raise AssertionError(f"a node did not finish within {timeout:.0f} s\n" + "\n".join(report)) from None
    for node, (_, err) in zip(nodes, done, strict=True):
        assert node.returncode == 0, err[-3000:]
    return done


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=ATOL, msg=lambda m, n=name: f"{n}: {m}")


def history(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def single_process(config: Path, out: Path) -> Path:
    """The reference: the same recipe in this process (no launcher environment: WORLD_SIZE is unset)."""
    assert "WORLD_SIZE" not in os.environ
    return trainwise.fit(config, out=out, progress="off", store=False).run_dir


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_processes_learn_and_match_one_process(tmp_path: Path, storage_url: str) -> None:
    config = write_config(tmp_path, epochs=3)
    out, _ = finish(launch(config, "--nproc", "2", "--out", tmp_path / "ddp", "--json", cwd=tmp_path))
    summary = json.loads(out)  # rank 0 alone printed: exactly one JSON object on stdout
    reference = single_process(config, tmp_path / "one")

    runs = history(tmp_path / "ddp")
    losses = [epoch["train_loss"] for epoch in runs]
    assert len(runs) == 3 and losses[-1] < losses[0] * 0.85
    assert_same_weights(weights(tmp_path / "ddp"), weights(reference))
    # all-reduced metrics are the whole data's: train over both ranks' shares, validation over both halves
    for ddp_epoch, one_epoch in zip(runs, history(reference), strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert ddp_epoch[key] == pytest.approx(one_epoch[key], rel=1e-5), key
        assert ddp_epoch["step"] == one_epoch["step"] == 18 * ddp_epoch["epoch"]
    assert summary["test"]["accuracy"] == pytest.approx(
        json.loads((reference / "summary.json").read_text())["test"]["accuracy"]
    )
    # rank 0 wrote the run once: one run directory, one store record
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["ddp", "one"]
    assert RunStore(storage_url).count() == 1


@pytest.mark.slow
def test_resume_after_killing_the_job_continues_from_the_last_checkpoint(tmp_path: Path) -> None:
    epochs = 14
    config = write_config(tmp_path, epochs=epochs)
    run_dir = tmp_path / "ddp"
    flags = ["--nproc", "2", "--out", run_dir, "--quiet", "--no-store"]
    job = launch(config, *flags, cwd=tmp_path, start_new_session=True)
    last = run_dir / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 180
    while not last.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = descendants(job.pid)
    os.killpg(job.pid, signal.SIGKILL)  # the launcher; its workers (in sessions of their own) die with it
    job.communicate()
    gone = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < gone:
        time.sleep(0.05)
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphaned workers"
    saved = torch.load(last, weights_only=True)["position"]["epoch"]
    assert 1 <= saved < epochs, "the job was not killed mid-run"

    finish(launch(config, "--nproc", "2", "--out", run_dir, "--resume", "--quiet", "--no-store", cwd=tmp_path))
    reference = single_process(config, tmp_path / "one")
    runs = history(run_dir)
    assert [epoch["epoch"] for epoch in runs] == list(range(1, epochs + 1))
    assert_same_weights(weights(run_dir), weights(reference))
    assert runs[-1]["val_loss"] == pytest.approx(history(reference)[-1]["val_loss"], rel=1e-5)


def test_two_nodes_on_localhost_train_and_rank_zero_writes(tmp_path: Path) -> None:
    """Node 0 through `trainwise fit --nproc`, node 1 through torchrun itself (python -m torch.distributed.run).

    Batches of 383 leave a last batch of one sample (rank 1's share is empty: a stand-in weighted 0), two
    batches per optimizer step (no_sync on the first) and an EMA of the weights (what validation uses).
    """
    config = write_config(tmp_path, epochs=2)
    port = str(free_port())
    settings = ["--set", "batch_size=383", "--set", "accumulate_steps=2", "--set", "ema_decay=0.9"]
    machine = ["--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", port]
    fit = [config, *settings, "--quiet", "--no-store"]
    node0 = launch(*fit, "--out", tmp_path / "node0", "--nproc", "1", *machine, "--node-rank", "0", cwd=tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", *machine, "--node-rank", "1"]
    node1 = subprocess.Popen(
        [*torchrun, "-m", "trainwise", "fit", *map(str, fit), "--out", str(tmp_path / "node1")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    (out0, _), (out1, _) = finish_nodes(node0, node1)
    assert out0.strip() == str(tmp_path / "node0") and out1 == ""  # rank 1 prints nothing
    assert not (tmp_path / "node1").exists()  # and writes nothing: node 0's --out is the run
    runs = history(tmp_path / "node0")
    assert [epoch["step"] for epoch in runs] == [2, 4]  # 4 batches, 2 per step
    one = trainwise.fit(config, out=tmp_path / "one", progress="off", store=False, overrides=settings[1::2])
    assert_same_weights(weights(tmp_path / "node0"), weights(one.run_dir))
    assert runs[-1]["val_loss"] == pytest.approx(one.history[-1]["val_loss"], rel=1e-5)


def test_an_occupied_out_directory_is_refused_by_every_rank_and_left_as_it_was(tmp_path: Path) -> None:
    """Rank 0 fails to claim --out; it tells the others (no rank waits forever) and all exit 2."""
    config = write_config(tmp_path, epochs=1)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "history.jsonl").write_text('{"epoch": 1}\n', encoding="utf-8")
    job = launch(config, "--nproc", "2", "--out", taken, "--no-store", cwd=tmp_path)
    out, err = job.communicate(timeout=240)
    assert job.returncode == 2, err[-3000:]
    lines = err.strip().splitlines()
    assert any("already holds a run" in line for line in lines), err[-3000:]
    assert all(line.startswith("error: ") for line in lines if "rank" in line or "run" in line)
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in taken.iterdir()) == ["history.jsonl"]
    assert (taken / "history.jsonl").read_text() == '{"epoch": 1}\n'
