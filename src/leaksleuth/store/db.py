"""The snapshot store: metadata and series in SQL (SQLite by default, PostgreSQL at scale), profiles as blobs.

Embedded default: one directory holding ``leaksleuth.db`` (SQLite in WAL mode) and ``blobs/``. At scale:
``--store postgresql://…`` with ``--blobs`` any fsspec URL, given once: the database records it when it is created
and every later reader and writer finds it there (a reader may still point ``--blobs`` elsewhere, at a copy). Every
target's round is written in one transaction after its blobs are safely on disk, so a watcher killed mid-round leaves
a store that opens and keeps every completed snapshot (an interrupted round leaves at most blob files no row refers
to, which nothing serves and retention removes once they are ``ORPHAN_GRACE`` old). ``Store.fault_hook`` is the
seam the crash tests kill the process through, at each point where a crash matters.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.extras import require_extra
from leaksleuth.store.blobs import BlobStore, canonical_url, same_location
from leaksleuth.store.replicas import ReplicaTables
from leaksleuth.store.reports import ReportTables
from leaksleuth.store.schema import (
    blobs_table,
    metadata,
    series_table,
    settings_table,
    snapshots_table,
    targets_table,
)

BLOBS_URL = "blobs_url"  # the settings row naming the blob store
ORPHAN_GRACE = 3600.0  # retention leaves younger unreferenced blob files alone (see retention.py)

# What ``record_round`` runs, built once: SQLAlchemy caches each one's compiled form, and a statement with its
# values as parameters (not ``.values(...)`` baked into a new statement per row) skips building and keying one.
_KNOWN_BLOBS = sa.select(blobs_table.c.sha256).where(blobs_table.c.sha256.in_(sa.bindparam("names", expanding=True)))
_NEW_BLOB = blobs_table.insert()
_NEW_SNAPSHOT = snapshots_table.insert()
_NEW_VALUE = series_table.insert()
_SEEN = (
    targets_table.update()
    .where(targets_table.c.id == sa.bindparam("target"))
    .values(last_seen=sa.bindparam("seen_at"), status=sa.bindparam("seen_status"), error=sa.bindparam("seen_error"))
)


@dataclass(slots=True)
class NewSnapshot:
    kind: str
    format: str
    data: bytes
    summary: dict[str, Any] = field(default_factory=dict)
    process_start: float | None = None
    build_id: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    id: int
    target: str
    service: str
    kind: str
    format: str
    taken_at: float
    size: int
    stored_size: int
    summary: dict[str, Any]
    blob: str
    encoding: str


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: int
    url: str
    service: str
    labels: dict[str, str]
    first_seen: float
    last_seen: float
    status: str
    error: str | None


def database_url(store: str) -> str:
    """A SQLAlchemy URL: PostgreSQL URLs get the psycopg (v3) driver unless one is named."""
    if store.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + store.split("://", 1)[1]
    return store


class Store(ReplicaTables, ReportTables):
    def __init__(self, engine: Engine, blobs_url: str | None, description: str) -> None:
        self.engine = engine
        self.blobs_url = blobs_url
        self.description = description
        self._blobs: BlobStore | None = None
        self._lock = threading.Lock()
        # Tests only: called with "blob-temporary" (a blob written under its temporary name), "blobs-written" (a
        # round's blobs are on disk, no row yet), "row" (after each snapshot row of a round, before the commit) and
        # "committed", so that a test can kill the process exactly there.
        self.fault_hook: Callable[[str], None] | None = None
        self._target_ids: dict[str, int] = {}
        metadata.create_all(engine)

    def _fault_point(self, where: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(where)

    @property
    def blobs(self) -> BlobStore:
        """The blob store, opened on first use: listing snapshots reads the database only."""
        if self._blobs is None:
            if self.blobs_url is None:
                raise ConfigError(
                    f"{self.description} does not record where its blobs are (created by an older leaksleuth)",
                    hint="pass --blobs with the fsspec URL the store was written with",
                )
            self._blobs = BlobStore(self.blobs_url)
            self._blobs.fault_hook = self._fault_point
        return self._blobs

    def setting(self, name: str) -> str | None:
        with self.engine.connect() as connection:
            value = connection.execute(
                sa.select(settings_table.c.value).where(settings_table.c.name == name)
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def record_setting(self, name: str, value: str) -> None:
        with self._lock, self.engine.begin() as connection:
            connection.execute(settings_table.delete().where(settings_table.c.name == name))
            connection.execute(settings_table.insert().values(name=name, value=value))

    def has_blobs(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(blobs_table.c.sha256).limit(1)).first() is not None

    # ---- writing -------------------------------------------------------------------------------------------------
    def target_id(self, url: str, service: str = "", labels: dict[str, str] | None = None) -> int:
        known = self._target_ids.get(url)
        if known is not None:
            return known
        now = time.time()
        with self._lock, self.engine.begin() as connection:
            row = connection.execute(sa.select(targets_table.c.id).where(targets_table.c.url == url)).first()
            if row is None:
                result = connection.execute(
                    targets_table.insert().values(
                        url=url,
                        service=service,
                        labels=json.dumps(labels or {}, sort_keys=True),
                        first_seen=now,
                        last_seen=now,
                        status="ok",
                    )
                )
                ident = int(result.inserted_primary_key[0])  # type: ignore[index]
            else:
                ident = int(row[0])
        self._target_ids[url] = ident
        return ident

    def record_round(
        self,
        target_id: int,
        taken_at: float,
        snapshots: Sequence[NewSnapshot],
        series: dict[str, float],
        *,
        status: str = "ok",
        error: str | None = None,
    ) -> list[int]:
        """Store one target's round atomically: blobs first (content-addressed), then every row in one transaction."""
        stored = [(snapshot, self.blobs.put(snapshot.data)) for snapshot in snapshots]
        self._fault_point("blobs-written")
        ids: list[int] = []
        with self._lock, self.engine.begin() as connection:
            if stored:
                names = list({blob.sha256: blob for _, blob in stored}.items())
                known = set(connection.execute(_KNOWN_BLOBS, {"names": [name for name, _ in names]}).scalars())
                new_blobs = [
                    {"sha256": name, "size": blob.size, "stored_size": blob.stored_size, "encoding": blob.encoding}
                    for name, blob in names
                    if name not in known
                ]
                if new_blobs:
                    connection.execute(_NEW_BLOB, new_blobs)
            for snapshot, blob in stored:
                result = connection.execute(
                    _NEW_SNAPSHOT,
                    {
                        "target_id": target_id,
                        "kind": snapshot.kind,
                        "format": snapshot.format,
                        "taken_at": taken_at,
                        "blob": blob.sha256,
                        "summary": json.dumps(snapshot.summary, sort_keys=True) if snapshot.summary else "{}",
                        "process_start": snapshot.process_start,
                        "build_id": snapshot.build_id,
                    },
                )
                ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
                self._fault_point("row")
            if series:
                connection.execute(
                    _NEW_VALUE,
                    [{"target_id": target_id, "taken_at": taken_at, "name": k, "value": v} for k, v in series.items()],
                )
            connection.execute(
                _SEEN, {"target": target_id, "seen_at": taken_at, "seen_status": status, "seen_error": error}
            )
        self._fault_point("committed")
        return ids

    # ---- reading -------------------------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raises when the database does not answer (health checks)."""
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def targets(self) -> list[TargetRow]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(targets_table).order_by(targets_table.c.url)).all()
        return [
            TargetRow(r.id, r.url, r.service, json.loads(r.labels), r.first_seen, r.last_seen, r.status, r.error)
            for r in rows
        ]

    def snapshots(
        self,
        *,
        target: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
        snapshot_id: int | None = None,
    ) -> list[SnapshotRow]:
        query = (
            sa.select(
                snapshots_table,
                targets_table.c.url,
                targets_table.c.service,
                blobs_table.c.size,
                blobs_table.c.stored_size,
                blobs_table.c.encoding,
            )
            .join(targets_table, targets_table.c.id == snapshots_table.c.target_id)
            .join(blobs_table, blobs_table.c.sha256 == snapshots_table.c.blob)
        )
        if snapshot_id is not None:
            query = query.where(snapshots_table.c.id == snapshot_id)
        if target is not None:
            query = query.where(targets_table.c.url == target)
        if kind is not None:
            query = query.where(snapshots_table.c.kind == kind)
        order = snapshots_table.c.taken_at.desc() if newest_first else snapshots_table.c.taken_at.asc()
        query = query.order_by(order, snapshots_table.c.id.desc() if newest_first else snapshots_table.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            SnapshotRow(
                r.id,
                r.url,
                r.service,
                r.kind,
                r.format,
                r.taken_at,
                r.size,
                r.stored_size,
                json.loads(r.summary),
                r.blob,
                r.encoding,
            )
            for r in rows
        ]

    def snapshot(self, snapshot_id: int) -> tuple[SnapshotRow, bytes]:
        found = self.snapshots(snapshot_id=snapshot_id)
        if not found:
            raise LeaksleuthError(f"no snapshot {snapshot_id} in {self.description}", hint="leaksleuth snapshots list")
        return found[0], self.blobs.get(found[0].blob, found[0].encoding)

    def series(self, target: str, names: Iterable[str] | None = None) -> dict[str, list[tuple[float, float]]]:
        query = (
            sa.select(series_table.c.name, series_table.c.taken_at, series_table.c.value)
            .join(targets_table, targets_table.c.id == series_table.c.target_id)
            .where(targets_table.c.url == target)
            .order_by(series_table.c.taken_at)
        )
        if names is not None:
            query = query.where(series_table.c.name.in_(list(names)))
        out: dict[str, list[tuple[float, float]]] = {}
        with self.engine.connect() as connection:
            for name, taken_at, value in connection.execute(query):
                out.setdefault(name, []).append((taken_at, value))
        return out

    # ---- retention (store/retention.py) -------------------------------------------------------------------------
    def apply_retention(
        self, *, max_age: float | None = None, max_per_kind: int | None = None, orphan_grace: float = ORPHAN_GRACE
    ) -> int:
        """Drop old snapshots, then what nothing refers to any more (see ``retention.apply_retention``)."""
        from leaksleuth.store.retention import apply_retention

        return apply_retention(
            self.engine, self.blobs, self._lock, max_age=max_age, max_per_kind=max_per_kind, orphan_grace=orphan_grace
        )

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; crash-safe
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps the db consistent
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def default_store_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("leaksleuth", appauthor=False))


def open_store(store: str | None = None, blobs: str | None = None, *, create: bool = True) -> Store:
    """``store``: a directory (embedded SQLite + blobs/), a ``sqlite:///`` URL or a ``postgresql://`` URL.

    ``blobs``: where profiles go. A database URL needs it when the store is created, and records it; after that the
    store knows. A reading command (``create=False``) may pass it to read blobs from elsewhere (a copy); a writing
    one may only repeat what the store records, so one store never ends up with its blobs in two places.
    ``create=False`` also means a typo in --store must not look like an empty store.
    """
    if store is None or "://" not in store:
        directory = Path(store) if store else default_store_dir()
        if not create and not (directory / "leaksleuth.db").is_file():
            raise ConfigError(f"no store at {directory}", hint="leaksleuth watch --store DIR creates one")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create store directory {directory}: {exc.strerror}") from exc
        return _opened(_sqlite_engine(directory / "leaksleuth.db"), str(directory), blobs, create, directory)
    url = database_url(store)
    if url.startswith("postgresql+psycopg://"):
        require_extra("postgres", "psycopg")
    try:
        engine = (
            _sqlite_engine(Path(url.split("sqlite:///", 1)[1]))
            if url.startswith("sqlite:///")
            else (sa.create_engine(url, pool_pre_ping=True))
        )
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise ConfigError(f"cannot open store {store}: {exc}".splitlines()[0]) from exc
    return _opened(engine, url.split("@")[-1], blobs, create, None)  # no password in messages


def _opened(engine: Engine, description: str, blobs: str | None, create: bool, directory: Path | None) -> Store:
    """The store with its blob location settled: ``blobs`` if given (recorded when the store records none yet and
    this is a writer), else what the store records, else a store directory's own ``blobs/`` folder."""
    try:
        opened = Store(engine, None, description)
        recorded = opened.setting(BLOBS_URL)
        in_use = recorded
        if in_use is None and directory is not None and opened.has_blobs():
            in_use = str(directory / "blobs")  # written before stores recorded their blobs: the default folder
        if create and blobs is not None:
            if in_use is not None and not same_location(blobs, in_use):
                raise ConfigError(
                    f"{description} keeps its blobs at {in_use}; writing to --blobs {blobs} would split them",
                    hint="leave out --blobs: the store records where its blobs are",
                )
            if recorded is None:
                opened.record_setting(BLOBS_URL, canonical_url(blobs))
        opened.blobs_url = blobs or recorded or (str(directory / "blobs") if directory is not None else None)
        if create:
            if opened.blobs_url is None:
                raise ConfigError(
                    f"the store at {description} records no blob location yet: pass --blobs, an fsspec URL such as "
                    "s3://bucket/leaksleuth or file:///srv/leaksleuth-blobs (recorded: later commands find it there)"
                )
            _ = opened.blobs  # a writer finds a bad blob URL now, not at its first write
        return opened
    except ConfigError:
        engine.dispose()
        raise
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        engine.dispose()
        raise ConfigError(f"cannot open store {description}: {exc}".splitlines()[0]) from exc
