"""Which requests leak: pprof labels on a bucket's goroutines (``pprof.Do`` / ``SetGoroutineLabels``), grouped.

Labels come from the goroutine proto's sample labels, debug=1's ``# labels: {…}`` lines and debug=2 headers under
``GODEBUG=tracebacklabels=1``. They are hostile text and unbounded in number (a trace id per request), so a bucket
keeps at most ``MAX_LABEL_SETS`` distinct sets (the rest counted together) and every key and value is cut to
``MAX_LABEL_TEXT`` characters. The suspect's evidence gets the counts per label value (``by_label``: which route,
tenant, … holds the goroutines), the commonest sets, and a sample of trace ids.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

LabelSet = tuple[tuple[str, str], ...]
MAX_LABEL_SETS = 64
MAX_LABEL_TEXT = 200
OTHER: LabelSet = (("…", "other label sets"),)
TRACE_KEYS = ("trace_id", "traceid", "trace-id", "trace", "traceID", "x-trace-id")
_SHOWN_VALUES = 5
_SHOWN_SETS = 10
_TRACE_SAMPLE = 5


def add_labels(labels: Counter[LabelSet], found: LabelSet, count: int = 1) -> None:
    """Count one goroutine's (or one record's) label set into a bucket's, bounded."""
    if not found:
        return
    key = tuple(sorted((k[:MAX_LABEL_TEXT], v[:MAX_LABEL_TEXT]) for k, v in found))
    if key in labels or len(labels) < MAX_LABEL_SETS:
        labels[key] += count
    else:
        labels[OTHER] += count


def label_evidence(labels: Counter[LabelSet]) -> dict[str, Any]:
    """``by_label`` ({key: {value: count}}, commonest values first), ``label_sets`` and ``trace_ids`` (a sample);
    empty when the goroutines carry no labels."""
    if not labels:
        return {}
    by_key: dict[str, Counter[str]] = {}
    for label_set, count in labels.items():
        if label_set == OTHER:
            continue
        for key, value in label_set:
            by_key.setdefault(key, Counter())[value] += count
    trace_keys = [k for k in by_key if k in TRACE_KEYS]
    traces = [value for k in trace_keys for value, _ in by_key[k].most_common(_TRACE_SAMPLE)][:_TRACE_SAMPLE]
    return {
        "labelled": sum(c for s, c in labels.items() if s != OTHER) + labels.get(OTHER, 0),
        "by_label": {
            key: dict(values.most_common(_SHOWN_VALUES))
            for key, values in sorted(by_key.items())
            if key not in trace_keys
        },
        "label_sets": [
            {"labels": dict(label_set), "count": count} for label_set, count in labels.most_common(_SHOWN_SETS)
        ],
        "trace_ids": traces,
        "distinct_trace_ids": sum(len(by_key[k]) for k in trace_keys),
    }


def label_phrase(evidence: dict[str, Any], total: int) -> str | None:
    """``"mostly route=/export (40 of 42)"``: the label value that holds the most goroutines, if it holds most."""
    best: tuple[int, str, str] | None = None
    for key, values in evidence.get("by_label", {}).items():
        for value, count in values.items():
            if best is None or count > best[0]:
                best = (count, key, value)
    if best is None or total <= 0 or best[0] * 2 < total:
        return None
    count, key, value = best
    return f"{'all' if count >= total else 'mostly'} {key}={value} ({count} of {total})"
