"""The pprof profile model: everything profile.proto can say, with samples stored column-wise.

A 200k-sample heap profile is 200k stacks of ~20 frames: materialising a Python object per sample and per frame
costs seconds, so samples live in numpy arrays (values, a flat array of location indices with offsets, and an
interned label-set id per sample). ``Sample`` objects are built on demand for code that wants them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from leaksleuth.errors import ParseError

Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class ValueType:
    type: str
    unit: str

    def __str__(self) -> str:
        return f"{self.type}/{self.unit}"


@dataclass(frozen=True, slots=True)
class Function:
    id: int
    name: str
    system_name: str = ""
    filename: str = ""
    start_line: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    function: Function
    line: int
    column: int = 0


@dataclass(frozen=True, slots=True)
class Mapping:
    id: int
    memory_start: int = 0
    memory_limit: int = 0
    file_offset: int = 0
    filename: str = ""
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    """One program counter. ``lines`` lists inlined calls first; the last line is the physical caller."""

    id: int
    mapping: Mapping | None = None
    address: int = 0
    lines: tuple[Line, ...] = ()
    is_folded: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    """A sample label: either a string value (``str``) or a number with an optional unit."""

    key: builtins.str
    str: builtins.str | None = None  # named like profile.proto's field
    num: int | None = None
    num_unit: builtins.str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """A materialised sample: leaf location first, as in profile.proto."""

    locations: tuple[Location, ...]
    values: tuple[int, ...]
    labels: tuple[Label, ...] = ()

    def label_values(self, key: str) -> list[builtins.str]:
        return [label.str for label in self.labels if label.key == key and label.str is not None]

    def num_label_values(self, key: str) -> list[int]:
        return [label.num for label in self.labels if label.key == key and label.num is not None]


EMPTY_LABELS: tuple[Label, ...] = ()


class SampleTable:
    """Samples column-wise.

    ``values[i, j]`` is sample i's value for sample type j; the stack of sample i is
    ``locations[loc_index[loc_offsets[i]:loc_offsets[i + 1]]]`` (leaf first), and its labels are
    ``label_sets[label_set[i]]`` (``label_sets[0]`` is always the empty set).
    """

    __slots__ = ("label_set", "label_sets", "loc_index", "loc_offsets", "values")

    def __init__(
        self,
        values: Int64Array,
        loc_offsets: Int64Array,
        loc_index: Int32Array,
        label_set: Int32Array,
        label_sets: list[tuple[Label, ...]],
    ) -> None:
        self.values = values
        self.loc_offsets = loc_offsets
        self.loc_index = loc_index
        self.label_set = label_set
        self.label_sets = label_sets

    @classmethod
    def empty(cls, num_types: int) -> SampleTable:
        return cls(
            np.zeros((0, num_types), dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            [EMPTY_LABELS],
        )

    @classmethod
    def from_rows(
        cls,
        num_types: int,
        rows: Iterable[tuple[Sequence[int], Sequence[int], tuple[Label, ...]]],
    ) -> SampleTable:
        """Build from (location indices, values, labels) rows; labels sets are interned."""
        offsets = [0]
        flat: list[int] = []
        values: list[Sequence[int]] = []
        set_ids: list[int] = []
        interned: dict[tuple[Label, ...], int] = {EMPTY_LABELS: 0}
        for loc_indices, row_values, labels in rows:
            flat.extend(loc_indices)
            offsets.append(len(flat))
            values.append(row_values)
            set_ids.append(interned.setdefault(labels, len(interned)))
        try:
            value_array = np.array(values, dtype=np.int64).reshape(len(values), num_types)
        except OverflowError:
            raise _beyond_int64(values) from None
        return cls(
            value_array,
            np.array(offsets, dtype=np.int64),
            np.array(flat, dtype=np.int32),
            np.array(set_ids, dtype=np.int32),
            list(interned),
        )

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def stack_indices(self, i: int) -> Int32Array:
        return self.loc_index[self.loc_offsets[i] : self.loc_offsets[i + 1]]

    def depths(self) -> Int64Array:
        return np.diff(self.loc_offsets)


@dataclass
class Profile:
    """A pprof profile (profile.proto) with samples column-wise; see ``SampleTable``."""

    sample_types: list[ValueType]
    samples: SampleTable
    locations: list[Location] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    mappings: list[Mapping] = field(default_factory=list)
    period_type: ValueType | None = None
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    comments: list[str] = field(default_factory=list)
    drop_frames: str = ""
    keep_frames: str = ""
    default_sample_type: str = ""
    doc_url: str = ""

    # ---- convenient views -------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Sample]:
        return self.iter_samples()

    def iter_samples(self) -> Iterator[Sample]:
        table = self.samples
        locations = self.locations
        offsets = table.loc_offsets.tolist()
        flat = table.loc_index.tolist()
        values = table.values.tolist()
        label_sets = table.label_sets
        set_ids = table.label_set.tolist()
        for i, row in enumerate(values):
            stack = tuple(locations[j] for j in flat[offsets[i] : offsets[i + 1]])
            yield Sample(stack, tuple(row), label_sets[set_ids[i]])

    @property
    def truncated(self) -> bool:
        """The parser saw the input cut short (debug=1 text leaves a ``truncated: …`` comment)."""
        return any(comment.startswith("truncated") for comment in self.comments)

    def sample_index(self, name: str | int | None = None) -> int:
        """Resolve ``--sample-index`` like pprof: a name (``inuse_space``), an index, or the default type."""
        if name is None or name == "":
            if self.default_sample_type:
                return self.sample_index(self.default_sample_type)
            return len(self.sample_types) - 1
        if isinstance(name, int) or name.isdigit():
            index = int(name)
            if 0 <= index < len(self.sample_types):
                return index
        else:
            for index, value_type in enumerate(self.sample_types):
                if value_type.type == name:
                    return index
        known = ", ".join(value_type.type for value_type in self.sample_types)
        raise ParseError(f"sample index {name!r} is not in this profile (it has: {known})")

    def totals(self) -> list[int]:
        return [int(x) for x in self.samples.values.sum(axis=0)] if len(self.samples) else [0] * len(self.sample_types)

    def check_valid(self) -> None:
        """Invariants of profile.proto (google/pprof ``CheckValid``); raises ParseError."""
        num_types = len(self.sample_types)
        if num_types == 0 and len(self.samples):
            raise ParseError("profile has samples but no sample types")
        table = self.samples
        if table.values.ndim != 2 or table.values.shape[1] != num_types:
            raise ParseError(
                f"samples carry {table.values.shape[1] if table.values.ndim == 2 else '?'} values "
                f"but the profile declares {num_types} sample types"
            )
        if table.loc_offsets.shape[0] != len(table) + 1 or table.label_set.shape[0] != len(table):
            raise ParseError("sample table columns have different lengths")
        if table.loc_index.size and (
            int(table.loc_index.min()) < 0 or int(table.loc_index.max()) >= len(self.locations)
        ):
            raise ParseError("a sample refers to a location outside the location table")
        if table.label_set.size and int(table.label_set.max()) >= len(table.label_sets):
            raise ParseError("a sample refers to a label set outside the label-set table")
        _check_unique_ids("mapping", (m.id for m in self.mappings))
        _check_unique_ids("location", (loc.id for loc in self.locations))
        _check_unique_ids("function", (f.id for f in self.functions))
        function_ids = {f.id for f in self.functions}
        mapping_ids = {m.id for m in self.mappings}
        for location in self.locations:
            if location.mapping is not None and location.mapping.id not in mapping_ids:
                raise ParseError(f"location {location.id} refers to unknown mapping {location.mapping.id}")
            for line in location.lines:
                if line.function.id not in function_ids:
                    raise ParseError(f"location {location.id} refers to unknown function {line.function.id}")


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _beyond_int64(rows: list[Sequence[int]]) -> ParseError:
    """The first sample value profile.proto cannot hold (its values are int64)."""
    for number, row in enumerate(rows):
        for value in row:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return ParseError(
                    f"sample {number} has a value beyond the 64-bit range of profile.proto", data=str(value)
                )
    return ParseError("a sample value is beyond the 64-bit range of profile.proto")


def _check_unique_ids(kind: str, ids: Iterable[int]) -> None:
    seen: set[int] = set()
    for ident in ids:
        if ident == 0:
            raise ParseError(f"{kind} with id 0 (ids must be nonzero)")
        if ident in seen:
            raise ParseError(f"duplicate {kind} id {ident}")
        seen.add(ident)
