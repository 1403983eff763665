"""Content-addressed, compressed blobs on any fsspec filesystem (a local folder by default, object storage at scale).

A blob's name is the SHA-256 of its original bytes. Profiles arrive gzip-compressed already and are kept as they
are; text (dumps, metrics) is gzip-compressed here. ``get`` always returns the original bytes, so a stored heap
profile comes back as a file ``go tool pprof`` opens. Writes go to a temporary name first and are renamed into
place, so a crash never leaves a half-written blob under a real name.

Names come back from the database, which another process (or an attacker with write access to it) may have
written: every name is checked against the store's own scheme (64 lowercase hex digits; on disk ``ab/<name>`` and,
while being written, ``ab/<name>.<32 hex>.tmp``) before a path is built from it, so a row naming
``../../etc/passwd`` is an error, never a file read or deleted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.formats.compression import gunzip, is_gzip

BLOB_NAME = re.compile(r"[0-9a-f]{64}")
TEXT_LEVEL = 4  # gzip level for text blobs: 6 (zlib's default) makes the watcher's dumps 4% smaller for 30% more CPU
_FILE_NAME = re.compile(r"(?P<name>[0-9a-f]{64})(?P<temporary>\.[0-9a-f]{32}\.tmp)?")


class BadBlobName(LeaksleuthError):
    """A blob name that is not the store's own (a corrupt or tampered database row)."""


def check_blob_name(name: object) -> str:
    """``name`` if it is a blob name this store makes; else BadBlobName (and no path is built from it)."""
    if isinstance(name, str) and BLOB_NAME.fullmatch(name):
        return name
    raise BadBlobName(
        f"the store names a blob {name!r}, which is not a SHA-256 digest (64 hex digits): a corrupt or tampered "
        "database row; nothing was read or deleted",
        hint="check who can write to the store's database; delete that row once you know how it got there",
    )


@dataclass(frozen=True, slots=True)
class BlobFile:
    """A file in the blob folder: a blob (``temporary`` False) or a write that never finished (True)."""

    name: str
    path: str
    temporary: bool
    modified: float | None  # seconds since the epoch, when the filesystem says


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int  # original bytes
    stored_size: int  # bytes on the filesystem
    encoding: str  # "identity" (kept as is) or "gzip" (compressed here)


class BlobStore:
    def __init__(self, url: str) -> None:
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError) as exc:
            raise ConfigError(f"cannot open blob store {url!r}: {exc}") from exc
        self.url = url
        self.fs.makedirs(self.root, exist_ok=True)
        self._local = "file" in _protocols(self.fs)
        self.fault_hook: Callable[[str], None] | None = None  # tests only (see ``Store.fault_hook``)

    def _path(self, sha256: str) -> str:
        check_blob_name(sha256)
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def put(self, data: bytes) -> StoredBlob:
        sha256 = hashlib.sha256(data).hexdigest()
        encoding = "identity" if is_gzip(data) else "gzip"
        payload = data if encoding == "identity" else gzip.compress(data, compresslevel=TEXT_LEVEL, mtime=0)
        path = self._path(sha256)
        if self._local:
            self._put_local(sha256, path, payload)
        elif not self.fs.exists(path):
            self.fs.makedirs(f"{self.root}/{sha256[:2]}", exist_ok=True)
            self.fs.pipe_file(path, payload)
        return StoredBlob(sha256, len(data), len(payload), encoding)

    def _put_local(self, sha256: str, path: str, payload: bytes) -> None:
        """A local folder, with plain ``os`` calls on string paths (fsspec's per-call path handling, and pathlib's,
        cost more CPU than the write): the payload under a temporary name, synced, then renamed into place. The
        folder ``ab/`` is made when the write finds it missing (first use, or removed by hand since)."""
        if os.path.exists(path):  # noqa: PTH110
            return
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            handle = open(temporary, "xb")  # noqa: PTH123, SIM115 (closed below, after its fsync)
        except FileNotFoundError:
            os.makedirs(f"{self.root}/{sha256[:2]}", exist_ok=True)  # noqa: PTH103
            handle = open(temporary, "xb")  # noqa: PTH123, SIM115
        with handle:
            handle.write(payload)
            handle.flush()
            _fsync(handle)
        if self.fault_hook is not None:
            self.fault_hook("blob-temporary")  # written, not yet under its name
        os.replace(temporary, path)  # noqa: PTH105

    def get(self, sha256: str, encoding: str) -> bytes:
        try:
            payload: bytes = self.fs.cat_file(self._path(sha256))
        except FileNotFoundError as exc:
            raise LeaksleuthError(
                f"blob {sha256[:12]} is missing from {self.url}",
                hint="if this store's blobs live elsewhere (or were copied), name them with --blobs",
            ) from exc
        return payload if encoding == "identity" else gunzip(payload)

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        if self.fs.exists(path):
            self.fs.rm_file(path)

    def files(self) -> Iterator[BlobFile]:
        """Every file in the blob folder that has the store's name scheme (anything else is left alone)."""
        for folder in self.fs.ls(self.root, detail=True):
            folder_name = folder["name"].rstrip("/").rpartition("/")[2]
            if folder.get("type") != "directory" or not re.fullmatch(r"[0-9a-f]{2}", folder_name):
                continue
            for entry in self.fs.ls(folder["name"], detail=True):
                match = _FILE_NAME.fullmatch(entry["name"].rpartition("/")[2])
                if entry.get("type") == "file" and match and match["name"][:2] == folder_name:
                    yield BlobFile(match["name"], entry["name"], bool(match["temporary"]), _modified(entry))

    def remove_file(self, blob_file: BlobFile) -> None:
        """Remove a file ``files`` listed (its path was built by the listing, inside the folder)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(blob_file.path)


def canonical_url(url: str) -> str:
    """A blob location as a store records it: a local path made absolute (readers run from other directories)."""
    protocol, path = fsspec.core.split_protocol(url)
    if protocol in (None, "file", "local"):
        return str(Path(path).resolve()) if protocol is None else f"file://{Path(path).resolve()}"
    return url


def same_location(first: str, second: str) -> bool:
    """Do two fsspec URLs name the same place? (``/d``, ``file:///d`` and ``/d/`` do; different buckets do not.)"""

    def normalized(url: str) -> tuple[str, str]:
        protocol, path = fsspec.core.split_protocol(url)
        if protocol in (None, "file", "local"):
            return "file", str(Path(path).resolve())
        return protocol, path.rstrip("/")

    return normalized(first) == normalized(second)


def _modified(entry: dict[str, Any]) -> float | None:
    """A listing entry's modification time: local files say ``mtime``, memory and object stores ``created`` or
    ``LastModified`` (a datetime)."""
    for key in ("mtime", "LastModified", "last_modified", "created", "updated"):
        value = entry.get(key)
        if isinstance(value, int | float):
            return float(value)
        if value is not None and hasattr(value, "timestamp"):
            return float(value.timestamp())
    return None


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return tuple(protocol) if isinstance(protocol, tuple | list) else (str(protocol),)


def _fsync(handle: Any) -> None:
    fileno = getattr(handle, "fileno", None)
    if fileno is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.fsync(fileno())
