"""PromQL pieces shared by ``fleet`` (which queries Prometheus) and ``rules`` (which only writes YAML).

Dependency-free on purpose: ``leaksleuth rules`` imports this and should not pull in httpx or numpy.

Selectors are parsed, not pattern-matched: a regex value may hold braces and commas (``pod=~"api-[0-9]{3}"``),
and a bad selector must fail here, quoting the input, rather than in Prometheus after the rules are loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leaksleuth.errors import ConfigError

DEFAULT_CONTAINER_SELECTOR = '{container!="",container!="POD"}'
# series name -> cAdvisor metric (the kubelet's /metrics/cadvisor)
CONTAINER_METRICS = {
    "container_working_set_bytes": "container_memory_working_set_bytes",  # what the OOM killer compares
    "container_limit_bytes": "container_spec_memory_limit_bytes",  # 0 = no limit
}
# series name -> cAdvisor's CPU metrics: the quota GOMAXPROCS is compared with, and how often it throttled
CONTAINER_CPU_METRICS = {
    "container_cpu_quota": "container_spec_cpu_quota",  # microseconds per period; absent without a limit
    "container_cpu_period": "container_spec_cpu_period",
    "container_cpu_throttled_periods": "container_cpu_cfs_throttled_periods_total",
    "container_cpu_periods": "container_cpu_cfs_periods_total",
}
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # Prometheus' classic label names (the data model)
_OPERATORS = ("=~", "!~", "!=", "=")  # longest first: "!=" must not read as "!" then "="
_QUOTES = "\"'`"
# PromQL's lexer (promql/parser/lex.go lexEscape): the single-character escapes, then \ooo \xhh \uhhhh \Uhhhhhhhh
_SIMPLE_ESCAPES = frozenset("abfnrtv\\")
_NUMERIC_ESCAPES = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}
_DIGITS = {8: frozenset("01234567"), 16: frozenset("0123456789abcdefABCDEF")}
MATCHER_HINT = 'matchers look like name="value", name!="value", name=~"regex" or name!~"regex", comma-separated'
METRIC_HINT = "the metric names are leaksleuth's; give only the {…} part"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; ``value`` is the quoted string exactly as written (quotes and escapes kept)."""

    name: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


class _SelectorSyntaxError(Exception):
    def __init__(self, message: str, position: int, *, hint: str = MATCHER_HINT) -> None:
        super().__init__(message)
        self.position, self.hint = position, hint


def is_label_name(name: str) -> bool:
    return LABEL_NAME.fullmatch(name) is not None


def normalize_selector(text: str, *, option: str = "--selector") -> str:
    """``job="api"`` or ``{job="api"}`` -> ``{job="api"}``; empty -> ``{}``. Whitespace and a trailing comma are
    dropped. (A query that adds matchers of its own joins them to ``parse_selector``'s with ``selector_of``.)"""
    return selector_of(*parse_selector(text, option=option))


def selector_of(*matchers: Matcher) -> str:
    """``{…}`` of matchers: the user's (from ``parse_selector``) and leaksleuth's own."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def parse_selector(text: str, *, option: str = "--selector") -> list[Matcher]:
    """The matchers of ``{…}`` (the braces are optional). ConfigError quoting the input and the column on error."""
    spec = text.strip()
    wrapped = not spec.startswith("{")
    if wrapped:
        spec = "{" + spec + "}"
    # where spec[i] was in the user's text: the stripped blanks before it, minus the brace we added
    shift = len(text) - len(text.lstrip()) - (1 if wrapped else 0)
    try:
        if not spec.endswith("}") or len(spec) < 2:
            raise _SelectorSyntaxError("no closing '}'", len(spec))
        matchers = _matchers(spec, 1, len(spec) - 1)
    except _SelectorSyntaxError as exc:
        column = min(max(exc.position + shift, 0), max(len(text) - 1, 0)) + 1
        raise ConfigError(
            f"{option} must be label matchers like '{{job=\"api\"}}', got {text!r}: {exc} at column {column}",
            hint=exc.hint,
        ) from None
    return matchers


def _matchers(spec: str, start: int, end: int) -> list[Matcher]:
    """States: NAME (a label name, or the end) -> OP -> STRING -> SEP (',' back to NAME, or the end)."""
    matchers: list[Matcher] = []
    pos = _skip_blanks(spec, start, end)
    while pos < end:
        name_match = LABEL_NAME.match(spec, pos, end)
        if name_match is None:
            raise _SelectorSyntaxError(
                f"expected a label name, found {_found(spec, pos, end)}", pos, hint=_hint(spec[pos:end])
            )
        name = name_match.group()
        if name == "__name__":
            raise _SelectorSyntaxError("__name__ is set by leaksleuth", pos, hint=METRIC_HINT)
        pos = _skip_blanks(spec, name_match.end(), end)
        op = next((candidate for candidate in _OPERATORS if spec.startswith(candidate, pos, end)), None)
        if op is None:
            raise _SelectorSyntaxError(
                f"expected =, !=, =~ or !~ after {name!r}, found {_found(spec, pos, end)}",
                pos,
                hint=_hint(spec[pos:end]),
            )
        pos = _skip_blanks(spec, pos + len(op), end)
        value_end = _string_end(spec, pos, end)
        matchers.append(Matcher(name, op, spec[pos:value_end]))
        pos = _skip_blanks(spec, value_end, end)
        if pos < end:
            if spec[pos] != ",":
                raise _SelectorSyntaxError(f"expected ',' between matchers, found {_found(spec, pos, end)}", pos)
            pos = _skip_blanks(spec, pos + 1, end)  # a trailing comma is valid PromQL
            if pos < end and spec[pos] == ",":
                raise _SelectorSyntaxError("empty matcher between commas", pos)
    return matchers


def _hint(rest: str) -> str:
    return METRIC_HINT if "{" in rest else MATCHER_HINT


def _found(spec: str, pos: int, end: int) -> str:
    rest = spec[pos:end]
    return repr(rest[:20]) + ("…" if len(rest) > 20 else "") if rest else "the end"


def _skip_blanks(spec: str, pos: int, end: int) -> int:
    while pos < end and spec[pos] in " \t\r\n":
        pos += 1
    return pos


def _string_end(spec: str, pos: int, end: int) -> int:
    """Index just past the quoted string starting at ``pos``: "…" and '…' with PromQL's escapes, or raw `…`."""
    if pos >= end or spec[pos] not in _QUOTES:
        raise _SelectorSyntaxError(
            f"expected a quoted value, found {_found(spec, pos, end)}",
            pos,
            hint="quote values: job=\"api\" (or 'api' or `api`)",
        )
    quote = spec[pos]
    index = pos + 1
    while index < end:
        char = spec[index]
        if char == quote:
            return index + 1
        if quote == "`":
            index += 1
            continue
        if char == "\n":
            break
        if char == "\\":
            index = _escape_end(spec, index, end, quote)
            continue
        index += 1
    raise _SelectorSyntaxError(f"unterminated {quote}-quoted string", pos)


def _escape_end(spec: str, backslash: int, end: int, quote: str) -> int:
    if backslash + 1 >= end:
        raise _SelectorSyntaxError("escape sequence at the end", backslash)
    kind = spec[backslash + 1]
    if kind in _SIMPLE_ESCAPES or kind == quote:
        return backslash + 2
    if kind in "01234567":
        digits, base, first = 3, 8, backslash + 1
    elif kind in _NUMERIC_ESCAPES:
        (digits, base), first = _NUMERIC_ESCAPES[kind], backslash + 2
    else:
        raise _SelectorSyntaxError(
            f"unknown escape sequence '\\{kind}'",
            backslash,
            hint=f"a regex \\{kind} needs its backslash doubled in quotes (\\\\{kind}), or use backticks: `…`",
        )
    text = spec[first : first + digits]
    valid = len(text) == digits and all(char in _DIGITS[base] for char in text)
    code = int(text, base) if valid else -1
    if code < 0 or code > (255 if base == 8 or kind == "x" else 0x10FFFF) or 0xD800 <= code <= 0xDFFF:
        raise _SelectorSyntaxError(f"invalid escape sequence '{spec[backslash : first + digits]}'", backslash)
    return first + digits
