"""The shipped example configs: each one is valid, and the seed example meets its accuracy bars on real data."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainwise
from trainwise.data.catalog import get_builtin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _needs(name: str) -> None:
    builtin = get_builtin(name)
    if not builtin.installed():
        pytest.skip(f"{name} is not installed ({builtin.install})")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_is_a_valid_recipe(path: Path) -> None:
    recipe = trainwise.load_recipe(path)
    assert recipe.epochs >= 1
    get_builtin(recipe.data.name)  # names a built-in data set


def test_seed_example_is_the_keras_mlp() -> None:
    recipe = trainwise.load_recipe(EXAMPLES / "mlp.toml")
    assert (recipe.model.name, recipe.model.hidden, recipe.model.activation) == ("mlp", [64, 64], "relu")
    assert (recipe.optimizer.name, recipe.optimizer.learning_rate) == ("adam", 0.001)
    assert (recipe.loss, recipe.epochs, recipe.batch_size) == ("cross_entropy", 10, 32)
    assert recipe.data.validation_split and recipe.data.name == "fashion-mnist"


def test_seed_mlp_on_mnist_5k_reaches_092(tmp_path: Path) -> None:
    """Bar: the seed MLP on 5,000 real MNIST digits, 10 epochs, >= 0.92 test accuracy."""
    _needs("mnist-5k")
    result = trainwise.fit(EXAMPLES / "mnist-5k.toml", out=tmp_path / "run", progress="off")
    assert len(result.history) == 10
    assert result.test is not None
    assert result.test["accuracy"] >= 0.92


@pytest.mark.slow
def test_seed_example_on_fashion_mnist_reaches_086(tmp_path: Path) -> None:
    """Bar: the seed example end to end (60k Fashion-MNIST images), >= 0.86 test accuracy after 10 epochs."""
    _needs("fashion-mnist")
    result = trainwise.fit(EXAMPLES / "mlp.toml", out=tmp_path / "run", progress="off")
    assert [e["epoch"] for e in result.history] == list(range(1, 11))
    assert result.test is not None
    assert result.test["accuracy"] >= 0.86
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
