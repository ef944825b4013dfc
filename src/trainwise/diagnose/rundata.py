"""Reading a run directory for diagnosis and reports: its history, config, facts and other results.

Every fault is a RunError (or the config's ConfigError) naming the file, and the line for history.jsonl.
No torch here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainwise.config import Recipe, load_recipe
from trainwise.diagnose.facts import RunFacts
from trainwise.errors import RunError

HISTORY = "history.jsonl"
FACTS = "facts.json"
FINDINGS = "findings.json"


def check_run_dir(run_dir: str | Path) -> Path:
    """`run_dir` as a Path, if it is a folder holding a history.jsonl."""
    path = Path(run_dir)
    if not path.exists():
        raise RunError(
            "no such run directory; expected the folder `trainwise fit` wrote (runs/<name>)", source=str(path)
        )
    if not path.is_dir():
        raise RunError("not a run directory (a file); expected the folder `trainwise fit` wrote", source=str(path))
    if not (path / HISTORY).is_file():
        raise RunError(
            f"not a run directory: no {HISTORY} (expected the folder `trainwise fit` wrote, with one line per epoch)",
            source=str(path),
        )
    return path


def load_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The epochs of a run, one dict per line of history.jsonl; an empty or corrupt file is a RunError."""
    path = check_run_dir(run_dir) / HISTORY
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read the history ({exc.__class__.__name__})", source=str(path)) from None
    history: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunError(
                f"line {number} is not valid JSON ({exc.msg}); expected one JSON object per epoch", source=str(path)
            ) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
            raise RunError(
                f"line {number} is not an epoch record; expected a JSON object with an 'epoch' number", source=str(path)
            )
        history.append(entry)
    if not history:
        raise RunError("is empty: no epoch finished, so there is nothing to read yet", source=str(path))
    return history


def load_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file of the run (facts.json, lr_find.json, ...); None when absent, RunError when corrupt."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(
            f"unreadable JSON ({exc.__class__.__name__}); expected a JSON object", source=str(path)
        ) from None
    if not isinstance(data, dict):
        raise RunError("expected a JSON object", source=str(path))
    return data


def load_run_recipe(run_dir: Path) -> Recipe | None:
    """The run's resolved config, or None for a run directory without one."""
    config = run_dir / "config.toml"
    return load_recipe(config) if config.is_file() else None


def load_facts(run_dir: Path) -> RunFacts:
    """What `fit` recorded about the data and model (facts.json), with the recipe."""
    facts = load_json(run_dir / FACTS) or {}
    data = facts.get("data") or {}
    model = facts.get("model") or {}
    return RunFacts(
        recipe=load_run_recipe(run_dir),
        num_classes=_int(data.get("num_classes")),
        train_size=_int(data.get("train_size")),
        val_size=_int(data.get("val_size")),
        builtin_model=bool(model.get("builtin", True)),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
