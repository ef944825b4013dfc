"""What a worker checks when it joins a study that exists: the same search space as the study recorded.

A study's trials are comparable only when they were sampled from one space. The first session records its
space (each parameter's kind, range, scale, step, choices and condition) in the study's user attribute
`search_space`; a later session or another machine whose config asks for a different space is refused with one
line, before it samples or stores anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from trainwise.errors import ConfigError
from trainwise.tune.space import SearchSpace
from trainwise.tune.storage import redact

ATTR = "search_space"


def space_record(space: SearchSpace) -> dict[str, Any]:
    """The space as plain JSON data: {key: {kind, low, high, log, step, choices, when}}."""
    record: dict[str, Any] = {}
    for param in space.params:
        fields = asdict(param)
        fields.pop("key")
        record[param.key] = json.loads(json.dumps(fields, default=str))
    return record


def check_same_space(study: Any, space: SearchSpace, url: str) -> None:
    """ConfigError when the study recorded another search space than `space` (nothing recorded: any space)."""
    stored = study.user_attrs.get(ATTR)
    mine = space_record(space)
    if stored is None or stored == mine:
        return
    name = study.study_name
    added = sorted(set(mine) - set(stored))
    removed = sorted(set(stored) - set(mine))
    changed = sorted(k for k in set(mine) & set(stored) if mine[k] != stored[k])
    changes = ", ".join(f"{k} ({_short(stored[k])} -> {_short(mine[k])})" for k in changed)
    parts = [f"adds {', '.join(added)}" if added else "", f"drops {', '.join(removed)}" if removed else ""]
    what = "; ".join(p for p in [*parts, f"changes {changes}" if changed else ""] if p)
    raise ConfigError(
        f"study '{name}' in {redact(url)} searches another space: the config {what}; "
        "keep the study's [search] or choose another --study name"
    )


def _short(fields: dict[str, Any]) -> str:
    if fields.get("kind") == "categorical":
        return f"choices {fields.get('choices')}"
    scale = " log" if fields.get("log") else ""
    return f"{fields.get('kind')} {fields.get('low')}..{fields.get('high')}{scale}"
