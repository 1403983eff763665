"""Names from profiles, dumps, targets and the store reach the terminal as text (issue 12, item 10).

Real captures are rewritten so that a function, a creator, a file and a target carry rich markup (``[/bold]``
crashed ``inspect``, ``[/red]`` crashed ``goroutines``), a hyperlink tag and raw control characters, then go
through the real commands with colour forced on (so that rich would emit styles and links if it read markup).
Each output must show the names, visibly escaped, and carry no markup effect and no raw control character.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from leaksleuth.cli.main import main
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.formats.pprof_write import write_pprof
from leaksleuth.model.report import Report, Suspect, TargetReport
from leaksleuth.model.views import InstanceFacts
from leaksleuth.report.watch import live_table, summary_line, verdict_table
from leaksleuth.store.db import NewSnapshot, open_store
from tests.conftest import CAPTURES
from tests.support.renamed import renamed

# markup that closes what is not open (MarkupError), a hyperlink, a screen clear, a C1 CSI, a bidi override
HOSTILE = "main.[/bold]main[link=https://evil.example/]x\x1b[2J\x9b31m\u202e"
SHOWN = r"main.[/bold]main[link=https://evil.example/]x\x1b[2J\x9b31m\u202e"  # what the terminal must show
HOSTILE_FILE = "/src/[bold]evil\x07[link=mailto:x]main.go"  # (tables show a file's base name)
SHOWN_FILE = r"[bold]evil\x07[link=mailto:x]main.go"
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # the styles rich itself writes with colour forced on


@pytest.fixture(autouse=True)
def _colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich writes styles and OSC 8 hyperlinks as on a terminal
    monkeypatch.setenv("COLUMNS", "3000")  # no wrapping: a name stays on one line
    monkeypatch.delenv("NO_COLOR", raising=False)


def _clean(output: str) -> str:
    """The output as a person sees it; fails on anything but rich's own styles reaching the terminal."""
    assert "\x1b]8;" not in output, "a hyperlink reached the terminal"
    visible = _SGR.sub("", output)
    for raw in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert raw not in visible, f"raw {raw!r} reached the terminal"
    return visible


def _run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    exit_code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "MarkupError" not in captured.err, captured.err
    assert exit_code == code, captured.err
    return _clean(captured.out) + _clean(captured.err)


def _hostile_profile(tmp_path: Path, capture: str, function: str) -> str:
    profile = renamed(parse_pprof((CAPTURES / capture).read_bytes()), function, HOSTILE)
    path = tmp_path / capture
    path.write_bytes(write_pprof(profile))
    return str(path)


def _hostile_dump(tmp_path: Path, name: str = "parked.goroutine.debug2.txt") -> str:
    text = (CAPTURES / "parked.goroutine.debug2.txt").read_text()
    text = text.replace("main.main", HOSTILE)  # CALL lines and 'created by' lines
    text = re.sub(r"\t\S*/main\.go:", f"\t{HOSTILE_FILE}:", text)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_inspect_shows_a_hostile_function_name_of_a_heap_profile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shown = _run(capsys, "inspect", _hostile_profile(tmp_path, "heapkinds.heap.pb.gz", "main.allocSlices"))
    assert SHOWN in shown


def test_inspect_shows_hostile_names_of_a_goroutine_profile_and_dump(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shown = _run(capsys, "inspect", "--top", "40", _hostile_profile(tmp_path, "parked.goroutine.pb.gz", "main.main"))
    assert SHOWN in shown
    shown = _run(capsys, "inspect", "--top", "40", _hostile_dump(tmp_path))
    assert SHOWN in shown and SHOWN_FILE in shown  # the creator column and the blocking site


def test_goroutines_shows_a_hostile_creator_and_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shown = _run(capsys, "goroutines", "--top", "0", _hostile_dump(tmp_path))
    assert SHOWN in shown and SHOWN_FILE in shown


def test_goroutines_diff_shows_hostile_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = _hostile_dump(tmp_path, "base.txt")
    target = _hostile_dump(tmp_path, "target.txt")
    shown = _run(capsys, "goroutines", "diff", base, target)
    assert SHOWN in shown and "base.txt" in shown


def test_heap_top_and_diff_show_a_hostile_function_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = _hostile_profile(tmp_path, "heapkinds.heap.pb.gz", "main.leakyCache")
    grown = _hostile_profile(tmp_path, "heapkinds.heap.grown.pb.gz", "main.leakyCache")
    assert SHOWN in _run(capsys, "heap", "top", base)
    shown = _run(capsys, "heap", "diff", base, grown)
    assert shown.count(SHOWN) >= 3  # the top table, the leak paths and the allocation sites


def test_snapshots_list_shows_a_hostile_target_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    try:
        target = store.target_id(f"http://10.0.0.5:6060/{HOSTILE}")
        store.record_round(
            target, 1000.0, [NewSnapshot("heap", "pprof", (CAPTURES / "heapkinds.heap.pb.gz").read_bytes())], {}
        )
    finally:
        store.close()
    assert SHOWN in _run(capsys, "snapshots", "list", "--store", str(tmp_path / "store"))


def _watch_fleet() -> Report:
    suspect = Suspect("goroutine", "chan-send-leak", HOSTILE, HOSTILE_FILE, 42, 0.93, f"3,000 goroutines in {HOSTILE}")
    return Report(
        [
            TargetReport(
                f"http://[fd00::7]:6060/{HOSTILE}",
                "error",
                0,
                f"HTTP 500: {HOSTILE}",
                [],
                instance=InstanceFacts.from_json({"service": HOSTILE}),
            ),
            TargetReport(
                "http://[::1]:6060",
                "ok",
                5,
                None,
                [suspect],
                instance=InstanceFacts.from_json({"service": HOSTILE, "goroutines": 3000}),
            ),
        ]
    )


def _rendered(renderable: RenderableType | str) -> str:
    stream = io.StringIO()
    Console(file=stream, force_terminal=True, width=3000, color_system="truecolor").print(renderable)
    return _clean(stream.getvalue())


def test_watch_tables_show_hostile_targets_errors_and_suspects() -> None:
    live = _rendered(live_table(_watch_fleet(), {}, round_number=2, seconds=0.1))
    assert f"http://[fd00::7]:6060/{SHOWN}" in live and f"HTTP 500: {SHOWN}" in live and SHOWN in live
    verdicts = _rendered(verdict_table(_watch_fleet()))
    assert f"3,000 goroutines in {SHOWN}" in verdicts and SHOWN_FILE in verdicts
    assert "leaksleuth watch: 2 targets" in _rendered(summary_line(_watch_fleet()))
