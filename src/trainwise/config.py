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

TaskName = Literal["image", "tabular", "text", "recommend"]


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
    # text task: the text column, tokens per sample, the tokenizer trained on the training split
    text: str = "text"
    max_length: int = Field(128, ge=1)  # longer texts are cut, shorter ones padded
    vocab_size: int = Field(8000, ge=16)
    tokenizer: Literal["wordpiece", "bpe", "word"] = "wordpiece"
    passage_lines: int = Field(10, ge=1)  # austen: non-empty lines per passage
    # tabular task: column types (inferred when not given) and an optional log transform of the target
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    log_target: bool = False  # regress on log1p(target) (metrics are then in log units)
    preprocess: bool = False  # CSV: infer column types, impute, standardize, one-hot (on with the keys above)
    # recommend: the interactions file's columns, the held-out test part, folds, feedback and negatives
    user: str = "user"  # the user id column
    item: str = "item"  # the item id column
    rating: str = "rating"  # the rating column (explicit feedback; optional for implicit)
    timestamp: str | None = None  # the time column (implicit: leave-last-out orders by it)
    rating_range: tuple[float, float] | None = None  # declared (low, high); a rating outside is an error
    duplicates: Literal["error", "last"] = "last"  # a repeated (user, item): fail, or keep the latest (counted)
    test_split: float = Field(0.2, ge=0.0, lt=1.0)  # recommend (explicit): random held-out test fraction
    folds: int = Field(1, ge=1)  # recommend (explicit): k-fold cross-validation when > 1
    fold: int = Field(0, ge=0)  # which fold is the test part (set by cross-validation)
    feedback: Literal["explicit", "implicit"] | None = None  # default: implicit for loss "bpr", else explicit
    negatives: int = Field(4, ge=1)  # implicit: sampled negative items per positive in training

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
    # text models: token embeddings, the CNN's kernel widths, the transformer's layers and heads
    embedding_dim: int = Field(64, ge=1)
    kernel_sizes: list[int] = Field(default_factory=lambda: [3, 4, 5])
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    bigram_buckets: int = Field(0, ge=0)  # bag: hashed embeddings of neighbouring token pairs (0 = none)
    weighting: Literal["mean", "tfidf"] = "mean"  # bag, minilm-bag: mean of the bag, or TF-IDF weighted (idf: train)
    vocab_size: int | None = Field(None, ge=2)  # set from the data (the tokenizer's vocabulary)
    padding_id: int = Field(0, ge=0)  # set from the data
    factors: int = Field(32, ge=1)  # recommend: latent factors per user and item (mf, neumf)

    @field_validator("hidden", "channels", "kernel_sizes")
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


class AugmentConfig(_Section):
    """Image augmentation on the training batch, on the device (each probability or size 0 = off)."""

    crop_padding: int = Field(0, ge=0)  # random crop after zero-padding each side by this many pixels
    flip: float = Field(0.0, ge=0, le=1)  # probability of a horizontal flip
    shift: float = Field(0.0, ge=0, lt=1)  # random translation up to this fraction of the size
    rotate: float = Field(0.0, ge=0, le=180)  # random rotation up to this many degrees
    cutout: int = Field(0, ge=0)  # side of a square zeroed at a random place
    mixup: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for mixup (0 = off)
    cutmix: float = Field(0.0, ge=0)  # Beta(alpha, alpha) for cutmix (0 = off)
    mix_probability: float = Field(1.0, ge=0, le=1)  # share of batches that get mixup/cutmix

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(self.crop_padding or self.flip or self.shift or self.rotate or self.cutout or self.mixed)

    @property
    def mixed(self) -> bool:
        """Whether batches are mixed (mixup or cutmix), which mixes the loss too."""
        return bool((self.mixup or self.cutmix) and self.mix_probability)


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
    accumulate_steps: int = Field(1, ge=1)  # micro-batches per optimizer step (gradient accumulation)
    precision: Literal["32", "bf16", "fp16"] = "32"  # autocast dtype; fp16 (with a GradScaler) on CUDA only
    ema_decay: float | None = Field(None, gt=0, lt=1)  # EMA of the weights, used for validation and best.pt
    swa_start_epoch: int | None = Field(None, ge=0)  # stochastic weight averaging from this epoch (0-based)
    swa_lr: float | None = Field(None, gt=0)  # SWA's constant learning rate (default: the optimizer's)
    compile: bool | Literal["inductor", "aot_eager", "eager"] = False  # torch.compile (true = inductor) for training
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    autopilot: bool = False  # roll back and cut the LR on divergence, cut it on a plateau, stop on overfitting
    search: dict[str, Any] | None = None  # `trainwise tune` only (checked by tune/space.py); fit ignores it
    _source: str | None = PrivateAttr(default=None)
    _resume_dir: str | None = PrivateAttr(default=None)  # set by fit on resume: the run's saved artifacts

    @property
    def source(self) -> str | None:
        """The file this recipe was read from, for error messages (None when built in code)."""
        return self._source

    @property
    def resume_dir(self) -> str | None:
        """The run directory a resumed run continues (None for a new run), where its artifacts are saved."""
        return self._resume_dir

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size_positive(cls, value: Any) -> Any:
        if value == "full" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError('batch_size must be an integer >= 1, or "full" for full-batch gradient descent')

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_name(cls, value: Any) -> Any:
        if value in (32, "fp32", "float32"):
            return "32"
        if value in ("bf16", "fp16", "32"):
            return value
        raise ValueError('precision must be "32", "bf16" or "fp16"')

    @model_validator(mode="after")
    def _one_average(self) -> Recipe:
        if self.ema_decay is not None and self.swa_start_epoch is not None:
            raise ValueError("give either ema_decay or swa_start_epoch (one kind of weight averaging), not both")
        return self

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
