"""Take several snapshots of one URL over time (``--every 10s --count 6``), or read several files as a series."""

from __future__ import annotations

import itertools
import re
import sys
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
    if interval <= 0:
        raise ConfigError("--every must be a positive duration (e.g. 10s)")
    for index in range(rounds):
        started = clock()
        yield sources[0], index, rounds
        if index + 1 < rounds:
            sleep(max(0.0, interval - (clock() - started)))


def read_series(
    sources: Sequence[str],
    *,
    default_path: str,
    timeout: float = 30.0,
    note: Callable[[str], None] | None = None,
) -> list[Snapshot]:
    """Load each source once as a series in time order.

    Profiles carry their capture time: when every source has one, they are sorted by it. Otherwise (dumps, text)
    ``series_order`` decides from file modification times and names; when the times are unknown, ``note`` (default:
    one line on stderr) says so.
    """
    loaded = [load(source, timeout=timeout, default_path=default_path) for source in sources]
    stamps = [snapshot_time(item, 0.0) for item in loaded]
    if all(stamps):
        return sorted(
            (Snapshot(item, stamp) for item, stamp in zip(loaded, stamps, strict=True)), key=lambda s: s.taken_at
        )
    order, times, unknown = series_order(sources, [_mtime(source) for source in sources], now=time.time())
    if unknown:
        (note or _to_stderr)(unknown)
    return [Snapshot(loaded[index], taken_at) for index, taken_at in zip(order, times, strict=True)]


# Captures are seconds apart (a debug=2 dump stops the world and crosses the network); files written closer together
# than this were copied or checked out in one go, and their times say when that ran, in whatever order it ran.
MIN_CAPTURE_GAP = 0.05  # seconds
UNKNOWN_SPACING = 1.0  # seconds between snapshots whose times are unknown


def series_order(
    sources: Sequence[str], mtimes: Sequence[float | None], *, now: float
) -> tuple[list[int], list[float], str | None]:
    """Time order of sources without a capture time in their content: ``(indices, times, note)``.

    - every source is a file with its own modification time, all distinct and at least ``MIN_CAPTURE_GAP`` apart:
      ordered and timed by those (a capture script writing each file as it goes);
    - otherwise the times are unknown (``kubectl cp``, ``tar``, ``git checkout`` give files equal or copy-order
      times): files are read in natural name order (``dump-2`` before ``dump-10``), URLs in the order given, evenly
      spaced ``UNKNOWN_SPACING`` apart, and ``note`` says so (growth is still found; its rate per minute is not real).
    """
    count = len(sources)
    if count == 0:
        return [], [], None
    if count == 1:
        return [0], [mtimes[0] if mtimes[0] is not None else now], None
    known = [t for t in mtimes if t is not None]
    if len(known) == count:
        ordered = sorted(range(count), key=lambda i: known[i])
        gaps = [known[b] - known[a] for a, b in itertools.pairwise(ordered)]
        if min(gaps) >= MIN_CAPTURE_GAP:
            return ordered, [known[i] for i in ordered], None
        why = (
            "files share a modification time"
            if min(gaps) == 0
            else "modification times too close together to be capture times (copied?)"
        )
        order, how = sorted(range(count), key=lambda i: natural_key(sources[i])), "name order"
    else:
        why, order, how = "not every source is a file with a modification time", list(range(count)), "the order given"
    times = [now - UNKNOWN_SPACING * (count - 1 - position) for position in range(count)]
    return order, times, f"times unknown: {why}; {count} snapshots read in {how}, spaced {UNKNOWN_SPACING:g}s apart"


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list[str | int]:
    """``dump-2`` before ``dump-10``: digit runs compare as numbers (split alternates text and digits, so the
    parts of two names always compare like with like)."""
    return [int(part) if position % 2 else part for position, part in enumerate(_DIGITS.split(name))]


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


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
