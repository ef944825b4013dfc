"""What the tune tests share: a sandbox to run studies in (their recipe: tests/tune/recipes.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    """One thread, and the test's own folder as the working directory (trial runs go to ./runs)."""
    previous, before = torch.get_num_threads(), Path.cwd()
    torch.set_num_threads(1)
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)
    torch.set_num_threads(previous)
