"""kill -9 aimed at the moments that matter (issue 12, item 14): a real child process writes rounds to a store and
SIGKILLs itself through ``Store.fault_hook`` between a round's blob writes and its rows, between two rows of one
round, or while a blob is under its temporary name. The store must open, every row's blob must be there and parse,
no blob without a row is served, and retention removes the blob files the killed round left behind."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leaksleuth.formats import parse
from leaksleuth.store.db import open_store
from tests.conftest import CAPTURES, ROOT

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from leaksleuth.store.db import NewSnapshot, open_store

    store_dir, kill_at, captures = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    store = open_store(store_dir)
    target = store.target_id("http://10.0.0.7:6060")
    first = [
        NewSnapshot("heap", "pprof", (captures / "heapkinds.heap.pb.gz").read_bytes()),
        NewSnapshot("goroutine-dump", "goroutine-dump", (captures / "parked.goroutine.debug2.txt").read_bytes()),
    ]
    store.record_round(target, 1000.0, first, {"goroutines": 12.0})
    print("round 1 committed", flush=True)

    def die(where):
        if where == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    store.fault_hook = die
    second = [
        NewSnapshot("heap", "pprof", (captures / "heapkinds.heap.grown.pb.gz").read_bytes()),
        NewSnapshot("metrics", "prometheus", (captures / "parked.metrics.txt").read_bytes()),
    ]
    store.record_round(target, 1060.0, second, {"goroutines": 13.0})
    print("round 2 committed", flush=True)
    """
)


def _killed_child(store_dir: Path, kill_at: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(store_dir), kill_at, str(CAPTURES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    return done.stdout


@pytest.mark.live
@pytest.mark.parametrize(("kill_at", "left_behind"), [("blob-temporary", 1), ("blobs-written", 2), ("row", 2)])
def test_kill_9_between_blobs_and_rows_leaves_a_store_that_serves_only_whole_rounds(
    kill_at: str, left_behind: int, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    assert _killed_child(store_dir, kill_at) == "round 1 committed\n"  # killed inside round 2, at that point
    connection = sqlite3.connect(store_dir / "leaksleuth.db")
    assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    connection.close()
    store = open_store(str(store_dir))
    try:
        rows = store.snapshots()
        assert sorted(row.kind for row in rows) == ["goroutine-dump", "heap"]  # round 1, all of it; none of round 2
        assert {row.taken_at for row in rows} == {1000.0}
        assert store.series("http://10.0.0.7:6060") == {"goroutines": [(1000.0, 12.0)]}
        assert store.targets()[0].last_seen == 1000.0
        for row in rows:  # every row's blob is on disk, whole
            _, data = store.snapshot(row.id)
            assert parse(data).format.value in ("pprof", "goroutine-dump")
        named = {row.blob for row in rows}
        on_disk = {blob_file.name for blob_file in store.blobs.files()}
        # the killed round's blobs (or the one it was writing): on disk, never named by a row, so never served
        assert len(on_disk - named) == left_behind and named <= on_disk
        if kill_at == "blob-temporary":
            assert [f.temporary for f in store.blobs.files() if f.name not in named] == [True]
        store.apply_retention()  # the default grace keeps files a live writer may be about to name
        assert {blob_file.name for blob_file in store.blobs.files()} == on_disk
        store.apply_retention(orphan_grace=0.0)
        assert {blob_file.name for blob_file in store.blobs.files()} == named
        for row in store.snapshots():
            assert store.snapshot(row.id)[1]
    finally:
        store.close()


@pytest.mark.live
def test_a_round_killed_after_its_commit_is_whole(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    assert _killed_child(store_dir, "committed") == "round 1 committed\n"
    store = open_store(str(store_dir))
    try:
        assert len(store.snapshots()) == 4
        store.apply_retention(orphan_grace=0.0)
        assert {blob_file.name for blob_file in store.blobs.files()} == {row.blob for row in store.snapshots()}
    finally:
        store.close()
