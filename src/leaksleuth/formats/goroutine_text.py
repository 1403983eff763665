"""Goroutine dumps as the Go runtime prints them (``debug=2``, panics, SIGQUIT, ``runtime.Stack(all)``).

The dump is a sequence of blocks separated by blank lines. A goroutine block is a state machine over lines:

    HEADER   ``goroutine 18 [chan send, 3 minutes, locked to thread]:``      -> CALL | UNAVAILABLE
             (variants: ``gp=0x… m=… mp=…`` before ``[``; ``(leaked)``, ``(scan)``, ``(durable)`` after the state;
             ``synctest bubble N``; pprof labels `` {k: v}`` after ``]``)
    CALL     ``main.worker(0xc000010120, {0x1, 0x2}, ...)`` or ``main.leak(...)`` (inlined)   -> FILE
    FILE     ``\\t/src/main.go:42 +0x1d`` (GOTRACEBACK=system adds `` fp=… sp=… pc=…``)          -> CALL | ELIDED
                                                                                       | CREATED | ANCESTOR | end
    ELIDED   ``...12 frames elided...`` / ``...additional frames elided...``                    -> CALL | CREATED
    CREATED  ``created by main.main in goroutine 1``                                           -> FILE (then end)
    ANCESTOR ``[originating from goroutine 7]:`` (GODEBUG=tracebackancestors)                  -> CALL
    UNAVAILABLE ``\\tgoroutine running on other thread; stack unavailable``                    -> end

Blocks that do not start with a header (``panic: …``, ``[signal SIGSEGV …]``, log lines, ``exit status 2``) are
kept verbatim in ``GoroutineDump.other_text``. A dump cut short (the runtime caps debug=2 at 64 MiB) parses with
the last goroutine marked ``truncated``.

Speed: goroutines parked at the same place print the same FILE lines and differ only in arguments and parent id,
so the FILE lines are the interning key: a repeated stack costs one dict lookup instead of a parse. The cache
outlives a parse (a watcher's rounds repeat stacks), and another binary can print the same file:line +offset lines
for other functions, so a stack cached by an earlier parse is used only once its CALL lines are seen to name the
same functions, a check made once per stack and parse (inside one binary the FILE lines name the functions).
A stack seen for the first time is most often plain CALL/FILE pairs (and a creator's last): it is read with whole-list
operations that loop in C, each frame found by its FILE line (frames recur across stacks) and checked against the
function its CALL line names; only what is unusual walks the state machine line by line.
The dump is decoded and split into lines a window (256 KiB) at a time, each window ending after a blank line: the
blocks are runs of lines that are not empty, found by a list search for the empty line; a whole-dump ``str`` and a
search for ``\\n\\n`` in it cost more than all of that (and the ``str`` as much memory as the bytes).

Where a traceback ends (how a cut-short last goroutine is told from a whole one): after its ``created by`` FILE
line; for goroutine 1, which has no creator, after its root frame (``main.main``, or ``runtime.goexit`` when the
dump shows runtime frames: GOTRACEBACK=system and SIGQUIT, whose headers carry ``gp=``, end every stack with
``runtime.goexit`` and then ``created by``). With GODEBUG=tracebackancestors, a goroutine with a parent is followed
by ``[originating from goroutine N]:`` blocks, each ending the same way, until a root or the ancestor limit N.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from leaksleuth.errors import ParseError
from leaksleuth.formats.goroutine_blocks import thread_parser
from leaksleuth.model.goroutines import Goroutine, GoroutineDump, Stack

FORMAT = "goroutine dump"

# a FILE line that has its offset (a dump's last line without a newline after it is whole when it has one; the
# `` fp=… sp=… pc=…`` of GOTRACEBACK=system come after it and the model does not keep them)
_WHOLE_FILE_LINE = re.compile(r"\t[^ \n]*:[0-9]+ \+0x[0-9a-f]+(?: [^\n]*)?")


def parse_goroutine_dump(data: bytes | str, *, require_goroutines: bool = True) -> GoroutineDump:
    """Parse a goroutine dump. Text that is not part of a goroutine passes through into ``other_text``."""
    parser = thread_parser()
    parser.begin()
    goroutines: list[Goroutine] = []
    other: list[str] = []
    header, goroutine, append = parser.header, parser.goroutine, goroutines.append  # bound once: 20k+ rounds
    head = ""  # the dump's first characters, quoted when it has no goroutines
    length = 0  # its characters so far
    partial = ""  # a last line without a newline after it that is no whole FILE line: nothing we can trust
    text = ""
    with _cyclic_gc_paused():
        for text in _windows(data):
            if len(head) < 80:
                head += text[: 80 - len(head)]
            length += len(text)
            lines = text.split("\n")
            # (only the last window can end without a newline; a FILE line with its offset is whole there: the dump
            # was saved without its final newline)
            if lines[-1] and not _WHOLE_FILE_LINE.fullmatch(lines[-1]):
                partial = lines.pop()
            lines.append("")  # blocks are the runs of lines that are not empty: this one ends the last run
            end_of, start, count = lines.index, 0, len(lines)
            while start < count:
                end = end_of("", start)
                if end > start:
                    block = lines[start:end]
                    parsed = header(block[0])
                    if parsed is None:
                        other.extend(block)
                    else:
                        append(goroutine(parsed[0], parsed[1], block, other))
                start = end + 1
    truncated = bool(partial) or (bool(goroutines) and (goroutines[-1].truncated or _looks_cut(goroutines)))
    stub_id, space, _ = partial[10:].partition(" ") if partial.startswith("goroutine ") else ("", "", "")
    if space and stub_id.isdecimal() and _blank_before(text[: len(text) - len(partial)], goroutines, other):
        # cut inside the header of the next goroutine: keep its id so the loss is visible
        goroutines.append(Goroutine(int(stub_id), "", Stack(()), truncated=True))
    elif truncated and goroutines:
        goroutines[-1].truncated = True
    if require_goroutines and not goroutines:
        quote = head[: min(80, length - len(partial))] or partial[:80]
        first = next((line for line in other if line.strip()), quote)
        raise ParseError(
            "no goroutines found (expected a line like 'goroutine 1 [running]:')",
            line=1,
            data=first,
            format_name=FORMAT,
        )
    return GoroutineDump(goroutines, other, truncated)


def _blank_before(end: str, goroutines: list[Goroutine], other: list[str]) -> bool:
    """Whether a dump ends with a blank line before its partial last line (``end``: the last window without it), or
    is whitespace up to there. A window ends with a blank line, so a last window that is one newline or none before
    the partial line ends the dump with one too; every character but a newline is on a line, so a dump of whitespace
    only is one without goroutines whose other lines are all whitespace."""
    return end.endswith("\n\n") or end in ("", "\n") or (not goroutines and all(map(str.isspace, other)))


# What is decoded and split at a time: a piece this small stays in the CPU's caches, where decoding all of a dump
# and then slicing its blocks out of that would write (and fault in) two more copies of it.
_WINDOW = 1 << 18


def _windows(data: bytes | str) -> Iterator[str]:
    """A dump as text in pieces of about ``_WINDOW`` bytes, each ending after a blank line (``\n\n``) but the last: no
    block and no UTF-8 sequence is cut in two (a block longer than a window makes its window longer). Text given as
    ``str`` is one piece. CRLF line ends read as LF."""
    pieces: Iterable[str] = (data,) if isinstance(data, str) else _decoded_windows(data)
    for text in pieces:
        yield text.replace("\r\n", "\n") if "\r\n" in text else text


def _decoded_windows(data: bytes) -> Iterator[str]:
    view = memoryview(data)
    size = len(data)
    position = 0
    while position < size:
        end = position + _WINDOW
        if end < size:
            cut = data.rfind(b"\n\n", position, end)
            if cut < 0:
                cut = data.find(b"\n\n", end - 1)
            end = size if cut < 0 else cut + 2
        else:
            end = size
        yield str(view[position:end], "utf-8", "replace")
        position = end


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Keep the cycle collector out of a parse. A parse makes a few objects per frame and no cycles (refcounting
    frees what it drops), yet every 700 allocations the collector would run, now and then walking all the objects
    of the process, the parse's so far among them: a tenth of the time of a parse of novel stacks, more in a
    process that holds many. Only a caller that found the collector enabled enables it again, so overlapping
    parses in threads leave it enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _looks_cut(goroutines: list[Goroutine]) -> bool:
    """Whether the last goroutine stops before its traceback ends (module docstring: where a traceback ends)."""
    last = goroutines[-1]
    shows_runtime = last.gp is not None
    if last.ancestors:
        tail = last.ancestors[-1]
        if not _ends_whole(tail.stack, tail.goroutine_id, shows_runtime):
            return True
        if tail.stack.created_by is None:
            return False
        # an ancestor's 'created by' names no parent id, yet the chain goes on unless it is N long
        limit = _ancestor_limit(goroutines)
        return limit is None or len(last.ancestors) < limit
    if last.stack_unavailable:
        return last.created_by is None and last.id != 1
    if not _ends_whole(last.stack, last.id, shows_runtime):
        return True
    # with tracebackancestors, a goroutine with a parent goes on with '[originating from goroutine N]:'
    return last.parent_id is not None and any(g.ancestors for g in goroutines)


def _ends_whole(stack: Stack, goroutine_id: int, shows_runtime: bool) -> bool:
    """Whether a stack (a goroutine's or an ancestor's) ends where the runtime ends one."""
    if stack.created_by is not None or stack.elided == -1:
        return True  # (the old '...additional frames elided...' is the last thing printed without a creator)
    if not stack.frames:
        return False
    root = stack.frames[-1].function
    if root == "runtime.mstart":  # a g0 / system stack
        return True
    if root == "runtime.goexit":  # every goroutine but 1 goes on to its 'created by' (a runnable one shows goexit)
        return goroutine_id == 1
    return not shows_runtime and root in ("main.main", "runtime.main")  # else runtime.main, goexit follow


def _ancestor_limit(goroutines: list[Goroutine]) -> int | None:
    """GODEBUG=tracebackancestors=N as far as the whole goroutines tell: a chain that ends at an ancestor with a
    creator was stopped by N. None when no chain shows it: every chain runs to a root."""
    stopped = [len(g.ancestors) for g in goroutines[:-1] if g.ancestors and g.ancestors[-1].stack.created_by]
    return max(stopped, default=None)
