"""Progress output: one plain line per epoch on stderr, a rich bar on a terminal, nothing when off."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

import trainwise
from trainwise.engine.progress import BarProgress, PlainProgress, format_logs, make_progress

Data = dict[str, tuple[torch.Tensor, torch.Tensor]]
RunFit = Callable[..., trainwise.FitResult]


def test_plain_prints_one_line_per_epoch_on_stderr(
    run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_fit(blobs, epochs=3, progress="plain")
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 3
    for epoch, (line, logs) in enumerate(zip(lines, result.history, strict=True), start=1):
        assert line.startswith(f"epoch {epoch}/3  ")
        assert line.endswith(f"  {logs['seconds']:.1f}s")
        assert f"train_loss {logs['train_loss']:.4f}" in line
        assert f"val_accuracy {logs['val_accuracy']:.4f}" in line
        assert "lr 0.0010" in line


def test_off_prints_nothing(run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]) -> None:
    run_fit(blobs, epochs=2, progress="off")
    assert capsys.readouterr() == ("", "")


def test_auto_is_plain_when_stderr_is_not_a_terminal(
    run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(make_progress("auto"), PlainProgress)
    assert make_progress("off") is None
    run_fit(blobs, epochs=2, progress="auto")
    assert [line[:9] for line in capsys.readouterr().err.splitlines()] == ["epoch 1/2", "epoch 2/2"]


class NaNAtStep(nn.Module):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 3)
        self.step, self.calls = step, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        return self.linear(x) * (math.nan if self.calls == self.step else 1.0)


def test_plain_reports_the_divergence_step(run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]) -> None:
    run_fit(blobs, model=NaNAtStep(3), epochs=2, progress="plain")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("epoch 1/2  train_loss nan")
    assert lines[-1] == "stopped: loss became NaN/Inf at step 3"


def test_bar_ends_each_epoch_with_a_summary_line(
    run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_fit(blobs, epochs=2, progress="bar")
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    assert f"train_loss {result.history[-1]['train_loss']:.4f}" in err
    assert isinstance(make_progress("bar"), BarProgress)


def test_plain_writes_to_a_given_stream(run_fit: RunFit, blobs: Data, capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    run_fit(blobs, epochs=2, callbacks=[PlainProgress(stream)])
    assert capsys.readouterr() == ("", "")
    assert len(stream.getvalue().splitlines()) == 2


def test_format_logs_shows_numbers_compactly_and_skips_position() -> None:
    logs = {"epoch": 3, "step": 40, "seconds": 1.5, "train_loss": 0.123456, "lr": 1e-05, "val_loss": math.nan}
    logs |= {"note": "text", "zero": 0.0}
    assert format_logs(logs) == "train_loss 0.1235  lr 1e-05  val_loss nan  zero 0.0000"
