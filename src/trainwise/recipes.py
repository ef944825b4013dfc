"""Turn what a caller passes to `fit` (a Recipe, a dict, a TOML path, keyword settings) into one Recipe."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from trainwise.config import Recipe, build_recipe, load_recipe
from trainwise.errors import ConfigError, did_you_mean

_SECTIONS = ("data", "model", "optimizer", "regularization", "schedule", "early_stopping", "augment")


def resolve_recipe(
    recipe: Recipe | dict[str, Any] | str | Path | None,
    settings: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> Recipe:
    """One validated Recipe from a base (or defaults), keyword settings, then `key=value` overrides."""
    source: str | None = None
    name: str | None = None
    if isinstance(recipe, Recipe):
        if not settings and not overrides:
            return recipe
        source, name, raw = recipe.source, recipe.name, _given(recipe)
    elif isinstance(recipe, (str, Path)):
        base = load_recipe(recipe)
        source, name, raw = base.source, base.name, _given(base)
    elif isinstance(recipe, dict):
        raw = dict(recipe)
    elif recipe is None:
        raw = {}
    else:
        raise ConfigError(f"expected a Recipe, a dict or a TOML path, got {type(recipe).__name__}")
    for key, value in (settings or {}).items():
        _apply_setting(raw, key, value)
    resolved = build_recipe(raw, overrides, source=source)
    resolved._source = source
    if resolved.name is None:
        resolved.name = name
    return resolved


def _given(recipe: Recipe) -> dict[str, Any]:
    """Only the keys the recipe was given: defaults that follow other keys (metrics follow the loss) must
    follow them again after settings and overrides change those keys."""
    return _drop_none(recipe.model_dump(mode="json", exclude_unset=True))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _apply_setting(raw: dict[str, Any], key: str, value: Any) -> None:
    """`optimizer="sgd"`, `model={"hidden": [8]}`, `early_stopping=True`, `epochs=3`, `learning_rate=0.1`."""
    if key in _SECTIONS:
        current = raw.get(key)
        section: dict[str, Any] = current if isinstance(current, dict) else {}
        if key == "early_stopping" and isinstance(value, bool):
            raw[key] = section if value else None
            if not value:
                raw.pop(key)
        elif isinstance(value, str):
            raw[key] = {**section, "name": value}
        elif isinstance(value, dict):
            raw[key] = {**section, **value}
        else:
            raise ConfigError(f"expected a name or a dict of settings, got {value!r}", key=key)
        return
    if key in Recipe.model_fields:
        raw[key] = value
        return
    owners = _leaf_owners().get(key)
    if owners is None:
        choices = [*Recipe.model_fields, *_leaf_owners()]
        raise ConfigError(f"unknown setting '{key}'; {did_you_mean(key, choices)}", key=key)
    if len(owners) > 1:
        paths = ", ".join(f"{owner}.{key}" for owner in owners)
        raise ConfigError(f"'{key}' is in several sections ({paths}); pass it inside its section's dict", key=key)
    raw.setdefault(owners[0], {})
    raw[owners[0]] = {**raw[owners[0]], key: value}


@cache
def _leaf_owners() -> dict[str, list[str]]:
    """Each section key's name -> the sections that have it (`learning_rate` -> ["optimizer"])."""
    owners: dict[str, list[str]] = {}
    for section in _SECTIONS:
        annotation = Recipe.model_fields[section].annotation
        models = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        model = next(m for m in models if issubclass(m, BaseModel))
        for leaf in model.model_fields:
            if leaf != "name":
                owners.setdefault(leaf, []).append(section)
    return owners
