"""Rich rendering helpers shared by the commands' terminal output, and the one way data reaches a terminal.

Every string that comes from a profile, a dump, a metrics page, a target or a store (function and file names,
states, labels, URLs, error bodies) is hostile: ``[/bold]`` in a function name is a rich markup tag (and a
``MarkupError`` crash), ``[link=https://evil.example/]`` a hyperlink, ``\\x1b[2J`` clears the screen. So renderers
put data on the terminal only through ``data_text`` (a rich ``Text``, never markup) or, for plain-text output
(``heap top``, which stays free of rich), through ``printable``; both show C0/C1 control characters and the
invisible Unicode format characters (bidi overrides, zero-width) as escapes (``\\x1b``, ``\\u202e``).

The rich imports are inside the functions: ``heap top`` imports this module and must not pay for rich.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from leaksleuth.model.verdict import LEAKING_CONFIDENCE, SUSPECT_CONFIDENCE

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# the verdict words (report.watch.verdict_of) as every terminal output colours them; others ("too early") are dim
VERDICT_STYLE = {"leaking": "bold red", "likely leak": "yellow", "watch": "dim yellow", "healthy": "green"}


def confidence_colour(confidence: float) -> str:
    """A suspect's confidence as the terminal colours it: red for a leak, yellow for a suspect, dim for a hint."""
    return "red" if confidence >= LEAKING_CONFIDENCE else "yellow" if confidence >= SUSPECT_CONFIDENCE else "dim"


# C0 (tab and newline too: a name must not forge lines or columns), DEL, C1, and the invisible format characters
# that reorder or hide text (zero-width spaces and joiners, bidi embeddings, overrides and isolates, BOM)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: object) -> str:
    """``text`` as a string that is safe on a terminal: control and invisible characters shown as escapes."""
    string = text if isinstance(text, str) else str(text)
    return _UNPRINTABLE.sub(_escaped, string) if _UNPRINTABLE.search(string) else string


def printable_lines(text: object) -> str:
    """``printable`` for text whose line breaks are its own (messages that quote several lines)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


class _LineBreak:
    """A line break between the parts of a ``data_text`` (a newline inside a part is shown as ``\\n``)."""


LINE_BREAK = _LineBreak()


def data_text(*parts: object | tuple[object, str], style: str = "") -> Text:
    """A rich ``Text`` of data: each part a value, a (value, style) pair or ``LINE_BREAK``; never read as markup."""
    from rich.text import Text

    text = Text(style=style)
    for part in parts:
        if part is LINE_BREAK:
            text.append("\n")
        elif isinstance(part, tuple):
            text.append(printable(part[0]), style=part[1])
        else:
            text.append(printable(part))
    return text


def data_lines(lines: list[str], style: str = "") -> Text:
    """Lines of data as one ``Text``, one line each."""
    parts: list[object] = []
    for line in lines:
        parts += [LINE_BREAK, line] if parts else [line]
    return data_text(*parts, style=style)


def _width(stream_is_tty: bool) -> int | None:
    """Terminals report their width; pipes and CI logs get a readable 140 columns unless COLUMNS says otherwise."""
    return None if stream_is_tty or os.environ.get("COLUMNS") else 140


# emoji=False: no ``:name:`` code in our own markup means an emoji, and the first markup string printed would load
# rich's table of 4,000 codes (2 ms of a file command's start)
def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, emoji=False, width=_width(sys.stdout.isatty()))


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, width=_width(sys.stderr.isatty()))


# ---- numbers as pprof prints them (``heap`` tables use these, and so does every other command) ------------------

_BYTE_UNITS = (("B", 1), ("kB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("PB", 1 << 50))
_TIME_UNITS = (("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("hrs", 3_600_000_000_000))


def _units(unit: str) -> tuple[tuple[str, int], ...]:
    return _BYTE_UNITS if unit == "bytes" else _TIME_UNITS if unit == "nanoseconds" else ()


def auto_unit(value: int, unit: str) -> tuple[str, int]:
    units = _units(unit)
    chosen = units[0] if units else ("", 1)
    for name, factor in units:
        if abs(value) / factor >= 1.0:
            chosen = (name, factor)
    return chosen


def scaled(value: int, unit: tuple[str, int]) -> str:
    """pprof's ``ScaledLabel``: two decimals, ``.00`` dropped, a bare ``0`` for zero."""
    text = f"{value / unit[1]:.2f}".removesuffix(".00")
    return "0" if text in ("0", "-0") else text + unit[0]


def auto_scaled(value: float, unit: str) -> str:
    """One value in pprof's style, in the unit that suits it (``1.5MB``, ``250ms``, ``0``); the terminal output of
    every command uses this too (``human_bytes``)."""
    return scaled(round(value), auto_unit(round(value), unit))


def human_bytes(value: float) -> str:
    """``1.5MB`` the way pprof prints sizes (powers of 1024, two decimals at most, ``0`` for zero)."""
    return auto_scaled(value, "bytes")


def human_value(value: float, unit: str) -> str:
    if unit in ("bytes", "nanoseconds"):
        return auto_scaled(value, unit)
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.3g}"
