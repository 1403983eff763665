"""Durations as people and Prometheus write them: ``250ms``, ``10s``, ``1h30m``, ``7d``, ``2w``; a plain number is
seconds. One parser for every command, so ``--interval``, ``--window`` and rule durations read the same."""

from __future__ import annotations

import math
import re

from leaksleuth.errors import ConfigError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_duration(text: str) -> float:
    """A Prometheus duration (``90s``, ``1h30m``, ``7d``, ``2w``; a plain number is seconds) -> seconds."""
    spec = text.strip()
    try:
        seconds = float(spec)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):  # float() takes "nan" and "inf": a sleep of either crashes or never ends
            raise ConfigError(f"invalid duration {text!r}", hint="use Prometheus durations, e.g. 90s, 30m, 6h, 7d")
        return seconds
    parts = _DURATION_PART.findall(spec)
    if not spec or "".join(number + unit for number, unit in parts) != spec:
        raise ConfigError(f"invalid duration {text!r}", hint="use Prometheus durations, e.g. 90s, 30m, 6h, 7d, 1h30m")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest exact Prometheus duration (``5400`` -> ``1h30m``), for PromQL range selectors."""
    if seconds <= 0:
        raise ConfigError(f"duration must be positive, got {seconds}s")
    milliseconds = round(seconds * 1000)
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    remaining = milliseconds // 1000
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):  # no weeks: "7d" reads better than "1w"
        count, remaining = divmod(remaining, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
