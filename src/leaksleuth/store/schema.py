"""The store's tables (SQLAlchemy Core): the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
targets_table = sa.Table(
    "targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("url", sa.String(2048), nullable=False, unique=True),
    sa.Column("service", sa.String(256), nullable=False, default=""),
    sa.Column("labels", sa.Text, nullable=False, default="{}"),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, default="ok"),
    sa.Column("error", sa.Text, nullable=True),
)
blobs_table = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_size", sa.BigInteger, nullable=False),
    sa.Column("encoding", sa.String(16), nullable=False),
)
snapshots_table = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # goroutine, goroutineleak, goroutine-dump, heap, metrics, vars
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("taken_at", sa.Float, nullable=False),
    sa.Column("blob", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default="{}"),
    sa.Column("process_start", sa.Float, nullable=True),
    sa.Column("build_id", sa.String(128), nullable=True),
    sa.Index("ix_snapshots_target_kind_time", "target_id", "kind", "taken_at"),
)
series_table = sa.Table(
    "series",
    metadata,
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("taken_at", sa.Float, nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_series_target_name_time", "target_id", "name", "taken_at"),
)
reports_table = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),  # "alert", "watch", …
    sa.Column("source_key", sa.String(512), nullable=True, unique=True),  # alert fingerprint@startsAt: de-duplication
    sa.Column("target", sa.String(2048), nullable=False),
    sa.Column("max_confidence", sa.Float, nullable=False, default=0.0),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index("ix_reports_created", "created_at"),
)
report_summaries_table = sa.Table(  # what list views read: a few fields of a report, not its whole document
    "report_summaries",
    metadata,
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), primary_key=True),
    sa.Column("summary", sa.Text, nullable=False),
)
settings_table = sa.Table(  # what every reader of the store needs to know, e.g. where its blobs live
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
members_table = sa.Table(  # serve replicas sharing this store: a heartbeat row each, alive until lease_until
    "members",
    metadata,
    sa.Column("member", sa.String(256), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
)
verdicts_table = sa.Table(  # the latest verdict of each watched target, so every replica's pages show every target
    "verdicts",
    metadata,
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), primary_key=True),
    sa.Column("member", sa.String(256), nullable=False),  # the replica that judged it
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("verdict", sa.String(32), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # report@1 target: status, error, top suspects, restarts…
)
