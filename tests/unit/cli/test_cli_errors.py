"""A user's mistake gets a clear one-line error and the right exit code (2 usage, 3 failure), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaksleuth.analysis.goroutines.snapshots import snapshot_from_profile
from leaksleuth.cli.main import main
from leaksleuth.formats import parse
from tests.conftest import CAPTURES

DUMP = str(CAPTURES / "parked.goroutine.debug2.txt")
LEAKS = str(CAPTURES / "parked.goroutineleak.pb.gz")
HEAP = str(CAPTURES / "heapkinds.heap.pb.gz")
GROWN = str(CAPTURES / "heapkinds.heap.grown.pb.gz")
GOROUTINE = str(CAPTURES / "parked.goroutine.pb.gz")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["goroutines", LEAKS, "--fail-on", "80"], "--fail-on"),
        (["goroutines", "diff", DUMP, DUMP, "--similarity", "foo"], "--similarity must be one of"),
        (["goroutines", "diff", DUMP, DUMP, "--fail-on", "0.5"], "does not take --fail-on"),
        (["heap", "diff", HEAP, GROWN, GOROUTINE], "cannot compare different kinds"),
        (["heap", "trend", HEAP, GOROUTINE, GROWN], "not a heap profile"),
        (["watch", "http://127.0.0.1:9", "--no-store", "--report", "/nonexistent/r.json"], "no directory /nonexistent"),
        (["watch", "http://127.0.0.1:9", "--no-store", "--fail-on", "-1"], "--fail-on"),
        (["watch", "http://127.0.0.1:9", "--no-store", "--rounds", "0"], "--rounds"),
        (["serve", "--token-file", "/nonexistent/token"], "cannot read /nonexistent/token"),
        (["serve", "--no-auth", "--listen", "0.0.0.0:9478"], "only on a loopback address"),
        (["snapshots", "list", "--store", "/nonexistent/store"], "no store at /nonexistent/store"),
        (["snapshots", "list", "--kind", "foo"], "--kind must be one of"),
        (["watch", "http://127.0.0.1:9", "--no-store", "--timeout", "nan"], "--timeout must be a positive number"),
        (["watch", "http://127.0.0.1:9", "--no-store", "--interval", "inf"], "invalid duration 'inf'"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--timeout", "0"], "--timeout must be a positive number"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--window", "nan"], "invalid duration 'nan'"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--container-selector", "x"], "--container-selector must be"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--node-selector", "job=node"], "--node-selector must be"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--socket-memory-threshold", "lots"], "must be a size"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--socket-memory-threshold", "0Mi"], "must be a size"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--socket-memory-threshold", "-5Mi"], "must be a size"),
        (["fleet", "--prometheus", "http://127.0.0.1:9", "--socket-memory-threshold", "1e9"], "must be a size"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, output = _run(capsys, *args)
    assert code == 2, output
    assert message in output, output


def test_a_gate_fails_when_nothing_could_be_scraped(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(
        capsys, "watch", "http://127.0.0.1:9", "--no-store", "--rounds", "1", "--quiet", "--retries", "0"
    )
    assert code == 3 and "no target could be scraped" in output


def test_targets_file_names_the_bad_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "targets.txt"
    bad.write_text("http://10.0.0.1:6060\nthis is not a target\n")
    code, output = _run(capsys, "watch", "--targets-file", str(bad), "--no-store")
    assert code == 2 and "this is not a target" in output


def test_labelled_goroutines_in_debug1_are_not_taken_for_the_profiler() -> None:
    """runtime/pprof.Do frames (pprof labels) stay on blocked goroutines' stacks in debug=1 output."""
    profile = parse((CAPTURES / "parked.goroutine.debug1.txt").read_bytes()).profile
    assert profile is not None
    buckets = snapshot_from_profile(profile).buckets.values()
    labelled = [b for b in buckets if any(f.function == "runtime/pprof.Do" for f in b.frames)]
    # debug=1 hides the parking frames, so the state is unknown, but it is judged like any other bucket
    assert labelled and all(b.state_class != "running" for b in labelled)


@pytest.mark.parametrize(
    ("text", "size"), [("50Mi", 50 << 20), ("50MiB", 50 << 20), ("64MB", 64e6), ("64M", 64e6), ("4096", 4096)]
)
def test_socket_memory_threshold_takes_a_quantity(text: str, size: float) -> None:
    from leaksleuth.cli.options import positive_size

    assert positive_size("--socket-memory-threshold", text) == size
