"""How a run's logs, metrics and findings become rows: NaN/Inf as NULL, nested values as JSON text."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Connection, and_, delete, insert

from trainwise.store import schema


def finite(value: Any) -> float | None:
    """A number as float, NaN/Inf and non-numbers as None (JSON and every database can hold that)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def set_final(conn: Connection, run_id: int, metrics: dict[str, float | None]) -> None:
    """Replace these keys of the run's final metrics (the latest value of each)."""
    if not metrics:
        return
    table = schema.final_metrics
    conn.execute(delete(table).where(and_(table.c.run_id == run_id, table.c.key.in_(list(metrics)))))
    conn.execute(insert(table), [{"run_id": run_id, "key": k, "value": v} for k, v in metrics.items()])


def finding_row(run_id: int, finding: dict[str, Any]) -> dict[str, Any]:
    """A diagnose finding as a findings row (evidence and remedies as text)."""
    remedies = finding.get("remedies") or []
    evidence = finding.get("evidence", "")
    return {
        "run_id": run_id,
        "kind": str(finding.get("kind", "")),
        "severity": str(finding.get("severity", "")),
        "title": str(finding.get("title", "")),
        "evidence": evidence if isinstance(evidence, str) else json.dumps(evidence, default=str),
        "remedies": json.dumps(remedies if isinstance(remedies, list) else [remedies], default=str),
    }


def plain(value: Any) -> Any:
    """Logs with NaN/Inf as None, at any depth, so they dump as strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
