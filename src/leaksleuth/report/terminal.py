"""Rich rendering helpers shared by the commands' terminal output."""

from __future__ import annotations

import os
import sys

from rich.console import Console

from leaksleuth.report.heap import auto_scaled

# the verdict words (report.watch.verdict_of) as every terminal output colours them; others ("too early") are dim
VERDICT_STYLE = {"leaking": "bold red", "likely leak": "yellow", "watch": "dim yellow", "healthy": "green"}


def _width(stream_is_tty: bool) -> int | None:
    """Terminals report their width; pipes and CI logs get a readable 140 columns unless COLUMNS says otherwise."""
    return None if stream_is_tty or os.environ.get("COLUMNS") else 140


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=_width(sys.stdout.isatty()))


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, width=_width(sys.stderr.isatty()))


def human_bytes(value: float) -> str:
    """``1.5MB`` the way pprof prints sizes (powers of 1024, two decimals at most, ``0`` for zero)."""
    return auto_scaled(value, "bytes")


def human_value(value: float, unit: str) -> str:
    if unit in ("bytes", "nanoseconds"):
        return auto_scaled(value, unit)
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.3g}"
