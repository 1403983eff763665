"""Fixtures the live tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.golive import build


@pytest.fixture(scope="module")
def goleaks(go: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The goleaks binary (testdata/go/goleaks), built once per test module: the pods of the Kubernetes harness."""
    return build(go, "goleaks", tmp_path_factory.mktemp("bin"))
