"""Fixtures shared by every test: an isolated data cache and tiny, learnable data sets made on the spot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole session, so each real built-in is decoded at most once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def cache_dir(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built-in caches go to a temporary folder, never to the user's cache; cache tests use their own."""
    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(shared_cache))
    monkeypatch.delenv("TRAINWISE_FASHION_MNIST_DIR", raising=False)
    return shared_cache


@pytest.fixture(autouse=True)
def storage_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs and studies go to a database of the test's own, never to ./trainwise.db of the checkout."""
    url = f"sqlite:///{tmp_path / 'trainwise.db'}"
    monkeypatch.setenv("TRAINWISE_STORAGE", url)
    return url


def make_blobs(n: int = 240, features: int = 8, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian clusters around random centres: separable enough that any sane optimizer makes progress."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=gen) * 3
    y = torch.arange(n) % classes
    x = centres[y] + torch.randn(n, features, generator=gen)
    return x, y


def make_linear(n: int = 240, features: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """y = x @ w + small noise: a regression target a linear model can fit."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    w = torch.randn(features, generator=gen)
    return x, x @ w + 0.05 * torch.randn(n, generator=gen)


@pytest.fixture
def blobs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A 3-class problem with 8 features: train (240), val (60) and test (60) splits."""
    x, y = make_blobs(360)
    return {"train": (x[:240], y[:240]), "val": (x[240:300], y[240:300]), "test": (x[300:], y[300:])}


@pytest.fixture
def linear() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A regression problem with 8 features: train (240) and val (60) splits."""
    x, y = make_linear(300)
    return {"train": (x[:240], y[:240]), "val": (x[240:], y[240:])}


@pytest.fixture
def postgres_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own (tests/pgdb.py); skips, saying why, without a server."""
    from tests.pgdb import fresh_database

    with fresh_database() as url:
        monkeypatch.setenv("TRAINWISE_STORAGE", url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, storage_url: str) -> str:
    """Contract tests run once per backend: this test's SQLite file, then a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return storage_url
