"""`go tool pprof -raw` as the oracle: run it and read its text back into comparable samples."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from leaksleuth.model.profile import Profile

# one frame as both sides can name it: function, file, line (address when there are no symbols)
FrameKey = tuple[str, str, int] | int
SampleKey = tuple[tuple[int, ...], tuple[FrameKey, ...], tuple[str, ...]]

_LOCATION = re.compile(r"^\s*(\d+): (0x[0-9a-f]+) (?:M=\d+ )?(?:\[F\] )?(.*)$")
_LINE = re.compile(r"^(.*):(\d+):(\d+) s=(\d+)(?:\(.*\))?$")


def pprof_raw(go: str, path: Path | str) -> str:
    result = subprocess.run(
        [go, "tool", "pprof", "-raw", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"go tool pprof -raw {path} failed: {result.stderr}")
    return result.stdout


def parse_raw(text: str) -> Counter[SampleKey]:
    """Samples of `pprof -raw` output as a multiset of (values, resolved stack, labels)."""
    lines = text.split("\n")
    samples_at = lines.index("Samples:")
    locations_at = lines.index("Locations")
    mappings_at = lines.index("Mappings")
    locations: dict[int, list[FrameKey]] = {}
    current: list[FrameKey] = []
    for line in lines[locations_at + 1 : mappings_at]:
        match = _LOCATION.match(line)
        if match:
            current = locations.setdefault(int(match.group(1)), [])
            rest = match.group(3).strip()
            if rest:
                current.append(_frame(rest))
            else:
                current.append(int(match.group(2), 16))
        elif line.strip():
            current.append(_frame(line.strip()))
    out: Counter[SampleKey] = Counter()
    rows = lines[samples_at + 2 : locations_at]
    i = 0
    while i < len(rows):
        row = rows[i]
        values_text, _, stack_text = row.partition(":")
        values = tuple(int(v) for v in values_text.split())
        stack = tuple(frame for loc in stack_text.split() for frame in locations[int(loc)])
        labels: list[str] = []
        i += 1
        while i < len(rows) and rows[i].startswith("                ") and rows[i].strip():
            labels.extend(_labels(rows[i].strip()))
            i += 1
        out[(values, stack, tuple(sorted(labels)))] += 1
    return out


def _frame(text: str) -> FrameKey:
    match = _LINE.match(text)
    if not match:
        raise AssertionError(f"unexpected pprof -raw location line: {text!r}")
    name, _, file = match.group(1).rpartition(" ")
    return (name, file, int(match.group(2)))


def _labels(text: str) -> list[str]:
    # "bytes:[1048576]" or "key:[v1 v2]" possibly several separated by spaces
    return [f"{key}={value}" for key, values in re.findall(r"(\S+?):\[([^\]]*)\]", text) for value in values.split()]


def ours(profile: Profile) -> Counter[SampleKey]:
    out: Counter[SampleKey] = Counter()
    for sample in profile:
        stack: list[FrameKey] = []
        for location in sample.locations:
            if location.lines:
                stack.extend((line.function.name, line.function.filename, line.line) for line in location.lines)
            else:
                stack.append(location.address)
        labels = [
            f"{label.key}={label.str}" if label.str is not None else f"{label.key}={label.num}"
            for label in sample.labels
        ]
        out[(sample.values, tuple(stack), tuple(sorted(labels)))] += 1
    return out
