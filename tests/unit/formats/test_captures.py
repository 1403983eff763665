"""Every committed capture parses and agrees with the runtime's own counts and with `go tool pprof -raw`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import CAPTURES, captures, ids
from tests.support.checks import check_capture

ALL = captures()


@pytest.mark.parametrize("entry", ALL, ids=ids(ALL))
def test_capture_agrees_with_the_runtime(go: str, entry: dict[str, Any]) -> None:
    check_capture(CAPTURES / entry["file"], entry, go)


def test_manifest_records_provenance(manifest: dict[str, Any]) -> None:
    assert manifest["go_version"].startswith("go1.")
    for entry in manifest["captures"]:
        assert (CAPTURES / entry["file"]).exists()
        assert entry["command"] and isinstance(entry["env"], dict)
