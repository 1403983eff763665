"""The store: the same tests for the embedded default (SQLite + folder) and PostgreSQL + an fsspec blob store."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from leaksleuth.cli.main import main
from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.formats import Format, parse
from leaksleuth.store.db import BLOBS_URL, NewSnapshot, Store, database_url, metadata, open_store
from leaksleuth.store.schema import settings_table
from tests.conftest import CAPTURES
from tests.support.golive import build, running
from tests.support.postgres_live import postgres_server

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
    engine = sa.create_engine(database_url(url))
    metadata.drop_all(engine)  # each test starts from empty tables, and a store that records no blob location
    engine.dispose()
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
    with pytest.raises(ConfigError, match=r"cannot open store 127\.0\.0\.1:1/x"):  # no credentials in the message
        open_store("postgresql://nobody:secret@127.0.0.1:1/x")
    with pytest.raises(ConfigError, match="records no blob location yet: pass --blobs"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError):
        open_store(str(blocker / "sub"))


@pytest.mark.parametrize("form", ["directory", "url"])
def test_sqlite_runs_in_wal_mode(form: str, tmp_path: Path) -> None:
    database = str(tmp_path / "store") if form == "directory" else f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(database, None if form == "directory" else str(tmp_path / "blobs"))
    store.record_round(store.target_id("http://10.0.0.4:6060"), time.time(), [], {"g": 1.0})
    reopened = open_store(database, create=False)
    try:
        for opened in (store, reopened):  # every connection, not only the one that created the file
            with opened.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        path = tmp_path / "store" / "leaksleuth.db" if form == "directory" else tmp_path / "store.db"
        assert path.with_name(path.name + "-wal").exists()
    finally:
        reopened.close()
        store.close()


def _blobs_elsewhere(store_args: tuple[str, str | None], tmp_path: Path) -> tuple[str, str]:
    """A store created with an explicit --blobs: the database URL as given, or a store directory whose blobs live
    outside it."""
    database, blobs = store_args
    return database, blobs or f"file://{tmp_path / 'blobs-elsewhere'}"


def test_the_store_records_its_blobs_and_readers_find_them(
    store_args: tuple[str, str | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database, blobs = _blobs_elsewhere(store_args, tmp_path)
    writer = open_store(database, blobs)
    target = writer.target_id("http://10.0.0.5:6060", "api")
    (heap_id,) = writer.record_round(target, time.time(), [NewSnapshot("heap", "pprof", HEAP)], {})
    writer.close()
    again = open_store(database)  # a later writer (watch again) needs no --blobs either
    assert again.blobs_url == blobs
    again.close()
    # the CLI: list and get with --store only
    assert main(["snapshots", "list", "--store", database, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["kind"]) == (heap_id, "heap")
    out = tmp_path / "heap.pb.gz"
    assert main(["snapshots", "get", str(heap_id), "--store", database, "-o", str(out)]) == 0
    assert out.read_bytes() == HEAP
    # a writer pointing elsewhere would split the store's blobs; a reader may read a copy
    with pytest.raises(ConfigError, match="would split them"):
        open_store(database, f"file://{tmp_path / 'another'}")
    reader = open_store(database, f"file://{tmp_path / 'copy'}", create=False)
    assert reader.blobs_url == f"file://{tmp_path / 'copy'}"
    reader.close()


def test_a_store_without_a_recorded_blob_location_still_lists(
    store_args: tuple[str, str | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database, blobs = _blobs_elsewhere(store_args, tmp_path)
    writer = open_store(database, blobs)
    writer.record_round(writer.target_id("http://10.0.0.6:6060"), time.time(), [NewSnapshot("heap", "pprof", HEAP)], {})
    with writer.engine.begin() as connection:  # as an older leaksleuth left it
        connection.execute(sa.delete(settings_table).where(settings_table.c.name == BLOBS_URL))
    writer.close()
    assert main(["snapshots", "list", "--store", database]) == 0
    assert "heap" in capsys.readouterr().out
    code = main(["snapshots", "get", "1", "--store", database, "-o", str(tmp_path / "x")])
    error = capsys.readouterr().err
    if store_args[1] is None:  # a store directory falls back to its own blobs/ folder, and they are not there
        assert code == 3 and "is missing from" in error and "--blobs" in error
    else:  # a database URL knows nothing more
        assert code == 2 and "does not record where its blobs are" in error and "--blobs" in error
    assert main(["snapshots", "get", "1", "--store", database, "--blobs", blobs, "-o", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x").read_bytes() == HEAP


@pytest.mark.live
def test_watch_writes_a_real_go_service_to_the_store(
    store_args: tuple[str, str | None],
    go: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI's watch against a real Go program into this backend, then snapshots get hands back what pprof and
    the parsers read."""
    database, blobs = _blobs_elsewhere(store_args, tmp_path)
    goleaks = build(go, "goleaks", tmp_path)
    with running([str(goleaks), "-mode", "worker-pool"]) as (_, address):
        watch = ["watch", f"http://{address}", "--store", database, "--blobs", blobs, "--rounds", "2"]
        assert main([*watch, "--interval", "0.5s", "--quiet", "--timeout", "5"]) == 0
    capsys.readouterr()
    assert main(["snapshots", "list", "--store", database, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["kind"] for row in rows} >= {"goroutine", "heap", "metrics"}
    assert len([row for row in rows if row["kind"] == "heap"]) == 2
    for row in rows:
        out = tmp_path / f"snapshot-{row['id']}"
        assert main(["snapshots", "get", str(row["id"]), "--store", database, "-o", str(out)]) == 0
        parsed = parse(out.read_bytes())
        if row["kind"] in ("goroutine", "goroutineleak", "heap"):
            assert parsed.format is Format.PPROF and parsed.profile is not None and len(parsed.profile.samples)
        if row["kind"] == "goroutine-dump":
            assert parsed.dump is not None and parsed.dump.goroutines
        if row["kind"] == "metrics":
            assert parsed.memstats is not None and parsed.memstats.heap_inuse


def test_a_relative_blob_folder_is_recorded_absolute(
    store_args: tuple[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = store_args[0] if "://" in store_args[0] else str(Path(store_args[0]).resolve())
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    open_store(database, "blobs-here").close()
    monkeypatch.chdir(tmp_path)  # a reader started elsewhere
    reader = open_store(database, create=False)
    assert reader.blobs_url == str(tmp_path / "work" / "blobs-here")
    reader.close()
