"""The recipe: one validated config for fit (and later lr-find, tune, compare), loaded from TOML.

Configs are data, never code: TOML parsed by the standard library, validated by pydantic, with errors that
name the file, the key path and what was expected. Names of optimizers, losses and models are checked where
they are built (their registries can grow at run time); everything else is checked here.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from trainwise.errors import ConfigError

TaskName = Literal["image", "tabular"]


class _Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the data comes from and how it is split."""

    name: str | None = None  # a built-in data set (see `trainwise data ls`)
    path: str | None = None  # a user file: .csv, .npz, or an IDX images file
    labels_path: str | None = None  # the IDX labels file that goes with an IDX `path`
    test_path: str | None = None  # an optional test file in the same format as `path`
    label: str = "label"  # the label column of a CSV file
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)
    split_seed: int = 0  # fixed, independent of the run's seed: the same split for every run
    scale: float | None = Field(None, gt=0)  # divide features by this; built-in images use 255

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.name is not None and self.path is not None:
            raise ValueError("give either data.name (a built-in data set) or data.path (a file), not both")
        return self


class ModelConfig(_Section):
    """A built-in model and its shape; input and output sizes are inferred from the data."""

    name: str = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [64, 64])
    activation: str = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False
    channels: list[int] = Field(default_factory=lambda: [32, 64])  # cnn: channels of each conv block
    input_size: int | None = Field(None, ge=1)  # optional: checked against the data when given

    @field_validator("hidden", "channels")
    @classmethod
    def _positive_sizes(cls, sizes: list[int]) -> list[int]:
        if any(size < 1 for size in sizes):
            raise ValueError("every layer size must be >= 1")
        return sizes


class OptimizerConfig(_Section):
    """An optimizer from torch.optim and its settings."""

    name: str = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)  # momentum / nesterov / rmsprop
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    alpha: float = Field(0.99, gt=0, lt=1)  # rmsprop smoothing

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError("both betas must be in [0, 1)")
        return betas


class RegularizationConfig(_Section):
    """Penalty terms, decoupled weight decay, label smoothing and gradient clipping."""

    l1: float = Field(0.0, ge=0)  # l1 * sum(|w|) added to the loss (weights only, not biases)
    l2: float = Field(0.0, ge=0)  # l2 * sum(w^2) added to the loss (weights only, not biases)
    weight_decay: float = Field(0.0, ge=0)  # decoupled: w <- w - lr * weight_decay * w
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm


class ScheduleConfig(_Section):
    """A learning-rate schedule from torch.optim.lr_scheduler."""

    name: Literal["none", "step", "exponential", "cosine", "onecycle", "plateau"] = "none"
    step_size: int = Field(10, ge=1)  # step: epochs between decays
    gamma: float = Field(0.1, gt=0, le=1)  # step / exponential: decay factor
    warmup_epochs: float = Field(0.0, ge=0)  # cosine: linear warmup before the cosine decay
    min_lr: float = Field(0.0, ge=0)  # cosine: the floor
    max_lr: float | None = Field(None, gt=0)  # onecycle: the peak (default: 10 x learning_rate)
    factor: float = Field(0.1, gt=0, lt=1)  # plateau: decay factor
    patience: int = Field(2, ge=0)  # plateau: epochs without improvement before decaying
    monitor: str = "val_loss"  # plateau: the logged value to watch


class EarlyStoppingConfig(_Section):
    """Stop when a monitored value stops improving; optionally restore the best weights."""

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(3, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class Recipe(_Section):
    """Everything a run needs besides code: task, data, model, optimizer, schedule, regularization."""

    task: TaskName = "image"
    name: str | None = None  # the run's name (default: the config file's stem)
    epochs: int = Field(10, ge=1)
    batch_size: int | Literal["full"] = 32
    seed: int = 0
    loss: str = "cross_entropy"
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = Field(None, ge=1)  # torch intra-op threads (default: torch's own choice)
    checkpoint_every_steps: int | None = Field(None, ge=1)  # also checkpoint mid-epoch
    monitor: str = "val_loss"  # what decides the best epoch and best.pt
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    regularization: RegularizationConfig = Field(default_factory=RegularizationConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig | None = None
    search: dict[str, Any] | None = None  # `trainwise tune` only (checked by tune/space.py); fit ignores it
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this recipe was read from, for error messages (None when built in code)."""
        return self._source

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size_positive(cls, value: Any) -> Any:
        if value == "full" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError('batch_size must be an integer >= 1, or "full" for full-batch gradient descent')

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (for config.toml, summary.json and the store), None values dropped."""
        return _drop_none(self.model_dump(mode="json"))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


# --- loading -------------------------------------------------------------------------------------------


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a TOML config, apply `key=value` overrides, and validate; errors name the file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file ({exc.__class__.__name__}: {exc})", source=str(path)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"TOML syntax error: {exc}", source=str(path)) from None
    recipe = build_recipe(raw, overrides or [], source=str(path))
    recipe._source = str(path)
    if recipe.name is None:
        recipe.name = path.stem
    return recipe


def build_recipe(raw: dict[str, Any], overrides: list[str] | None = None, *, source: str | None = None) -> Recipe:
    """Validate a plain dict (plus `key=value` overrides) into a Recipe."""
    data = _deep_copy(raw)
    overridden: list[str] = []
    for item in overrides or []:
        key, value = parse_override(item)
        set_key(data, key, value, source="--set")
        overridden.append(key)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        error = _config_error(exc, source)
        if error.key and any(_same_branch(error.key, key) for key in overridden):
            error.source = "--set"  # the bad value came from the command line, not from the file
        raise error from None


def _same_branch(a: str, b: str) -> bool:
    """`a` and `b` are the same key, or one is a section holding the other (`nonsense` and `nonsense.key`)."""
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


def parse_override(item: str) -> tuple[str, Any]:
    """`section.key=value` -> (path, value); the value is read as TOML, else taken as a string."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"expected key=value (e.g. optimizer.learning_rate=0.01), got '{item}'", source="--set")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    return key, value


def set_key(data: dict[str, Any], dotted: str, value: Any, *, source: str | None = None) -> None:
    """Set `a.b.c` in nested dicts, creating sections as needed."""
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"'{'.'.join(parts[: i + 1])}' is a value, not a section", source=source, key=dotted)
        node = child
    node[parts[-1]] = value


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _config_error(exc: ValidationError, source: str | None) -> ConfigError:
    """The first validation problem as one line: key path, what was wrong, what was expected."""
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"] if not str(part).startswith(("int", "literal", "function-"))]
    key = ".".join(loc) or None
    if err["type"] == "extra_forbidden":
        parent, _, leaf = (key or "").rpartition(".")
        return ConfigError(f"unknown key{_closest_key(parent, leaf)}", source=source, key=key)
    got = err.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    message = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"{message}{shown}", source=source, key=key)


def _closest_key(parent: str, leaf: str) -> str:
    model: type[BaseModel] = Recipe
    for part in parent.split(".") if parent else []:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        sections = [a for a in candidates if issubclass(a, BaseModel)]
        if not sections:
            return ""
        model = sections[0]
    close = difflib.get_close_matches(leaf, list(model.model_fields), n=1, cutoff=0.5)
    return f"; did you mean '{'.'.join([*([parent] if parent else []), close[0]])}'?" if close else ""
