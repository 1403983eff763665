"""`go tool pprof -top` as the oracle for flat/cum: run it and read its table back as exact integers."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# pprof prints values in the unit asked for with -unit; asking for the base unit keeps them exact integers
_EXACT_UNIT = {"bytes": "B", "nanoseconds": "ns"}
_ROW = re.compile(
    r"^\s*(?P<flat>-?[\d.]+)(?:B|ns)?\s+(?P<flat_pct>\S+%)\s+(?P<sum_pct>\S+%)\s+(?P<cum>-?[\d.]+)(?:B|ns)?\s+"
    r"(?P<cum_pct>\S+%)  (?P<name>.*?)(?: \((?P<inline>(?:partial-)?inline)\))?$"
)
_SHOWING = re.compile(r"^Showing nodes accounting for (-?[\d.]+)(?:B|ns)?, (\S+)% of (-?[\d.]+)(?:B|ns)? total$")
_DROPPED = re.compile(r"^Dropped (\d+) nodes? \(cum <= ")
_OUT_OF = re.compile(r"^Showing top (\d+) nodes out of (\d+)$")


@dataclass
class PprofRow:
    name: str
    flat: int
    flat_pct: str
    cum: int
    cum_pct: str
    inline: str


@dataclass
class PprofTop:
    shown: int
    total: int
    dropped: int
    out_of: int | None
    rows: list[PprofRow]


def pprof_top(go: str, path: Path | str, unit: str, *flags: str) -> PprofTop:
    exact = ["-unit=" + _EXACT_UNIT[unit]] if unit in _EXACT_UNIT else []
    command = [go, "tool", "pprof", "-top", *exact, *flags, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr}")
    return parse_top(result.stdout)


def parse_top(text: str) -> PprofTop:
    shown = total = dropped = 0
    out_of: int | None = None
    rows: list[PprofRow] = []
    in_table = False
    for line in text.splitlines():
        if in_table:
            match = _ROW.match(line)
            if not match:
                raise AssertionError(f"unexpected pprof -top row: {line!r}")
            rows.append(
                PprofRow(
                    match["name"],
                    _integer(match["flat"]),
                    match["flat_pct"],
                    _integer(match["cum"]),
                    match["cum_pct"],
                    match["inline"] or "",
                )
            )
        elif match := _SHOWING.match(line):
            shown, total = _integer(match[1]), _integer(match[3])
        elif match := _DROPPED.match(line):
            dropped = int(match[1])
        elif match := _OUT_OF.match(line):
            out_of = int(match[2])
        elif line.split() == ["flat", "flat%", "sum%", "cum", "cum%"]:
            in_table = True
    return PprofTop(shown, total, dropped, out_of, rows)


def _integer(text: str) -> int:
    value = float(text)
    if value != int(value):
        raise AssertionError(f"pprof printed a non-integer {text!r}: pass the base unit")
    return int(value)
