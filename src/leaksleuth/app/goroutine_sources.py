"""Turn goroutine sources (files, profile URLs, base URLs of services) into bucketed snapshots.

A base URL is read the cheap way first: the goroutine profile (proto) gives the count; when it is below the
``debug2_threshold`` the full dump is fetched from ``goroutineleak?debug=2`` (all goroutines, with the runtime's
``(leaked)`` marks; plain ``goroutine?debug=2`` on Go < 1.26), else only the goroutineleak proto is added. A debug=2
dump stops the world while it is written, which is why big processes only get the protos.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot, Similarity
from leaksleuth.analysis.goroutines.snapshots import mark_leaked, snapshot_from_dump, snapshot_from_profile
from leaksleuth.collect import DEBUG2_THRESHOLD
from leaksleuth.collect.load import Loaded, is_url, load, service_root
from leaksleuth.collect.sampling import paced_rounds, read_series, snapshot_time
from leaksleuth.errors import ConfigError, FetchError, LeaksleuthError

if TYPE_CHECKING:
    import asyncio

    from leaksleuth.collect.scrape_config import ScrapeResult
    from leaksleuth.collect.scraper import Scraper
    from leaksleuth.model.goroutines import GoroutineDump
    from leaksleuth.model.profile import Profile


@dataclass(slots=True)
class Collected:
    snapshots: list[GoroutineSnapshot]
    notes: list[str] = field(default_factory=list)  # what was (not) available, for the report


class Services:
    """Fetches services the way ``watch`` does, with one scraper for the whole command: connections are reused and
    what a target does not serve (goroutineleak on Go < 1.26, found by a 404) is asked once, not every round.
    Nothing is set up until the first fetch: reading files pays for no HTTP stack.

    The command is synchronous (it sleeps between samples, reads files), the scraper is not: one event loop (an
    ``asyncio.Runner``) lives as long as this object, and the scraper's ``async with`` is held open on it by an
    ``AsyncExitStack`` that ``__exit__`` closes on the same loop, before the loop itself."""

    def __init__(self, *, timeout: float, similarity: Similarity, debug2_threshold: int = DEBUG2_THRESHOLD) -> None:
        self.timeout, self.similarity, self.debug2_threshold = timeout, similarity, debug2_threshold
        self.notes: list[str] = []
        self._runner: asyncio.Runner | None = None
        self._scraper: Scraper | None = None
        self._open = contextlib.AsyncExitStack()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is None:
            return
        try:
            self._runner.run(self._open.aclose())
        finally:
            self._runner.close()

    def _scraping(self) -> tuple[asyncio.Runner, Scraper]:
        from leaksleuth.collect.scrape_config import ScrapeConfig
        from leaksleuth.collect.scraper import Scraper

        if self._runner is None:
            import asyncio  # URLs only: a file source never starts an event loop

            self._runner = asyncio.Runner()
        if self._scraper is None:
            config = ScrapeConfig(
                timeout=self.timeout, debug2_threshold=self.debug2_threshold, heap_every=0, metrics=False
            )
            self._scraper = self._runner.run(self._open.enter_async_context(Scraper(config)))
        return self._runner, self._scraper

    def fetch(self, roots: Sequence[str]) -> list[GoroutineSnapshot]:
        """One snapshot per service root, fetched concurrently; the first failure raises."""
        from leaksleuth.model.target import make_target

        runner, scraper = self._scraping()
        results = runner.run(scraper.scrape_all([make_target(root) for root in roots]))
        snapshots = []
        for result in results:
            if result.status != "ok":
                raise FetchError(result.error or f"{result.target.url}: {result.status}")
            self.notes.extend(note for note in result.notes if note not in self.notes)
            snapshot = goroutine_snapshot(result, self.similarity)
            assert snapshot is not None  # an ok scrape always has the goroutine profile
            snapshots.append(snapshot)
        return snapshots


def goroutine_snapshot(result: ScrapeResult, similarity: Similarity = Similarity.ANY_VALUE) -> GoroutineSnapshot | None:
    """The richest goroutine view of a scrape: the debug=2 dump when fetched, else the proto (+ leak profile)."""
    return _snapshot(result.dump, result.goroutine_profile, result.leak_profile, result.taken_at, similarity)


def _snapshot(
    dump: GoroutineDump | None,
    profile: Profile | None,
    leak_profile: Profile | None,
    taken_at: float,
    similarity: Similarity,
    source_format: str = "proto",
) -> GoroutineSnapshot | None:
    if dump is not None:
        return snapshot_from_dump(dump, taken_at=taken_at, similarity=similarity)
    if profile is None:
        return None
    snapshot = snapshot_from_profile(profile, taken_at=taken_at, source_format=source_format, similarity=similarity)
    if leak_profile is not None:
        mark_leaked(snapshot, leak_profile)
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
    snapshot closest in time (and are not counted as snapshots in ``progress``). Given alone, a goroutineleak
    profile becomes a snapshot of the leaked goroutines only (``source_format == "goroutineleak"``), and a note
    says so.
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

    def note(text: str) -> None:
        print(text, file=sys.stderr)
        collected.notes.append(text)

    with Services(timeout=timeout, similarity=similarity, debug2_threshold=debug2_threshold) as services:
        if every is not None or count is not None:
            for url, index, rounds in paced_rounds(sources, every, count):
                try:
                    add(_fetch(url, timeout, services), index + 1, rounds)
                except LeaksleuthError as exc:
                    raise exc.with_context(f"snapshot {index + 1} of {rounds}") from None
        else:
            pairs = [(source, service_root(source) if is_url(source) else None) for source in sources]
            others = [source for source, root in pairs if root is None]
            given = [root for _, root in pairs if root is not None]
            series = read_series(others, default_path="/debug/pprof/goroutine?debug=2", timeout=timeout, note=note)
            classified = [_classify(snap.loaded, snap.taken_at, similarity) for snap in series]
            total = sum(not isinstance(item, tuple) for item in classified) + len(given)
            number = 0
            for item in classified:
                number += not isinstance(item, tuple)
                add(item, number, total)
            for index, snapshot in enumerate(services.fetch(given) if given else [], number + 1):
                add(snapshot, index, total)
        collected.notes.extend(item for item in services.notes if item not in collected.notes)
    for taken_at, profile in leak_profiles:
        if not collected.snapshots:
            collected.snapshots.append(
                snapshot_from_profile(profile, taken_at=taken_at, source_format="goroutineleak", similarity=similarity)
            )
            collected.notes.append(
                "only a goroutineleak profile: it lists the goroutines the runtime proved leaked, not all of them"
            )
        nearest = min(collected.snapshots, key=lambda s: abs(s.taken_at - taken_at))
        mark_leaked(nearest, profile)
    truncated = sum(snapshot.truncated for snapshot in collected.snapshots)
    if truncated:
        which = f" ({truncated} of {len(collected.snapshots)} snapshots)" if len(collected.snapshots) > 1 else ""
        collected.notes.append(TRUNCATED_NOTE + which)
    return collected


TRUNCATED_NOTE = "dump truncated: the last goroutine is partial; counts are a lower bound"


def _classify(loaded: Loaded, taken_at: float, similarity: Similarity) -> GoroutineSnapshot | tuple[float, Profile]:
    parsed = loaded.parsed
    if parsed.dump is None and parsed.profile is not None and parsed.kind == "goroutineleak":
        return taken_at, parsed.profile
    if parsed.dump is not None or parsed.kind == "goroutine":
        fmt = "debug1" if parsed.format == "count-text" else "proto"
        snapshot = _snapshot(parsed.dump, parsed.profile, None, taken_at, similarity, fmt)
        if snapshot is not None:
            if parsed.dump is None and parsed.profile is not None:
                # debug=1 text that ends before the header's total: the parser leaves a "truncated: …" comment
                snapshot.truncated = parsed.profile.truncated
            return snapshot
    raise ConfigError(
        f"{loaded.source} holds {parsed.format} data ({parsed.kind}), not a goroutine dump or goroutine profile",
        hint="give /debug/pprof/goroutine (any debug level), goroutineleak, or a dump file",
    )


def _fetch(source: str, timeout: float, services: Services) -> GoroutineSnapshot | tuple[float, Profile]:
    root = service_root(source)
    if root is not None:
        return services.fetch([root])[0]
    fetched_at = time.time()
    loaded = load(source, timeout=timeout)
    return _classify(loaded, snapshot_time(loaded, fetched_at), services.similarity)


def snapshots_of(sources: Sequence[str], similarity: Similarity, timeout: float) -> list[GoroutineSnapshot]:
    """One snapshot per source, each read and bucketed in its own process (two 40 MB dumps: twice as fast)."""
    from functools import partial

    from leaksleuth.collect.parallel import map_in_processes

    return map_in_processes(partial(_single_snapshot, similarity=similarity, timeout=timeout), list(sources))


def _single_snapshot(source: str, *, similarity: Similarity, timeout: float) -> GoroutineSnapshot:
    snapshot = collect([source], every=None, count=None, similarity=similarity, timeout=timeout).snapshots[0]
    if snapshot.source_format == "goroutineleak":
        raise ConfigError(
            f"{source} is a goroutineleak profile: it lists only the goroutines the runtime proved leaked, so it is "
            "not a snapshot to diff",
            hint="diff goroutine profiles or debug=2 dumps (goroutineleak?debug=2 is a full dump)",
        )
    return snapshot
