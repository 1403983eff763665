"""A self-contained HTML page for a ``leaksleuth/report@1`` document (works offline, one file, no scripts needed).

Every string from the report (function names, paths, summaries, errors) is HTML-escaped: they come from the
profiled program and from the network.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from leaksleuth.analysis.humanize import human_bytes
from leaksleuth.model.evidence import evidence_from_json
from leaksleuth.model.verdict import LEAKING_CONFIDENCE, SUSPECT_CONFIDENCE, verdict_of

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .3rem} .meta{color:#666;margin-bottom:1.5rem}
.target{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1rem 1.2rem;margin:0 0 1rem}
.target h2{font-size:1.05rem;margin:0 0 .4rem;font-family:ui-monospace,monospace}
.status{display:inline-block;padding:0 .5rem;border-radius:4px;font-size:.8rem;margin-left:.5rem}
.healthy-badge{background:#e3f4e4;color:#17651b}.leaking,.unreachable,.error{background:#fde2e1;color:#9b1c1c}
.likely-leak,.watch{background:#fff1d6;color:#8a5300}.too-early{background:#eee;color:#555}
.facts{color:#555;margin:.2rem 0 .6rem} table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.35rem .5rem;border-top:1px solid #eee;vertical-align:top}
.bar{height:.55rem;border-radius:3px;background:#ddd;width:6rem;display:inline-block;vertical-align:middle}
.fill{height:100%;border-radius:3px} .site{font-family:ui-monospace,monospace;font-size:.85rem;color:#444}
.advice{color:#333;font-style:italic} details{margin-top:.3rem} pre{white-space:pre-wrap;font-size:.8rem}
.healthy{color:#17651b}
"""


def _colour(confidence: float) -> str:
    if confidence >= LEAKING_CONFIDENCE:
        return "#c62828"
    return "#ef8f00" if confidence >= SUSPECT_CONFIDENCE else "#9e9e9e"


def _suspect_row(suspect: dict[str, Any]) -> str:
    confidence = float(suspect["confidence"])
    evidence = suspect.get("evidence", {})
    site = f"{suspect['file']}:{suspect['line']}" if suspect.get("file") else ""
    advice = evidence_from_json(evidence, category=str(suspect["category"])).advice
    return (
        "<tr>"
        f'<td><span class="bar"><span class="fill" style="display:block;width:{confidence * 100:.0f}%;'
        f'background:{_colour(confidence)}"></span></span> {confidence:.2f}</td>'
        f"<td>{escape(suspect['kind'])}<br>{escape(suspect['category'])}</td>"
        f"<td>{escape(suspect['function'])}<div class=site>{escape(site)}</div></td>"
        f"<td>{escape(suspect['summary'])}"
        + (f"<div class=advice>{escape(str(advice))}</div>" if advice else "")
        + f"<details><summary>evidence</summary><pre>{escape(json.dumps(evidence, indent=2))}</pre></details>"
        "</td></tr>"
    )


def _top_confidence(target: dict[str, Any]) -> float:
    """``TargetReport.top_confidence`` of a report@1 target, as JSON."""
    return max((float(s["confidence"]) for s in target.get("suspects", [])), default=0.0)


def _target(target: dict[str, Any]) -> str:
    status = target["status"]
    word = verdict_of(status, int(target.get("snapshots", 0)), _top_confidence(target))
    badge = "healthy-badge" if word == "healthy" else word.replace(" ", "-")
    facts = []
    if target.get("service"):
        facts.append(f"service {escape(str(target['service']))}")
    facts.append(f"{target['snapshots']} snapshots")
    if target.get("goroutines") is not None:
        facts.append(f"{target['goroutines']:,} goroutines")
    if target.get("heap_inuse_bytes") is not None:
        facts.append(f"heap in use {human_bytes(target['heap_inuse_bytes'])}")
    if target.get("rss_bytes") is not None:
        facts.append(f"RSS {human_bytes(target['rss_bytes'])}")
    body = ""
    if target.get("error"):
        body += f"<p>{escape(str(target['error']))}</p>"
    suspects = target.get("suspects", [])
    if suspects:
        body += "<table><tr><th>confidence</th><th>kind</th><th>where</th><th>why / what to do</th></tr>"
        body += "".join(_suspect_row(s) for s in suspects) + "</table>"
    elif status == "ok":
        body += '<p class="healthy">No leak suspects.</p>'
    return (
        f'<section class="target"><h2>{escape(target["target"])}'
        f'<span class="status {escape(badge)}">{escape(word)}</span></h2>'
        f'<div class="facts">{" · ".join(facts)}</div>{body}</section>'
    )


def render_report(document: dict[str, Any], *, title: str = "leaksleuth report") -> str:
    targets = document.get("targets", [])
    flagged = sum(1 for t in targets if _top_confidence(t) >= SUSPECT_CONFIDENCE)
    ordered = sorted(targets, key=lambda t: -_top_confidence(t))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><div class=meta>{escape(str(document.get('generated_at', '')))} · "
        f"{len(targets)} targets · {flagged} with a suspect ≥ {SUSPECT_CONFIDENCE} · "
        f"schema {escape(str(document.get('schema', '')))}"
        "</div>" + "".join(_target(t) for t in ordered) + "</body></html>"
    )
