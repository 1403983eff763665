"""One check per capture: does our parse agree with what the runtime (and `go tool pprof`) said?

Used by the golden tests on committed captures and by the live test on freshly captured ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from leaksleuth.formats import Format, parse
from leaksleuth.model.goroutines import GoroutineDump
from leaksleuth.model.profile import Profile
from tests.support.pprof_oracle import ours, parse_raw, pprof_raw

BOGUS_PC = 2**64 - 1  # the runtime's threadcreate profile records all-ones PCs (golang/go#6104)


def check_capture(path: Path, entry: dict[str, Any], go: str) -> None:
    parsed = parse(path.read_bytes())
    expected = entry.get("goroutines")
    if parsed.format is Format.PPROF:
        assert parsed.profile is not None
        assert ours(parsed.profile) == parse_raw(pprof_raw(go, path)), path
        assert_symbolised(parsed.profile)
        if expected is not None:
            assert sum(parsed.profile.totals()) == expected
    elif parsed.format is Format.GOROUTINE_DUMP:
        assert parsed.dump is not None
        dump = parsed.dump
        # (SIGQUIT and GOTRACEBACK=system dumps add runtime goroutines: the manifest counts their headers)
        assert len(dump.goroutines) == expected, path
        assert not dump.truncated
        assert len({g.id for g in dump.goroutines}) == len(dump.goroutines)
        assert_frames_complete(dump)
        if "leaked" in entry:
            assert sum(g.leaked for g in dump.goroutines) == entry["leaked"]
    elif parsed.format is Format.COUNT_TEXT:
        assert parsed.profile is not None
        assert parsed.profile.totals() == [expected]
        if entry["kind"] != "goroutineleak":  # pprof's legacy reader rejects goroutineleak debug=1
            assert_like_pprof_legacy(parsed.profile, go, path)
    elif parsed.format is Format.HEAP_TEXT:
        assert parsed.profile is not None and parsed.memstats is not None
        assert_like_pprof_legacy(parsed.profile, go, path)
        assert parsed.memstats.heap_alloc and parsed.memstats.heap_inuse
    elif parsed.format in (Format.EXPVAR, Format.PROMETHEUS):
        assert parsed.memstats is not None and parsed.memstats.heap_alloc
        if expected is not None and parsed.format is Format.PROMETHEUS:
            assert parsed.memstats.goroutines == expected
    else:
        raise AssertionError(f"{path}: unexpected format {parsed.format}")


def assert_symbolised(profile: Profile) -> None:
    for location in profile.locations:
        if location.address == BOGUS_PC:
            continue
        for line in location.lines:
            assert line.function.name and line.function.filename and line.line > 0, location


def assert_frames_complete(dump: GoroutineDump) -> None:
    for goroutine in dump.goroutines:
        frames = list(goroutine.frames)
        frames += [frame for ancestor in goroutine.ancestors for frame in ancestor.stack.frames]
        if goroutine.created_by is not None:
            frames.append(goroutine.created_by)
        assert frames or goroutine.stack_unavailable, goroutine
        for frame in frames:
            assert frame.function and frame.file and frame.line > 0, (goroutine.id, frame)
        assert len(goroutine.args) == len(goroutine.frames)


def assert_like_pprof_legacy(profile: Profile, go: str, path: Path) -> None:
    """The samples of pprof's legacy reader, value for value; each of our stacks is pprof's with the frames the
    runtime hid dropped (runtime frames at the top, ``runtime.goexit`` at the root: formats.legacy), so a
    contiguous run of pprof's addresses."""
    theirs: dict[tuple[int, ...], list[tuple[int, ...]]] = defaultdict(list)
    for (values, addresses), count in _pprof_values_and_addresses(go, path).items():
        theirs[values].extend([addresses] * count)
    for values, addresses in _values_and_addresses(profile).elements():
        candidates = theirs[values]
        match = next((i for i, full in enumerate(candidates) if _contiguous_in(addresses, full)), None)
        assert match is not None, (path, values, addresses, candidates)
        candidates.pop(match)
    assert not any(theirs.values()), (path, "pprof has samples we do not", dict(theirs))


def _contiguous_in(part: tuple[int, ...], whole: tuple[int, ...]) -> bool:
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


def _values_and_addresses(profile: Profile) -> Counter[tuple[tuple[int, ...], tuple[int, ...]]]:
    return Counter((sample.values, tuple(loc.address for loc in sample.locations)) for sample in profile)


def _pprof_values_and_addresses(go: str, path: Path) -> Counter[tuple[tuple[int, ...], tuple[int, ...]]]:
    out: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = Counter()
    for (values, stack, _labels), count in parse_raw(pprof_raw(go, path)).items():
        out[(values, tuple(frame for frame in stack if isinstance(frame, int)))] += count
    return out
