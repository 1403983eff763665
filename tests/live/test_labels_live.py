"""Which requests leak, live: testdata/go/labelleak runs its handlers under pprof.Do labels (route, tenant,
trace_id) and one route leaks a goroutine per request. `leaksleuth watch --json-lines` must name the route, with
the goroutine count, trace ids, first_seen and blocked minutes — from debug=2 dumps (GODEBUG=tracebacklabels=1) and
from the debug=1 profiles it reads above --debug2-threshold (labels in '# labels:' lines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leaksleuth.analysis.goroutines.labels import MAX_LABEL_SETS
from tests.support.golive import GO_MODULE, build, marker_line, running

SOURCE = GO_MODULE / "labelleak" / "main.go"


@pytest.fixture(scope="module")
def binary(go: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build(go, "labelleak", tmp_path_factory.mktemp("labelleak")))


def _watch(address: str, report: Path, *args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "leaksleuth", "watch", f"http://{address}", "--interval", "1s", "--rounds", "6",
         "--json-lines", "--quiet", "--report", str(report), *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.live
@pytest.mark.parametrize(
    ("godebug", "args"),
    [("tracebacklabels=1", ()), ("", ("--debug2-threshold", "0"))],
    ids=["debug2-tracebacklabels", "debug1-labels"],
)
def test_the_leaking_route_is_named_with_its_trace_ids(
    binary: str, tmp_path: Path, godebug: str, args: tuple[str, ...]
) -> None:
    command = ["env", f"GODEBUG={godebug}", binary] if godebug else [binary]
    with running(command) as (_, address):
        events = _watch(address, tmp_path / "report.json", *args)
    leak = [e for e in events if e["line"] == marker_line(SOURCE, "labelled-export")]
    assert leak, events
    event = leak[-1]
    count = event["goroutine_count"]
    assert isinstance(count, int) and count >= 5
    assert event["labels"]["route"] == {"/export": count}  # type: ignore[index]
    assert set(event["labels"]["tenant"]) <= {"acme", "globex", "initech"}  # type: ignore[index]
    assert "/search" not in json.dumps(event["labels"])  # the healthy route's goroutines finished
    traces = event["trace_ids"]
    assert isinstance(traces, list) and len(traces) == 5 and len(set(traces)) == 5
    assert isinstance(event["first_seen"], str) and event["first_seen"].endswith("Z")
    assert event["blocked_minutes"] == (0 if godebug else None)  # debug=2 has wait minutes, debug=1 does not
    assert f"all route=/export ({count} of {count})" in str(event["summary"])
    document = json.loads((tmp_path / "report.json").read_text())
    [suspect] = [s for t in document["targets"] for s in t["suspects"] if s["function"] == "main.export.func1"]
    assert suspect["evidence"]["by_label"]["route"] == {"/export": suspect["evidence"]["count"]}
    # one label set per request: every trace id, up to the bucket's bound on distinct sets
    assert suspect["evidence"]["distinct_trace_ids"] == min(suspect["evidence"]["count"], MAX_LABEL_SETS)
