"""resolve_recipe: a Recipe, dict, TOML path or nothing, plus keyword settings and `key=value` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainwise.config import Recipe, build_recipe, load_recipe
from trainwise.errors import ConfigError
from trainwise.recipes import resolve_recipe

BASE_TOML = """\
epochs = 3
[optimizer]
name = "sgd"
learning_rate = 0.5
[early_stopping]
patience = 4
"""


@pytest.fixture
def toml_path(tmp_path: Path) -> Path:
    path = tmp_path / "base.toml"
    path.write_text(BASE_TOML, encoding="utf-8")
    return path


def test_nothing_gives_the_defaults() -> None:
    assert resolve_recipe(None) == Recipe()


def test_a_recipe_alone_is_returned_as_it_is() -> None:
    recipe = Recipe(epochs=2)
    assert resolve_recipe(recipe) is recipe
    assert resolve_recipe(recipe, {}, []) is recipe


def test_settings_on_a_recipe_make_a_new_one_and_keep_its_name_and_source(toml_path: Path) -> None:
    base = load_recipe(toml_path)
    resolved = resolve_recipe(base, {"epochs": 9})
    assert resolved.epochs == 9 and base.epochs == 3
    assert (resolved.name, resolved.source) == ("base", str(toml_path))
    assert resolved.optimizer == base.optimizer


def test_a_dict_is_validated_and_left_alone() -> None:
    raw: dict[str, Any] = {"epochs": 2, "optimizer": {"name": "adamw"}}
    resolved = resolve_recipe(raw, {"learning_rate": 0.3})
    assert (resolved.epochs, resolved.optimizer.name, resolved.optimizer.learning_rate) == (2, "adamw", 0.3)
    assert raw == {"epochs": 2, "optimizer": {"name": "adamw"}}
    assert resolved.source is None


def test_a_bad_dict_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_recipe({"epochs": 0})
    assert caught.value.key == "epochs"


@pytest.mark.parametrize("as_str", [False, True])
def test_a_path_is_loaded(toml_path: Path, as_str: bool) -> None:
    resolved = resolve_recipe(str(toml_path) if as_str else toml_path)
    assert resolved == load_recipe(toml_path)
    assert (resolved.name, resolved.source) == ("base", str(toml_path))


def test_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_recipe(tmp_path / "absent.toml")


def test_anything_else_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a Recipe, a dict or a TOML path, got int"):
        resolve_recipe(42)  # type: ignore[arg-type]


def test_overrides_win_over_settings_which_win_over_the_base(toml_path: Path) -> None:
    resolved = resolve_recipe(toml_path, {"epochs": 5, "learning_rate": 0.1}, ["optimizer.learning_rate=0.01"])
    assert (resolved.epochs, resolved.optimizer.learning_rate) == (5, 0.01)
    assert resolved.optimizer.name == "sgd"  # untouched keys of the base stay


@pytest.mark.parametrize(
    ("setting", "value", "path"),
    [
        ("learning_rate", 0.1, ("optimizer", "learning_rate")),
        ("momentum", 0.5, ("optimizer", "momentum")),
        ("hidden", [32], ("model", "hidden")),
        ("validation_split", 0.3, ("data", "validation_split")),
        ("weight_decay", 0.01, ("regularization", "weight_decay")),
        ("warmup_epochs", 1.0, ("schedule", "warmup_epochs")),
        ("min_delta", 0.001, ("early_stopping", "min_delta")),
    ],
)
def test_a_section_key_may_be_given_by_itself(setting: str, value: Any, path: tuple[str, str]) -> None:
    resolved = resolve_recipe(None, {setting: value})
    section = getattr(resolved, path[0])
    assert getattr(section, path[1]) == value


def test_a_recipe_key_takes_precedence_over_a_section_key_of_the_same_name() -> None:
    """`monitor` is a Recipe key and also in schedule and early_stopping: the Recipe's is meant."""
    resolved = resolve_recipe(None, {"monitor": "val_accuracy"})
    assert resolved.monitor == "val_accuracy"
    assert resolved.schedule.monitor == "val_loss"


def test_a_key_in_several_sections_is_ambiguous() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_recipe(None, {"patience": 3})
    assert caught.value.key == "patience"
    assert "schedule.patience" in caught.value.message and "early_stopping.patience" in caught.value.message
    assert "inside its section's dict" in caught.value.message


def test_an_ambiguous_key_works_inside_its_section() -> None:
    resolved = resolve_recipe(None, {"early_stopping": {"patience": 3}, "schedule": {"patience": 1}})
    assert resolved.early_stopping is not None
    assert (resolved.early_stopping.patience, resolved.schedule.patience) == (3, 1)


def test_an_unknown_setting_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_recipe(None, {"learnin_rate": 0.1})
    assert caught.value.key == "learnin_rate"
    assert "unknown setting 'learnin_rate'" in caught.value.message
    assert "did you mean 'learning_rate'?" in caught.value.message


def test_a_setting_out_of_range_names_its_full_key() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_recipe(None, {"learning_rate": -1})
    assert caught.value.key == "optimizer.learning_rate"


def test_a_name_sets_a_sections_name_and_keeps_its_other_keys(toml_path: Path) -> None:
    resolved = resolve_recipe(toml_path, {"optimizer": "adam", "model": "cnn", "schedule": "cosine"})
    assert (resolved.optimizer.name, resolved.optimizer.learning_rate) == ("adam", 0.5)
    assert (resolved.model.name, resolved.schedule.name) == ("cnn", "cosine")


def test_a_dict_merges_into_its_section(toml_path: Path) -> None:
    resolved = resolve_recipe(toml_path, {"optimizer": {"momentum": 0.8}})
    assert (resolved.optimizer.name, resolved.optimizer.learning_rate, resolved.optimizer.momentum) == (
        "sgd",
        0.5,
        0.8,
    )


def test_a_section_given_something_else_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_recipe(None, {"optimizer": 3})
    assert caught.value.key == "optimizer"
    assert "expected a name or a dict of settings, got 3" in caught.value.message


def test_early_stopping_true_turns_it_on_with_defaults() -> None:
    resolved = resolve_recipe(None, {"early_stopping": True})
    assert resolved.early_stopping == build_recipe({"early_stopping": {}}).early_stopping
    assert resolved.early_stopping is not None and resolved.early_stopping.patience == 3


def test_early_stopping_true_keeps_the_bases_settings(toml_path: Path) -> None:
    resolved = resolve_recipe(toml_path, {"early_stopping": True})
    assert resolved.early_stopping is not None and resolved.early_stopping.patience == 4


def test_early_stopping_false_turns_it_off(toml_path: Path) -> None:
    assert load_recipe(toml_path).early_stopping is not None
    assert resolve_recipe(toml_path, {"early_stopping": False}).early_stopping is None
    assert resolve_recipe(None, {"early_stopping": False}).early_stopping is None


def test_early_stopping_dict_sets_its_keys() -> None:
    resolved = resolve_recipe(None, {"early_stopping": {"patience": 7, "monitor": "val_accuracy"}})
    assert resolved.early_stopping is not None
    assert (resolved.early_stopping.patience, resolved.early_stopping.monitor) == (7, "val_accuracy")


def test_defaults_that_follow_other_keys_follow_them_after_overrides(tmp_path: Path) -> None:
    """A regression config resolved with overrides must not pin the static default metrics (accuracy)."""
    path = tmp_path / "reg.toml"
    path.write_text('loss = "mse"\nepochs = 1\n', encoding="utf-8")
    for resolved in (resolve_recipe(path, {"epochs": 2}), resolve_recipe(load_recipe(path), None, ["epochs=2"])):
        assert resolved.epochs == 2 and resolved.loss == "mse"
        assert "metrics" not in resolved.model_fields_set


def test_a_regression_fit_with_overrides_measures_regression_metrics(tmp_path: Path) -> None:
    import torch

    import trainwise

    path = tmp_path / "reg.toml"
    path.write_text('loss = "mse"\nepochs = 1\nbatch_size = 16\n[model]\nname = "mlp"\nhidden = [4]\n', "utf-8")
    x = torch.randn(64, 3)
    y = x.sum(dim=1, keepdim=True)
    result = trainwise.fit(path, train=(x, y), val=(x, y), out=tmp_path / "run", progress="off", store=False, epochs=2)
    assert "val_rmse" in result.history[-1] and "val_accuracy" not in result.history[-1]
