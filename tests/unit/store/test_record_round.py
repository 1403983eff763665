"""One target's round into the store (issue 17 made it cheaper; these are what it must still do): blobs on disk
first, under a temporary name until they are whole, then every row in one transaction; each crash seam fires in
order; content addressing stores a body once however often it comes."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from leaksleuth.store.blobs import BlobStore
from leaksleuth.store.db import NewSnapshot, Store, open_store
from leaksleuth.store.schema import blobs_table
from tests.conftest import CAPTURES

HEAP = (CAPTURES / "heapkinds.heap.pb.gz").read_bytes()
DUMP = (CAPTURES / "parked.goroutine.debug2.txt").read_bytes()
METRICS = (CAPTURES / "parked.metrics.txt").read_bytes()


class Crash(Exception):
    pass


def _on_disk(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_a_local_put_leaves_the_blob_under_its_name_and_nothing_else(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path / "blobs"))
    seen: list[str] = []
    blobs.fault_hook = seen.append
    stored = blobs.put(DUMP)
    assert _on_disk(tmp_path / "blobs") == [f"{stored.sha256[:2]}/{stored.sha256}"]
    on_disk = (tmp_path / "blobs" / stored.sha256[:2] / stored.sha256).read_bytes()
    assert gzip.decompress(on_disk) == DUMP and stored.stored_size == len(on_disk) < stored.size == len(DUMP)
    assert (stored.encoding, seen) == ("gzip", ["blob-temporary"])
    assert blobs.put(DUMP) == stored and seen == ["blob-temporary"]  # already there: not written again
    heap = blobs.put(HEAP)
    assert heap.encoding == "identity" and blobs.get(heap.sha256, heap.encoding) == HEAP
    assert blobs.get(stored.sha256, stored.encoding) == DUMP
    assert sorted(blob_file.name for blob_file in blobs.files()) == sorted([stored.sha256, heap.sha256])


def test_a_crash_while_a_blob_is_under_its_temporary_name_leaves_only_that_file(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path / "blobs"))

    def crash(where: str) -> None:
        raise Crash(where)

    blobs.fault_hook = crash
    with pytest.raises(Crash, match="blob-temporary"):
        blobs.put(METRICS)
    (left,) = blobs.files()
    assert left.temporary and left.path.endswith(".tmp") and Path(left.path).read_bytes()
    blobs.fault_hook = None
    stored = blobs.put(METRICS)  # the next writer of the same body is not fooled by the temporary file
    assert stored.sha256 == left.name and blobs.get(stored.sha256, stored.encoding) == METRICS
    assert sorted(f.temporary for f in blobs.files()) == [False, True]  # the leftover is retention's (orphan grace)


def test_a_blob_folder_removed_behind_the_stores_back_is_made_again(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path / "blobs"))
    stored = blobs.put(DUMP)
    shutil.rmtree(tmp_path / "blobs" / stored.sha256[:2])
    assert blobs.put(DUMP) == stored and blobs.get(stored.sha256, stored.encoding) == DUMP
    assert _on_disk(tmp_path / "blobs") == [f"{stored.sha256[:2]}/{stored.sha256}"]


def test_a_non_local_filesystem_still_stores_through_fsspec(tmp_path: Path) -> None:
    blobs = BlobStore(f"memory://leaksleuth-test-{tmp_path.name}")
    seen: list[str] = []
    blobs.fault_hook = seen.append
    stored = blobs.put(DUMP)
    assert blobs.get(stored.sha256, stored.encoding) == DUMP and blobs.put(DUMP) == stored
    assert [f.name for f in blobs.files()] == [stored.sha256] and seen == []  # written whole: no temporary name


def _store(tmp_path: Path) -> tuple[Store, list[str]]:
    store = open_store(str(tmp_path / "store"))
    seen: list[str] = []
    store.fault_hook = seen.append
    return store, seen


def test_a_round_fires_every_crash_seam_in_order_and_returns_its_ids_in_order(tmp_path: Path) -> None:
    store, seen = _store(tmp_path)
    try:
        target = store.target_id("http://10.0.0.1:6060", "api")
        first = store.record_round(target, 100.0, [NewSnapshot("heap", "pprof", HEAP, {"heap_inuse": 1.5})], {})
        assert seen == ["blob-temporary", "blobs-written", "row", "committed"]
        seen.clear()
        round_two = [
            NewSnapshot("goroutine-dump", "goroutine-dump", DUMP, {"goroutines": 7}, 50.0, "b1"),
            NewSnapshot("heap", "pprof", HEAP),  # stored last round
            NewSnapshot("metrics", "prometheus", METRICS),
            NewSnapshot("goroutine-dump-again", "goroutine-dump", DUMP),  # the same body twice in one round
        ]
        ids = store.record_round(target, 160.0, round_two, {"goroutines": 7.0, "heap_inuse": 2.0})
        assert seen == ["blob-temporary", "blob-temporary", "blobs-written", "row", "row", "row", "row", "committed"]
        assert ids == sorted(ids) and first[0] < ids[0]
        rows = {row.id: row for row in store.snapshots()}
        assert [rows[i].kind for i in ids] == [s.kind for s in round_two]
        assert rows[ids[0]].summary == {"goroutines": 7} and rows[ids[2]].summary == {}
        assert rows[first[0]].summary == {"heap_inuse": 1.5} and rows[ids[1]].blob == rows[first[0]].blob
        assert rows[ids[0]].blob == rows[ids[3]].blob and rows[ids[0]].encoding == "gzip"
        assert store.snapshot(ids[2])[1] == METRICS and store.snapshot(ids[3])[1] == DUMP
        with store.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(blobs_table)).scalar_one() == 3
        assert store.series("http://10.0.0.1:6060") == {"goroutines": [(160.0, 7.0)], "heap_inuse": [(160.0, 2.0)]}
        (row,) = store.targets()
        assert (row.last_seen, row.status, row.error) == (160.0, "ok", None)
        store.record_round(target, 220.0, [], {}, status="unreachable", error="connection refused")
        (row,) = store.targets()
        assert (row.last_seen, row.status, row.error) == (220.0, "unreachable", "connection refused")
    finally:
        store.close()


@pytest.mark.parametrize("crash_at", ["blob-temporary", "blobs-written", "row"])
def test_a_round_that_crashes_before_its_commit_leaves_no_row(crash_at: str, tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    try:
        target = store.target_id("http://10.0.0.2:6060")
        store.record_round(target, 100.0, [NewSnapshot("heap", "pprof", HEAP)], {"goroutines": 1.0})

        def crash(where: str) -> None:
            if where == crash_at:
                raise Crash(where)

        store.fault_hook = crash
        with pytest.raises(Crash):
            store.record_round(
                target,
                160.0,
                [NewSnapshot("metrics", "prometheus", METRICS), NewSnapshot("heap", "pprof", HEAP)],
                {"goroutines": 2.0},
                status="ok",
            )
        assert [row.taken_at for row in store.snapshots()] == [100.0]
        assert store.series("http://10.0.0.2:6060") == {"goroutines": [(100.0, 1.0)]}
        assert store.targets()[0].last_seen == 100.0
        with store.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(blobs_table)).scalar_one() == 1
        store.fault_hook = None
        (metrics_id, _) = store.record_round(
            target, 220.0, [NewSnapshot("metrics", "prometheus", METRICS), NewSnapshot("heap", "pprof", HEAP)], {}
        )
        assert store.snapshot(metrics_id)[1] == METRICS  # the crashed round's blob file is reused, whole
    finally:
        store.close()
