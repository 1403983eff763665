"""Real Go services leaking goroutines in nine ways, and four healthy look-alikes, judged through the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.golive import GO_MODULE, build, marker_line, running

SOURCE = GO_MODULE / "goleaks" / "main.go"
# mode -> category leaksleuth should give; the blocking line is the "// LEAK: mode" comment (none for http-body)
LEAKS = {
    "timeout-send": "chan-send",
    "done-never-closed": "chan-receive",
    "waitgroup": "waitgroup",
    "nil-range": "nil-chan-receive",
    "ticker": "ticker-not-stopped",
    "semaphore": "semaphore-pileup",
    "lock": "mutex",
    "http-body": "http-body-not-closed",
    "handler-lock": "mutex",  # inside net/http's (*conn).serve: a stuck handler is not an open connection
}
# the lint pattern each leak's source explanation names (http-body's suspect is net/http's own code: no source here)
SOURCE_SLUGS = {
    "timeout-send": "send-no-receiver",
    "done-never-closed": "chan-never-closed",
    "waitgroup": "waitgroup-misuse",
    "nil-range": "chan-never-closed",
    "ticker": "ticker-not-stopped",
    "semaphore": "unbounded-goroutines",
    "lock": "unlock-missing",
    "handler-lock": "unlock-missing",
}
PROVABLE = {"timeout-send", "done-never-closed", "waitgroup", "nil-range"}  # blocking object unreachable
HEALTHY = ["worker-pool", "burst", "server-conns", "fixed-loops"]
SAMPLES = ["--every", "0.5s", "--count", "16"]


@pytest.fixture(scope="module")
def binary(go: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(go, "goleaks", tmp_path_factory.mktemp("goleaks"))


@pytest.fixture(scope="module")
def verdicts(binary: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        services = {mode: stack.enter_context(running([str(binary), "-mode", mode])) for mode in [*LEAKS, *HEALTHY]}
        watchers = {
            mode: subprocess.Popen(
                [sys.executable, "-m", "leaksleuth", "goroutines", f"http://{address}", *SAMPLES, "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for mode, (_, address) in services.items()
        }
        for mode, watcher in watchers.items():
            out, err = watcher.communicate(timeout=120)
            assert watcher.returncode == 0, f"{mode}: {err}"
            results[mode] = json.loads(out)["targets"][0]
    return results


@pytest.mark.live
@pytest.mark.parametrize("mode", list(LEAKS))
def test_each_leak_is_the_top_suspect(verdicts: dict[str, dict[str, Any]], mode: str) -> None:
    top = verdicts[mode]["suspects"][0]
    assert top["confidence"] >= 0.8, top
    assert top["category"] == LEAKS[mode], top
    if mode == "http-body":
        assert top["function"].startswith("net/http.(*persistConn)")
        assert "resp.Body.Close()" in top["evidence"]["advice"]
    else:
        assert Path(top["file"]) == SOURCE
        assert top["line"] == marker_line(SOURCE, mode), top
    assert top["evidence"]["advice"]


@pytest.mark.live
@pytest.mark.parametrize("mode", list(LEAKS))
def test_each_leak_carries_its_source_explanation(verdicts: dict[str, dict[str, Any]], mode: str) -> None:
    # the binary was built from testdata/go here, so the files the stacks name are readable
    top = verdicts[mode]["suspects"][0]
    source = top["evidence"].get("source")
    if mode not in SOURCE_SLUGS:
        assert source is None, top
        return
    assert source is not None and source["slug"] == SOURCE_SLUGS[mode], top
    assert source["why"] in top["summary"] and source["fix"]
    near = abs(top["line"] - source["line"]) <= 6  # fusion.NEAR_LINES: a finding in the same function
    assert top["line"] in source["lines"] or near, top
    assert "source-pattern" in top["evidence"]["used"]


@pytest.mark.live
def test_runtime_proof_where_the_runtime_can_see_and_other_evidence_where_it_cannot(
    verdicts: dict[str, dict[str, Any]],
) -> None:
    for mode in LEAKS:
        used = verdicts[mode]["suspects"][0]["evidence"]["used"]
        if mode in PROVABLE:
            assert "runtime-proven" in used, (mode, used)
        else:
            assert "runtime-proven" not in used and "growth" in used, (mode, used)


@pytest.mark.live
@pytest.mark.parametrize("mode", HEALTHY)
def test_healthy_look_alikes_have_no_suspect(verdicts: dict[str, dict[str, Any]], mode: str) -> None:
    strong = [s for s in verdicts[mode]["suspects"] if s["confidence"] >= 0.5]
    assert not strong, strong
    assert verdicts[mode]["snapshots"] == 16
    assert max(max(bucket["series"]) for bucket in verdicts[mode]["buckets"]) >= 10  # the look-alike really ran


def _capture_dumps(binary: Path, folder: Path, count: int) -> list[Path]:
    """``count`` debug=2 dumps of a leaking service, 0.3 s apart, saved as dump-1.txt … dump-N.txt."""
    paths = []
    with running([str(binary), "-mode", "timeout-send"]) as (_, address):
        for number in range(1, count + 1):
            with urllib.request.urlopen(f"http://{address}/debug/pprof/goroutine?debug=2", timeout=30) as response:
                path = folder / f"dump-{number}.txt"
                path.write_bytes(response.read())
                paths.append(path)
            time.sleep(0.3)
    return paths


def _judge(paths: list[Path]) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "leaksleuth", "goroutines", "--json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    target: dict[str, Any] = json.loads(done.stdout)["targets"][0]
    return target, done.stderr


@pytest.mark.live
def test_copied_dumps_keep_their_growth(binary: Path, tmp_path: Path) -> None:
    """Real captures after ``kubectl cp`` / ``tar``: one modification time for all, and a glob's name order
    (dump-1, dump-10, dump-11, dump-12, dump-2, …). Read in natural name order, the growth is still there."""
    paths = _capture_dumps(binary, tmp_path, 12)
    for path in paths:
        os.utime(path, (1_700_000_000, 1_700_000_000))
    target, err = _judge(sorted(paths))
    top = target["suspects"][0]
    assert top["line"] == marker_line(SOURCE, "timeout-send") and top["confidence"] >= 0.8, top
    assert "growth" in top["evidence"]["used"]
    assert top["evidence"]["series"] == sorted(top["evidence"]["series"])  # in capture order, not glob order
    assert err.startswith("times unknown:") and "read in name order" in err

    start = 1_700_000_000.0  # now distinct times, 20 s apart, in capture order: they are used as they are
    for number, path in enumerate(paths):
        os.utime(path, (start + 20 * number, start + 20 * number))
    target, err = _judge(sorted(paths))
    assert target["suspects"][0]["evidence"]["growth"]["seconds"] == 220
    assert "times unknown" not in err
