"""Source text of profiled code, when the files exist here (a local build or a checkout at the same path).

Analysis stays pure: commands pass a reader of lines in (on demand, each file read once). Never required: it
only refines categories (a ticker loop, a semaphore, an allocation kind) that the stacks alone cannot tell.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

MAX_SOURCE_FILE = 4 << 20  # bytes: a generated 50 MB file is not worth reading for one line


@functools.lru_cache(maxsize=512)
def _file_lines(file: str) -> tuple[str, ...] | None:
    path = Path(file)
    try:
        if not path.is_file() or path.stat().st_size > MAX_SOURCE_FILE:
            return None
        return tuple(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return None


def source_line(file: str, line: int) -> str | None:
    """The stripped text at file:line, or None when the file is not readable here."""
    lines = _file_lines(file)
    if lines is None or not 0 < line <= len(lines):
        return None
    return lines[line - 1].strip()


class LocalSourceLines(Mapping[tuple[str, int], str]):
    """(file, line) -> source text, read on demand from local files (for long-running watchers)."""

    def __getitem__(self, key: tuple[str, int]) -> str:
        lines = _file_lines(key[0])
        if lines is None or not 0 < key[1] <= len(lines):
            raise KeyError(key)
        return lines[key[1] - 1]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True  # unknown size, but consultable
