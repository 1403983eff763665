"""The block reader of goroutine dumps: one goroutine's lines to a `Goroutine`, with the caches that make repeated
stacks cost one lookup (see ``goroutine_text`` for the format and the speed notes)."""

from __future__ import annotations

import re
import threading
from itertools import repeat
from operator import attrgetter, itemgetter

from leaksleuth.formats.goroutine_header import HeaderTail, make_goroutine, parse_header_tail
from leaksleuth.model.goroutines import Ancestor, Frame, Goroutine, Stack

_ELIDED = re.compile(r"\.\.\.([0-9]+) frames elided\.\.\.")
_ANCESTOR = re.compile(r"\[originating from goroutine ([0-9]+)\]:")
_UNAVAILABLE = "\tgoroutine running on other thread; stack unavailable"


# a stack and the parse that made or last checked it
_CachedStack = tuple[Stack, int]
_function_of = itemgetter(0)  # of ``call.rpartition("(")``
_function_of_frame = attrgetter("function")
_inlined_of_frame = attrgetter("inlined")
_UNSEEN = Frame("\n", "", 0)  # the frame of a FILE line not seen yet: its function is no CALL line's
# a FILE line with file, line and offset only (no `` fp=…`` after them), as `Parser.located` reads it
_PLAIN_FILE_LINE = re.compile(r"\t([^ ]*):([0-9]+)(?: \+0x([0-9a-f]+))?")


class Parser:
    """The caches outlive a parse: a watcher parses the same services' dumps every round, and their stacks repeat.
    They are bounded (cleared past ``_CACHE_LIMIT`` entries), so a stream of novel stacks cannot grow them."""

    def __init__(self) -> None:
        self.stacks: dict[str, _CachedStack] = {}  # FILE lines -> interned stack
        self.interned: dict[Stack, Stack] = {}  # equal stacks share one object, whichever key found them
        self.frames: dict[tuple[str, str, int, int, bool], Frame] = {}  # frames not kept by their FILE line
        self.sites: dict[str, Frame] = {}  # a plain FILE line -> the frame first read with it (see `site`)
        self.tails: dict[str, HeaderTail | None] = {}
        self.names: dict[str, str] = {}  # function and file names, each string kept once
        self.generation = 0

    def begin(self) -> None:
        """A new parse: stacks cached by earlier ones are checked against its CALL lines before they are used."""
        self.generation += 1
        for cache in (self.stacks, self.interned, self.frames, self.sites, self.tails, self.names):
            if len(cache) > _CACHE_LIMIT:
                cache.clear()

    # ---- header ----------------------------------------------------------------------------------------------
    def header(self, line: str) -> tuple[int, HeaderTail] | None:
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
            tail = self.tails[rest] = parse_header_tail(rest)
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
            if is_hex(hex_text):  # never int(…, 16) alone: it reads "-1d", "+1d" and "1_d" as numbers
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
    def goroutine(self, goroutine_id: int, tail: HeaderTail, lines: list[str], other: list[str]) -> Goroutine:
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
                return make_goroutine(goroutine_id, tail, stack, "\n".join(calls), parent)
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
        self, goroutine_id: int, tail: HeaderTail, calls: list[str], wheres: list[str], key: str
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
        return make_goroutine(goroutine_id, tail, stack, call_text, parent)

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
        self, goroutine_id: int, tail: HeaderTail, lines: list[str], key: str, other: list[str]
    ) -> Goroutine:
        """Walk the state machine line by line (elided frames, ancestors, a stack on another thread, oddities)."""
        # one function on purpose: the states share the frame being built; the fast path (``goroutine``) takes
        # every ordinary block, this one only the odd ones
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
        goroutine = make_goroutine(goroutine_id, tail, stack, calls, own[6])
        goroutine.ancestors = ancestors
        goroutine.stack_unavailable = unavailable
        goroutine.truncated = cut
        return goroutine


_CACHE_LIMIT = 100_000
# One parser, and its caches, per thread: a parse trusts the stacks its own generation checked, so two parses at
# once (the scraper parses big bodies in threads) must not share a generation.
_PARSERS = threading.local()


def thread_parser() -> Parser:
    parser: Parser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = Parser()
    return parser


def is_hex(text: str) -> bool:
    digits = text.partition(" ")[0]
    return bool(digits) and all(c in "0123456789abcdef" for c in digits)
