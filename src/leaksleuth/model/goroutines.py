"""Goroutine dumps: what ``/debug/pprof/goroutine?debug=2``, a panic, SIGQUIT or ``runtime.Stack(all)`` print.

Goroutines with the same frames (function, file, line, pc offset) share one interned ``Stack``: a 100k-goroutine
dump of a leaking service is typically a few hundred distinct stacks, so this saves memory and lets analysis work
per stack instead of per goroutine. Arguments differ per goroutine and are kept beside the stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


def package_of(function: str) -> str:
    """Import path of a function's package: ``net/http`` for ``net/http.(*conn).serve``."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot >= 0 else function


@dataclass(frozen=True, slots=True)
class Frame:
    """One call in a stack trace: ``function`` as the runtime prints it (``main.(*T).run.func1``)."""

    function: str
    file: str
    line: int
    pc_offset: int = -1  # the ``+0x1d`` after file:line; -1 when absent (inlined frames)
    inlined: bool = False  # printed with ``(...)``: args unknown because the call was inlined

    @property
    def package(self) -> str:
        """Import path of the function's package: ``net/http`` for ``net/http.(*conn).serve``."""
        return package_of(self.function)

    @property
    def short_function(self) -> str:
        """Function without the import path directory: ``http.(*conn).serve``."""
        return self.function[self.function.rfind("/") + 1 :]

    @property
    def file_base(self) -> str:
        return self.file[self.file.rfind("/") + 1 :]

    def site(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Stack:
    """Interned frames of one or more goroutines, innermost first.

    ``elided`` counts frames the runtime left out in the middle (``...N frames elided...``, printed after
    ``elided_at`` frames); -1 means an unknown number (``...additional frames elided...``).
    """

    frames: tuple[Frame, ...]
    created_by: Frame | None = None
    elided: int = 0
    elided_at: int = 0
    # Goroutines are grouped by stack thousands of times per dump: hash the frames once, not on every lookup.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.frames, self.created_by, self.elided, self.elided_at)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class Ancestor:
    """An ``[originating from goroutine N]:`` block (GODEBUG=tracebackancestors=N)."""

    goroutine_id: int
    stack: Stack


@dataclass(slots=True)
class Goroutine:
    id: int
    state: str  # the wait reason or status as printed: "chan send", "select", "running", "IO wait"
    stack: Stack
    wait_minutes: int = 0
    locked_to_thread: bool = False
    leaked: bool = False  # "(leaked)": proven unreachable by the runtime's goroutine leak detector
    scan: bool = False  # "(scan)": the GC was scanning its stack when dumped
    durable: bool = False  # "(durable)": a synctest bubble's durably blocked goroutine
    synctest_bubble: int | None = None
    parent_id: int | None = None  # "created by F in goroutine N"
    call_text: str = ""  # the CALL lines as printed, one per frame; ``args`` decodes them on demand
    labels: tuple[tuple[str, str], ...] = ()  # pprof labels printed in the header (GODEBUG=tracebacklabels=1)
    gp: str | None = None  # GOTRACEBACK=system: "gp=0x… m=… mp=…"
    m: str | None = None
    ancestors: tuple[Ancestor, ...] = ()
    truncated: bool = False  # the dump ended inside this goroutine (debug=2 output is capped at 64 MiB)
    stack_unavailable: bool = False  # "goroutine running on other thread; stack unavailable"

    @property
    def frames(self) -> tuple[Frame, ...]:
        return self.stack.frames

    @property
    def args(self) -> tuple[str, ...]:
        """Raw argument text per frame (``0xc000012345, {0x1, 0x2}``), parallel to ``frames``.

        Kept as printed and decoded lazily: most analyses never look at arguments, and slicing them out for every
        goroutine would cost a third of the parse time.
        """
        if not self.call_text:
            return ()
        calls = self.call_text.split("\n")
        return tuple(call[len(frame.function) + 1 : -1] for frame, call in zip(self.stack.frames, calls, strict=False))

    @property
    def created_by(self) -> Frame | None:
        return self.stack.created_by


@dataclass(slots=True)
class GoroutineDump:
    goroutines: list[Goroutine]
    other_text: list[str] = field(default_factory=list)  # lines that are not part of a goroutine (panic text, logs)
    truncated: bool = False  # the last goroutine is incomplete
    source_format: str = "debug2"

    def __len__(self) -> int:
        return len(self.goroutines)

    def states(self) -> Counter[str]:
        return Counter(g.state for g in self.goroutines)

    def stacks(self) -> Counter[Stack]:
        return Counter(g.stack for g in self.goroutines)

    @property
    def panic_message(self) -> str | None:
        for line in self.other_text:
            if line.startswith(("panic: ", "fatal error: ")):
                return line
        return None
