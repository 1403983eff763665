"""Source text of profiled code, when the files exist here (a local build, or a checkout found by ``--source-root``).

Analysis stays pure: commands pass a reader in (on demand, each file read once). Never required: it only refines
categories (a ticker loop, a semaphore, an allocation kind) and explains suspects with the lint patterns.

Path mapping works like ``go tool pprof``'s ``-trim_path``/``-source_path``: a profile names files as the build saw
them (``/build/src/svc/main.go``, or ``github.com/acme/svc/main.go`` with ``-trimpath``). ``--source-root
PREFIX=DIR`` replaces that prefix by a local directory; ``--source-root DIR`` looks for the file's trailing path
components under DIR (``DIR/svc/main.go``, ``DIR/main.go``…, longest first), as pprof does for its source path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from leaksleuth.errors import ConfigError

MAX_SOURCE_FILE = 4 << 20  # bytes: a generated 50 MB file is not worth reading for one line
MAX_SUFFIX_PARTS = 16  # trailing components tried under a search root: bounded work for a hostile path


@functools.lru_cache(maxsize=512)
def _file_bytes(file: str) -> bytes | None:
    path = Path(file)
    try:
        if not path.is_file() or path.stat().st_size > MAX_SOURCE_FILE:
            return None
        return path.read_bytes()
    except OSError:
        return None


@functools.lru_cache(maxsize=512)
def _file_lines(file: str) -> tuple[str, ...] | None:
    data = _file_bytes(file)
    return None if data is None else tuple(data.decode("utf-8", errors="replace").splitlines())


@dataclass(frozen=True, slots=True)
class SourceRoot:
    """One ``--source-root``: ``prefix`` (empty: search by trailing components) mapped to a local ``directory``."""

    directory: Path
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceRoot:
        prefix, equals, directory = text.rpartition("=")
        if not equals:
            prefix, directory = "", text
        if not directory:
            raise ConfigError(f"--source-root {text!r} names no directory", hint="--source-root /build/src=./ or DIR")
        path = Path(directory).expanduser()
        if not path.is_dir():
            raise ConfigError(f"--source-root: {directory!r} is not a directory")
        return cls(path, prefix.rstrip("/"))

    def candidates(self, file: str) -> Iterator[Path]:
        if self.prefix:
            if file == self.prefix or file.startswith(self.prefix + "/"):
                yield self.directory / file[len(self.prefix) :].lstrip("/")
            return
        parts = [p for p in PurePosixPath(file).parts if p not in ("/", "..", ".")]
        for start in range(max(0, len(parts) - MAX_SUFFIX_PARTS), len(parts)):
            yield self.directory.joinpath(*parts[start:])


class SourceFiles:
    """Where a profile's file names are readable here: the name itself, else the first ``--source-root`` match.

    ``line`` is the ``SourceLine`` reader the goroutine analysis takes, ``lines`` the ``SourceLines`` mapping of
    the heap analysis, ``read`` the whole file for the lint patterns; all three map paths the same way.
    """

    def __init__(self, roots: Sequence[SourceRoot] = ()) -> None:
        self.roots = tuple(roots)
        self._located: dict[str, str | None] = {}

    @classmethod
    def from_options(cls, texts: Iterable[str] | None) -> SourceFiles:
        return cls([SourceRoot.parse(text) for text in texts or ()])

    def locate(self, file: str) -> str | None:
        """The local path of ``file`` as a profile names it, or None when it is not readable here."""
        if file in self._located:
            return self._located[file]
        found: str | None = None
        if _file_bytes(file) is not None:
            found = file
        else:
            for root in self.roots:
                found = next((str(c) for c in root.candidates(file) if _file_bytes(str(c)) is not None), None)
                if found is not None:
                    break
        if len(self._located) < 4096:  # bounded: a watcher sees new file names for as long as it runs
            self._located[file] = found
        return found

    def read(self, file: str) -> bytes | None:
        local = self.locate(file)
        return None if local is None else _file_bytes(local)

    def line(self, file: str, line: int) -> str | None:
        """The stripped text at file:line, or None when the file is not readable here."""
        local = self.locate(file)
        lines = _file_lines(local) if local is not None else None
        if lines is None or not 0 < line <= len(lines):
            return None
        return lines[line - 1].strip()

    @property
    def lines(self) -> SourceLinesOf:
        return SourceLinesOf(self)


LOCAL = SourceFiles()


def source_line(file: str, line: int) -> str | None:
    """The stripped text at file:line, or None when the file is not readable here (no path mapping)."""
    return LOCAL.line(file, line)


class SourceLinesOf(Mapping[tuple[str, int], str]):
    """(file, line) -> source text, read on demand through a ``SourceFiles`` (for long-running watchers)."""

    def __init__(self, files: SourceFiles) -> None:
        self.files = files

    def __getitem__(self, key: tuple[str, int]) -> str:
        local = self.files.locate(key[0])
        lines = _file_lines(local) if local is not None else None
        if lines is None or not 0 < key[1] <= len(lines):
            raise KeyError(key)
        return lines[key[1] - 1]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True  # unknown size, but consultable


# ---- lint: the Go files under the paths a user names ------------------------------------------------------------
SKIPPED_DIRECTORIES = frozenset({"vendor", "testdata", "node_modules"})  # as `go vet ./...` skips them


@dataclass(frozen=True, slots=True)
class GoSource:
    path: str  # as the user named it (relative paths stay relative: they go into SARIF and terminal output)
    data: bytes | None
    error: str | None = None  # could not be read: the job is not done (exit 3)
    skipped: str | None = None  # not linted on purpose (too large to be hand-written)


def go_files(paths: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[GoSource]:
    """Every ``.go`` file under ``paths`` (directories walked in name order, like ``go vet ./...``: ``vendor``,
    ``testdata`` and ``.``/``_`` directories below a named directory skipped), minus ``exclude`` globs; a file that
    cannot be read comes with its error instead of its bytes."""
    import fnmatch

    def excluded(path: str) -> bool:
        posix = PurePosixPath(path)
        return any(posix.match(g) or fnmatch.fnmatch(path, g) or fnmatch.fnmatch(posix.name, g) for g in exclude)

    for named in paths:
        root = Path(named)
        if not root.exists():
            yield GoSource(named, None, "no such file or directory")
            continue
        if root.is_file():
            if not excluded(named):
                yield _read_go(named)
            continue
        for directory, subdirectories, files in os.walk(root, onerror=None):
            subdirectories[:] = sorted(
                d
                for d in subdirectories
                if d not in SKIPPED_DIRECTORIES
                and not d.startswith((".", "_"))
                and not excluded(directory + os.sep + d)
            )
            for name in sorted(files):
                path = directory + os.sep + name  # (os.walk's own str joining: no Path per file)
                if name.endswith(".go") and not excluded(path):
                    yield _read_go(path)


def _read_go(path: str) -> GoSource:
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SOURCE_FILE + 1)
    except OSError as exc:
        return GoSource(path, None, exc.strerror or str(exc))
    if len(data) > MAX_SOURCE_FILE:
        return GoSource(path, None, skipped=f"larger than {MAX_SOURCE_FILE >> 20} MiB (generated?): not linted")
    return GoSource(path, data)
