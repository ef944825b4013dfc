"""The run store's Python API: record runs as they happen, list, show, tag and delete them.

Every write is one transaction; on SQLite it takes the write lock at BEGIN, so concurrent writers queue
(busy timeout) instead of failing. Reads never write, except `reap`, which marks dead "running" runs killed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import DatabaseError, IntegrityError

from trainwise.store import schema
from trainwise.store.db import StoreError, _explain, display, open_store, resolve_url
from trainwise.store.liveness import STALE_SECONDS, looks_dead, this_host
from trainwise.store.query import RUN_COLUMNS, RunQuery, artifacts_of, attach, filters, findings_of, order
from trainwise.store.rows import finding_row, finite, plain, set_final


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
        self.record_epochs(run_id, [logs])

    def record_epochs(self, run_id: int, epochs: list[dict[str, Any]]) -> None:
        """Several epochs' logs (in order) in one transaction, as `record_epoch` one by one would leave them:
        a tune trial writes its epochs in batches rather than paying a transaction per epoch."""
        if not epochs:
            return
        first, last = int(epochs[0].get("epoch", 0)), int(epochs[-1].get("epoch", 0))
        rows = [
            {"run_id": run_id, "epoch": int(e.get("epoch", 0)), "logs": json.dumps(plain(e), default=str)}
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
            set_final(conn, run_id, metrics)
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
                set_final(conn, run_id, {f"test_{k}": finite(v) for k, v in test.items()})
            rows = [{"run_id": run_id, "path": p, "kind": k, "size": s} for p, k, s in artifacts]
            conn.execute(delete(schema.artifacts).where(schema.artifacts.c.run_id == run_id))
            if rows:
                conn.execute(insert(schema.artifacts), rows)
            found = [finding_row(run_id, f) for f in findings]
            conn.execute(delete(schema.findings).where(schema.findings.c.run_id == run_id))
            if found:
                conn.execute(insert(schema.findings), found)

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
            where = filters(q)
            columns = [getattr(runs.c, c) for c in RUN_COLUMNS]
            stmt = select(*columns).where(*where)
            total = int(conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one())
            stmt = order(stmt, q)
            if q.limit is not None:
                stmt = stmt.limit(q.limit)
            if q.offset:
                stmt = stmt.offset(q.offset)
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
            attach(conn, rows)
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
            attach(conn, [run])
            run["findings"] = findings_of(conn, run_id)
            run["artifacts"] = artifacts_of(conn, run_id)
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
