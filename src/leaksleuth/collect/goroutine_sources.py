"""Turn goroutine sources (files, profile URLs, base URLs of services) into bucketed snapshots.

A base URL is read the cheap way first: the goroutine profile (proto) gives the count; when it is below the
``debug2_threshold`` the full dump is fetched from ``goroutineleak?debug=2`` (all goroutines, with the runtime's
``(leaked)`` marks; plain ``goroutine?debug=2`` on Go < 1.26), else only the goroutineleak proto is added. A debug=2
dump stops the world while it is written, which is why big processes only get the protos.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from leaksleuth.analysis.goroutines import (
    GoroutineSnapshot,
    Similarity,
    mark_leaked,
    snapshot_from_dump,
    snapshot_from_profile,
)
from leaksleuth.collect.load import Loaded, is_url, load
from leaksleuth.collect.sampling import paced_rounds, read_series, snapshot_time
from leaksleuth.errors import ConfigError, FetchError, LeaksleuthError

if TYPE_CHECKING:
    from leaksleuth.collect.scraper import ScrapeResult
    from leaksleuth.model.profile import Profile

DEBUG2_THRESHOLD = 5000


@dataclass(slots=True)
class Collected:
    snapshots: list[GoroutineSnapshot]
    notes: list[str] = field(default_factory=list)  # what was (not) available, for the report


def base_url(source: str) -> str | None:
    """``http://host:6060`` or ``…/debug/pprof/`` -> the service root; a specific profile URL -> None."""
    parts = urlsplit(source)
    path = parts.path.rstrip("/")
    if path in ("", "/debug/pprof"):
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return None


def from_loaded(loaded: Loaded, taken_at: float, similarity: Similarity) -> GoroutineSnapshot:
    parsed = loaded.parsed
    if parsed.dump is not None:
        return snapshot_from_dump(parsed.dump, taken_at=taken_at, similarity=similarity)
    if parsed.profile is not None and parsed.kind in ("goroutine", "goroutineleak"):
        fmt = "debug1" if parsed.format == "count-text" else "proto"
        snapshot = snapshot_from_profile(parsed.profile, taken_at=taken_at, source_format=fmt)
        if parsed.kind == "goroutineleak":
            mark_leaked(snapshot, parsed.profile)
        return snapshot
    raise ConfigError(
        f"{loaded.source} holds {parsed.format} data ({parsed.kind}), not a goroutine dump or goroutine profile",
        hint="give /debug/pprof/goroutine (any debug level), goroutineleak, or a dump file",
    )


def fetch_service(
    root: str, *, timeout: float, similarity: Similarity, debug2_threshold: int = DEBUG2_THRESHOLD
) -> tuple[GoroutineSnapshot, list[str]]:
    """One snapshot of a service that mounts net/http/pprof, fetched exactly as ``watch`` fetches it."""
    import asyncio

    from leaksleuth.collect.scraper import ScrapeConfig, Scraper
    from leaksleuth.collect.targets import make_target

    config = ScrapeConfig(timeout=timeout, debug2_threshold=debug2_threshold, heap_every=0, metrics=False)

    async def scrape() -> ScrapeResult:
        async with Scraper(config) as scraper:
            return await scraper.scrape(make_target(root))

    result = asyncio.run(scrape())
    if result.status != "ok":
        raise FetchError(result.error or f"{root}: {result.status}")
    snapshot = goroutine_snapshot(result, similarity)
    assert snapshot is not None  # an ok scrape always has the goroutine profile
    return snapshot, result.notes


def goroutine_snapshot(result: ScrapeResult, similarity: Similarity = Similarity.ANY_VALUE) -> GoroutineSnapshot | None:
    """The richest goroutine view of a scrape: the debug=2 dump when fetched, else the proto (+ leak profile)."""
    if result.dump is not None:
        return snapshot_from_dump(result.dump, taken_at=result.taken_at, similarity=similarity)
    profile = result.goroutine_profile
    if profile is None:
        return None
    snapshot = snapshot_from_profile(profile, taken_at=result.taken_at)
    if result.leak_profile is not None:
        mark_leaked(snapshot, result.leak_profile)
    return snapshot


def collect(
    sources: Sequence[str],
    *,
    every: float | None,
    count: int | None,
    similarity: Similarity,
    timeout: float,
    debug2_threshold: int = DEBUG2_THRESHOLD,
    progress: Callable[[int, int, GoroutineSnapshot], None] | None = None,
) -> Collected:
    """Snapshots of one instance in time order: one URL sampled repeatedly, or each source read once.

    goroutineleak *profiles* given beside other sources are not snapshots of their own: they prove leaks in the
    snapshot closest in time.
    """
    collected = Collected([])
    leak_profiles: list[tuple[float, Profile]] = []

    def add(snapshot_or_leak: GoroutineSnapshot | tuple[float, Profile], index: int, total: int) -> None:
        if isinstance(snapshot_or_leak, tuple):
            leak_profiles.append(snapshot_or_leak)
            return
        collected.snapshots.append(snapshot_or_leak)
        if progress is not None:
            progress(index, total, snapshot_or_leak)

    if every is not None or count is not None:
        for url, index, rounds in paced_rounds(sources, every, count):
            try:
                add(_fetch(url, timeout, similarity, debug2_threshold, collected.notes), index + 1, rounds)
            except LeaksleuthError as exc:
                raise exc.with_context(f"snapshot {index + 1} of {rounds}") from None
    else:
        services = [s for s in sources if is_url(s) and base_url(s) is not None]
        others = [s for s in sources if s not in services]
        for index, snap in enumerate(
            read_series(others, default_path="/debug/pprof/goroutine?debug=2", timeout=timeout)
        ):
            add(_classify(snap.loaded, snap.taken_at, similarity), index + 1, len(sources))
        for index, service in enumerate(services, len(others) + 1):
            add(_fetch(service, timeout, similarity, debug2_threshold, collected.notes), index, len(sources))
    for taken_at, profile in leak_profiles:
        if not collected.snapshots:
            collected.snapshots.append(snapshot_from_profile(profile, taken_at=taken_at))
        nearest = min(collected.snapshots, key=lambda s: abs(s.taken_at - taken_at))
        mark_leaked(nearest, profile)
    return collected


def _classify(loaded: Loaded, taken_at: float, similarity: Similarity) -> GoroutineSnapshot | tuple[float, Profile]:
    parsed = loaded.parsed
    if parsed.dump is None and parsed.profile is not None and parsed.kind == "goroutineleak":
        return taken_at, parsed.profile
    return from_loaded(loaded, taken_at, similarity)


def _fetch(
    source: str,
    timeout: float,
    similarity: Similarity,
    debug2_threshold: int,
    notes: list[str],
) -> GoroutineSnapshot | tuple[float, Profile]:
    root = base_url(source)
    if root is not None:
        snapshot, new_notes = fetch_service(
            root, timeout=timeout, similarity=similarity, debug2_threshold=debug2_threshold
        )
        notes.extend(note for note in new_notes if note not in notes)
        return snapshot
    fetched_at = time.time()
    loaded = load(source, timeout=timeout)
    return _classify(loaded, snapshot_time(loaded, fetched_at), similarity)


def snapshots_of(sources: Sequence[str], similarity: Similarity, timeout: float) -> list[GoroutineSnapshot]:
    """One snapshot per source, each read and bucketed in its own process (two 40 MB dumps: twice as fast)."""
    from functools import partial

    from leaksleuth.collect.parallel import map_in_processes

    return map_in_processes(partial(_single_snapshot, similarity=similarity, timeout=timeout), list(sources))


def _single_snapshot(source: str, *, similarity: Similarity, timeout: float) -> GoroutineSnapshot:
    return collect([source], every=None, count=None, similarity=similarity, timeout=timeout).snapshots[0]
