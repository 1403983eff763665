"""The store: the same tests for the embedded default (SQLite + folder) and PostgreSQL + an fsspec blob store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.store.db import NewSnapshot, Store, metadata, open_store
from tests.conftest import CAPTURES
from tests.postgres_live import postgres_server

HEAP = (CAPTURES / "heapkinds.heap.pb.gz").read_bytes()
DUMP = (CAPTURES / "parked.goroutine.debug2.txt").read_bytes()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return str(tmp_path / "store"), None
    url: str = request.getfixturevalue("postgres_url")
    store = open_store(url, "memory://leaksleuth-scratch")
    metadata.drop_all(store.engine)  # each test starts from empty tables
    store.close()
    return url, f"memory://leaksleuth-{uuid.uuid4().hex}"  # a non-local fsspec filesystem for the blobs


@pytest.fixture()
def store(store_args: tuple[str, str | None]) -> Iterator[Store]:
    opened = open_store(*store_args)
    yield opened
    opened.close()


def test_round_trip(store: Store, store_args: tuple[str, str | None]) -> None:
    target = store.target_id("http://10.0.0.1:6060", "api", {"zone": "a"})
    now = time.time()
    ids = store.record_round(
        target,
        now,
        [
            NewSnapshot("heap", "pprof", HEAP, {"heap_inuse": 1.5}),
            NewSnapshot("goroutine-dump", "goroutine-dump", DUMP),
        ],
        {"goroutines": 33, "heap_inuse": 1.5e6},
    )
    assert len(ids) == 2
    rows = store.snapshots()
    assert [r.kind for r in rows] == ["goroutine-dump", "heap"] or {r.kind for r in rows} == {"heap", "goroutine-dump"}
    heap_row, data = store.snapshot(next(r.id for r in rows if r.kind == "heap"))
    assert data == HEAP and heap_row.encoding == "identity" and heap_row.summary == {"heap_inuse": 1.5}
    dump_row, dump = store.snapshot(next(r.id for r in rows if r.kind == "goroutine-dump"))
    assert dump == DUMP and dump_row.encoding == "gzip" and dump_row.stored_size < dump_row.size
    assert store.series("http://10.0.0.1:6060") == {"goroutines": [(now, 33.0)], "heap_inuse": [(now, 1.5e6)]}
    (row,) = store.targets()
    assert (row.service, row.labels, row.status) == ("api", {"zone": "a"}, "ok")
    reopened = open_store(*store_args)
    try:
        assert len(reopened.snapshots()) == 2 and reopened.snapshot(heap_row.id)[1] == HEAP
    finally:
        reopened.close()


def test_content_addressed_and_failures(store: Store) -> None:
    target = store.target_id("http://10.0.0.2:6060")
    for offset in range(3):
        store.record_round(target, 100.0 + offset, [NewSnapshot("heap", "pprof", HEAP)], {})
    assert len({r.blob for r in store.snapshots()}) == 1 and len(store.snapshots()) == 3
    store.record_round(target, 200.0, [], {}, status="unreachable", error="connection refused")
    (row,) = store.targets()
    assert (row.status, row.error) == ("unreachable", "connection refused")


def test_retention_by_count_and_age(store: Store) -> None:
    target = store.target_id("http://10.0.0.3:6060")
    old = time.time() - 10 * 86400
    store.record_round(
        target, old, [NewSnapshot("goroutine-dump", "goroutine-dump", b"goroutine 1 [running]:\nold\n")], {"g": 1.0}
    )
    for index in range(5):
        dump = f"goroutine {index} [running]:\n".encode()
        store.record_round(
            target, time.time() - 60 + index, [NewSnapshot("goroutine-dump", "goroutine-dump", dump)], {"g": 2.0}
        )
    old_blob = store.snapshots(newest_first=False)[0].blob
    assert store.apply_retention(max_age=7 * 86400) == 1
    assert "g" in store.series("http://10.0.0.3:6060") and len(store.series("http://10.0.0.3:6060")["g"]) == 5
    with pytest.raises(LeaksleuthError):
        store.blobs.get(old_blob, "gzip")  # the blob went with its last snapshot
    assert store.apply_retention(max_per_kind=2) == 3
    assert len(store.snapshots()) == 2


def test_missing_snapshot_and_bad_store_urls(store: Store, tmp_path: Path) -> None:
    with pytest.raises(LeaksleuthError, match="no snapshot 999"):
        store.snapshot(999)
    with pytest.raises(ConfigError, match="--blobs"):
        open_store("postgresql://nobody@127.0.0.1:1/x")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError):
        open_store(str(blocker / "sub"))
