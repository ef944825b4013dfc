"""Run directories: `runs/<name>/` with config.toml, history.jsonl, checkpoints/, summary.json.

Every file is written atomically; an existing run is never overwritten (only `resume` may continue it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import tomli_w

from trainwise.atomic import atomic_write_text
from trainwise.config import Recipe, load_recipe
from trainwise.errors import RunError

DEFAULT_ROOT = Path("runs")
# Keys that may differ when resuming: they change how a run executes, not what it computes.
RESUMABLE_CHANGES = {"epochs", "device", "threads", "checkpoint_every_steps", "name"}
# Schedules whose curve spans the planned epochs: extending such a run would bend or break the curve.
EPOCH_SHAPED_SCHEDULES = {"cosine", "onecycle"}


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def json_safe(value: Any) -> Any:
    """Plain data for strict JSON: NaN and Inf become None, tuples lists, keys strings (nested)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def new_run_dir(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """Reserve `root/name`, or `root/name-2`, `-3`, ... (mkdir is the reservation, so two runs never share one)."""
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        path = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"no free run directory name for '{name}'", source=str(root))


def claim_out_dir(out: Path) -> Path:
    """Use `out` for a new run: it must not exist, or be an empty folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(
            "already holds a run (or other files); pass --resume to continue it, or choose another --out",
            source=str(out),
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_config(run_dir: Path, recipe: Recipe) -> None:
    atomic_write_text(run_dir / "config.toml", tomli_w.dumps(recipe.to_dict()))


def resume_recipe(run_dir: Path, given: Recipe | None) -> Recipe:
    """The recipe a resumed run continues: the saved one, with only `RESUMABLE_CHANGES` taken from `given`."""
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        raise RunError(
            "nothing to resume: no checkpoints/last.pt (was the run started with this --out?)",
            source=str(run_dir),
        )
    saved = load_recipe(run_dir / "config.toml")
    if given is None:
        return saved
    differing = _first_difference(saved.to_dict(), given.to_dict())
    if differing is not None:
        raise RunError(
            f"the config differs from the run's saved config at '{differing}'; a resume continues the saved "
            f"recipe (only {', '.join(sorted(RESUMABLE_CHANGES))} may change): start a new run instead",
            source=str(run_dir / "config.toml"),
        )
    if given.epochs != saved.epochs and saved.schedule.name in EPOCH_SHAPED_SCHEDULES:
        raise RunError(
            f"schedule '{saved.schedule.name}' is laid out over epochs = {saved.epochs}, so a resume cannot change "
            "epochs; expected the same epochs (or start a new run)",
            source=str(run_dir / "config.toml"),
        )
    updates = {key: getattr(given, key) for key in RESUMABLE_CHANGES if key != "name"}
    return saved.model_copy(update=updates)


def _first_difference(saved: dict[str, Any], given: dict[str, Any], prefix: str = "") -> str | None:
    for key in sorted(set(saved) | set(given)):
        path = f"{prefix}{key}"
        if not prefix and key in RESUMABLE_CHANGES:
            continue
        a, b = saved.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = _first_difference(a, b, f"{path}.")
            if inner is not None:
                return inner
        elif a != b:
            return path
    return None
