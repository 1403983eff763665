"""The bounded column store every history of a watched instance keeps its rounds in: goroutine counts per bucket,
heap in-use per allocation site, the runtime series.

One C array per column (8 bytes a float, 4 an int) instead of lists of Python objects, and one way to forget:
past ``capacity`` rows, appending drops the oldest row of every column at once, so the columns always line up.

* **Fixed columns** (the time of a round, a total, a restart flag) have a value in every row; each has its own
  array typecode.
* **Keyed columns** (a bucket key, a site, a series name) come and go: a key absent from a row reads ``fill``
  there. With ``sparse`` (``fill`` must be 0) a key that holds nothing in the whole window costs nothing: it is not
  stored until it holds something, and it leaves when its last non-zero value is dropped. Integer keyed columns are
  int32 until a value needs int64 (a site holding over 2 GiB). Plain ``array`` columns: numpy only for ``matrix``.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import numpy.typing as npt

K = TypeVar("K", bound=Hashable)

_INT32 = (-(1 << 31), (1 << 31) - 1)
Number = int | float


class RingColumns(Generic[K]):
    def __init__(
        self,
        capacity: int,
        fixed: Mapping[str, str],
        *,
        keyed: str = "i",
        fill: Number = 0,
        sparse: bool = True,
    ) -> None:
        if sparse and fill != 0:
            raise ValueError("a sparse column store fills with 0")
        self.capacity = capacity
        self.length = 0
        self.fixed: dict[str, array[Any]] = {name: array(typecode) for name, typecode in fixed.items()}
        self.columns: dict[K, array[Any]] = {}
        self._keyed = keyed
        self._fill = fill
        self._sparse = sparse

    def __len__(self) -> int:
        return self.length

    def append(self, fixed: Mapping[str, Number], keyed: Mapping[K, Number]) -> list[K]:
        """Add a row; returns the keys that left the store (sparse: all their values were dropped)."""
        for name, column in self.fixed.items():
            column.append(fixed[name])
        fill, integers = self._fill, self._keyed in "iq"
        for key, column in self.columns.items():
            value = keyed.get(key, fill)
            if integers and column.typecode == "i" and not _INT32[0] <= value <= _INT32[1]:
                wider = self.columns[key] = array("q", column)  # same key: the dict keeps its size
                wider.append(value)
            else:
                column.append(value)
        for key, value in keyed.items():
            if key in self.columns or (self._sparse and value == 0):
                continue
            typecode = "q" if integers and not _INT32[0] <= value <= _INT32[1] else self._keyed
            column = self.columns[key] = array(typecode, [fill]) * self.length  # fill until now
            column.append(value)
        self.length += 1
        return self._drop_oldest() if self.length > self.capacity else []

    def _drop_oldest(self) -> list[K]:
        self.length -= 1
        for column in self.fixed.values():
            del column[0]
        gone = []
        for key, column in self.columns.items():
            del column[0]
            if self._sparse and not any(column):
                gone.append(key)
        for key in gone:
            del self.columns[key]
        return gone

    def values(self, name: str) -> array[Any]:
        """A fixed column, oldest row first."""
        return self.fixed[name]

    def latest(self, key: K) -> Number | None:
        """A keyed column's value in the newest row (``fill`` if absent from the store, None if it is empty)."""
        if not self.length:
            return None
        column = self.columns.get(key)
        return column[-1] if column is not None else self._fill

    def matrix(self, keys: Iterable[K], dtype: npt.DTypeLike = "int64") -> npt.NDArray[Any]:
        """The keyed columns ``keys`` as one (rows x keys) matrix, built once (absent keys read ``fill``)."""
        import numpy as np  # a one-dump command keeps goroutine counts here and never imports numpy

        ordered: Sequence[K] = list(keys)
        matrix = np.full((self.length, len(ordered)), self._fill, dtype=dtype)
        for position, key in enumerate(ordered):
            column = self.columns.get(key)
            if column is not None:
                matrix[:, position] = column
        return matrix
