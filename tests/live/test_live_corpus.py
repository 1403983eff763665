"""Build the Go corpus, run it, capture everything again and parse it: a new Go release is caught here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.checks import check_capture


@pytest.mark.live
def test_fresh_captures_parse_and_agree(go: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "capture_fixtures.py"), "--out", str(tmp_path), "--go", go],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(manifest["captures"]) >= 20
    for entry in manifest["captures"]:
        check_capture(tmp_path / entry["file"], entry, go)
