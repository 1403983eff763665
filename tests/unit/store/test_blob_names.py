"""Blob names from the database are checked before a path is built (issue 12, item 11): a row naming a file
outside the blob folder is a clear error, never a file read or deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from leaksleuth.cli.main import main
from leaksleuth.errors import LeaksleuthError
from leaksleuth.store.blobs import BlobStore
from leaksleuth.store.db import NewSnapshot, open_store
from tests.conftest import CAPTURES

HEAP = (CAPTURES / "heapkinds.heap.pb.gz").read_bytes()
SECRET = b"root:x:0:0:root:/root:/bin/bash\n"


def _tampered_store(tmp_path: Path) -> tuple[Path, Path, int]:
    """A store with one real snapshot whose blob row was renamed to reach ``tmp_path/secret`` (``blobs/<first two
    characters>/<name>`` is ``blobs/../../secret``), and a second, orphaned, row naming it too."""
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    directory = tmp_path / "store"
    store = open_store(str(directory))
    try:
        target = store.target_id("http://10.0.0.9:6060")
        (snapshot_id,) = store.record_round(target, 1000.0, [NewSnapshot("heap", "pprof", HEAP)], {})
    finally:
        store.close()
    connection = sqlite3.connect(directory / "leaksleuth.db")
    with connection:
        connection.execute("pragma foreign_keys=off")
        connection.execute("update blobs set sha256 = '../secret', encoding = 'identity'")
        connection.execute("update snapshots set blob = '../secret'")
        connection.execute(
            "insert into blobs (sha256, size, stored_size, encoding) values ('../store/../secret', 1, 1, 'identity')"
        )
    connection.close()
    return directory, secret, snapshot_id


def test_snapshots_get_refuses_a_name_outside_the_blob_folder(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    directory, _, snapshot_id = _tampered_store(tmp_path)
    code = main(["snapshots", "get", str(snapshot_id), "--store", str(directory), "-o", str(tmp_path / "got")])
    captured = capsysbinary.readouterr()
    assert code == 3
    assert b"'../secret', which is not a SHA-256 digest" in captured.err and b"root:x" not in captured.out
    assert not (tmp_path / "got").exists()


def test_retention_deletes_nothing_when_a_row_names_a_file_outside_the_blob_folder(tmp_path: Path) -> None:
    directory, secret, _ = _tampered_store(tmp_path)
    store = open_store(str(directory))
    try:
        with pytest.raises(LeaksleuthError, match="which is not a SHA-256 digest"):
            store.apply_retention(max_age=1.0)
        assert len(store.snapshots()) == 1  # rolled back: the snapshot past its age stays until the row is fixed
    finally:
        store.close()
    assert secret.read_bytes() == SECRET


@pytest.mark.parametrize(
    "name", ["../../../../etc/passwd", "A" * 64, "ab" * 31, "ab" * 33, "ab" * 32 + "\n", "", None, "/" + "a" * 63]
)
def test_only_the_stores_own_names_make_paths(name: object, tmp_path: Path) -> None:
    from leaksleuth.store.blobs import BadBlobName, check_blob_name

    blobs = BlobStore(str(tmp_path / "blobs"))
    with pytest.raises(BadBlobName, match="not a SHA-256 digest"):
        check_blob_name(name)
    with pytest.raises(BadBlobName):
        blobs.get(name, "identity")  # type: ignore[arg-type]
    with pytest.raises(BadBlobName):
        blobs.delete(name)  # type: ignore[arg-type]
    stored = blobs.put(b"some text")
    assert check_blob_name(stored.sha256) == stored.sha256 and blobs.get(stored.sha256, stored.encoding) == b"some text"
