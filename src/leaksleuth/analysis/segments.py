"""Restart segments of a series: plain Python, so a one-dump command that asks for them never imports numpy."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["last_segment", "segment_bounds"]


def last_segment(times: Sequence[float], restarts: Sequence[bool]) -> int:
    """Index where the newest segment starts: the series restarts where ``restarts[i]`` is true."""
    start = 0
    for index, restarted in enumerate(restarts):
        if restarted and index > 0 and index < len(times):
            start = index
    return start


def segment_bounds(restarts: Sequence[bool]) -> list[tuple[int, int]]:
    """Every segment as ``(start, stop)`` index ranges: a new one begins wherever ``restarts[i]`` is true.

    ``last_segment`` is the start of the last of these; trends are fitted per segment because a restarted
    process begins again from nothing, and a fit across the restart would see a drop (or a fake rise).
    """
    starts = [0] + [index for index, restarted in enumerate(restarts) if restarted and index > 0]
    stops = [*starts[1:], len(restarts)]
    return [(start, stop) for start, stop in zip(starts, stops, strict=True) if stop > start]
