"""The run store's tables (SQLAlchemy Core). Every name starts with `tw_`: the database file is shared with
Optuna, whose tables (`studies`, `trials`, `version_info`, `alembic_version`, ...) must never collide with ours.

Only portable types (Integer, Float, String, Text, DateTime-as-float): nothing SQLite-only, so any SQLAlchemy
URL (PostgreSQL included) holds the same schema.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

schema_version = Table(
    "tw_schema_version",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one row
    Column("version", Integer, nullable=False),
)

runs = Table(
    "tw_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("run_dir", Text, nullable=False),
    Column("task", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),  # running | finished | failed | diverged | killed | interrupted
    Column("stopped_reason", String(64)),
    Column("config", Text, nullable=False, default="{}"),  # the resolved recipe as JSON
    Column("started_at", Float, nullable=False),  # Unix seconds (portable; shown in local time)
    Column("ended_at", Float),
    Column("heartbeat_at", Float, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("epochs", Integer, nullable=False, default=0),  # epochs completed
    Column("study", String(512)),  # the Optuna study this run is a trial of (from trial.json)
    Column("trial", Integer),
    Column("study_storage", Text),
    Column("error", Text),
)
Index("tw_runs_status", runs.c.status)
Index("tw_runs_task", runs.c.task)
Index("tw_runs_started", runs.c.started_at)
Index("tw_runs_study", runs.c.study, runs.c.trial)

epochs = Table(
    "tw_epochs",
    metadata,
    Column("run_id", Integer, ForeignKey("tw_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("logs", Text, nullable=False),  # the epoch's line of history.jsonl (metrics, lr, autopilot...)
)

# The last value of each metric (and test metrics as test_*), one row per key: a portable way to sort and
# filter on any metric without JSON functions that differ between SQLite and PostgreSQL.
final_metrics = Table(
    "tw_final_metrics",
    metadata,
    Column("run_id", Integer, ForeignKey("tw_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Float),
)
Index("tw_final_metrics_key_value", final_metrics.c.key, final_metrics.c.value)

findings = Table(
    "tw_findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("tw_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(128), nullable=False, default=""),
    Column("severity", String(32), nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    Column("evidence", Text, nullable=False, default=""),
    Column("remedies", Text, nullable=False, default="[]"),  # JSON list
)

artifacts = Table(
    "tw_artifacts",
    metadata,
    Column("run_id", Integer, ForeignKey("tw_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),  # relative to the run directory, with forward slashes
    Column("kind", String(32), nullable=False),  # checkpoint | plot | report | json
    Column("size", Integer, nullable=False, default=0),
)

tags = Table(
    "tw_tags",
    metadata,
    Column("run_id", Integer, ForeignKey("tw_runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    UniqueConstraint("run_id", "name", name="tw_tags_unique"),
)
Index("tw_tags_name", tags.c.name)

STATUSES = ("running", "finished", "failed", "diverged", "killed", "interrupted")
