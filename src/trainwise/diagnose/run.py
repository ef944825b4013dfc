"""`trainwise.diagnose`: findings for a run directory (written to its findings.json) or for a history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainwise.config import Recipe
from trainwise.diagnose.curves import diagnose_history
from trainwise.diagnose.facts import Finding, RunFacts
from trainwise.diagnose.rundata import FINDINGS, check_run_dir, load_facts, load_history
from trainwise.rundir import write_json


def diagnose(
    source: str | Path | Sequence[dict[str, Any]],
    *,
    recipe: Recipe | None = None,
    num_classes: int | None = None,
    val_size: int | None = None,
    train_size: int | None = None,
    write: bool = True,
) -> list[Finding]:
    """What went wrong in a run and what to change, most severe first; a healthy run gets an empty list.

    `source` is a run directory (its history, config and facts are read; findings.json is written unless
    `write=False`) or a history: a list of epoch dicts as in history.jsonl, with what is known about the run
    passed as keywords (`num_classes` lets it compare the loss with chance, `val_size` judge the noise).

    >>> for finding in trainwise.diagnose("runs/mlp"):              # doctest: +SKIP
    ...     print(finding.title, finding.remedies)
    """
    if isinstance(source, (str, Path)):
        run_dir = check_run_dir(source)
        history = load_history(run_dir)
        facts = load_facts(run_dir)
        facts = RunFacts(
            recipe=recipe or facts.recipe,
            num_classes=num_classes or facts.num_classes,
            train_size=train_size or facts.train_size,
            val_size=val_size or facts.val_size,
            builtin_model=facts.builtin_model,
        )
        findings = diagnose_history(history, facts)
        if write:
            write_findings(run_dir, findings)
        return findings
    facts = RunFacts(recipe=recipe, num_classes=num_classes, train_size=train_size, val_size=val_size)
    return diagnose_history(list(source), facts)


def write_findings(run_dir: Path, findings: list[Finding]) -> None:
    """findings.json: `{"findings": [{kind, severity, title, evidence, remedies, epochs, numbers}]}`, atomically."""
    write_json(run_dir / FINDINGS, {"findings": [finding.to_dict() for finding in findings]})
