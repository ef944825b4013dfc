"""What `runs ls` asks for (`RunQuery`) and how it reads: filters, sort order, and what each run row carries.

Functions of an open connection: `RunStore` owns the transactions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, select

from trainwise.engine.direction import higher_is_better
from trainwise.store import schema

RUN_COLUMNS = (
    "id",
    "name",
    "task",
    "status",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "epochs",
    "host",
    "pid",
    "study",
    "trial",
)


@dataclass
class RunQuery:
    """What `runs ls` asks for."""

    task: str | None = None
    status: str | None = None
    tag: str | None = None
    study: str | None = None  # only the runs that are trials of this Optuna study
    sort: str = "started"  # started | id | name | status | epochs | any final metric key
    descending: bool | None = None  # None: newest first / best first for metrics
    limit: int | None = 50
    offset: int = 0


def filters(q: RunQuery) -> list[Any]:
    """The WHERE clauses of the query's task, status, study and tag."""
    runs = schema.runs
    where = []
    if q.task:
        where.append(runs.c.task == q.task)
    if q.status:
        where.append(runs.c.status == q.status)
    if q.study:
        where.append(runs.c.study == q.study)
    if q.tag:
        where.append(runs.c.id.in_(select(schema.tags.c.run_id).where(schema.tags.c.name == q.tag)))
    return where


def order(stmt: Any, q: RunQuery) -> Any:
    """The query's sort: a run column, or a final metric (best first by default, runs without it last)."""
    runs = schema.runs
    plain = {"started": runs.c.started_at, "id": runs.c.id, "name": runs.c.name, "status": runs.c.status}
    plain["epochs"] = runs.c.epochs
    if q.sort in plain:
        column = plain[q.sort]
        descending = q.descending if q.descending is not None else q.sort in ("started", "id", "epochs")
        return stmt.order_by(column.desc() if descending else column.asc(), runs.c.id.desc())
    fm = schema.final_metrics
    value = (
        select(fm.c.value)
        .where(and_(fm.c.run_id == runs.c.id, fm.c.key == q.sort))
        .scalar_subquery()
        .label("sort_value")
    )
    descending = q.descending if q.descending is not None else higher_is_better(q.sort)
    missing_last = case((value.is_(None), 1), else_=0)  # portable "NULLS LAST"
    return stmt.order_by(missing_last, value.desc() if descending else value.asc(), runs.c.id.desc())


def attach(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add `final` (metric -> value) and `tags` to each run row, in two queries for the whole page."""
    ids = [r["id"] for r in rows]
    finals: dict[int, dict[str, float | None]] = {i: {} for i in ids}
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        fm = schema.final_metrics
        for run_id, key, value in conn.execute(select(fm.c.run_id, fm.c.key, fm.c.value).where(fm.c.run_id.in_(ids))):
            finals[run_id][key] = value
        tg = schema.tags
        stmt = select(tg.c.run_id, tg.c.name).where(tg.c.run_id.in_(ids)).order_by(tg.c.name)
        for run_id, name in conn.execute(stmt):
            tags[run_id].append(name)
    for row in rows:
        row["final"], row["tags"] = finals[row["id"]], tags[row["id"]]


def findings_of(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The run's findings in the order they were recorded, remedies as a list."""
    return [
        {**dict(f._mapping), "remedies": json.loads(f.remedies or "[]")}
        for f in conn.execute(
            select(
                schema.findings.c.kind,
                schema.findings.c.severity,
                schema.findings.c.title,
                schema.findings.c.evidence,
                schema.findings.c.remedies,
            )
            .where(schema.findings.c.run_id == run_id)
            .order_by(schema.findings.c.id)
        )
    ]


def artifacts_of(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The run's files (path, kind, size) by path."""
    return [
        dict(a._mapping)
        for a in conn.execute(
            select(schema.artifacts.c.path, schema.artifacts.c.kind, schema.artifacts.c.size)
            .where(schema.artifacts.c.run_id == run_id)
            .order_by(schema.artifacts.c.path)
        )
    ]
