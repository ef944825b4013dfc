"""The recipe: TOML loading, `--set` overrides, validation errors that name the file and key, and round trips."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pydantic import BaseModel, ValidationError

from trainwise.config import (
    AugmentConfig,
    DataConfig,
    EarlyStoppingConfig,
    ModelConfig,
    OptimizerConfig,
    Recipe,
    RegularizationConfig,
    ScheduleConfig,
    build_recipe,
    load_recipe,
    parse_override,
    set_key,
)
from trainwise.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def section_models() -> dict[str, type[BaseModel]]:
    """Every section of a Recipe (a field whose type is a model), found from the Recipe itself."""
    sections: dict[str, type[BaseModel]] = {}
    for name, info in Recipe.model_fields.items():
        types = getattr(info.annotation, "__args__", (info.annotation,))
        models = [t for t in types if isinstance(t, type) and issubclass(t, BaseModel)]
        if models:
            sections[name] = models[0]
    return sections


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- loading -------------------------------------------------------------------------------------------


def test_defaults_are_the_seed_example() -> None:
    """Recipe() is the Keras MLP of examples/mlp.toml; only the data set and the name are the example's own."""
    seed = load_recipe(EXAMPLES / "mlp.toml").to_dict()
    defaults = Recipe().to_dict()
    assert seed.pop("name") == "mlp"
    assert seed["data"].pop("name") == "fashion-mnist"
    assert seed == defaults


def test_load_recipe_reads_the_file_and_names_the_run_after_it(tmp_path: Path) -> None:
    path = write(tmp_path, 'epochs = 3\n[optimizer]\nname = "sgd"\nlearning_rate = 0.5\n', "quick.toml")
    recipe = load_recipe(path)
    assert (recipe.epochs, recipe.optimizer.name, recipe.optimizer.learning_rate) == (3, "sgd", 0.5)
    assert recipe.optimizer.momentum == OptimizerConfig().momentum  # unset keys keep their defaults
    assert recipe.name == "quick"
    assert recipe.source == str(path)


def test_load_recipe_keeps_an_explicit_name(tmp_path: Path) -> None:
    assert load_recipe(write(tmp_path, 'name = "baseline"\n')).name == "baseline"


def test_load_recipe_applies_overrides_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "epochs = 3\n[optimizer]\nlearning_rate = 0.5\n")
    recipe = load_recipe(path, ["optimizer.learning_rate=0.01", "epochs=7", "model.hidden=[16, 8]"])
    assert (recipe.optimizer.learning_rate, recipe.epochs, recipe.model.hidden) == (0.01, 7, [16, 8])


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    assert str(caught.value) == f"{path}: config file not found"


def test_config_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"cannot read config file.*UnicodeDecodeError") as caught:
        load_recipe(path)
    assert caught.value.source == str(path)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "epochs = 3\n\n[optimizer\nname = 'sgd'\n")
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    assert caught.value.source == str(path)
    assert "TOML syntax error" in str(caught.value)
    assert "line 3" in str(caught.value)


# --- validation errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"epochs": 0}, "epochs", "greater than or equal to 1"),
        ({"epochs": "ten"}, "epochs", "valid integer"),
        ({"batch_size": 0}, "batch_size", 'batch_size must be an integer >= 1, or "full"'),
        ({"batch_size": -4}, "batch_size", "integer >= 1"),
        ({"batch_size": "half"}, "batch_size", 'integer >= 1, or "full"'),
        ({"task": "audio"}, "task", "'image', 'tabular'"),
        ({"optimizer": {"learning_rate": 0}}, "optimizer.learning_rate", "greater than 0"),
        ({"optimizer": {"learning_rate": -0.1}}, "optimizer.learning_rate", "greater than 0"),
        ({"optimizer": {"betas": [0.9, 1.0]}}, "optimizer.betas", "both betas must be in [0, 1)"),
        ({"model": {"hidden": [64, 0]}}, "model.hidden", "every layer size must be >= 1"),
        ({"model": {"hidden": "wide"}}, "model.hidden", "valid list"),
        ({"model": {"input_size": 0}}, "model.input_size", "greater than or equal to 1"),
        ({"data": {"validation_split": 1.0}}, "data.validation_split", "less than 1"),
        ({"data": {"name": "digits", "path": "x.csv"}}, "data", "either data.name"),
        ({"schedule": {"name": "cosin"}}, "schedule.name", "'cosine'"),
        ({"early_stopping": {"patience": -1}}, "early_stopping.patience", "greater than or equal to 0"),
        ({"regularization": {"label_smoothing": 1}}, "regularization.label_smoothing", "less than 1"),
        ({"optimizer": "sgd"}, "optimizer", "valid dictionary"),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe(raw, source="run.toml")
    error = caught.value
    assert (error.source, error.key) == ("run.toml", key)
    assert message in error.message
    assert str(error).startswith(f"run.toml: {key}: ")
    assert "\n" not in str(error)


def test_a_bad_value_shows_what_was_given() -> None:
    with pytest.raises(ConfigError, match=r"\(got -0\.5\)$"):
        build_recipe({"optimizer": {"learning_rate": -0.5}})


def test_full_batch_is_allowed() -> None:
    assert build_recipe({"batch_size": "full"}).batch_size == "full"


@pytest.mark.parametrize(("name", "model"), section_models().items())
def test_every_section_forbids_unknown_keys(name: str, model: type[BaseModel]) -> None:
    with pytest.raises(ValidationError, match=r"Extra inputs are not permitted"):
        model.model_validate({"no_such_key": 1})
    with pytest.raises(ConfigError) as caught:
        build_recipe({name: {"no_such_key": 1}})
    assert caught.value.key == f"{name}.no_such_key"
    assert caught.value.message.startswith("unknown key")


def test_the_sections_are_the_known_ones() -> None:
    """If a section is added, it is covered by the test above; this pins the list so the change is seen."""
    assert section_models() == {
        "data": DataConfig,
        "model": ModelConfig,
        "optimizer": OptimizerConfig,
        "regularization": RegularizationConfig,
        "schedule": ScheduleConfig,
        "early_stopping": EarlyStoppingConfig,
        "augment": AugmentConfig,
    }


def test_the_recipe_itself_forbids_unknown_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe({"learning_rate": 0.1})
    assert caught.value.key == "learning_rate"


def test_assignment_is_validated() -> None:
    recipe = Recipe()
    with pytest.raises(ValidationError):
        recipe.epochs = 0
    with pytest.raises(ValidationError):
        recipe.optimizer.learning_rate = -1.0


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        ({"epoch": 3}, "epoch", "did you mean 'epochs'?"),
        ({"optimiser": {}}, "optimiser", "did you mean 'optimizer'?"),
        ({"optimizer": {"learning_rat": 0.1}}, "optimizer.learning_rat", "did you mean 'optimizer.learning_rate'?"),
        ({"model": {"hiden": [8]}}, "model.hiden", "did you mean 'model.hidden'?"),
        ({"data": {"validation": 0.2}}, "data.validation", "did you mean 'data.validation_split'?"),
        (  # early_stopping is optional (`EarlyStoppingConfig | None`): its keys are still suggested
            {"early_stopping": {"patiense": 2}},
            "early_stopping.patiense",
            "did you mean 'early_stopping.patience'?",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest_valid_name(raw: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe(raw, source="run.toml")
    assert str(caught.value) == f"run.toml: {key}: unknown key; {hint}"


def test_unknown_key_with_nothing_close_has_no_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe({"optimizer": {"zzzzzzzz": 1}})
    assert caught.value.message == "unknown key"


def test_unknown_key_in_a_toml_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[regularization]\nweight_decai = 0.01\n")
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    assert str(caught.value) == (
        f"{path}: regularization.weight_decai: unknown key; did you mean 'regularization.weight_decay'?"
    )


# --- overrides -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("optimizer.learning_rate=0.01", ("optimizer.learning_rate", 0.01)),
        ("epochs=5", ("epochs", 5)),
        ("model.batch_norm=true", ("model.batch_norm", True)),
        ("model.hidden=[128, 64]", ("model.hidden", [128, 64])),
        ('optimizer.name="sgd"', ("optimizer.name", "sgd")),
        ("optimizer.name=sgd", ("optimizer.name", "sgd")),  # not TOML: taken as the string it is
        ("data.path=/tmp/a b.csv", ("data.path", "/tmp/a b.csv")),
        ("  epochs = 4  ", ("epochs", 4)),
        ("name=a=b", ("name", "a=b")),  # only the first '=' splits
        ("epochs=", ("epochs", "")),
    ],
)
def test_parse_override(item: str, expected: tuple[str, Any]) -> None:
    assert parse_override(item) == expected


@pytest.mark.parametrize("item", ["epochs", "=3", " =3", ""])
def test_parse_override_needs_a_key_and_an_equals_sign(item: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_override(item)
    assert caught.value.source == "--set"
    assert "expected key=value" in caught.value.message


def test_set_key_creates_sections_and_keeps_siblings() -> None:
    data: dict[str, Any] = {"optimizer": {"name": "sgd"}, "epochs": 3}
    set_key(data, "optimizer.learning_rate", 0.1)
    set_key(data, "schedule.name", "cosine")
    set_key(data, "epochs", 4)
    assert data == {"optimizer": {"name": "sgd", "learning_rate": 0.1}, "schedule": {"name": "cosine"}, "epochs": 4}


def test_set_key_refuses_to_descend_into_a_value() -> None:
    data: dict[str, Any] = {"epochs": 3}
    with pytest.raises(ConfigError) as caught:
        set_key(data, "epochs.extra.deep", 1, source="--set")
    assert str(caught.value) == "--set: epochs.extra.deep: 'epochs' is a value, not a section"
    assert data == {"epochs": 3}


def test_overrides_do_not_change_the_callers_dict() -> None:
    raw: dict[str, Any] = {"optimizer": {"learning_rate": 0.5}, "metrics": ["accuracy"]}
    recipe = build_recipe(raw, ["optimizer.learning_rate=0.01", "optimizer.name=sgd"])
    assert recipe.optimizer.learning_rate == 0.01
    assert raw == {"optimizer": {"learning_rate": 0.5}, "metrics": ["accuracy"]}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optimizer.learning_rate=-1", "optimizer.learning_rate"),
        ("batch_size=0", "batch_size"),
        ("nonsense.key=1", "nonsense"),
        ("optimizer.momentun=0.5", "optimizer.momentun"),
    ],
)
def test_an_error_from_an_override_is_blamed_on_set_not_the_file(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe({"epochs": 2}, [override], source="run.toml")
    assert (caught.value.source, caught.value.key) == ("--set", key)


def test_an_error_in_the_file_is_blamed_on_the_file_despite_overrides() -> None:
    with pytest.raises(ConfigError) as caught:
        build_recipe({"optimizer": {"learning_rate": 0}}, ["epochs=2", "optimizer.name=sgd"], source="run.toml")
    assert (caught.value.source, caught.value.key) == ("run.toml", "optimizer.learning_rate")


def test_an_override_can_fix_the_file() -> None:
    recipe = build_recipe({"optimizer": {"learning_rate": 0}}, ["optimizer.learning_rate=0.1"], source="run.toml")
    assert recipe.optimizer.learning_rate == 0.1


# --- round trips ---------------------------------------------------------------------------------------


def busy_recipe() -> Recipe:
    """A recipe that sets something in every section, including the optional ones and a tuple."""
    return build_recipe(
        {
            "task": "tabular",
            "name": "busy",
            "epochs": 4,
            "batch_size": "full",
            "metrics": ["accuracy", "macro_f1"],
            "threads": 2,
            "data": {"path": "train.csv", "label": "y", "validation_split": 0.25, "scale": 2.0},
            "model": {"hidden": [16], "activation": "tanh", "dropout": 0.1, "input_size": 4},
            "optimizer": {"name": "gd", "learning_rate": 0.2, "betas": [0.8, 0.9]},
            "regularization": {"l2": 0.001, "grad_clip": 1.0},
            "schedule": {"name": "onecycle", "max_lr": 0.5},
            "early_stopping": {"patience": 2, "mode": "min"},
        }
    )


def test_to_dict_round_trips_through_build_recipe() -> None:
    recipe = busy_recipe()
    assert build_recipe(recipe.to_dict()) == recipe


def test_to_dict_round_trips_through_toml(tmp_path: Path) -> None:
    """What a run directory's config.toml holds reads back as the same recipe."""
    recipe = busy_recipe()
    path = write(tmp_path, tomli_w.dumps(recipe.to_dict()), "config.toml")
    loaded = load_recipe(path)
    assert loaded.model_dump() == recipe.model_dump()  # `==` would also compare where each was read from
    assert loaded.source == str(path)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == recipe.to_dict()


def test_to_dict_drops_unset_optional_values() -> None:
    data = Recipe().to_dict()
    assert "early_stopping" not in data and "name" not in data and "threads" not in data
    assert "name" not in data["data"] and "max_lr" not in data["schedule"]
    assert None not in data.values()
    assert build_recipe(data) == Recipe()
