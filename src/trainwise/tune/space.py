"""The `[search]` section: which recipe keys a study varies, over what ranges, and what it optimizes.

```toml
[search]
metric = "val_accuracy"                    # or objectives = [{metric = "val_accuracy"}, {metric = "params"}]
"optimizer.learning_rate" = { low = 1e-4, high = 1e-1, log = true }
"optimizer.name" = { choices = ["adam", "sgd"] }
"optimizer.momentum" = { low = 0.5, high = 0.99, when = { "optimizer.name" = "sgd" } }
"batch_size" = { low = 32, high = 256, step = 32 }
"model.hidden" = { choices = [[64], [128], [128, 64]] }
```
Every mistake is a ConfigError naming `search.<key>`; ranges are checked against the recipe's own limits
(a dropout range reaching 1.0 is refused here, not in the middle of the study). No Optuna import here, so
a bad config is reported before anything heavy loads.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from trainwise.config import Recipe, build_recipe, set_key
from trainwise.errors import ConfigError, did_you_mean

SETTINGS = ("metric", "direction", "objectives", "auto_learning_rate", "start_from_recipe")
SPEC_KEYS = ("low", "high", "log", "step", "type", "choices", "when")
SPECIAL_METRICS = {"params": "minimize", "epoch_seconds": "minimize"}  # measured by tune, not logged by fit
LEARNING_RATE = "optimizer.learning_rate"
Kind = Literal["float", "int", "categorical"]
Direction = Literal["maximize", "minimize"]


class Trial(Protocol):
    """The part of an Optuna trial a space samples from (kept structural so this module never imports Optuna)."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Param:
    """One searched recipe key: a float or int range, or a list of choices; sampled only `when` it applies."""

    key: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def encoded_choices(self) -> list[Any]:
        """Choices as Optuna stores them: lists and tables become their JSON text."""
        return [encode(c) for c in self.choices]

    def suggest(self, trial: Trial) -> Any:
        """Sample this parameter; returns the value to put into the recipe."""
        if self.kind == "categorical":
            return decode(trial.suggest_categorical(self.key, self.encoded_choices))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether `value` (as Optuna stores it) lies in this parameter's range: warm starts use it."""
        if self.kind == "categorical":
            return value in self.encoded_choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high

    def applies(self, values: dict[str, Any], base: dict[str, Any]) -> bool:
        """True when every `when` condition holds for the values sampled so far (else the base recipe's)."""
        for key, allowed in self.when.items():
            current = values[key] if key in values else get_key(base, key)
            if current not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Objective:
    """A value to optimize: a logged metric (best over the epochs), `params` or `epoch_seconds`."""

    metric: str
    direction: Direction


@dataclass
class SearchSpace:
    """The parsed `[search]` section; `params` are ordered so that conditions come before what they guard."""

    params: list[Param]
    objectives: list[Objective]
    auto_learning_rate: bool = True
    start_from_recipe: bool = True  # the first trial of a new study trains the recipe's own values

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    def sample(self, trial: Trial, base: Recipe) -> dict[str, Any]:
        """Sample every parameter that applies given the others; returns key -> recipe value."""
        raw = base.to_dict()
        values: dict[str, Any] = {}
        for param in self.params:
            if param.applies(values, raw):
                values[param.key] = param.suggest(trial)
        return values

    def with_param(self, param: Param) -> SearchSpace:
        return SearchSpace([param, *self.params], self.objectives, self.auto_learning_rate, self.start_from_recipe)

    def recipe_point(self, base: Recipe) -> dict[str, Any]:
        """The recipe's own values of the searched keys (as Optuna stores them), where they lie in the space.

        A key whose value is outside its range or choices is left out (the sampler draws it), and so is one
        whose `when` conditions the recipe's values do not meet."""
        raw = base.to_dict()
        chosen: dict[str, Any] = {}
        for param in self.params:
            value = get_key(raw, param.key)
            if param.applies(chosen, raw) and value is not None and param.contains(encode(value)):
                chosen[param.key] = value
        return {key: encode(value) for key, value in chosen.items()}


def encode(value: Any) -> Any:
    """A choice as Optuna can store it (None, bool, int, float, str); anything else as JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def decode(value: Any) -> Any:
    """Back from `encode`: JSON text of a list or table becomes the list or table again."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def get_key(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def apply(recipe: Recipe, values: dict[str, Any]) -> Recipe:
    """The recipe with `values` (key path -> value) applied and the `[search]` section removed."""
    raw = recipe.to_dict()
    raw.pop("search", None)
    for key, value in values.items():
        set_key(raw, key, value)
    applied = build_recipe(raw, source=recipe.source)
    applied._source = recipe.source
    return applied


# --- parsing -------------------------------------------------------------------------------------------


def parse_search(recipe: Recipe, default_objective: Objective) -> SearchSpace:
    """Validate `recipe.search` into a SearchSpace; every error names `search.<key>` and the config file."""
    section = dict(recipe.search or {})
    try:
        objectives = _objectives(section, default_objective)
        params = [_param(key, spec, recipe) for key, spec in section.items() if key not in SETTINGS]
        ordered = _ordered(params)
        for param in ordered:
            for key in param.when:
                if key not in {p.key for p in ordered}:
                    _field(key, f"search.{param.key}.when")  # a condition on a fixed key: it must exist
        auto, first = (_flag(section, name) for name in ("auto_learning_rate", "start_from_recipe"))
    except ConfigError as exc:
        exc.source = exc.source or recipe.source
        raise
    return SearchSpace(ordered, objectives, auto, first)


def _flag(section: dict[str, Any], name: str) -> bool:
    value = section.get(name, True)
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", key=f"search.{name}")
    return value


def _objectives(section: dict[str, Any], default: Objective) -> list[Objective]:
    if "objectives" in section:
        if "metric" in section or "direction" in section:
            raise ConfigError("give either metric (and direction) or objectives, not both", key="search.objectives")
        items = section["objectives"]
        if not isinstance(items, list) or not items:
            raise ConfigError(
                'expected a non-empty list such as [{metric = "val_accuracy"}, {metric = "params"}]',
                key="search.objectives",
            )
        found = [_objective(item, f"search.objectives[{i}]") for i, item in enumerate(items)]
        if len({o.metric for o in found}) != len(found):
            raise ConfigError("each metric may appear once", key="search.objectives")
        return found
    if "metric" not in section:
        if "direction" in section:
            return [_objective({"metric": default.metric, "direction": section["direction"]}, "search")]
        return [default]
    return [_objective({k: section[k] for k in ("metric", "direction") if k in section}, "search")]


def _objective(item: Any, where: str) -> Objective:
    if isinstance(item, str):
        item = {"metric": item}
    if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
        raise ConfigError('expected {metric = "NAME", direction = "maximize" | "minimize"}', key=where)
    unknown = set(item) - {"metric", "direction"}
    if unknown:
        raise ConfigError(f"unknown key '{sorted(unknown)[0]}'; expected metric, direction", key=where)
    metric = item["metric"]
    direction = item.get("direction") or default_direction(metric)
    if direction in ("max", "min"):
        direction += "imize"
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction must be maximize or minimize, got {direction!r}", key=f"{where}.direction")
    return Objective(metric, direction)


def default_direction(metric: str) -> Direction:
    """Losses, errors and costs go down; accuracies and scores go up."""
    if metric in SPECIAL_METRICS:
        return "minimize"
    name = metric.removeprefix("val_").removeprefix("train_")
    return "minimize" if name in ("loss", "mse", "rmse", "mae") else "maximize"


def _param(key: str, spec: Any, recipe: Recipe) -> Param:
    where = f"search.{key}"
    if not isinstance(spec, dict):
        raise ConfigError(
            "expected a range { low = ..., high = ... } or { choices = [...] }"
            f" (or one of the settings {', '.join(SETTINGS)})",
            key=where,
        )
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; {did_you_mean(unknown[0], SPEC_KEYS)}", key=where)
    annotation = _field(key, where)
    when = _conditions(spec.get("when", {}), where)
    if "choices" in spec:
        extra = [k for k in ("low", "high", "log", "step") if k in spec]
        if extra:
            raise ConfigError(f"give either choices or a range (low, high), not both (found '{extra[0]}')", key=where)
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError("choices must be a non-empty list", key=where)
        param = Param(key, "categorical", choices=tuple(choices), when=when)
        _check_values(recipe, param, list(choices))
        return param
    if "low" not in spec or "high" not in spec:
        raise ConfigError("a range needs both low and high (or give choices = [...])", key=where)
    low, high = spec["low"], spec["high"]
    for name, value in (("low", low), ("high", high), ("step", spec.get("step", 1))):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}", key=where)
    kind = _range_kind(spec.get("type"), annotation, where)
    if low >= high:
        raise ConfigError(f"low must be < high (got low={low}, high={high})", key=where)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false, got {log!r}", key=where)
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0 (got low={low})", key=where)
    step = spec.get("step")
    if step is not None:
        if step <= 0:
            raise ConfigError(f"step must be > 0 (got {step})", key=where)
        if log:
            raise ConfigError("a log range cannot have a step; drop one of them", key=where)
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ConfigError(f"'{key}' is an integer: low, high and step must be whole numbers", key=where)
    param = Param(key, kind, float(low), float(high), log, float(step) if step is not None else None, when=when)
    _check_values(recipe, param, [int(low) if kind == "int" else low, int(high) if kind == "int" else high])
    return param


def _range_kind(given: Any, annotation: Any, where: str) -> Kind:
    if given is not None:
        if given not in ("float", "int"):
            raise ConfigError(f"type must be float or int, got {given!r}", key=where)
        return typing.cast(Kind, given)
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = set(typing.get_args(annotation)) if union else {annotation}
    if float in args:
        return "float"
    if int in args:
        return "int"
    raise ConfigError("this key is not a number: give choices = [...] instead of a range", key=where)


def _conditions(when: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if not isinstance(when, dict):
        raise ConfigError('when must be a table such as { "optimizer.name" = "sgd" }', key=f"{where}.when")
    return {key: tuple(value) if isinstance(value, list) else (value,) for key, value in when.items()}


def _field(key: str, where: str) -> Any:
    """The annotation of recipe key `key` (a dotted path); ConfigError when the recipe has no such key."""
    model: type[BaseModel] = Recipe
    parts = key.split(".")
    annotation: Any = None
    for i, part in enumerate(parts):
        fields = {name: f for name, f in model.model_fields.items() if name != "search"}
        if part not in fields:
            prefix = ".".join(parts[:i])
            options = [f"{prefix}.{name}" if prefix else name for name in fields]
            raise ConfigError(f"the recipe has no key '{key}'; {did_you_mean(key, options)}", key=where)
        annotation = fields[part].annotation
        if i < len(parts) - 1:
            sections = [a for a in typing.get_args(annotation) or (annotation,) if isinstance(a, type)]
            sections = [a for a in sections if issubclass(a, BaseModel)]
            if not sections:
                raise ConfigError(f"the recipe has no key '{key}' ('{part}' is a value, not a section)", key=where)
            model = sections[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            raise ConfigError(f"'{key}' is a section; search one of its keys (e.g. '{key}.name')", key=where)
    return annotation


def _check_values(recipe: Recipe, param: Param, values: list[Any]) -> None:
    """Each end of a range (each choice) must make a valid recipe: the recipe's own limits apply."""
    for value in values:
        try:
            apply(recipe, {param.key: value})
        except ConfigError as exc:
            raise ConfigError(
                f"{value!r} is not a valid value for '{param.key}': {exc.message}", key=f"search.{param.key}"
            ) from None
        except ValidationError as exc:  # pragma: no cover - build_recipe turns these into ConfigError
            raise ConfigError(str(exc).splitlines()[0], key=f"search.{param.key}") from None


def _ordered(params: list[Param]) -> list[Param]:
    """Parameters whose conditions name other parameters come after them; a cycle is an error."""
    keys = {p.key for p in params}
    done: list[Param] = []
    placed: set[str] = set()
    pending = list(params)
    while pending:
        ready = [p for p in pending if all(k in placed or k not in keys for k in p.when)]
        if not ready:
            raise ConfigError("conditions form a cycle (each waits on another)", key=f"search.{pending[0].key}")
        for p in ready:
            done.append(p)
            placed.add(p.key)
            pending.remove(p)
    return done
