"""Numbers in suspect summaries, the way people read them: ``12.5MiB``, ``1,400``, ``3m20s``, ``+1.2MiB/s``.

Summaries are built in ``analysis`` (they are part of the report@1 contract), which cannot import the renderers.
"""

from __future__ import annotations

# series names as people say them
SERIES_WORDS = {
    "goroutines": "goroutines",
    "heap_inuse": "heap in use",
    "heap_alloc": "heap allocated",
    "next_gc": "heap goal",
    "rss_bytes": "RSS",
    "container_working_set_bytes": "working set",
}


def series_words(name: str) -> str:
    return SERIES_WORDS.get(name, name.replace("_", " "))


def human_bytes(value: float, *, signed: bool = False) -> str:
    sign = "-" if value < 0 else ("+" if signed else "")
    size = abs(float(value))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{sign}{size:.0f}{unit}" if unit == "B" else f"{sign}{size:.3g}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_count(value: float) -> str:
    return f"{round(value):,}"


def human_duration(seconds: float) -> str:
    """``45s``, ``3m20s``, ``2h5m``, ``3d4h``: two units at most, like Prometheus durations."""
    total = round(max(0.0, seconds))
    if total < 60:
        return f"{total}s"
    parts: list[tuple[int, str]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count or parts:
            parts.append((count, unit))
    shown = [f"{count}{unit}" for count, unit in parts[:2] if count]
    return "".join(shown)


def human_rate(per_second: float, *, bytes_: bool = False) -> str:
    """A slope in the unit that gives a readable number: per second, minute, hour or day (bytes: at least 1 MiB)."""
    for unit, size in (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0)):
        amount = per_second * size
        if abs(amount) >= (1 << 20 if bytes_ else 1) or unit == "d":
            shown = human_bytes(amount, signed=True) if bytes_ else f"{amount:+,.3g}"
            return f"{shown}/{unit}"
    raise AssertionError("unreachable")
