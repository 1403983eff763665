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

Where a traceback ends (how a cut-short last goroutine is told from a whole one): after its ``created by`` FILE
line; for goroutine 1, which has no creator, after its root frame (``main.main``, or ``runtime.goexit`` when the
dump shows runtime frames: GOTRACEBACK=system and SIGQUIT, whose headers carry ``gp=``, end every stack with
``runtime.goexit`` and then ``created by``). With GODEBUG=tracebackancestors, a goroutine with a parent is followed
by ``[originating from goroutine N]:`` blocks, each ending the same way, until a root or the ancestor limit N.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from leaksleuth.errors import ParseError
from leaksleuth.model.goroutines import Ancestor, Frame, Goroutine, GoroutineDump, Stack

FORMAT = "goroutine dump"

_STATE_SUFFIXES = (" (leaked)", " (scan)", " (durable)")
_ELIDED = re.compile(r"\.\.\.([0-9]+) frames elided\.\.\.")
_ANCESTOR = re.compile(r"\[originating from goroutine ([0-9]+)\]:")
_UNAVAILABLE = "\tgoroutine running on other thread; stack unavailable"


@dataclass(frozen=True, slots=True)
class _HeaderTail:
    """Everything in a header after the goroutine id; shared by all goroutines with the same text."""

    state: str
    wait_minutes: int
    locked: bool
    leaked: bool
    scan: bool
    durable: bool
    bubble: int | None
    labels: tuple[tuple[str, str], ...]
    gp: str | None
    m: str | None


# stack, "function(" per CALL line, "created by F" or "", and the parse that made or last checked it
_CachedStack = tuple[Stack, tuple[str, ...], str, int]


class _Parser:
    """The caches outlive a parse: a watcher parses the same services' dumps every round, and their stacks repeat.
    They are bounded (cleared past ``_CACHE_LIMIT`` entries), so a stream of novel stacks cannot grow them."""

    def __init__(self) -> None:
        self.stacks: dict[str, _CachedStack] = {}  # FILE lines -> interned stack and how its CALL lines start
        self.interned: dict[Stack, Stack] = {}  # equal stacks share one object, whichever key found them
        self.frames: dict[tuple[str, str, int, int, bool], Frame] = {}
        self.tails: dict[str, _HeaderTail | None] = {}
        self.generation = 0

    def begin(self) -> None:
        """A new parse: stacks cached by earlier ones are checked against its CALL lines before they are used."""
        self.generation += 1
        for cache in (self.stacks, self.interned, self.frames, self.tails):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()

    # ---- header ----------------------------------------------------------------------------------------------
    def header(self, line: str) -> tuple[int, _HeaderTail] | None:
        """Parse ``goroutine N …:``; None when the line is not a goroutine header."""
        if not line.startswith("goroutine "):
            return None
        space = line.find(" ", 10)
        if space < 0 or not line[10:space].isdecimal():
            return None
        rest = line[space + 1 :]
        if rest in self.tails:
            tail = self.tails[rest]
        else:
            tail = self.tails[rest] = _parse_header_tail(rest)
        if tail is None:
            return None
        return int(line[10:space]), tail

    # ---- frames ----------------------------------------------------------------------------------------------
    def frame(self, call: str, where: str) -> tuple[Frame, str] | None:
        """A CALL line and its FILE line -> (frame, raw args), or None if they are not a frame."""
        if not where.startswith("\t") or not call.endswith(")"):
            return None
        open_paren = call.rfind("(")
        if open_paren <= 0:
            return None
        function = call[:open_paren]
        args = call[open_paren + 1 : -1]
        location, _, extra = where[1:].partition(" ")
        file, colon, line_text = location.rpartition(":")
        if not colon or not line_text.isdecimal():
            return None
        offset = -1
        if extra.startswith("+0x"):
            hex_text = extra[3:].partition(" ")[0]
            try:
                offset = int(hex_text, 16)
            except ValueError:
                return None
        return self.intern_frame(function, file, int(line_text), offset, args == "..."), args

    def intern_frame(self, function: str, file: str, line: int, offset: int, inlined: bool) -> Frame:
        key = (function, file, line, offset, inlined)
        frame = self.frames.get(key)
        if frame is None:
            frame = self.frames[key] = Frame(function, file, line, offset, inlined)
        return frame

    def created_by(self, call: str, where: str) -> tuple[Frame, int | None] | None:
        if not call.startswith("created by "):
            return None
        name, marker, parent = call[11:].partition(" in goroutine ")
        if not where.startswith("\t"):
            return None
        location, _, extra = where[1:].partition(" ")
        file, colon, line_text = location.rpartition(":")
        if not colon or not line_text.isdecimal():
            return None
        offset = int(extra[3:].partition(" ")[0], 16) if extra.startswith("+0x") and _is_hex(extra[3:]) else -1
        frame = self.intern_frame(name, file, int(line_text), offset, False)
        return frame, int(parent) if marker and parent.isdecimal() else None

    # ---- one block -------------------------------------------------------------------------------------------
    def goroutine(self, goroutine_id: int, tail: _HeaderTail, body: str, other: list[str]) -> Goroutine:
        lines = body.split("\n") if body else []
        if lines and len(lines) % 2 == 0 and "elided..." not in body and "\n[originating" not in body:
            key = "\n".join(lines[1::2])
            cached = self.stacks.get(key)
            if cached is not None and (cached[3] == self.generation or self.same_functions(key, lines[0::2], cached)):
                stack = cached[0]
                calls = "\n".join(lines[0::2])
                parent = None
                if stack.created_by is not None:
                    calls, _, created_line = calls.rpartition("\n")
                    parent_text = created_line.rpartition(" in goroutine ")[2]
                    parent = int(parent_text) if parent_text.isdecimal() else None
                return _make_goroutine(goroutine_id, tail, stack, calls, parent)
        else:
            key = ""
        return self.goroutine_slow(goroutine_id, tail, lines, key, other)

    def same_functions(self, key: str, calls: list[str], cached: _CachedStack) -> bool:
        """Whether a stack cached by an earlier parse fits these CALL lines (then trust it for the rest of this one)."""
        stack, call_starts, creator, _ = cached
        if not all(map(str.startswith, calls, call_starts)):
            return False
        if creator and calls[-1].partition(" in goroutine ")[0] != creator:
            return False
        self.stacks[key] = (stack, call_starts, creator, self.generation)
        return True

    def goroutine_slow(
        self, goroutine_id: int, tail: _HeaderTail, lines: list[str], key: str, other: list[str]
    ) -> Goroutine:
        """Walk the state machine line by line (first sight of a stack, elided frames, ancestors, oddities)."""
        stacks: list[tuple[int, list[Frame], list[str], Frame | None, int, int, int | None]] = []
        frames: list[Frame] = []
        args: list[str] = []
        created: Frame | None = None
        parent: int | None = None
        elided = elided_at = 0
        owner = goroutine_id
        unavailable = cut = False
        i = 0
        count = len(lines)
        while i < count:
            line = lines[i]
            following = lines[i + 1] if i + 1 < count else None
            if line == _UNAVAILABLE:
                unavailable = True
                i += 1
                continue
            if line.startswith("..."):
                match = _ELIDED.fullmatch(line)
                if match or line == "...additional frames elided...":
                    elided = int(match.group(1)) if match else -1
                    elided_at = len(frames)
                    i += 1
                    continue
            ancestor = _ANCESTOR.fullmatch(line)
            if ancestor:
                stacks.append((owner, frames, args, created, elided, elided_at, parent))
                frames, args, created, elided, elided_at, parent = [], [], None, 0, 0, None
                owner = int(ancestor.group(1))
                i += 1
                continue
            if following is not None:
                made = self.created_by(line, following)
                if made is not None:
                    created, parent = made
                    i += 2
                    continue
                framed = self.frame(line, following)
                if framed is not None and created is None:
                    frames.append(framed[0])
                    args.append(framed[1])
                    i += 2
                    continue
            if following is None and (line.endswith(")") or line.startswith("created by ")):
                cut = True  # a CALL without its FILE line: the dump ends here
            else:  # not part of a goroutine: keep the rest of the block as ordinary text
                other.extend(lines[i:])
            break
        stacks.append((owner, frames, args, created, elided, elided_at, parent))
        own = stacks[0]
        stack = Stack(tuple(own[1]), own[3], own[4], own[5])
        stack = self.interned.setdefault(stack, stack)
        if key and i >= count and not unavailable:
            call_starts = tuple(f"{frame.function}(" for frame in stack.frames)
            creator = f"created by {stack.created_by.function}" if stack.created_by is not None else ""
            self.stacks[key] = (stack, call_starts, creator, self.generation)
        ancestors = tuple(Ancestor(gid, Stack(tuple(fr), cr, el, ela)) for gid, fr, _a, cr, el, ela, _p in stacks[1:])
        calls = "\n".join(f"{frame.function}({arg})" for frame, arg in zip(own[1], own[2], strict=True))
        goroutine = _make_goroutine(goroutine_id, tail, stack, calls, own[6])
        goroutine.ancestors = ancestors
        goroutine.stack_unavailable = unavailable
        goroutine.truncated = cut
        return goroutine


_CACHE_LIMIT = 100_000
_SHARED = _Parser()


def _is_hex(text: str) -> bool:
    digits = text.partition(" ")[0]
    return bool(digits) and all(c in "0123456789abcdef" for c in digits)


def _make_goroutine(
    goroutine_id: int, tail: _HeaderTail, stack: Stack, call_text: str, parent: int | None
) -> Goroutine:
    return Goroutine(
        id=goroutine_id,
        state=tail.state,
        stack=stack,
        wait_minutes=tail.wait_minutes,
        locked_to_thread=tail.locked,
        leaked=tail.leaked,
        scan=tail.scan,
        durable=tail.durable,
        synctest_bubble=tail.bubble,
        parent_id=parent,
        call_text=call_text,
        labels=tail.labels,
        gp=tail.gp,
        m=tail.m,
    )


def _parse_header_tail(rest: str) -> _HeaderTail | None:
    """``[chan send (leaked), 3 minutes, locked to thread]:`` (optionally after ``gp=… m=… mp=…``)."""
    gp = m = None
    if rest.startswith("gp="):
        bracket = rest.find(" [")
        if bracket < 0:
            return None
        for item in rest[:bracket].split(" "):
            name, _, value = item.partition("=")
            if name == "gp":
                gp = value
            elif name == "m":
                m = value
        rest = rest[bracket + 1 :]
    if not rest.startswith("[") or not rest.endswith(":"):
        return None
    close = rest.find("]")
    if close < 0:
        return None
    inner = rest[1:close]
    after = rest[close + 1 : -1]
    labels: tuple[tuple[str, str], ...] = ()
    if after:
        if not (after.startswith(" {") and after.endswith("}")):
            return None
        labels = _parse_labels(after[2:-1])
    parts = inner.split(", ")
    state = parts[0]
    leaked = scan = durable = False
    stripped = True
    while stripped:
        stripped = False
        for suffix in _STATE_SUFFIXES:
            if state.endswith(suffix):
                state = state[: -len(suffix)]
                leaked |= suffix == " (leaked)"
                scan |= suffix == " (scan)"
                durable |= suffix == " (durable)"
                stripped = True
    wait = 0
    locked = False
    bubble = None
    for part in parts[1:]:
        if part.endswith(" minutes") and part[:-8].isdecimal():
            wait = int(part[:-8])
        elif part == "locked to thread":
            locked = True
        elif part.startswith("synctest bubble ") and part[16:].isdecimal():
            bubble = int(part[16:])
        else:
            return None
    if not state:
        return None
    return _HeaderTail(state, wait, locked, leaked, scan, durable, bubble, labels, gp, m)


def _parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``k: v, "odd key": "v"`` as printed by the runtime (quoted only when needed)."""
    items: list[tuple[str, str]] = []
    for match in re.finditer(r'("(?:[^"\\]|\\.)*"|[^:,]+): ("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)', text):
        items.append((_unquote(match.group(1)), _unquote(match.group(2))))
    return tuple(items)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return text


def parse_goroutine_dump(data: bytes | str, *, require_goroutines: bool = True) -> GoroutineDump:
    """Parse a goroutine dump. Text that is not part of a goroutine passes through into ``other_text``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    partial = ""
    if text and not text.endswith("\n"):
        cut_at = text.rfind("\n") + 1
        text, partial = text[:cut_at], text[cut_at:]  # a partial last line carries nothing we can trust
    parser = _SHARED
    parser.begin()
    goroutines: list[Goroutine] = []
    other: list[str] = []
    for block in _blocks(text):
        header_line, _, body = block.partition("\n")
        parsed = parser.header(header_line)
        if parsed is None:
            other.extend(line for line in block.split("\n") if line)
            continue
        goroutines.append(parser.goroutine(parsed[0], parsed[1], body.rstrip("\n"), other))
    truncated = bool(partial) or (bool(goroutines) and (goroutines[-1].truncated or _looks_cut(goroutines)))
    stub_id, space, _ = partial[10:].partition(" ") if partial.startswith("goroutine ") else ("", "", "")
    if space and stub_id.isdecimal() and text.endswith("\n\n" if text.strip() else ""):
        # cut inside the header of the next goroutine: keep its id so the loss is visible
        goroutines.append(Goroutine(int(stub_id), "", Stack(()), truncated=True))
    elif truncated and goroutines:
        goroutines[-1].truncated = True
    if require_goroutines and not goroutines:
        first = next((line for line in other if line.strip()), text[:80] or partial[:80])
        raise ParseError(
            "no goroutines found (expected a line like 'goroutine 1 [running]:')",
            line=1,
            data=first,
            format_name=FORMAT,
        )
    return GoroutineDump(goroutines, other, truncated)


def _blocks(text: str) -> Iterator[str]:
    """Blank-line separated blocks, one at a time (a 200 MB dump must not be copied into a list at once)."""
    position = 0
    size = len(text)
    while position < size:
        while position < size and text[position] == "\n":  # runs of blank lines
            position += 1
        end = text.find("\n\n", position)
        if end < 0:
            end = size
        if end > position:
            yield text[position:end]
        position = end + 2


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
