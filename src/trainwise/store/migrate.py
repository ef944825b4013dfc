"""Schema versions and forward migrations: a numbered list of steps, each run in one transaction.

Why not Alembic: our schema is a handful of tables, Alembic needs a script folder and an `alembic_version`
table (the name Optuna already uses in the same database). A step is a plain function of a connection;
`tw_schema_version` holds the version reached. A database newer than the code is refused, never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, inspect, select

from trainwise.errors import TrainwiseError
from trainwise.store import schema

Migration = Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    """Version 1: runs, epochs, final metrics, findings, artifacts, tags."""
    schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables if t.name != "tw_schema_version"])


MIGRATIONS: list[Migration] = [_v1_initial]  # step i brings the schema to version i + 1; only ever append


class SchemaError(TrainwiseError):
    """The store's schema cannot be used by this version of trainwise."""


def current_version(conn: Connection) -> int | None:
    """The schema version stored in the database; None when the store was never created there."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return None
    row = conn.execute(select(schema.schema_version.c.version).where(schema.schema_version.c.id == 1)).first()
    return int(row[0]) if row else 0


def check_version(version: int | None, known: int, where: str) -> None:
    if version is not None and version > known:
        raise SchemaError(
            f"the run store has schema version {version}, newer than this trainwise knows ({known}); "
            "upgrade trainwise to read it",
            source=where,
        )


def upgrade(engine: Engine, where: str, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema to the newest version, one transaction per step; returns the version reached.

    Two processes may upgrade at once: each step re-reads the version inside its transaction, so a step that
    another process finished is skipped (on SQLite the write lock is taken at BEGIN).
    """
    known = len(migrations)
    while True:
        with engine.connect().execution_options(tw_write=True) as conn, conn.begin():
            version = current_version(conn)
            check_version(version, known, where)
            if version == known:
                return known
            if version is None:
                schema.schema_version.create(conn, checkfirst=True)
                conn.execute(schema.schema_version.insert().values(id=1, version=0))
                version = 0
            migrations[version](conn)
            conn.execute(
                schema.schema_version.update().where(schema.schema_version.c.id == 1).values(version=version + 1)
            )
