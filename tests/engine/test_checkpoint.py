"""Checkpoint files: atomic writes, and loads that refuse corrupt, foreign or code-carrying files with a RunError."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.engine import checkpoint
from trainwise.errors import RunError


@pytest.fixture
def real_checkpoint(tmp_path: Path, blobs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Path:
    """The last.pt of a one-epoch run."""
    trainwise.fit(
        train=blobs["train"], task="tabular", epochs=1, model={"hidden": [8]}, out=tmp_path / "run", progress="off"
    )
    return tmp_path / "run" / "checkpoints" / "last.pt"


def assert_refused(path: Path) -> str:
    with pytest.raises(RunError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_real_checkpoint_loads_with_everything_a_resume_needs(real_checkpoint: Path) -> None:
    data = checkpoint.load(real_checkpoint)
    assert data["format"] == checkpoint.FORMAT
    assert {"model", "optimizer", "rng", "position", "history", "epoch_progress", "callbacks"} <= set(data)
    assert data["position"]["epoch"] == 1 and data["position"]["batch"] == 0
    assert len(data["history"]) == 1


def test_atomic_save_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"format": checkpoint.FORMAT, "x": torch.zeros(3)}, path)
    checkpoint.atomic_save({"format": checkpoint.FORMAT, "x": torch.ones(3)}, path)
    assert torch.equal(checkpoint.load(path)["x"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.pt"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"format": checkpoint.FORMAT, "x": torch.arange(1000)}, path)
    before = path.read_bytes()
    unpicklable = {"format": checkpoint.FORMAT, "x": torch.zeros(1000), "fn": lambda: 0}  # fails mid-write
    with pytest.raises(Exception, match="pickle"):
        checkpoint.atomic_save(unpicklable, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.pt"]


SAVER = """
import sys, torch
from pathlib import Path
from trainwise.engine import checkpoint
path, count = Path(sys.argv[1]), Path(sys.argv[2])
for i in range(1, 1000):
    checkpoint.atomic_save({"format": checkpoint.FORMAT, "x": torch.full((4_000_000,), float(i))}, path)
    count.write_text(str(i))
"""


def test_sigkill_while_saving_leaves_a_whole_checkpoint(tmp_path: Path) -> None:
    """A process killed with SIGKILL while it rewrites last.pt leaves a complete old (or new) file behind."""
    path, count = tmp_path / "ckpt" / "last.pt", tmp_path / "count"
    process = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(count)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (count.exists() and count.read_text() not in ("", "1")):  # at least one overwrite done
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the saver never got going"
            time.sleep(0.005)
        time.sleep(0.03)  # most of each iteration is spent writing 16 MB: land inside a write
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    x = checkpoint.load(path)["x"]
    assert x.shape == (4_000_000,) and bool((x == x[0]).all()) and float(x[0]) >= 2


def test_missing_file(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nothing.pt")


def test_truncated_checkpoint(real_checkpoint: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pt"
    data = real_checkpoint.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    assert_refused(truncated)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01garbage" * 100, b"epochs = 3\n"],
    ids=["empty", "garbage", "text"],
)
def test_corrupt_or_foreign_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    assert_refused(path)


@pytest.mark.parametrize(
    "obj",
    [torch.zeros(3), {"model": {}}, [1, 2], {"format": checkpoint.FORMAT + 1, "model": {}}],
    ids=["tensor", "no-format", "list", "newer-format"],
)
def test_torch_files_that_are_not_our_checkpoints(tmp_path: Path, obj: Any) -> None:
    path = tmp_path / "last.pt"
    torch.save(obj, path)
    assert "format" in assert_refused(path)


class _OpensAFile:
    """Unpickling this object calls open(marker, "w"): code that runs from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_loading_never_runs_code_from_the_file(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "last.pt"
    payload = {"format": checkpoint.FORMAT, "model": {}, "evil": _OpensAFile(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    assert_refused(path)
    assert not marker.exists()
    # The same file, unpickled without the guard, does run the code: the refusal above is what stopped it.
    live = torch.load(path, weights_only=False) if writer == "torch.save" else pickle.loads(path.read_bytes())
    live["evil"].close()
    assert marker.exists()
