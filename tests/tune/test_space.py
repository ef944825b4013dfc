"""The [search] section: parsing, sampling with a real Optuna trial, conditions, and one-line errors."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from trainwise.config import build_recipe
from trainwise.errors import ConfigError
from trainwise.tune.samplers import grid
from trainwise.tune.space import Objective, apply, decode, encode, parse_search

DEFAULT = Objective("val_accuracy", "maximize")


def space_of(search: dict[str, Any], **recipe: Any) -> Any:
    return parse_search(build_recipe({"task": "tabular", **recipe, "search": search}), DEFAULT)


def test_kinds_are_inferred_from_the_recipe_keys() -> None:
    space = space_of(
        {
            "optimizer.learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
            "model.dropout": {"low": 0, "high": 0.5},  # whole-number low, still a float key
            "epochs": {"low": 2, "high": 10, "step": 2},
            "model.hidden": {"choices": [[8], [16, 8]]},
        }
    )
    kinds = {p.key: p.kind for p in space.params}
    assert kinds == {
        "optimizer.learning_rate": "float",
        "model.dropout": "float",
        "epochs": "int",
        "model.hidden": "categorical",
    }
    assert space.objectives == [DEFAULT]


def test_sampling_respects_ranges_steps_and_conditions() -> None:
    space = space_of(
        {
            "optimizer.momentum": {"low": 0.5, "high": 0.99, "when": {"optimizer.name": "sgd"}},
            "optimizer.name": {"choices": ["adam", "sgd"]},
            "epochs": {"low": 2, "high": 10, "step": 2},
            "model.hidden": {"choices": [[8], [16, 8]]},
        }
    )
    assert space.keys.index("optimizer.name") < space.keys.index("optimizer.momentum")  # condition first
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    base = build_recipe({"task": "tabular"})
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial, base)
        seen.add(values["optimizer.name"])
        assert ("optimizer.momentum" in values) == (values["optimizer.name"] == "sgd")
        assert values["epochs"] in (2, 4, 6, 8, 10)
        assert values["model.hidden"] in ([8], [16, 8])  # lists come back as lists, not JSON text
        recipe = apply(base, values)
        assert recipe.model.hidden == values["model.hidden"] and recipe.search is None
        study.tell(trial, 0.0)
    assert seen == {"adam", "sgd"}


def test_objectives_several_and_defaults() -> None:
    space = space_of({"objectives": ["val_accuracy", {"metric": "params"}], "epochs": {"low": 1, "high": 3}})
    assert space.objectives == [Objective("val_accuracy", "maximize"), Objective("params", "minimize")]
    assert space_of({"metric": "val_loss"}).objectives == [Objective("val_loss", "minimize")]
    assert space_of({"metric": "val_accuracy", "direction": "min"}).objectives[0].direction == "minimize"


def test_choices_round_trip_through_optuna_storage_format() -> None:
    for value in (None, True, 3, 0.5, "adam", [128, 64], {"a": 1}):
        assert decode(encode(value)) == value


def test_grid_is_finite_and_inside_the_space() -> None:
    space = space_of(
        {
            "optimizer.learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
            "epochs": {"low": 1, "high": 100},
            "optimizer.name": {"choices": ["adam", "sgd"]},
        }
    )
    points = grid(space)
    assert points["optimizer.name"] == ["adam", "sgd"]
    assert len(points["optimizer.learning_rate"]) == 5
    assert min(points["optimizer.learning_rate"]) == pytest.approx(1e-4)
    assert all(isinstance(v, int) and 1 <= v <= 100 for v in points["epochs"]) and len(points["epochs"]) == 5


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"optimizer.learning_rate": {"low": 0.1, "high": 0.01}}, "search.optimizer.learning_rate: low must be < high"),
        ({"optimizer.learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, "a log range needs low > 0"),
        ({"optimizer.name": {"choices": []}}, "search.optimizer.name: choices must be a non-empty list"),
        ({"optimizer.learning_rate": {"low": 1e-4, "hihg": 0.1}}, "unknown key 'hihg'"),
        ({"optimizer.learning_rat": {"low": 1e-4, "high": 0.1}}, "the recipe has no key 'optimizer.learning_rat'"),
        ({"optimizer.learning_rat": {"low": 1e-4, "high": 0.1}}, "did you mean 'optimizer.learning_rate'"),
        ({"model.dropout": {"low": 0.0, "high": 1.5}}, "1.5 is not a valid value for 'model.dropout'"),
        ({"epochs": {"low": 1.5, "high": 4}}, "'epochs' is an integer"),
        ({"model.hidden": {"low": 1, "high": 4}}, "this key is not a number"),
        ({"optimizer": {"choices": ["adam"]}}, "'optimizer' is a section"),
        ({"optimizer.momentum": {"low": 0.1, "high": 0.9, "when": {"optimizer.nam": "sgd"}}}, "no key 'optimizer.nam'"),
        ({"metric": "val_accuracy", "objectives": ["params"]}, "either metric (and direction) or objectives"),
        ({"metric": "val_accuracy", "direction": "up"}, "direction must be maximize or minimize"),
        ({"epochs": 3}, "search.epochs: expected a range"),
        (
            {
                "model.dropout": {"low": 0.0, "high": 0.5, "when": {"epochs": 2}},
                "epochs": {"low": 1, "high": 3, "when": {"model.dropout": 0.1}},
            },
            "conditions form a cycle",
        ),
    ],
)
def test_errors_are_one_line_and_name_the_parameter(search: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        space_of(search)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "search" in message


def test_the_example_search_parses() -> None:
    from pathlib import Path

    from trainwise.config import load_recipe

    path = Path(__file__).resolve().parents[2] / "examples" / "tune-digits.toml"
    space = parse_search(load_recipe(path), DEFAULT)
    assert "optimizer.momentum" in space.keys and space.keys.index("optimizer.name") < space.keys.index(
        "optimizer.momentum"
    )
