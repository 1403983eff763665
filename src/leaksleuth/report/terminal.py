"""Rich rendering helpers shared by the commands' terminal output."""

from __future__ import annotations

import os
import sys

from rich.console import Console

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
    """``1.50MB`` the way pprof prints sizes (powers of 1024, two decimals)."""
    sign = "-" if value < 0 else ""
    value = abs(float(value))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{sign}{value:.0f}{unit}" if unit == "B" else f"{sign}{value:.2f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_value(value: float, unit: str) -> str:
    if unit == "bytes":
        return human_bytes(value)
    if unit == "nanoseconds":
        seconds = value / 1e9
        return f"{seconds:.3g}s" if abs(seconds) >= 1 else f"{value / 1e6:.3g}ms"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.3g}"
