"""Built-in models: layer sizes, activations, dropout and batch norm as configured; sizes inferred from the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import trainwise
from trainwise.config import ModelConfig
from trainwise.errors import ConfigError, DataError
from trainwise.models import MODELS, build_model
from trainwise.models.mlp import ACTIVATIONS


def layers(model: nn.Module, kind: type[nn.Module]) -> list[Any]:
    return [m for m in model.modules() if isinstance(m, kind)]


def linear_sizes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in layers(model, nn.Linear)]


def test_registry() -> None:
    assert {"mlp", "cnn", "bag", "text-cnn", "transformer"} <= set(MODELS)  # other tasks add theirs


# --- mlp ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hidden", "sizes"),
    [([], [(8, 3)]), ([5], [(8, 5), (5, 3)]), ([32, 16, 4], [(8, 32), (32, 16), (16, 4), (4, 3)])],
)
def test_mlp_layer_sizes_follow_hidden(hidden: list[int], sizes: list[tuple[int, int]]) -> None:
    model = build_model(ModelConfig(hidden=hidden), (8,), 3)
    assert linear_sizes(model) == sizes
    assert model(torch.randn(6, 8)).shape == (6, 3)


def test_mlp_flattens_images_and_infers_the_input_size() -> None:
    model = build_model(ModelConfig(hidden=[10]), (1, 28, 28), 10)
    assert linear_sizes(model)[0] == (784, 10)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert build_model(ModelConfig(hidden=[10], input_size=784), (1, 28, 28), 10) is not None


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_uses_the_named_activation_after_each_hidden_layer(activation: str) -> None:
    model = build_model(ModelConfig(hidden=[6, 6], activation=activation), (4,), 2)
    kind = type(ACTIVATIONS[activation]())
    assert len(layers(model, kind)) == 2
    others = [m for m in model.modules() if type(m) in {type(f()) for f in ACTIVATIONS.values()} - {kind}]
    assert others == []


def test_mlp_dropout_follows_each_activation() -> None:
    model = build_model(ModelConfig(hidden=[6, 6], dropout=0.25), (4,), 2)
    order = [type(m) for m in model.net]
    assert order == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert all(m.p == 0.25 for m in layers(model, nn.Dropout))
    assert layers(build_model(ModelConfig(hidden=[6]), (4,), 2), nn.Dropout) == []

    x = torch.randn(16, 4)
    model.eval()
    assert torch.equal(model(x), model(x))  # dropout is off in eval mode
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(x), model(x))


def test_mlp_batch_norm_sits_between_linear_and_activation() -> None:
    model = build_model(ModelConfig(hidden=[6, 5], batch_norm=True), (4,), 2)
    order = [type(m) for m in model.net]
    assert order == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert [m.num_features for m in layers(model, nn.BatchNorm1d)] == [6, 5]


@pytest.mark.parametrize(("name", "shape", "features"), [("mlp", (8,), 8), ("cnn", (1, 28, 28), 784)])
def test_input_size_that_disagrees_with_the_data_is_an_error(name: str, shape: tuple[int, ...], features: int) -> None:
    with pytest.raises(DataError) as caught:
        build_model(ModelConfig(name=name, input_size=100), shape, 3)
    assert caught.value.key == "model.input_size"
    assert f"{features} features" in str(caught.value)
    assert build_model(ModelConfig(name=name, input_size=features), shape, 3) is not None


# --- cnn ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "pools", "flat"),
    [([4], 1, 4 * 14 * 14), ([4, 8], 2, 8 * 7 * 7), ([4, 8, 8], 3, 8 * 3 * 3), ([2, 2, 2, 2], 3, 2 * 3 * 3)],
)
def test_cnn_on_28x28_pools_until_the_map_is_small(channels: list[int], pools: int, flat: int) -> None:
    model = build_model(ModelConfig(name="cnn", channels=channels, hidden=[12]), (1, 28, 28), 10)
    convs = layers(model, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == list(zip([1, *channels], channels, strict=False))
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert len(layers(model, nn.MaxPool2d)) == pools
    assert linear_sizes(model) == [(flat, 12), (12, 10)]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_cnn_fits_8x8_images_with_three_channels() -> None:
    model = build_model(ModelConfig(name="cnn", channels=[4, 4, 4], hidden=[]), (3, 8, 8), 5)
    assert len(layers(model, nn.MaxPool2d)) == 2  # 8 -> 4 -> 2, then no more pooling
    assert linear_sizes(model) == [(4 * 2 * 2, 5)]
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_cnn_batch_norm_replaces_the_conv_bias() -> None:
    plain = build_model(ModelConfig(name="cnn", channels=[4, 8]), (1, 28, 28), 10)
    normed = build_model(ModelConfig(name="cnn", channels=[4, 8], batch_norm=True), (1, 28, 28), 10)
    assert all(c.bias is not None for c in layers(plain, nn.Conv2d))
    assert all(c.bias is None for c in layers(normed, nn.Conv2d))
    assert [m.num_features for m in layers(normed, nn.BatchNorm2d)] == [4, 8]
    assert layers(plain, nn.BatchNorm2d) == []


def test_cnn_dropout_is_in_the_head() -> None:
    model = build_model(ModelConfig(name="cnn", channels=[4], hidden=[8], dropout=0.5, activation="gelu"), (1, 8, 8), 3)
    dropouts = layers(model, nn.Dropout)
    assert len(dropouts) == 2 and all(m.p == 0.5 for m in dropouts)
    assert layers(model.features, nn.Dropout) == []
    assert len(layers(model, nn.GELU)) == 2  # one per conv block, one per hidden dense layer


def test_every_cnn_parameter_gets_a_gradient() -> None:
    model = build_model(ModelConfig(name="cnn", channels=[4, 8], hidden=[16], batch_norm=True), (1, 28, 28), 10)
    nn.functional.cross_entropy(model(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# --- errors ---------------------------------------------------------------------------------------------------


def test_cnn_needs_images() -> None:
    with pytest.raises(DataError) as caught:
        build_model(ModelConfig(name="cnn"), (784,), 10)
    assert caught.value.key == "model.name"


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'cnn'") as caught:
        build_model(ModelConfig(name="cn"), (8,), 3)
    assert caught.value.key == "model.name"


def test_unknown_activation_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'gelu'") as caught:
        build_model(ModelConfig(activation="gelus"), (8,), 3)
    assert caught.value.key == "model.activation"


# --- through fit: sizes come from the data ------------------------------------------------------------------------


def test_fit_builds_models_sized_by_the_data(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    images, labels = torch.rand(40, 1, 8, 8, generator=gen), torch.arange(40) % 4
    settings: dict[str, Any] = {"epochs": 1, "batch_size": 20, "progress": "off", "validation_split": 0.0}
    cnn = trainwise.fit(train=(images, labels), model={"name": "cnn", "channels": [2]}, out=tmp_path / "a", **settings)
    assert layers(cnn.model, nn.Conv2d)[0].in_channels == 1
    assert layers(cnn.model, nn.Linear)[-1].out_features == 4  # classes 0..3
    mlp = trainwise.fit(train=(images, labels), model={"hidden": [3]}, out=tmp_path / "b", **settings)
    assert linear_sizes(mlp.model) == [(64, 3), (3, 4)]
    regression = trainwise.fit(
        train=(images.flatten(1)[:, :5], labels.float()),
        loss="mse",
        model={"hidden": [3]},
        out=tmp_path / "c",
        **settings,
    )
    assert linear_sizes(regression.model) == [(5, 3), (3, 1)]
