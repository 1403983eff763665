"""One check per capture: does our parse agree with what the runtime (and `go tool pprof`) said?

Used by the golden tests on committed captures and by the live test on freshly captured ones.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from leaksleuth.formats import Format, parse
from leaksleuth.model.goroutines import GoroutineDump
from leaksleuth.model.profile import Profile
from tests.pprof_oracle import ours, parse_raw, pprof_raw

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
        if entry["program"] == "panicker" and entry["file"].endswith("sigquit.txt"):
            assert len(dump.goroutines) >= 9  # SIGQUIT dumps include a varying number of runtime goroutines
        else:
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
            assert _values_and_addresses(parsed.profile) == _pprof_values_and_addresses(go, path)
    elif parsed.format is Format.HEAP_TEXT:
        assert parsed.profile is not None and parsed.memstats is not None
        assert _values_and_addresses(parsed.profile) == _pprof_values_and_addresses(go, path)
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


def _values_and_addresses(profile: Profile) -> Counter[tuple[tuple[int, ...], tuple[int, ...]]]:
    return Counter((sample.values, tuple(loc.address for loc in sample.locations)) for sample in profile)


def _pprof_values_and_addresses(go: str, path: Path) -> Counter[tuple[tuple[int, ...], tuple[int, ...]]]:
    out: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = Counter()
    for (values, stack, _labels), count in parse_raw(pprof_raw(go, path)).items():
        out[(values, tuple(frame for frame in stack if isinstance(frame, int)))] += count
    return out
