"""A goroutine header's tail (``[chan send (leaked), 3 minutes, locked to thread] {labels}:``, after ``gp=… m=…``)
and the Goroutine built from it: the per-goroutine pieces of the debug=2 parser (``goroutine_text``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from leaksleuth.model.goroutines import Goroutine, Stack

STATE_SUFFIXES = (" (leaked)", " (scan)", " (durable)")


@dataclass(frozen=True, slots=True)
class HeaderTail:
    """Everything in a header after the goroutine id; shared by all goroutines with the same text."""

    state: str
    wait_minutes: int
    locked: bool
    leaked: bool
    scan: bool
    durable: bool
    bubble: int | None
    labels: tuple[tuple[str, str], ...]
    gp: str | None
    m: str | None


def make_goroutine(goroutine_id: int, tail: HeaderTail, stack: Stack, call_text: str, parent: int | None) -> Goroutine:
    # positional (in Goroutine's field order: id, state, stack, wait_minutes, locked_to_thread, leaked, scan, durable,
    # synctest_bubble, parent_id, call_text, labels, gp, m): once per goroutine, keywords cost a tenth of a parse
    return Goroutine(
        goroutine_id,
        tail.state,
        stack,
        tail.wait_minutes,
        tail.locked,
        tail.leaked,
        tail.scan,
        tail.durable,
        tail.bubble,
        parent,
        call_text,
        tail.labels,
        tail.gp,
        tail.m,
    )


def parse_header_tail(rest: str) -> HeaderTail | None:
    """``[chan send (leaked), 3 minutes, locked to thread]:`` (optionally after ``gp=… m=… mp=…``)."""
    gp = m = None
    if rest.startswith("gp="):
        bracket = rest.find(" [")
        if bracket < 0:
            return None
        for item in rest[:bracket].split(" "):
            name, _, value = item.partition("=")
            if name == "gp":
                gp = value
            elif name == "m":
                m = value
        rest = rest[bracket + 1 :]
    if not rest.startswith("[") or not rest.endswith(":"):
        return None
    close = rest.find("]")
    if close < 0:
        return None
    inner = rest[1:close]
    after = rest[close + 1 : -1]
    labels: tuple[tuple[str, str], ...] = ()
    if after:
        if not (after.startswith(" {") and after.endswith("}")):
            return None
        labels = parse_labels(after[2:-1])
    parts = inner.split(", ")
    state = parts[0]
    leaked = scan = durable = False
    stripped = True
    while stripped:
        stripped = False
        for suffix in STATE_SUFFIXES:
            if state.endswith(suffix):
                state = state[: -len(suffix)]
                leaked |= suffix == " (leaked)"
                scan |= suffix == " (scan)"
                durable |= suffix == " (durable)"
                stripped = True
    wait = 0
    locked = False
    bubble = None
    for part in parts[1:]:
        if part.endswith(" minutes") and part[:-8].isdecimal():
            wait = int(part[:-8])
        elif part == "locked to thread":
            locked = True
        elif part.startswith("synctest bubble ") and part[16:].isdecimal():
            bubble = int(part[16:])
        else:
            return None
    if not state:
        return None
    return HeaderTail(state, wait, locked, leaked, scan, durable, bubble, labels, gp, m)


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``k: v, "odd key": "v"`` as printed by the runtime (quoted only when needed)."""
    items: list[tuple[str, str]] = []
    for match in re.finditer(r'("(?:[^"\\]|\\.)*"|[^:,]+): ("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)', text):
        items.append((unquote(match.group(1)), unquote(match.group(2))))
    return tuple(items)


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return text
