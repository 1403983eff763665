"""Jinja2 for the dashboard: autoescape on for every template, and the few filters the pages use.

Every string from a target (URLs, function names, file paths, error bodies, alert labels) reaches HTML through
autoescape; the only markup built here is the sparkline SVG, from numbers alone.
"""

from __future__ import annotations

import functools
import math
import posixpath
import time
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from leaksleuth.analysis.humanize import human_bytes, human_count
from leaksleuth.model.verdict import Verdict

SPARK_WIDTH, SPARK_HEIGHT = 90, 22


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leaksleuth.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,  # a typo in a template is an error in the tests, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        clock=clock,
        bytes=lambda value: human_bytes(float(value)) if value is not None else "",
        signed_bytes=lambda value: human_bytes(float(value), signed=True),
        count=lambda value: human_count(float(value)),
        slug=lambda word: str(word).replace(" ", "-"),
        basename=lambda path: posixpath.basename(str(path)) or str(path),
        sparkline=sparkline,
        verdict=lambda confidence: str(Verdict.from_confidence(float(confidence))),
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def clock(moment: float | None) -> str:
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(moment))


def sparkline(values: Sequence[float]) -> Markup:
    """An inline SVG polyline of ``values`` (numbers only: nothing from a target goes into the markup)."""
    points = [float(v) for v in values if math.isfinite(v)]
    if len(points) < 2:
        return Markup("")
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / (len(points) - 1)
    coordinates = " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 1 - (v - low) / span * (SPARK_HEIGHT - 2):.1f}" for i, v in enumerate(points)
    )
    return Markup(
        f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}">'
        f'<polyline points="{coordinates}"/></svg>'
    )
