"""pprof labels on goroutines: the same label sets from the proto, debug=1 and debug=2 (tracebacklabels) captures of
one real process, bounded against hostile input, and grouped into the evidence that says which requests leak."""

from __future__ import annotations

from collections import Counter

import pytest

from leaksleuth.analysis.goroutines.buckets import GoroutineSnapshot
from leaksleuth.analysis.goroutines.labels import (
    MAX_LABEL_SETS,
    MAX_LABEL_TEXT,
    OTHER,
    LabelSet,
    add_labels,
    label_evidence,
    label_phrase,
)
from leaksleuth.analysis.goroutines.snapshots import snapshot_from_dump, snapshot_from_profile
from leaksleuth.formats import parse
from tests.conftest import CAPTURES

SENDER: LabelSet = (("peer", "10.0.0.7:443"), ("role", "sender"))


def _snapshot(name: str) -> GoroutineSnapshot:
    parsed = parse((CAPTURES / name).read_bytes())
    return snapshot_from_dump(parsed.dump) if parsed.dump is not None else snapshot_from_profile(parsed.profile)


@pytest.mark.parametrize(
    "name", ["parked.goroutine.pb.gz", "parked.goroutine.debug1.txt", "parked.goroutine.labels.debug2.txt"]
)
def test_every_format_carries_the_same_labels(name: str) -> None:
    labelled = [b for b in _snapshot(name).buckets.values() if b.labels]
    assert [(b.frames[0].function, b.count, dict(b.labels)) for b in labelled] == [
        ("main.sender.func1", 3, {SENDER: 3})
    ]
    evidence = label_evidence(labelled[0].labels)
    assert evidence["by_label"] == {"peer": {"10.0.0.7:443": 3}, "role": {"sender": 3}}
    assert label_phrase(evidence, 3) == "all peer=10.0.0.7:443 (3 of 3)"


def test_a_dump_without_tracebacklabels_has_none() -> None:
    assert not any(b.labels for b in _snapshot("parked.goroutine.debug2.txt").buckets.values())
    assert label_evidence(Counter()) == {}


def test_label_sets_are_bounded_and_cut() -> None:
    labels: Counter[LabelSet] = Counter()
    for request in range(1000):
        add_labels(labels, (("route", "/export"), ("trace_id", f"{request:032x}"), ("x" * 5000, "\x1b[2J" * 900)))
    assert len(labels) == MAX_LABEL_SETS + 1 and labels[OTHER] == 1000 - MAX_LABEL_SETS
    assert all(len(k) <= MAX_LABEL_TEXT and len(v) <= MAX_LABEL_TEXT for s in labels for k, v in s)
    evidence = label_evidence(labels)
    assert evidence["labelled"] == 1000
    assert evidence["by_label"]["route"] == {"/export": MAX_LABEL_SETS}  # trace ids are sampled, not grouped
    assert len(evidence["trace_ids"]) == 5 and evidence["distinct_trace_ids"] == MAX_LABEL_SETS
    assert len(evidence["label_sets"]) == 10


def test_the_phrase_names_a_value_only_when_it_holds_most() -> None:
    labels: Counter[LabelSet] = Counter({(("route", "/a"),): 40, (("route", "/b"),): 2})
    assert label_phrase(label_evidence(labels), 42) == "mostly route=/a (40 of 42)"
    even: Counter[LabelSet] = Counter({(("route", "/a"),): 20, (("route", "/b"),): 22, (("route", "/c"),): 20})
    assert label_phrase(label_evidence(even), 62) is None
