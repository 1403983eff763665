"""Profile algebra against pprof: the merged profile of a diff is sample for sample what `pprof -raw` prints."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ConfigError
from leaksleuth.formats.pprof import parse_pprof
from leaksleuth.formats.pprof_write import write_pprof
from leaksleuth.model import profile_ops
from leaksleuth.model.columns import take_samples
from leaksleuth.model.profile import Label, Profile, SampleTable, ValueType
from tests.conftest import CAPTURES
from tests.support.pprof_oracle import parse_raw, pprof_raw

BASE = CAPTURES / "heapkinds.heap.pb.gz"
GROWN = CAPTURES / "heapkinds.heap.grown.pb.gz"


def load(path: Path) -> Profile:
    return parse_pprof(path.read_bytes())


@pytest.mark.parametrize("subtract", [False, True], ids=["diff_base", "base"])
@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalize"])
def test_diff_is_pprofs_merged_profile(go: str, tmp_path: Path, subtract: bool, normalize: bool) -> None:
    difference = profile_ops.diff(load(GROWN), load(BASE), subtract=subtract, normalize_first=normalize)
    written = tmp_path / "diff.pb.gz"
    written.write_bytes(write_pprof(difference))
    command = [go, "tool", "pprof", "-raw", "-base" if subtract else "-diff_base", str(BASE)]
    command += ["-normalize"] if normalize else []
    theirs = parse_raw(subprocess.run([*command, str(GROWN)], capture_output=True, text=True, check=True).stdout)
    assert parse_raw(pprof_raw(go, written)) == theirs
    assert sum(theirs.values()) > 100
    labelled = sum(count for (_, _, labels), count in theirs.items() if "pprof::base=true" in labels)
    assert (labelled == 0) == subtract


def test_diff_of_a_profile_with_itself_cancels_under_base_semantics() -> None:
    profile = load(BASE)
    assert len(profile_ops.diff(profile, profile, subtract=True).samples) == 0
    doubled = profile_ops.merge([profile, profile])
    assert len(doubled.samples) == len(profile_ops.merge([profile]).samples)
    assert doubled.totals() == [2 * total for total in profile.totals()]


def test_incompatible_profiles_are_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="not comparable"):
        profile_ops.diff(load(BASE), load(CAPTURES / "parked.goroutine.pb.gz"))


def test_normalize_scales_to_the_base_totals() -> None:
    scaled = profile_ops.normalize(load(GROWN), load(BASE))
    for mine, theirs in zip(scaled.totals(), load(BASE).totals(), strict=True):
        assert abs(mine - theirs) <= len(scaled.samples)  # per-sample rounding only


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=30), st.floats(-8, 8, allow_nan=False))
def test_scale_rounds_half_away_from_zero_like_go(values: list[int], ratio: float) -> None:
    profile = _synthetic([([1], [value]) for value in values])
    scaled = profile_ops.scale(profile, ratio)
    expected = [int(np.sign(v * ratio) * np.floor(abs(v * ratio) + 0.5)) for v in values]
    if ratio == 1.0:
        assert scaled.samples.values[:, 0].tolist() == values
    else:
        assert scaled.samples.values[:, 0].tolist() == [e for e in expected if e != 0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.integers(0, 4), min_size=0, max_size=6), st.integers(-50, 50), st.booleans()),
        max_size=40,
    )
)
def test_merge_sums_identical_stacks_and_labels(rows: list[tuple[list[int], int, bool]]) -> None:
    profile = _synthetic([(stack, [value]) for stack, value, _ in rows], labels=[flag for _, _, flag in rows])
    merged = profile_ops.merge([profile])
    expected: Counter[tuple[tuple[int, ...], bool]] = Counter()
    for stack, value, flag in rows:
        expected[(tuple(stack), flag)] += value
    got = [
        ((tuple(loc.id - 1 for loc in sample.locations), bool(sample.labels)), sample.values[0]) for sample in merged
    ]
    assert len({key for key, _ in got}) == len(got)  # one sample per stack and label set
    assert dict(got) == {key: value for key, value in expected.items() if value}


def test_take_samples_keeps_stacks_and_labels() -> None:
    profile = load(BASE)
    keep = np.arange(len(profile.samples)) % 3 == 0
    subset = take_samples(profile.samples, keep)
    every = list(profile)
    chosen = [sample for sample, kept in zip(every, keep.tolist(), strict=True) if kept]
    rebuilt = Profile(profile.sample_types, subset, profile.locations, profile.functions, profile.mappings)
    assert list(rebuilt) == chosen and len(chosen) > 10


def _synthetic(rows: list[tuple[list[int], list[int]]], labels: list[bool] | None = None) -> Profile:
    """A one-sample-type profile over five fake locations, from (location indices, values) rows."""
    from leaksleuth.model.profile import Function, Line, Location

    functions = [Function(i + 1, f"pkg.f{i}", filename="/src/pkg/f.go") for i in range(5)]
    locations = [Location(i + 1, None, 0x1000 + i, (Line(functions[i], 10 + i),)) for i in range(5)]
    marked = (Label("shard", str="a"),)
    table = SampleTable.from_rows(
        1, ((stack, values, marked if labels and labels[i] else ()) for i, (stack, values) in enumerate(rows))
    )
    return Profile([ValueType("space", "bytes")], table, locations, functions, [])
