"""``leaksleuth inspect``: --format forces a format, --top is checked, dumps and profiles name states alike."""

from __future__ import annotations

import json

import pytest

from leaksleuth.cli.inspect import FORMAT_NAMES
from leaksleuth.cli.main import main
from leaksleuth.formats import Format
from tests.conftest import CAPTURES


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_format_forces_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(CAPTURES / "parked.goroutine.debug2.txt")
    code, out, _ = _inspect(capsys, "--json", "--format", "goroutine-dump", dump)
    assert code == 0 and json.loads(out)["goroutines"] == 33
    code, _, err = _inspect(capsys, "--format", "pprof", dump)  # forced: the pprof parser says why it is not one
    assert code == 3 and "pprof" in err
    code, _, err = _inspect(capsys, "--format", "pdf", dump)
    assert code == 2 and "--format" in err and "goroutine-dump" in err


def test_negative_top_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _inspect(capsys, "--top", "-1", str(CAPTURES / "parked.goroutine.debug2.txt"))
    assert code == 2 and "--top" in err


def test_dump_and_profile_name_the_state_alike(capsys: pytest.CaptureFixture[str]) -> None:
    states = {}
    for name in ("parked.goroutine.debug2.txt", "parked.goroutine.pb.gz"):
        code, out, _ = _inspect(capsys, "--json", "--top", "40", str(CAPTURES / name))
        assert code == 0
        states[name] = {stack["state"] for stack in json.loads(out)["top_stacks"]}
    assert "chan-send" in states["parked.goroutine.debug2.txt"]
    assert "chan-send" in states["parked.goroutine.pb.gz"]
    assert not any(" " in state for names in states.values() for state in names)


def test_format_names_are_the_formats() -> None:
    assert FORMAT_NAMES.split(", ") == [str(f) for f in Format if f is not Format.UNKNOWN]


@pytest.mark.parametrize("name", ["heapkinds.vars.json", "heapkinds.heap.debug1.txt", "heapkinds.metrics.txt"])
def test_gc_health_from_every_memstats_source(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = _inspect(capsys, "--json", str(CAPTURES / name))
    gc = json.loads(out)["gc"]
    assert code == 0 and gc["pause_max_seconds"] == 0.000551257 and gc["cycles"] in (7, 8)
    assert json.loads(out)["runtime_findings"] == []  # a healthy process: numbers, no finding
    code, out, _ = _inspect(capsys, str(CAPTURES / name))
    assert "GC: pauses p50 0.16 ms" in out and "max 0.55 ms" in out
