"""Take several snapshots of one URL over time (``--every 10s --count 6``), or read several files as a series."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from leaksleuth.collect.load import Loaded, is_url, load
from leaksleuth.errors import ConfigError


@dataclass(slots=True)
class Snapshot:
    loaded: Loaded
    taken_at: float  # seconds since the epoch: the profile's own timestamp when it has one, else fetch time


def snapshot_time(loaded: Loaded, fallback: float) -> float:
    profile = loaded.parsed.profile
    if profile is not None and profile.time_nanos:
        return profile.time_nanos / 1e9
    return fallback


def paced_rounds(
    sources: Sequence[str],
    every: float | None,
    count: int | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Iterator[tuple[str, int, int]]:
    """``--every/--count`` on one URL: yield ``(url, index, rounds)`` once per round, rounds ``every`` seconds apart
    start to start (defaults 10 s and 6). Bounded: exactly ``rounds`` yields, so exactly that many fetches."""
    if len(sources) != 1 or not is_url(sources[0]):
        raise ConfigError("--every/--count sample one URL; give exactly one http(s):// source")
    rounds, interval = (6 if count is None else count), (10.0 if every is None else every)
    if rounds < 1:
        raise ConfigError("--count must be at least 1")
    if interval < 0:
        raise ConfigError("--every must not be negative")
    for index in range(rounds):
        started = clock()
        yield sources[0], index, rounds
        if index + 1 < rounds:
            sleep(max(0.0, interval - (clock() - started)))


def read_series(sources: Sequence[str], *, default_path: str, timeout: float = 30.0) -> list[Snapshot]:
    """Load each source once as a series in time order.

    Profiles carry their capture time: when every source has one, they are sorted by it. Otherwise (dumps, text)
    the given order is the time order, timed by file modification times when those agree with it.
    """
    loaded = [load(source, timeout=timeout, default_path=default_path) for source in sources]
    stamps = [snapshot_time(item, 0.0) for item in loaded]
    if all(stamps):
        return sorted(
            (Snapshot(item, stamp) for item, stamp in zip(loaded, stamps, strict=True)), key=lambda s: s.taken_at
        )
    mtimes = [_mtime(source) for source in sources]
    known = [t for t in mtimes if t is not None]
    if len(known) == len(mtimes) and all(b >= a for a, b in itertools.pairwise(known)):
        times = known
    else:
        now = time.time()
        times = [now - (len(sources) - i) for i in range(len(sources))]
    return [Snapshot(item, t) for item, t in zip(loaded, times, strict=True)]


def _mtime(source: str) -> float | None:
    if is_url(source):
        return None
    try:
        return Path(source).stat().st_mtime
    except OSError:
        return None


def iter_sources(
    sources: Sequence[str], every: float | None, count: int | None, *, default_path: str, timeout: float = 30.0
) -> Iterator[tuple[int, int, Snapshot]]:
    """``(number, total, snapshot)``: one URL sampled repeatedly (--every/--count), or the sources read as a series."""
    if every is not None or count is not None:
        for url, index, rounds in paced_rounds(sources, every, count):
            started = time.time()
            yield index + 1, rounds, Snapshot(load(url, timeout=timeout, default_path=default_path), started)
        return
    series = read_series(sources, default_path=default_path, timeout=timeout)
    for number, snapshot in enumerate(series, 1):
        yield number, len(series), snapshot
