"""Content-addressed, compressed blobs on any fsspec filesystem (a local folder by default, object storage at scale).

A blob's name is the SHA-256 of its original bytes. Profiles arrive gzip-compressed already and are kept as they
are; text (dumps, metrics) is gzip-compressed here. ``get`` always returns the original bytes, so a stored heap
profile comes back as a file ``go tool pprof`` opens. Writes go to a temporary name first and are renamed into
place, so a crash never leaves a half-written blob under a real name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from leaksleuth.errors import ConfigError, LeaksleuthError
from leaksleuth.formats.compression import gunzip, is_gzip


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

    def _path(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def put(self, data: bytes) -> StoredBlob:
        sha256 = hashlib.sha256(data).hexdigest()
        encoding = "identity" if is_gzip(data) else "gzip"
        payload = data if encoding == "identity" else gzip.compress(data, compresslevel=6, mtime=0)
        path = self._path(sha256)
        if not self.fs.exists(path):
            self.fs.makedirs(f"{self.root}/{sha256[:2]}", exist_ok=True)
            if self._local:
                temporary = f"{path}.{uuid.uuid4().hex}.tmp"
                with self.fs.open(temporary, "wb") as handle:
                    handle.write(payload)
                    handle.flush()
                    _fsync(handle)
                self.fs.mv(temporary, path)
            else:
                self.fs.pipe_file(path, payload)
        return StoredBlob(sha256, len(data), len(payload), encoding)

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


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return tuple(protocol) if isinstance(protocol, tuple | list) else (str(protocol),)


def _fsync(handle: Any) -> None:
    fileno = getattr(handle, "fileno", None)
    if fileno is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.fsync(fileno())
