"""Flame graph HTML: one self-contained file (inline CSS and JS, no network), fed by the ``FlameGraph`` view-model.

The tree travels as JSON inside ``<script type="application/json">``, with ``<``, ``>``, ``&`` and the JavaScript
line separators escaped, so no function name or path can end the script element; the page's script then puts names
on the page with ``textContent`` only.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from leaksleuth.analysis.heap.flame import FlameGraph, FlameNode

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def view_data(graph: FlameGraph, title: str) -> dict[str, Any]:
    """The JSON the page draws: names once, then nodes as ``[name, value, base, parent]`` (parents first)."""
    names: dict[str, int] = {}
    rows: list[list[int]] = []
    pending: list[tuple[FlameNode, int]] = [(graph.root, -1)]
    while pending:
        node, parent = pending.pop()
        position = len(rows)
        rows.append([names.setdefault(node.name, len(names)), node.value, node.base, parent])
        pending.extend((child, position) for child in reversed(node.children))
    return {
        "title": title,
        "sample_type": graph.sample_type,
        "unit": graph.unit,
        "diff": graph.is_diff,
        "granularity": str(graph.granularity),
        "names": list(names),
        "nodes": rows,
    }


def script_json(data: object) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _JSON_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text


def render_html(graph: FlameGraph, *, title: str) -> str:
    assets = resources.files("leaksleuth.report")
    css = assets.joinpath("flame.css").read_text(encoding="utf-8")
    script = assets.joinpath("flame.js").read_text(encoding="utf-8")
    legend = (
        '<div id="legend">width: now + before<span style="background:hsl(0,80%,60%)"></span>grew'
        '<span style="background:hsl(215,80%,60%)"></span>shrank<span style="background:hsl(0,0%,85%)"></span>'
        "unchanged</div>"
        if graph.is_diff
        else ""
    )
    what = f"{graph.sample_type} ({graph.unit}), {graph.granularity}" + (", diff" if graph.is_diff else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>{html.escape(title)} <small>{html.escape(what)}</small></h1>
<div class="controls">
<input id="search" type="search" placeholder="search functions (regular expression)" autocomplete="off">
<button id="reset" type="button">reset zoom</button>
<span id="match-info"></span><span id="zoom-info"></span>
</div>
<div id="details"></div>
{legend}
</header>
<div id="chart"></div>
<script type="application/json" id="flame-data">{script_json(view_data(graph, title))}</script>
<script>
{script}</script>
</body>
</html>
"""
