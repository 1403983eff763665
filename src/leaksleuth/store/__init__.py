"""Persistence: snapshot metadata and series in SQL, profiles as content-addressed blobs."""

from leaksleuth.store.db import (
    NewSnapshot,
    ReportRow,
    SnapshotRow,
    Store,
    TargetRow,
    default_store_dir,
    open_store,
)

__all__ = ["NewSnapshot", "ReportRow", "SnapshotRow", "Store", "TargetRow", "default_store_dir", "open_store"]
