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

Where a traceback ends (how a cut-short last goroutine is told from a whole one): after its ``created by`` FILE
line; for goroutine 1, which has no creator, after its root frame (``main.main``, or ``runtime.goexit`` when the
dump shows runtime frames: GOTRACEBACK=system and SIGQUIT, whose headers carry ``gp=``, end every stack with
``runtime.goexit`` and then ``created by``). With GODEBUG=tracebackancestors, a goroutine with a parent is followed
by ``[originating from goroutine N]:`` blocks, each ending the same way, until a root or the ancestor limit N.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, itemgetter

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


# a stack and the parse that made or last checked it
_CachedStack = tuple[Stack, int]
_function_of = itemgetter(0)  # of ``call.rpartition("(")``
_function_of_frame = attrgetter("function")
_inlined_of_frame = attrgetter("inlined")
_UNSEEN = Frame("\n", "", 0)  # the frame of a FILE line not seen yet: its function is no CALL line's
# a FILE line with file, line and offset only (no `` fp=…`` after them), as `_Parser.located` reads it
_PLAIN_FILE_LINE = re.compile(r"\t([^ ]*):([0-9]+)(?: \+0x([0-9a-f]+))?")
# a FILE line that has its offset (a dump's last line without a newline after it is whole when it has one; the
# `` fp=… sp=… pc=…`` of GOTRACEBACK=system come after it and the model does not keep them)
_WHOLE_FILE_LINE = re.compile(r"\t[^ \n]*:[0-9]+ \+0x[0-9a-f]+(?: [^\n]*)?")


class _Parser:
    """The caches outlive a parse: a watcher parses the same services' dumps every round, and their stacks repeat.
    They are bounded (cleared past ``_CACHE_LIMIT`` entries), so a stream of novel stacks cannot grow them."""

    def __init__(self) -> None:
        self.stacks: dict[str, _CachedStack] = {}  # FILE lines -> interned stack
        self.interned: dict[Stack, Stack] = {}  # equal stacks share one object, whichever key found them
        self.frames: dict[tuple[str, str, int, int, bool], Frame] = {}  # frames not kept by their FILE line
        self.sites: dict[str, Frame] = {}  # a plain FILE line -> the frame first read with it (see `site`)
        self.tails: dict[str, _HeaderTail | None] = {}
        self.names: dict[str, str] = {}  # function and file names, each string kept once
        self.generation = 0

    def begin(self) -> None:
        """A new parse: stacks cached by earlier ones are checked against its CALL lines before they are used."""
        self.generation += 1
        for cache in (self.stacks, self.interned, self.frames, self.sites, self.tails, self.names):
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
        if not call.endswith(")"):
            return None
        function, _, args = call.rpartition("(")
        args = args[:-1]
        frame = self.site(function, where, args == "...")
        return None if frame is None else (frame, args)

    def site(self, function: str, where: str, inlined: bool) -> Frame | None:
        """The frame of a CALL line's function at its FILE line; None if the line is none or the function a creator's.

        A plain FILE line keeps the frame first read with it, as in one binary it names one function; the frame is
        taken only for a CALL line that names that function the same way (another binary, or a closure inlined on
        the line, can print the same FILE line for another)."""
        frame = self.sites.get(where, _UNSEEN)
        if frame.function == function and frame.inlined == inlined:
            return frame
        if not function or function.startswith("created by "):  # (nothing before "(": no CALL line)
            return None
        made = self.plain_frame(function, where, inlined)
        if made is None:  # not plain (GOTRACEBACK=system adds `` fp=… sp=… pc=…``, new in every goroutine)
            return self.located(function, where, inlined, strict=True)
        if frame is _UNSEEN:
            self.sites[where] = made
            return made
        return self.frames.setdefault((function, made.file, made.line, made.pc_offset, inlined), made)  # (by value)

    def plain_frame(self, function: str, where: str, inlined: bool) -> Frame | None:
        """The frame of a function at a plain FILE line (file, line and offset only), as `located` reads it; None
        for any other line."""
        plain = _PLAIN_FILE_LINE.fullmatch(where)
        if plain is None:
            return None
        file, line_text, hex_text = plain.groups()
        names = self.names  # one string per name, not one per frame
        function = names.setdefault(function, function)
        offset = int(hex_text, 16) if hex_text else -1
        return Frame(function, names.setdefault(file, file), int(line_text), offset, inlined)

    def located(self, function: str, where: str, inlined: bool, *, strict: bool) -> Frame | None:
        """The frame of a function at a FILE line (``\\t/src/main.go:42 +0x1d``), None if the line is no FILE line.
        ``strict``: an offset that is not a number makes it none (a creator's line only loses the offset)."""
        plain = self.plain_frame(function, where, inlined)
        if plain is not None:
            return plain
        if not where.startswith("\t"):
            return None
        location, _, extra = where[1:].partition(" ")
        file, colon, line_text = location.rpartition(":")
        if not colon or not line_text.isdecimal():
            return None
        offset = -1
        if extra.startswith("+0x"):
            hex_text = extra[3:].partition(" ")[0]
            if _is_hex(hex_text):  # never int(…, 16) alone: it reads "-1d", "+1d" and "1_d" as numbers
                offset = int(hex_text, 16)
            elif strict:
                return None
        # an odd line, or one with `` fp=… sp=… pc=…`` after the offset (GOTRACEBACK=system): share by value
        frame = Frame(function, file, int(line_text), offset, inlined)
        return self.frames.setdefault((function, file, frame.line, offset, inlined), frame)

    def created_by(self, call: str, where: str) -> tuple[Frame, int | None] | None:
        if not call.startswith("created by "):
            return None
        name, marker, parent = call[11:].partition(" in goroutine ")
        frame = self.located(name, where, False, strict=False)
        if frame is None:
            return None
        return frame, int(parent) if marker and parent.isdecimal() else None

    # ---- one block -------------------------------------------------------------------------------------------
    def goroutine(self, goroutine_id: int, tail: _HeaderTail, lines: list[str], other: list[str]) -> Goroutine:
        """One goroutine's block, and its lines (the header first)."""
        # Odd: a header and CALL/FILE pairs. An elided-frames or ancestor line breaks the pairing, so its block's key
        # holds a line that is no FILE line: no stack is cached under such a key (goroutine_pairs refuses it, and
        # goroutine_slow caches only stacks without either), so the cache lookup needs no search of the block.
        if len(lines) % 2 and len(lines) > 1:
            calls = lines[1::2]
            wheres = lines[2::2]
            key = "\n".join(wheres)
            cached = self.stacks.get(key)
            if cached is not None and (cached[1] == self.generation or self.same_functions(key, calls, cached[0])):
                stack = cached[0]
                parent = None
                if stack.created_by is not None:
                    parent_text = calls.pop().rpartition(" in goroutine ")[2]
                    parent = int(parent_text) if parent_text.isdecimal() else None
                return _make_goroutine(goroutine_id, tail, stack, "\n".join(calls), parent)
            goroutine = self.goroutine_pairs(goroutine_id, tail, calls, wheres, key)
            if goroutine is not None:
                return goroutine
        else:
            key = ""
        return self.goroutine_slow(goroutine_id, tail, lines[1:], key, other)

    def same_functions(self, key: str, calls: list[str], stack: Stack) -> bool:
        """Whether a stack cached by an earlier parse fits these CALL lines (then trust it for the rest of this one)."""
        call_starts = [f"{frame.function}(" for frame in stack.frames]
        if not all(map(str.startswith, calls, call_starts)):
            return False
        creator = stack.created_by
        if creator is not None and calls[-1].partition(" in goroutine ")[0] != f"created by {creator.function}":
            return False
        self.stacks[key] = (stack, self.generation)
        return True

    def goroutine_pairs(
        self, goroutine_id: int, tail: _HeaderTail, calls: list[str], wheres: list[str], key: str
    ) -> Goroutine | None:
        """First sight of an ordinary stack: CALL/FILE pairs, perhaps a creator's pair last, read with whole-list
        operations (loops in C), frames found by their FILE lines. None when a pair is anything else: then
        ``goroutine_slow`` reads the block (and reads alike every block this one accepts)."""
        created: Frame | None = None
        parent: int | None = None
        if calls[-1].startswith("created by "):
            made = self.created_by(calls.pop(), wheres.pop())
            if made is None:
                return None
            created, parent = made
        call_text = "\n".join(calls)
        if call_text.count(")\n") != len(calls) - 1 or not call_text.endswith(")"):
            return None  # a CALL line that does not end with ")" (or only a creator: the slow path decides)
        functions = list(map(_function_of, map(str.rpartition, calls, repeat("("))))
        frames: list[Frame] = list(map(self.sites.get, wheres, repeat(_UNSEEN)))
        if "(...)" in call_text:
            inlined = list(map(str.endswith, calls, repeat("(...)")))
            fit = inlined == list(map(_inlined_of_frame, frames))
        else:
            inlined = [False] * len(calls)
            fit = not any(map(_inlined_of_frame, frames))
        fit = fit and functions == list(map(_function_of_frame, frames))
        if not fit and not self.fill_sites(frames, functions, wheres, inlined):
            return None
        stack = Stack(tuple(frames), created)
        stack = self.interned.setdefault(stack, stack)
        self.stacks[key] = (stack, self.generation)
        return _make_goroutine(goroutine_id, tail, stack, call_text, parent)

    def fill_sites(self, frames: list[Frame], functions: list[str], wheres: list[str], inlined: list[bool]) -> bool:
        """Put the right frame where a FILE line's frame does not fit its CALL line; False if a pair is no frame."""
        for index, (frame, function, flag) in enumerate(zip(frames, functions, inlined, strict=True)):
            if frame.function != function or frame.inlined != flag:
                made = self.site(function, wheres[index], flag)  # (a recursion repeats a site new to this stack)
                if made is None:
                    return False
                frames[index] = made
        return True

    def goroutine_slow(
        self, goroutine_id: int, tail: _HeaderTail, lines: list[str], key: str, other: list[str]
    ) -> Goroutine:
        """Walk the state machine line by line (elided frames, ancestors, a stack on another thread, oddities)."""
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
        if key and i >= count and not unavailable and len(stacks) == 1 and own[4] == 0:  # (see `goroutine`)
            self.stacks[key] = (stack, self.generation)
        ancestors = tuple(Ancestor(gid, Stack(tuple(fr), cr, el, ela)) for gid, fr, _a, cr, el, ela, _p in stacks[1:])
        calls = "\n".join(f"{frame.function}({arg})" for frame, arg in zip(own[1], own[2], strict=True))
        goroutine = _make_goroutine(goroutine_id, tail, stack, calls, own[6])
        goroutine.ancestors = ancestors
        goroutine.stack_unavailable = unavailable
        goroutine.truncated = cut
        return goroutine


_CACHE_LIMIT = 100_000
# One parser, and its caches, per thread: a parse trusts the stacks its own generation checked, so two parses at
# once (the scraper parses big bodies in threads) must not share a generation.
_PARSERS = threading.local()


def _parser() -> _Parser:
    parser: _Parser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _Parser()
    return parser


def _is_hex(text: str) -> bool:
    digits = text.partition(" ")[0]
    return bool(digits) and all(c in "0123456789abcdef" for c in digits)


def _make_goroutine(
    goroutine_id: int, tail: _HeaderTail, stack: Stack, call_text: str, parent: int | None
) -> Goroutine:
    # positional (in Goroutine's field order: id, state, stack, wait_minutes, locked_to_thread, leaked, scan, durable,
    # synctest_bubble, parent_id, call_text, labels, gp, m): once per goroutine, keywords cost a tenth of a parse
    return Goroutine(
        goroutine_id,
        tail.state,
        stack,
        tail.wait_minutes,
        tail.locked,
        tail.leaked,
        tail.scan,
        tail.durable,
        tail.bubble,
        parent,
        call_text,
        tail.labels,
        tail.gp,
        tail.m,
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
        if _WHOLE_FILE_LINE.fullmatch(text, cut_at):
            text += "\n"  # a FILE line with its offset is whole: the dump was saved without its final newline
        else:
            text, partial = text[:cut_at], text[cut_at:]  # a partial last line carries nothing we can trust
    parser = _parser()
    parser.begin()
    goroutines: list[Goroutine] = []
    other: list[str] = []
    header, goroutine, append = parser.header, parser.goroutine, goroutines.append  # bound once: 20k+ rounds
    with _cyclic_gc_paused():
        for block in _blocks(text):
            lines = block.split("\n")
            parsed = header(lines[0])
            if parsed is None:
                other.extend(line for line in lines if line)
                continue
            if not lines[-1]:  # the newline that ends the dump
                lines.pop()
            append(goroutine(parsed[0], parsed[1], lines, other))
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
