"""Retention: old snapshots go, then what nothing refers to any more (blob rows, their files, and blob files that a
round killed between its blobs and its rows left behind)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from leaksleuth.store.blobs import BlobFile, BlobStore, check_blob_name
from leaksleuth.store.schema import blobs_table, series_table, snapshots_table

_NAMES_PER_QUERY = 500


def apply_retention(
    engine: Engine,
    blobs: BlobStore,
    lock: threading.Lock,
    *,
    max_age: float | None,
    max_per_kind: int | None,
    orphan_grace: float,
) -> int:
    """Drop snapshots older than ``max_age`` seconds or beyond the newest ``max_per_kind`` per target and kind;
    then series past the age limit, blobs nothing refers to, and blob files no row names that are ``orphan_grace``
    seconds old (a writer puts its blobs before it commits their rows: a younger one may be about to be named).
    Returns the number of snapshots removed. A blob row whose name is not the store's own raises BadBlobName
    before anything is deleted."""
    with lock, engine.begin() as connection:
        removed = _drop_snapshots(connection, max_age, max_per_kind)
        unreferenced = ~sa.exists().where(snapshots_table.c.blob == blobs_table.c.sha256)
        orphans = [row[0] for row in connection.execute(sa.select(blobs_table.c.sha256).where(unreferenced))]
        for name in orphans:
            check_blob_name(name)  # (raising rolls the whole transaction back)
        if orphans:
            connection.execute(blobs_table.delete().where(blobs_table.c.sha256.in_(orphans)))
    for sha256 in orphans:  # rows first: a crash here leaves only unreferenced files, which the next pass removes
        blobs.delete(sha256)
    _remove_orphan_files(engine, blobs, time.time() - orphan_grace)
    return removed


def _drop_snapshots(connection: Connection, max_age: float | None, max_per_kind: int | None) -> int:
    removed = 0
    if max_age is not None:
        cutoff = time.time() - max_age
        removed += connection.execute(snapshots_table.delete().where(snapshots_table.c.taken_at < cutoff)).rowcount
        connection.execute(series_table.delete().where(series_table.c.taken_at < cutoff))
    if max_per_kind is not None:
        ranked = sa.select(
            snapshots_table.c.id,
            sa.func.row_number()
            .over(
                partition_by=(snapshots_table.c.target_id, snapshots_table.c.kind),
                order_by=(snapshots_table.c.taken_at.desc(), snapshots_table.c.id.desc()),
            )
            .label("position"),
        ).subquery()
        doomed = sa.select(ranked.c.id).where(ranked.c.position > max_per_kind)
        removed += connection.execute(snapshots_table.delete().where(snapshots_table.c.id.in_(doomed))).rowcount
    return removed


def _remove_orphan_files(engine: Engine, blobs: BlobStore, written_before: float) -> None:
    """Blob files (and unfinished writes) older than ``written_before`` that no blob row names."""
    candidates: list[BlobFile] = []
    for blob_file in blobs.files():
        if blob_file.modified is not None and blob_file.modified < written_before:
            candidates.append(blob_file)
        if len(candidates) >= _NAMES_PER_QUERY:
            _remove_unreferenced(engine, blobs, candidates)
            candidates = []
    _remove_unreferenced(engine, blobs, candidates)


def _remove_unreferenced(engine: Engine, blobs: BlobStore, candidates: list[BlobFile]) -> None:
    if not candidates:
        return
    names = sorted({blob_file.name for blob_file in candidates})
    with engine.connect() as connection:
        query = sa.select(blobs_table.c.sha256).where(blobs_table.c.sha256.in_(names))
        referenced = {row[0] for row in connection.execute(query)}
    for blob_file in candidates:
        if blob_file.temporary or blob_file.name not in referenced:
            blobs.remove_file(blob_file)
