"""What the store reads from a run directory: artifacts, findings.json and trial.json (contracts in DESIGN.md).

Plain file reading, no torch: a file that is missing or malformed is skipped, never fatal to recording.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACT_KINDS = {".pt": "checkpoint", ".png": "plot", ".html": "report", ".json": "json"}


def scan_artifacts(run_dir: Path) -> list[tuple[str, str, int]]:
    """(relative path, kind, bytes) of checkpoints/*.pt and the run directory's *.png, *.html, *.json files."""
    found: list[tuple[str, str, int]] = []
    candidates = [*run_dir.glob("*"), *run_dir.glob("checkpoints/*.pt")]
    for path in sorted(candidates):
        kind = ARTIFACT_KINDS.get(path.suffix.lower())
        if kind is None or not path.is_file() or (kind == "checkpoint") != (path.parent.name == "checkpoints"):
            continue
        found.append((path.relative_to(run_dir).as_posix(), kind, path.stat().st_size))
    return found


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_findings(run_dir: Path) -> list[dict[str, Any]]:
    """The findings of `findings.json` (`{"findings": [{kind, severity, title, evidence, remedies}]}`)."""
    data = read_json(run_dir / "findings.json")
    items = data.get("findings") if isinstance(data, dict) else None
    return [f for f in items if isinstance(f, dict)] if isinstance(items, list) else []


def read_trial(run_dir: Path) -> dict[str, Any]:
    """`trial.json` (`{"study", "trial", "storage"}`) when this run is a tuning trial, else {}."""
    data = read_json(run_dir / "trial.json")
    if not isinstance(data, dict) or not isinstance(data.get("study"), str):
        return {}
    trial = data.get("trial")
    return {
        "study": data["study"],
        "trial": trial if isinstance(trial, int) and not isinstance(trial, bool) else None,
        "study_storage": data.get("storage") if isinstance(data.get("storage"), str) else None,
    }
