"""Persistence: snapshot metadata and series in SQL, profiles as content-addressed blobs."""

from leaksleuth.extras import require_extra

require_extra("service", "sqlalchemy", "fsspec")  # before db imports them: one clear line, not a traceback

# ruff: noqa: E402

from leaksleuth.store.db import (
    NewSnapshot,
    SnapshotRow,
    Store,
    TargetRow,
    default_store_dir,
    open_store,
)
from leaksleuth.store.reports import ReportRow

__all__ = ["NewSnapshot", "ReportRow", "SnapshotRow", "Store", "TargetRow", "default_store_dir", "open_store"]
