"""Goroutine buckets and verdicts on real captures and on controlled series."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leaksleuth.analysis.evidence import fuse
from leaksleuth.analysis.goroutines.buckets import Bucket, GoroutineSnapshot, Similarity, is_stdlib
from leaksleuth.analysis.goroutines.diff import diff_snapshots
from leaksleuth.analysis.goroutines.snapshots import mark_leaked, snapshot_from_dump, snapshot_from_profile
from leaksleuth.analysis.goroutines.states import blocking_frame, classify_source, classify_state
from leaksleuth.analysis.goroutines.verdict import Options, evaluate
from leaksleuth.app.goroutine_sources import TRUNCATED_NOTE
from leaksleuth.cli.main import main
from leaksleuth.collect.sampling import natural_key, series_order
from leaksleuth.formats.goroutine_text import parse_goroutine_dump
from leaksleuth.formats.legacy import parse_count_profile
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.model.goroutines import Frame
from tests.conftest import CAPTURES, ROOT

SCHEMA = json.loads((ROOT / "src/leaksleuth/report/report.schema.json").read_text())
LEAKED_IN_PARKED = {
    "main.fetchWithTimeout.func1",
    "main.leakConsumer.func1",
    "main.leakSelect.func1",
    "main.leakWaitGroup.func1",
    "main.nilSend",
    "main.nilRecv",
}


def _dump(name: str) -> GoroutineSnapshot:
    return snapshot_from_dump(parse_goroutine_dump((CAPTURES / name).read_bytes()))


def _proto(name: str) -> GoroutineSnapshot:
    return snapshot_from_profile(parse_pprof((CAPTURES / name).read_bytes()))


def test_dump_and_proto_of_one_moment_bucket_alike() -> None:
    dump, proto = _dump("parked.goroutine.debug2.txt"), _proto("parked.goroutine.pb.gz")

    def counts(snapshot: GoroutineSnapshot) -> Counter[str]:
        out: Counter[str] = Counter()
        for bucket in snapshot.buckets.values():
            transient = ("runtime/pprof.", "net/http.(*connReader).backgroundRead")
            if not any(f.function.startswith(transient) for f in bucket.frames):
                out[bucket.key] += bucket.count  # the goroutines serving each capture request differ
        return out

    assert counts(dump) == counts(proto)
    classes_dump = {b.key: b.state_class for b in dump.buckets.values()}
    for bucket in proto.buckets.values():
        if bucket.key in classes_dump and not classes_dump[bucket.key].startswith(("nil-chan", "running")):
            # protos carry no state: it is inferred from runtime frames (nil channels look like normal ones)
            assert bucket.state_class == classes_dump[bucket.key], bucket.key


def test_blocking_frame_is_user_code() -> None:
    snapshot = _dump("parked.goroutine.debug2.txt")
    by_class = {b.state_class: b for b in snapshot.buckets.values()}
    assert by_class["mutex"].blocking is not None and by_class["mutex"].blocking.function == "main.lockMutex"
    assert by_class["waitgroup"].blocking is not None
    assert not is_stdlib(by_class["waitgroup"].blocking.function)
    io = [b for b in snapshot.buckets.values() if b.state_class == "io-wait"]
    assert any(b.blocking and b.blocking.function == "main.readConn" for b in io)
    assert is_stdlib("net/http.(*conn).serve") and not is_stdlib("main.main")
    assert not is_stdlib("github.com/acme/app.run") and not is_stdlib("leaksleuth.test/corpus/x.F")


def test_stdlib_only_stack_blames_the_library_loop() -> None:
    frames = (
        Frame("internal/poll.runtime_pollWait", "/go/src/runtime/netpoll.go", 351),
        Frame("net.(*conn).Read", "/go/src/net/net.go", 194),
        Frame("bufio.(*Reader).Peek", "/go/src/bufio/bufio.go", 152),
        Frame("net/http.(*persistConn).readLoop", "/go/src/net/http/transport.go", 2616),
    )
    frame = blocking_frame(frames)
    assert frame is not None and frame.function == "net/http.(*persistConn).readLoop"


def test_leak_profile_marks_buckets() -> None:
    snapshot = _proto("parked.goroutine.pb.gz")
    mark_leaked(snapshot, parse_pprof((CAPTURES / "parked.goroutineleak.pb.gz").read_bytes()))
    leaked = {b.blocking.function for b in snapshot.buckets.values() if b.leaked and b.blocking}
    assert leaked == LEAKED_IN_PARKED
    assert sum(b.leaked for b in snapshot.buckets.values()) == 8


def test_single_snapshot_suspects_are_exactly_the_proven_leaks() -> None:
    suspects, _ = evaluate([_dump("parked.goroutineleak.debug2.txt")])
    strong = [s for s in suspects if s.confidence >= 0.5]
    assert {s.function for s in strong} == LEAKED_IN_PARKED
    assert all(s.confidence >= 0.9 and "runtime-proven" in s.evidence.used for s in strong)
    top = strong[0]
    assert top.function == "main.fetchWithTimeout.func1" and top.file.endswith("parked/leaks.go") and top.line == 20


def test_similarity_levels_split_by_arguments() -> None:
    text = "".join(
        f"goroutine {10 + i} [chan receive]:\nmain.worker(0xc00001{i:04x}, 0x{i % 2})\n\t/app/w.go:9 +0x1d\n"
        f"created by main.start in goroutine 1\n\t/app/m.go:4 +0x25\n\n"
        for i in range(6)
    )
    dump = parse_goroutine_dump(text)
    sizes = {level: len(snapshot_from_dump(dump, similarity=level).buckets) for level in Similarity}
    assert sizes == {Similarity.EXACT: 6, Similarity.ANY_POINTER: 2, Similarity.ANY_VALUE: 1}


# ---- controlled series -------------------------------------------------------------------------------------------

_SITE = (Frame("main.handle.func1", "/app/handler.go", 42),)
_POOL = (Frame("main.worker", "/app/pool.go", 17),)


def _series(
    counts: list[int],
    frames: tuple[Frame, ...] = _SITE,
    state: str = "chan send",
    max_ids: list[int] | None = None,
) -> list[GoroutineSnapshot]:
    """One bucket observed every 10 s; goroutine ids grow unless ``max_ids`` says otherwise (a restart)."""
    snapshots = []
    for index, count in enumerate(counts):
        bucket = Bucket("k:" + frames[0].function, frames, state_class=classify_state(state, ()))
        bucket.add_state(state, None, count)
        max_id = max_ids[index] if max_ids else 1000 + index
        snapshots.append(
            GoroutineSnapshot(10.0 * index, count, {bucket.key: bucket}, "debug2", True, max_goroutine_id=max_id)
        )
    return snapshots


def _top(snapshots: list[GoroutineSnapshot]) -> float:
    suspects, _ = evaluate(snapshots)
    return suspects[0].confidence if suspects else 0.0


def test_steady_growth_is_a_suspect() -> None:
    assert _top(_series([10, 25, 41, 55, 70, 86, 101, 115])) >= 0.8


def test_six_snapshots_of_doubling_growth_reach_0_8() -> None:
    assert _top(_series([40, 52, 63, 71, 80, 90])) >= 0.8


def test_healthy_shapes_stay_quiet() -> None:
    assert _top(_series([50] * 10, _POOL, "chan receive")) < 0.5  # idle pool
    assert _top(_series([5, 180, 6, 5, 170, 4, 6, 175, 5, 5], _POOL, "chan receive")) < 0.5  # bursts
    assert _top(_series([10, 60, 90, 100, 104, 105, 105, 105, 106, 105], _POOL, "chan receive")) < 0.5  # warm-up


def test_long_waits_alone_are_an_idle_pool() -> None:
    series = [GoroutineSnapshot(0, 64, {"p": _bucket(_POOL, "chan receive", 64, wait=(30, 240))}, "debug2", True)]
    confidence = _top(series)
    assert 0.2 <= confidence < 0.5


def _bucket(frames: tuple[Frame, ...], state: str, count: int, wait: tuple[int, int] | None = None) -> Bucket:
    bucket = Bucket("k:" + frames[0].function, frames, state_class=classify_state(state, ()))
    bucket.add_state(state, wait[0] if wait else None, count)
    if wait:
        bucket.add_state(state, wait[1], 0)
    return bucket


def test_restart_resets_the_trend() -> None:
    counts = [10, 40, 70, 100, 5, 6, 5, 6, 5, 5]
    ids = [1000, 1100, 1200, 1300, 20, 25, 30, 35, 40, 45]  # goroutine ids fall: a new process
    assert _top(_series(counts, max_ids=ids)) < 0.5
    assert _top(_series([*counts[:4], 130, 160, 190, 220, 250, 280])) >= 0.8


def test_peer_outlier_adds_evidence() -> None:
    me = _series([400])[0]
    peers = [_series([c])[0] for c in (12, 15, 11)]  # the same bucket, ~30x smaller on the other replicas
    suspects, _ = evaluate([me], peers=peers)
    assert suspects and "peer-outlier" in suspects[0].evidence.used
    assert 0.5 <= suspects[0].confidence < 0.8  # one snapshot, no proof: suspicious, not certain
    lonely, _ = evaluate([me], peers=[_series([0])[0] for _ in range(3)])
    assert lonely and lonely[0].confidence < 0.5  # only this replica runs it: a leader's job, perhaps


def test_ignore_options() -> None:
    snapshots = _series([10, 25, 41, 55, 70, 86, 101, 115])
    suspects, _ = evaluate(snapshots, options=Options(ignore_functions=(r"main\.handle",)))
    assert not suspects


def test_fuse_is_noisy_or() -> None:
    assert fuse([]) == 0.0 and fuse([0.5, 0.5]) == pytest.approx(0.75) and fuse([1.2]) == 1.0


def test_diff_by_bucket() -> None:
    rows = diff_snapshots(_series([10])[0], _series([35])[0])
    assert rows[0].delta == 25 and rows[0].line == 42


# ---- CLI ---------------------------------------------------------------------------------------------------------


def test_cli_json_is_a_valid_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goroutines", "--json", str(CAPTURES / "parked.goroutineleak.debug2.txt")]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    target = document["targets"][0]
    confidences = [s["confidence"] for s in target["suspects"]]
    assert confidences == sorted(confidences, reverse=True)
    assert target["buckets"] and target["buckets"][0]["count"] >= target["buckets"][-1]["count"]
    assert "runtime-proven (goroutineleak)" in target["evidence_available"]


def test_cli_reads_proto_with_separate_leak_profile(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "goroutines",
        "--json",
        str(CAPTURES / "parked.goroutine.pb.gz"),
        str(CAPTURES / "parked.goroutineleak.pb.gz"),
    ]
    assert main(args) == 0
    target = json.loads(capsys.readouterr().out)["targets"][0]
    assert target["snapshots"] == 1
    assert {s["function"] for s in target["suspects"] if s["confidence"] >= 0.5} == LEAKED_IN_PARKED


def test_cli_debug1_and_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goroutines", str(CAPTURES / "parked.goroutine.debug1.txt")]) == 0
    assert "Goroutine buckets" in capsys.readouterr().out
    assert main(["goroutines", "--fail-on", "0.8", str(CAPTURES / "parked.goroutineleak.debug2.txt")]) == 1


def test_cli_diff(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        main(
            [
                "goroutines",
                "diff",
                "--json",
                str(CAPTURES / "parked.goroutine.debug2.txt"),
                str(CAPTURES / "parked.goroutineleak.debug2.txt"),
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["base"]["goroutines"] == 33 and document["rows"]
    assert main(["goroutines", "diff", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 2


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goroutines", "--every", "1s", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 2
    assert "one URL" in capsys.readouterr().err
    assert main(["goroutines", "--similarity", "fuzzy", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 2
    assert main(["goroutines", str(CAPTURES / "heapkinds.heap.pb.gz")]) == 2


def test_runtime_proven_leaks_rank_first() -> None:
    growing = _series([10, 25, 41, 55, 70, 86, 101, 115, 130, 150])  # strong growth, no proof
    proven = Bucket("k:proven", (Frame("main.lost", "/app/lost.go", 7),), state_class="chan-send")
    proven.add_state("chan send", None, 3)
    proven.leaked = 3
    growing[-1].buckets[proven.key] = proven
    growing[-1].has_leak_profile = True
    suspects, _ = evaluate(growing)
    assert [s.function for s in suspects[:2]] == ["main.lost", "main.handle.func1"]
    assert suspects[0].confidence >= 0.95 > suspects[1].confidence >= 0.9


# ---- HTTP handlers -----------------------------------------------------------------------------------------------

_SERVE = Frame("net/http.(*conn).serve", "/go/src/net/http/server.go", 2102)
_HANDLER = (
    Frame("main.(*api).charge", "/app/api.go", 88),
    Frame("net/http.HandlerFunc.ServeHTTP", "/go/src/net/http/server.go", 2294),
    Frame("net/http.serverHandler.ServeHTTP", "/go/src/net/http/server.go", 3301),
    _SERVE,
)
_IDLE_CONNECTION = (
    Frame("net/http.(*connReader).Read", "/go/src/net/http/server.go", 791),
    Frame("bufio.(*Reader).fill", "/go/src/bufio/bufio.go", 113),
    _SERVE,
)
_RISING = [50, 80, 110, 140, 170, 200, 230, 260, 290, 323]


def test_a_handler_stuck_on_a_lock_is_a_leak_whatever_serves_it() -> None:
    # one goroutine per request that never leaves the handler: net/http's connection goroutine is only the carrier
    suspects, _ = evaluate(_series(_RISING, _HANDLER, "sync.Mutex.Lock"))
    assert suspects and suspects[0].confidence >= 0.8, suspects
    assert (suspects[0].file, suspects[0].line, suspects[0].category) == ("/app/api.go", 88, "mutex")
    assert "discount" not in suspects[0].evidence.to_json()["growth"]


def test_idle_server_connections_stay_quiet() -> None:
    # the same growth parked in net/http itself (keep-alive connections waiting for their next request) is load
    assert _top(_series(_RISING, _IDLE_CONNECTION, "IO wait")) < 0.5


# ---- series times ------------------------------------------------------------------------------------------------


def _grown_dump(extra: int, first_id: int) -> str:
    """The parked capture with ``extra`` more goroutines blocked at leaks.go:20 (fresh, growing ids)."""
    text = (CAPTURES / "parked.goroutine.debug2.txt").read_text()
    block = next(b for b in text.split("\n\n") if "main.fetchWithTimeout.func1()" in b)
    body = block.split("\n", 1)[1]
    copies = "".join(f"\n\ngoroutine {first_id + i} [chan send]:\n{body}" for i in range(extra))
    return text.rstrip("\n") + copies + "\n"


def _write_series(folder: Path, names: list[str], extras: list[int], mtimes: list[float]) -> list[Path]:
    paths = []
    for position, (name, extra, mtime) in enumerate(zip(names, extras, mtimes, strict=True)):
        path = folder / name
        path.write_text(_grown_dump(extra, 1000 + 100 * position))
        os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


def _suspect_json(capsys: pytest.CaptureFixture[str], paths: list[Path]) -> tuple[dict[str, Any], str]:
    assert main(["goroutines", "--json", *map(str, paths)]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out)["targets"][0], captured.err


def test_equal_modification_times_keep_the_growth(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    names = [f"dump-{i}.txt" for i in range(1, 7)]
    paths = _write_series(tmp_path, names, [0, 20, 40, 60, 80, 100], [1_700_000_000.0] * 6)  # kubectl cp, tar
    target, err = _suspect_json(capsys, paths)
    top = target["suspects"][0]
    assert top["function"] == "main.fetchWithTimeout.func1" and top["confidence"] >= 0.8
    assert top["evidence"]["series"] == [3, 23, 43, 63, 83, 103]
    assert "growth" in top["evidence"]["used"]
    assert err.count("\n") == 1 and err.startswith("times unknown:") and "read in name order" in err
    assert any(note.startswith("times unknown:") for note in target["notes"])


def test_equal_times_read_in_natural_name_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    names = [f"dump-{i}.txt" for i in range(1, 13)]
    paths = _write_series(tmp_path, names, [10 * i for i in range(12)], [1_700_000_000.0] * 12)
    lexicographic = sorted(paths)  # dump-1, dump-10, dump-11, dump-12, dump-2, …: what a shell glob gives
    target, _ = _suspect_json(capsys, lexicographic)
    assert target["suspects"][0]["evidence"]["series"] == [3 + 10 * i for i in range(12)]


def test_distinct_modification_times_order_and_time_the_series(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    names = [f"dump-{i}.txt" for i in range(1, 13)]
    start = 1_700_000_000.0
    paths = _write_series(tmp_path, names, [10 * i for i in range(12)], [start + 30 * i for i in range(12)])
    target, err = _suspect_json(capsys, sorted(paths))
    top = target["suspects"][0]
    assert top["evidence"]["series"] == [3 + 10 * i for i in range(12)]
    assert top["evidence"]["growth"]["seconds"] == 330  # the real capture times, not 1 s apart
    assert "times unknown" not in err and not target["notes"]


def test_series_order_rule() -> None:
    names = ["d-1", "d-10", "d-2"]
    assert series_order(names, [1.0, 30.0, 2.0], now=100.0) == ([0, 2, 1], [1.0, 2.0, 30.0], None)
    order, times, note = series_order(names, [5.0, 5.0, 5.0], now=100.0)
    assert order == [0, 2, 1] and times == [98.0, 99.0, 100.0] and note and "name order" in note
    copied = series_order(names, [5.0, 5.0004, 5.0002], now=100.0)  # a checkout: distinct, but microseconds apart
    assert copied[0] == [0, 2, 1] and copied[2] and "too close" in copied[2]
    assert series_order(["http://a/x", "b"], [None, 3.0], now=10.0)[:2] == ([0, 1], [9.0, 10.0])
    assert series_order(["only"], [7.0], now=10.0) == ([0], [7.0], None)
    assert sorted(["dump-10", "dump-9", "dump-1", "a"], key=natural_key) == ["a", "dump-1", "dump-9", "dump-10"]


# ---- similarity levels -------------------------------------------------------------------------------------------


def _sender_rows(document: dict[str, Any], rows: str = "buckets") -> list[dict[str, Any]]:
    table = document["targets"][0][rows] if "targets" in document else document[rows]
    return [row for row in table if row["function"] == "main.sender.func1"]


@pytest.mark.parametrize(("level", "rows"), [("any-value", 1), ("any-pointer", 3), ("exact", 3)])
def test_similarity_level_changes_what_the_user_sees(capsys: pytest.CaptureFixture[str], level: str, rows: int) -> None:
    dump = str(CAPTURES / "parked.goroutine.debug2.txt")  # three main.sender.func1 with different arguments
    assert main(["goroutines", "--json", "--similarity", level, dump]) == 0
    buckets = _sender_rows(json.loads(capsys.readouterr().out))
    assert len(buckets) == rows and sum(b["count"] for b in buckets) == 3
    assert all(b["calls"] for b in buckets) == (level != "any-value")
    assert len({b["calls"] for b in buckets}) == rows  # what sets them apart is shown
    assert main(["goroutines", "diff", "--json", "--similarity", level, dump, dump]) == 0
    assert len(_sender_rows(json.loads(capsys.readouterr().out), "rows")) == rows
    assert main(["goroutines", "--similarity", level, "--top", "0", dump]) == 0
    assert capsys.readouterr().out.count("main.sender.func1") == rows


def test_strict_keys_still_match_the_leak_profile() -> None:
    for level in (Similarity.EXACT, Similarity.ANY_POINTER):
        proto = snapshot_from_profile(parse_pprof((CAPTURES / "parked.goroutine.pb.gz").read_bytes()), similarity=level)
        mark_leaked(proto, parse_pprof((CAPTURES / "parked.goroutineleak.pb.gz").read_bytes()))
        assert {b.blocking.function for b in proto.buckets.values() if b.leaked and b.blocking} == LEAKED_IN_PARKED


# ---- signatures --------------------------------------------------------------------------------------------------

_SEND_SITE = (Frame("main.fetch.func1", "/app/fetch.go", 30),)


def _source(lines: dict[int, str]) -> Callable[[str, int], str | None]:
    return lambda file, line: lines.get(line) if file == "/app/fetch.go" else None


def test_a_proven_leak_on_a_token_send_is_not_a_semaphore() -> None:
    bucket = Bucket("k", _SEND_SITE, state_class="chan-send")
    bucket.add_state("chan send", None, 40)
    bucket.leaked = 40
    snapshot = GoroutineSnapshot(0, 40, {"k": bucket}, "debug2", True, has_leak_profile=True)
    suspects, _ = evaluate([snapshot], source_line=_source({30: "done <- struct{}{} // tell the caller"}))
    assert suspects[0].category == "chan-send" and "signature" not in suspects[0].evidence.used


def test_semaphore_needs_a_growing_pile_on_an_acquire_that_is_released() -> None:
    acquire = {30: "sem <- struct{}{}", 31: "defer func() { <-sem }()"}
    series = _series([10, 25, 41, 55, 70, 86, 101, 115], _SEND_SITE)
    assert evaluate(series, source_line=_source(acquire))[0][0].category == "semaphore-pileup"
    signal = {30: "done <- struct{}{}", 31: "return nil"}  # a plain signal nobody receives: not a semaphore
    assert evaluate(series, source_line=_source(signal))[0][0].category == "chan-send"
    flat = _series([40] * 8, _SEND_SITE)  # a full but steady semaphore is not a pile-up
    assert all(s.category != "semaphore-pileup" for s in evaluate(flat, source_line=_source(acquire))[0])


def test_receive_advice_without_source_names_the_ticker_cause() -> None:
    series = _series([10, 25, 41, 55, 70, 86, 101, 115], _POOL, "chan receive")
    without = evaluate(series)[0][0]
    assert without.category == "chan-receive" and "ticker.Stop()" in without.evidence.advice
    ticker = evaluate(series, source_line=lambda file, line: "for range ticker.C {")[0][0]
    assert ticker.category == "ticker-not-stopped"
    plain = evaluate(series, source_line=lambda file, line: "<-done")[0][0]
    assert plain.category == "chan-receive" and "ticker" not in plain.evidence.advice


# ---- inputs that hide things -------------------------------------------------------------------------------------


def test_truncated_dump_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (CAPTURES / "parked.goroutine.debug2.txt").read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.index("main.sender(0x1)")])  # mid-goroutine, as the 64 MiB cap cuts
    assert main(["goroutines", "--json", str(cut)]) == 0
    assert TRUNCATED_NOTE in json.loads(capsys.readouterr().out)["targets"][0]["notes"]
    assert main(["goroutines", str(cut)]) == 0
    assert TRUNCATED_NOTE in " ".join(capsys.readouterr().out.split())


def test_debug1_states_come_from_the_leak_profile(capsys: pytest.CaptureFixture[str]) -> None:
    debug1, leak = CAPTURES / "parked.goroutine.debug1.txt", CAPTURES / "parked.goroutineleak.pb.gz"
    assert main(["goroutines", "--json", str(debug1), str(leak)]) == 0
    strong = [s for s in json.loads(capsys.readouterr().out)["targets"][0]["suspects"] if s["confidence"] >= 0.9]
    categories = {s["function"]: s["category"] for s in strong}
    assert categories["main.fetchWithTimeout.func1"] == "chan-send"
    assert categories["main.leakConsumer.func1"] == "chan-receive"
    assert categories["main.leakSelect.func1"] == "select"
    assert "unknown" not in categories.values()


def test_debug1_states_from_the_source_line_or_said_to_be_hidden() -> None:
    snapshot = snapshot_from_profile(parse_count_profile((CAPTURES / "parked.goroutine.debug1.txt").read_bytes()))
    snapshot.buckets = {
        k: b for k, b in snapshot.buckets.items() if b.blocking and b.blocking.function == "main.nilSend"
    }
    for bucket in snapshot.buckets.values():
        bucket.leaked = bucket.count  # as if the goroutineleak profile were given in debug=1 text too
    blind = evaluate([snapshot])[0][0]
    assert blind.category == "unknown" and "debug=1" in blind.evidence.advice and "unknown wait" in blind.summary
    lines = {72: "ch <- 1"}  # parked/main.go:72 sends on a nil channel
    read = evaluate([snapshot], source_line=lambda file, line: lines.get(line))[0][0]
    assert read.category == "chan-send"


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("result <- 42 // LEAK", "chan-send"),
        ("v, ok := <-ch", "chan-receive"),
        ("return <-ch", "chan-receive"),
        ("for update := range s.updates {", "chan-receive"),
        ("select {", "select"),
        ("select {}", "select-no-cases"),
        ("out <- <-in", None),
        ("fmt.Println(x)", None),
    ],
)
def test_state_from_source_line(text: str, state: str | None) -> None:
    assert classify_source(text) == state


def test_unknown_wait_reasons_become_slugs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert classify_state("synctest.Run", ()) == "synctest-run"
    dump = tmp_path / "odd.txt"
    dump.write_text(
        "".join(
            f"goroutine {i} [synctest.Run (leaked), 12 minutes]:\nmain.run()\n\t/app/run.go:5 +0x1d\n\n"
            for i in range(10, 14)
        )
    )
    assert main(["goroutines", "--json", str(dump)]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    target = document["targets"][0]
    assert target["buckets"][0]["state"] == "synctest-run"
    assert target["suspects"][0]["category"] == "synctest-run"  # a proven leak, in a category report@1 accepts


# ---- CLI details -------------------------------------------------------------------------------------------------


def test_progress_counts_snapshots_not_leak_profiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    paths = _write_series(tmp_path, ["a-1.txt", "a-2.txt"], [0, 5], [1_700_000_000.0, 1_700_000_030.0])
    leak = str(CAPTURES / "parked.goroutineleak.pb.gz")
    assert main(["goroutines", *map(str, paths), leak, leak]) == 0
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("snapshot")]
    assert [line.split(":")[0] for line in progress] == ["snapshot 1/2", "snapshot 2/2"]


def test_usage_errors_for_sampling_and_top(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["goroutines", "--every", "0s", "--count", "3", "http://127.0.0.1:1"]) == 2
    assert "--every" in capsys.readouterr().err
    assert main(["goroutines", "--top", "-1", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 2


def test_diff_refuses_a_leak_profile_and_names_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    dump, leak = CAPTURES / "parked.goroutine.debug2.txt", CAPTURES / "parked.goroutineleak.pb.gz"
    assert main(["goroutines", "diff", str(dump), str(leak)]) == 2
    assert "goroutineleak" in capsys.readouterr().err
    assert main(["goroutines", "diff", "--json", str(dump), str(dump)]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "leaksleuth/goroutine-diff@1"


def test_diff_rows_that_look_alike_are_one_row() -> None:
    deeper = (*_SITE, Frame("main.middleware", "/app/mw.go", 12), Frame("main.serve", "/app/mw.go", 30))
    shallow = (*_SITE, Frame("main.serve", "/app/mw.go", 30))

    def snapshot(counts: tuple[int, int]) -> GoroutineSnapshot:
        buckets = {}
        for frames, count in zip((deeper, shallow), counts, strict=True):
            bucket = Bucket("k:" + "|".join(f.function for f in frames), frames, state_class="chan-send")
            bucket.add_state("chan send", None, count)
            buckets[bucket.key] = bucket
        return GoroutineSnapshot(0, sum(counts), buckets, "debug2", True)

    rows = diff_snapshots(snapshot((5, 2)), snapshot((30, 4)))
    assert len(rows) == 1
    assert (rows[0].base, rows[0].target, rows[0].variants) == (7, 34, 2)
    assert rows[0].key == "k:main.handle.func1|main.middleware|main.serve"  # the larger stack's key
