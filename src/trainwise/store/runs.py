"""The run store's Python API: record runs as they happen, list, show, tag and delete them.

Every write is one transaction; on SQLite it takes the write lock at BEGIN, so concurrent writers queue
(busy timeout) instead of failing. Reads never write, except `reap`, which marks dead "running" runs killed.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from trainwise.store import schema
from trainwise.store.db import StoreError, _explain, display, open_store, resolve_url

HEARTBEAT_SECONDS = 20.0  # a running recorder touches its row this often
STALE_SECONDS = 120.0  # a "running" run silent this long (on any host) is taken as killed
HIGHER_IS_BETTER = ("accuracy", "auc", "f1", "precision", "recall", "r2", "top")
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


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie, killed but not reaped, counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal check is all we have
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def looks_dead(row: Any, now: float | None = None, stale_seconds: float = STALE_SECONDS) -> bool:
    """A "running" run whose process is gone: on this host its pid has exited; on any host it stopped beating."""
    if row["status"] != "running":
        return False
    now = time.time() if now is None else now
    return (row["host"] == this_host() and not pid_alive(int(row["pid"] or 0))) or now - row[
        "heartbeat_at"
    ] > stale_seconds


def finite(value: Any) -> float | None:
    """A number as float, NaN/Inf and non-numbers as None (JSON and every database can hold that)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def higher_is_better(key: str) -> bool:
    return any(word in key for word in HIGHER_IS_BETTER)


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


class RunStore:
    """The runs recorded in one database (the shared default, or any SQLAlchemy URL)."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = resolve_url(url)
        self.where = display(self.url)
        self.engine: Engine | None = open_store(self.url, create=create)

    # --- transactions ----------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        engine = self.engine if self.engine is not None else open_store(self.url)
        self.engine = engine
        assert engine is not None
        try:
            with engine.connect().execution_options(tw_write=True) as conn, conn.begin():
                yield conn
        except IntegrityError:
            raise
        except DatabaseError as exc:
            raise StoreError(_explain(exc), source=self.where) from None

    @contextmanager
    def _read(self) -> Iterator[Connection | None]:
        if self.engine is None:  # no store there yet: an empty one, and nothing is created
            yield None
            return
        try:
            with self.engine.connect() as conn:
                yield conn
        except DatabaseError as exc:
            raise StoreError(_explain(exc), source=self.where) from None

    # --- recording -------------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        name: str,
        run_dir: str | Path,
        task: str = "",
        config: dict[str, Any] | None = None,
        study: str | None = None,
        trial: int | None = None,
        study_storage: str | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> int:
        """Record a run that starts now (status running); returns its id."""
        now = time.time()
        values = {
            "name": name,
            "run_dir": str(Path(run_dir).resolve()),
            "task": task,
            "status": "running",
            "config": json.dumps(config or {}),
            "started_at": now,
            "heartbeat_at": now,
            "host": host or this_host(),
            "pid": os.getpid() if pid is None else pid,
            "epochs": 0,
            "study": study,
            "trial": trial,
            "study_storage": study_storage,
        }
        with self._write() as conn:
            result = conn.execute(insert(schema.runs).values(**values).returning(schema.runs.c.id))
            return int(result.scalar_one())

    def record_epoch(self, run_id: int, logs: dict[str, Any]) -> None:
        """Store one epoch's logs (replacing a line of the same epoch, as after a resume) and the final metrics."""
        epoch = int(logs.get("epoch", 0))
        text = json.dumps(_plain(logs), default=str)
        metrics = {k: finite(v) for k, v in logs.items() if k != "epoch" and isinstance(v, (int, float))}
        with self._write() as conn:
            conn.execute(
                delete(schema.epochs).where(and_(schema.epochs.c.run_id == run_id, schema.epochs.c.epoch >= epoch))
            )
            conn.execute(insert(schema.epochs).values(run_id=run_id, epoch=epoch, logs=text))
            self._set_final(conn, run_id, metrics)
            conn.execute(
                update(schema.runs).where(schema.runs.c.id == run_id).values(epochs=epoch, heartbeat_at=time.time())
            )

    def record_epochs(self, run_id: int, epochs: list[dict[str, Any]]) -> None:
        """Several epochs' logs (in order) in one transaction, as `record_epoch` one by one would leave them:
        a tune trial writes its epochs in batches rather than paying a transaction per epoch."""
        if not epochs:
            return
        first, last = int(epochs[0].get("epoch", 0)), int(epochs[-1].get("epoch", 0))
        rows = [
            {"run_id": run_id, "epoch": int(e.get("epoch", 0)), "logs": json.dumps(_plain(e), default=str)}
            for e in epochs
        ]
        metrics: dict[str, float | None] = {}
        for logs in epochs:
            metrics.update({k: finite(v) for k, v in logs.items() if k != "epoch" and isinstance(v, (int, float))})
        with self._write() as conn:
            conn.execute(
                delete(schema.epochs).where(and_(schema.epochs.c.run_id == run_id, schema.epochs.c.epoch >= first))
            )
            conn.execute(insert(schema.epochs), rows)
            self._set_final(conn, run_id, metrics)
            conn.execute(
                update(schema.runs).where(schema.runs.c.id == run_id).values(epochs=last, heartbeat_at=time.time())
            )

    def heartbeat(self, run_id: int) -> None:
        with self._write() as conn:
            conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(heartbeat_at=time.time()))

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        stopped_reason: str | None = None,
        test: dict[str, Any] | None = None,
        artifacts: Iterable[tuple[str, str, int]] = (),
        findings: Iterable[dict[str, Any]] = (),
        error: str | None = None,
    ) -> None:
        """Record how a run ended, with its test metrics, artifacts (path, kind, size) and findings."""
        if status not in schema.STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._write() as conn:
            now = time.time()
            values: dict[str, Any] = {"status": status, "ended_at": now, "heartbeat_at": now}
            if stopped_reason is not None:
                values["stopped_reason"] = stopped_reason
            if error is not None:
                values["error"] = error
            conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(**values))
            if test:
                self._set_final(conn, run_id, {f"test_{k}": finite(v) for k, v in test.items()})
            rows = [{"run_id": run_id, "path": p, "kind": k, "size": s} for p, k, s in artifacts]
            conn.execute(delete(schema.artifacts).where(schema.artifacts.c.run_id == run_id))
            if rows:
                conn.execute(insert(schema.artifacts), rows)
            found = [_finding_row(run_id, f) for f in findings]
            conn.execute(delete(schema.findings).where(schema.findings.c.run_id == run_id))
            if found:
                conn.execute(insert(schema.findings), found)

    @staticmethod
    def _set_final(conn: Connection, run_id: int, metrics: dict[str, float | None]) -> None:
        if not metrics:
            return
        table = schema.final_metrics
        conn.execute(delete(table).where(and_(table.c.run_id == run_id, table.c.key.in_(list(metrics)))))
        conn.execute(insert(table), [{"run_id": run_id, "key": k, "value": v} for k, v in metrics.items()])

    # --- housekeeping ----------------------------------------------------------------------------------

    def reap(self, *, stale_seconds: float = STALE_SECONDS) -> list[int]:
        """Mark "running" runs whose process is gone as killed: same host and pid gone, or no heartbeat lately."""
        with self._read() as conn:
            if conn is None:
                return []
            rows = conn.execute(
                select(
                    schema.runs.c.id,
                    schema.runs.c.status,
                    schema.runs.c.host,
                    schema.runs.c.pid,
                    schema.runs.c.heartbeat_at,
                )
                .where(schema.runs.c.status == "running")
                .order_by(schema.runs.c.id)
            ).all()
        now = time.time()
        dead = [r.id for r in rows if looks_dead(r._mapping, now, stale_seconds)]
        if dead:
            with self._write() as conn:
                conn.execute(
                    update(schema.runs)
                    .where(and_(schema.runs.c.id.in_(dead), schema.runs.c.status == "running"))
                    .values(status="killed", stopped_reason="killed", ended_at=schema.runs.c.heartbeat_at)
                )
        return dead

    def tag(self, run_id: int, name: str) -> bool:
        """Tag a run; False when it had the tag already."""
        self.get(run_id)  # unknown ids are an error, before anything is written
        tags = schema.tags
        try:
            with self._write() as conn:
                there = conn.execute(select(tags.c.name).where(and_(tags.c.run_id == run_id, tags.c.name == name)))
                if there.first() is not None:
                    return False
                conn.execute(insert(tags).values(run_id=run_id, name=name))
        except IntegrityError:  # another process tagged it between our check and insert
            return False
        return True

    def delete(self, run_id: int) -> None:
        """Remove a run's records (its run directory on disk stays)."""
        self.get(run_id)
        with self._write() as conn:
            for table in (schema.tags, schema.artifacts, schema.findings, schema.final_metrics, schema.epochs):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(delete(schema.runs).where(schema.runs.c.id == run_id))

    # --- reading ---------------------------------------------------------------------------------------

    def tasks(self) -> list[str]:
        """The tasks that recorded runs have, for filters."""
        with self._read() as conn:
            if conn is None:
                return []
            return [r[0] for r in conn.execute(select(schema.runs.c.task).distinct().order_by(schema.runs.c.task))]

    def count(self) -> int:
        with self._read() as conn:
            return 0 if conn is None else int(conn.execute(select(func.count()).select_from(schema.runs)).scalar_one())

    def list_runs(self, query: RunQuery | None = None) -> tuple[list[dict[str, Any]], int]:
        """Runs matching the query (each with its final metrics and tags) and how many match in all."""
        q = query or RunQuery()
        with self._read() as conn:
            if conn is None:
                return [], 0
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
            columns = [getattr(runs.c, c) for c in RUN_COLUMNS]
            stmt = select(*columns).where(*where)
            total = int(conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one())
            stmt = _order(stmt, q)
            if q.limit is not None:
                stmt = stmt.limit(q.limit)
            if q.offset:
                stmt = stmt.offset(q.offset)
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
            self._attach(conn, rows)
            return rows, total

    def get(self, run_id: int) -> dict[str, Any]:
        """Everything recorded about one run: the row, config, epochs, final metrics, findings, artifacts, tags."""
        with self._read() as conn:
            row = None
            if conn is not None:
                row = conn.execute(select(schema.runs).where(schema.runs.c.id == run_id)).first()
            if conn is None or row is None:
                raise StoreError(f"unknown run id {run_id} (see `trainwise runs ls`)", source=self.where)
            run = dict(row._mapping)
            run["config"] = json.loads(run["config"] or "{}")
            run["history"] = self.epochs(run_id, conn=conn)
            self._attach(conn, [run])
            run["findings"] = [
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
            run["artifacts"] = [
                dict(a._mapping)
                for a in conn.execute(
                    select(schema.artifacts.c.path, schema.artifacts.c.kind, schema.artifacts.c.size)
                    .where(schema.artifacts.c.run_id == run_id)
                    .order_by(schema.artifacts.c.path)
                )
            ]
            return run

    def epochs(self, run_id: int, *, after: int = 0, conn: Connection | None = None) -> list[dict[str, Any]]:
        """The run's epoch logs in order (only those after epoch `after`: what a live chart polls for)."""
        stmt = (
            select(schema.epochs.c.logs)
            .where(and_(schema.epochs.c.run_id == run_id, schema.epochs.c.epoch > after))
            .order_by(schema.epochs.c.epoch)
        )
        if conn is not None:
            return [json.loads(r[0]) for r in conn.execute(stmt)]
        with self._read() as c:
            return [] if c is None else [json.loads(r[0]) for r in c.execute(stmt)]

    def status(self, run_id: int) -> str:
        with self._read() as conn:
            value = (
                None
                if conn is None
                else conn.execute(select(schema.runs.c.status).where(schema.runs.c.id == run_id)).scalar()
            )
        if value is None:
            raise StoreError(f"unknown run id {run_id} (see `trainwise runs ls`)", source=self.where)
        return str(value)

    @staticmethod
    def _attach(conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Add `final` (metric -> value) and `tags` to each run row, in two queries for the whole page."""
        ids = [r["id"] for r in rows]
        finals: dict[int, dict[str, float | None]] = {i: {} for i in ids}
        tags: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            fm = schema.final_metrics
            for run_id, key, value in conn.execute(
                select(fm.c.run_id, fm.c.key, fm.c.value).where(fm.c.run_id.in_(ids))
            ):
                finals[run_id][key] = value
            tg = schema.tags
            stmt = select(tg.c.run_id, tg.c.name).where(tg.c.run_id.in_(ids)).order_by(tg.c.name)
            for run_id, name in conn.execute(stmt):
                tags[run_id].append(name)
        for row in rows:
            row["final"], row["tags"] = finals[row["id"]], tags[row["id"]]


def _order(stmt: Any, q: RunQuery) -> Any:
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


def _finding_row(run_id: int, finding: dict[str, Any]) -> dict[str, Any]:
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


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
