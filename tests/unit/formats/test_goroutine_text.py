"""Goroutine dumps (debug=2, panics, SIGQUIT, GOTRACEBACK=system, tracebackancestors) against the runtime's counts."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import random
import re
from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ParseError
from leaksleuth.formats import goroutine_blocks, goroutine_text
from leaksleuth.formats.goroutine_text import parse_goroutine_dump
from leaksleuth.model.goroutines import GoroutineDump
from tests.conftest import CAPTURES, captures
from tests.support.mutations import damaged, seed


def _read(name: str) -> str:
    return (CAPTURES / name).read_text()


def test_every_parked_state_is_recognised() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutine.debug2.txt"))
    states = dump.states()
    for state in (
        "chan send",
        "chan receive",
        "chan send (nil chan)",
        "chan receive (nil chan)",
        "select",
        "select (no cases)",
        "sync.Mutex.Lock",
        "sync.RWMutex.Lock",
        "sync.RWMutex.RLock",
        "sync.WaitGroup.Wait",
        "sync.Cond.Wait",
        "sleep",
        "IO wait",
        "syscall",
        "running",
    ):
        assert states[state] >= 1, state
    locked = [g for g in dump.goroutines if g.locked_to_thread]
    assert len(locked) == 1 and locked[0].state == "chan receive"
    main = next(g for g in dump.goroutines if g.id == 1)
    assert main.parent_id is None and main.created_by is None
    others = [g for g in dump.goroutines if g.id != 1]
    assert all(g.parent_id is not None and g.created_by is not None for g in others)


def test_elided_frames_of_deep_recursion() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutine.debug2.txt"))
    deep = [g for g in dump.goroutines if g.stack.elided > 0]
    assert len(deep) == 1
    stack = deep[0].stack
    assert stack.elided_at == 50 and len(stack.frames) == 100
    assert stack.frames[0].line != stack.frames[-1].line  # innermost base case vs outermost call


def test_inlined_frames_and_closures() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutine.debug2.txt"))
    frames = [f for stack in dump.stacks() for f in stack.frames]
    assert any(f.inlined and f.pc_offset == -1 for f in frames)
    assert any(".func" in f.function for f in frames)


def test_leaked_goroutines_are_marked() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutineleak.debug2.txt"))
    leaked = [g for g in dump.goroutines if g.leaked]
    entry = next(e for e in captures("debug2", "goroutineleak"))
    assert len(leaked) == entry["leaked"]
    assert all(not g.state.endswith("(leaked)") for g in dump.goroutines)


def test_goroutines_with_the_same_stack_share_one_object() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutine.debug2.txt"))
    by_site: dict[tuple[tuple[str, int], ...], set[int]] = {}
    for goroutine in dump.goroutines:
        key = (
            *tuple((f.function, f.line) for f in goroutine.frames),
            (goroutine.created_by.function, goroutine.created_by.line) if goroutine.created_by else ("", 0),
        )
        by_site.setdefault(key, set()).add(id(goroutine.stack))
    assert all(len(objects) == 1 for objects in by_site.values())
    assert any(count > 1 for count in dump.stacks().values())


def test_system_traceback_headers() -> None:
    dump = parse_goroutine_dump(_read("panicker.system.txt"))
    assert all(g.gp and g.gp.startswith("0x") for g in dump.goroutines)
    assert any(g.m not in (None, "nil") for g in dump.goroutines)
    assert any(f.function.startswith("runtime.") for g in dump.goroutines for f in g.frames)


def test_ancestors() -> None:
    dump = parse_goroutine_dump(_read("panicker.ancestors.txt"))
    with_ancestors = [g for g in dump.goroutines if g.ancestors]
    assert with_ancestors
    for goroutine in with_ancestors:
        assert goroutine.ancestors[0].goroutine_id == goroutine.parent_id
        assert all(a.stack.frames for a in goroutine.ancestors)


_ELIDED_WITH_ANCESTOR = (  # an elided line and an ancestor header: 11 lines, as odd as a plain stack's
    "goroutine {id} [chan send]:\n"
    "main.a(0x{id:x})\n\t/src/a.go:1 +0x1\n"
    "...additional frames elided...\n"
    "created by main.b in goroutine 3\n\t/src/b.go:2 +0x2\n"
    "[originating from goroutine 3]:\n"
    "main.b(...)\n\t/src/b.go:3 +0x3\n"
    "created by main.main in goroutine 1\n\t/src/m.go:4 +0x4\n"
)


def test_a_stack_with_elided_frames_and_ancestors_is_never_read_from_the_stack_cache() -> None:
    """The stack cache is looked up without searching a block for these lines: every goroutine of the same text,
    in this parse and the next, keeps its ancestors and its elision."""
    text = "\n".join(_ELIDED_WITH_ANCESTOR.format(id=n) for n in (5, 6, 7))
    for _ in range(2):
        dump = parse_goroutine_dump(text)
        assert [g.id for g in dump.goroutines] == [5, 6, 7]
        for goroutine in dump.goroutines:
            assert [a.goroutine_id for a in goroutine.ancestors] == [3]
            assert goroutine.stack.elided == -1 and goroutine.created_by is not None
            assert goroutine.ancestors[0].stack.frames[0].function == "main.b"


def test_panic_text_passes_through() -> None:
    dump = parse_goroutine_dump(_read("panicker.panic.txt"))
    assert dump.panic_message is not None and dump.panic_message.startswith("panic: ")
    assert any(line.startswith("[signal SIGSEGV") for line in dump.other_text)


def test_sigquit_dump() -> None:
    dump = parse_goroutine_dump(_read("panicker.sigquit.txt"))
    assert "SIGQUIT: quit" in dump.other_text
    assert dump.states()["select (no cases)"] == 1


def test_header_variants() -> None:
    text = (
        "goroutine 7 gp=0xc000007a40 m=3 mp=0xc000100008 [chan receive (leaked), 12 minutes, locked to thread, "
        'synctest bubble 4] {handler: /api, "odd key": "v 1"}:\n'
        "main.worker(0xc000012345, {0x1, 0x2}, ...)\n"
        "\t/src/app/worker.go:42 +0x1d fp=0xc0000 sp=0xc0001 pc=0x4a4a05\n"
        "created by main.start in goroutine 1\n"
        "\t/src/app/main.go:9 +0x25\n"
        "\n"
        "goroutine 8 [select (scan)]:\n"
        "\tgoroutine running on other thread; stack unavailable\n"
        "\n"
        "goroutine 9 [chan receive (durable)]:\n"
        "main.f(...)\n\t/src/a.go:3\n"
        "...additional frames elided...\n"
        "created by main.g in goroutine 2\n\t/src/a.go:9 +0x1\n"
    )
    dump = parse_goroutine_dump(text)
    first, second, third = dump.goroutines
    assert (first.id, first.state, first.wait_minutes, first.locked_to_thread, first.leaked) == (
        7,
        "chan receive",
        12,
        True,
        True,
    )
    assert (first.gp, first.m, first.synctest_bubble) == ("0xc000007a40", "3", 4)
    assert first.labels == (("handler", "/api"), ("odd key", "v 1"))
    assert first.frames[0].site() == "/src/app/worker.go:42" and first.frames[0].pc_offset == 0x1D
    assert first.args == ("0xc000012345, {0x1, 0x2}, ...",)
    assert first.parent_id == 1
    assert second.stack_unavailable and second.scan and second.state == "select"
    assert third.durable and third.stack.elided == -1 and not dump.truncated


def test_wait_minutes_and_crlf() -> None:
    text = (
        "goroutine 3 [chan send, 1439 minutes]:\r\nmain.leak(...)\r\n\t/x/m.go:10\r\n"
        "created by main.main in goroutine 1\r\n\t/x/m.go:14 +0x1f\r\n"
    )
    (goroutine,) = parse_goroutine_dump(text).goroutines
    assert goroutine.wait_minutes == 1439 and goroutine.frames[0].line == 10


def test_not_a_dump() -> None:
    with pytest.raises(ParseError, match="no goroutines") as caught:
        parse_goroutine_dump(b"hello world\nthis is not a dump\n")
    assert "hello world" in str(caught.value)


# ---- truncation and fuzzing ------------------------------------------------------------------------------------

_FULL_TEXT = _read("parked.goroutine.debug2.txt")
_FULL = parse_goroutine_dump(_FULL_TEXT)
DUMPS = captures("debug2") + captures("panic")
_DUMP_TEXTS = {str(entry["file"]): _read(str(entry["file"])) for entry in DUMPS}
_DUMP_PARSED = {name: parse_goroutine_dump(text) for name, text in _DUMP_TEXTS.items()}
_HEADER_LINE = re.compile(r"^goroutine \d+ ", re.MULTILINE)
_INSIDE_AN_OFFSET = re.compile(r"\n\t\S+:\d+ \+0x[0-9a-f]+(?: [^\n]*)?\Z")


def _same(a: object, b: object) -> bool:
    return repr(a) == repr(b)


def _check_prefix(name: str, cut: int) -> None:
    """A prefix parses every complete goroutine as the whole dump does, and flags the last one if it is cut."""
    text, full = _DUMP_TEXTS[name], _DUMP_PARSED[name]
    prefix = text[:cut]
    try:
        dump = parse_goroutine_dump(prefix)
    except ParseError:
        assert not _HEADER_LINE.search(prefix), (name, cut)
        return
    parsed = dump.goroutines
    assert parsed, (name, cut)
    for got, want in zip(parsed[:-1], full.goroutines, strict=False):
        assert _same(got, want), (name, cut)
    last = parsed[-1]
    full_last = full.goroutines[len(parsed) - 1]
    complete = _same(last, full_last)
    if not complete and len(parsed) == 1 and _same(last, dataclasses.replace(full_last, ancestors=())):
        # the first goroutine cut just before its first '[originating from goroutine N]:' block reads exactly like
        # a whole dump printed without GODEBUG=tracebackancestors (a GOTRACEBACK=single panic): nothing to go by
        return
    if _INSIDE_AN_OFFSET.search(prefix) and text[cut] not in "\n":
        # cut inside the last FILE line's ``+0x1d3`` (or the `` fp=…`` after it): a last line with an offset is
        # whole (a dump saved without its final newline), so ``+0x1d`` reads as a whole, different, offset
        return
    assert last.truncated or complete, (name, cut, last)
    assert dump.truncated == last.truncated or not complete, (name, cut)


@pytest.mark.parametrize("name", sorted(_DUMP_TEXTS))
def test_every_line_prefix_keeps_complete_goroutines_and_flags_the_last(name: str) -> None:
    text = _DUMP_TEXTS[name]
    for cut in [i + 1 for i, char in enumerate(text) if char == "\n"]:
        _check_prefix(name, cut)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_DUMP_TEXTS)), st.floats(0, 1, exclude_max=True))
def test_any_prefix_keeps_complete_goroutines_and_flags_the_last(name: str, where: float) -> None:
    _check_prefix(name, 1 + int(where * (len(_DUMP_TEXTS[name]) - 1)))


def test_cut_dumps_are_flagged() -> None:
    system = _read("panicker.system.txt")
    assert parse_goroutine_dump(system[:998]).truncated  # GOTRACEBACK=system: cut after runtime.goexit
    ancestors = _read("panicker.ancestors.txt")
    cut = ancestors.index("[originating from goroutine 1]:", ancestors.index("goroutine 19 ["))
    dump = parse_goroutine_dump(ancestors[:cut])
    assert dump.truncated and dump.goroutines[-1].id == 19 and dump.goroutines[-1].truncated
    unavailable = "goroutine 7 [running]:\n\tgoroutine running on other thread; stack unavailable\n"
    assert parse_goroutine_dump(unavailable).truncated  # its 'created by' is missing
    assert not parse_goroutine_dump(unavailable.replace(" 7 ", " 1 ")).truncated  # goroutine 1 has none


_ENDS_WITH_A_FRAME = sorted(n for n, t in _DUMP_TEXTS.items() if re.search(r"\n\t\S+:\d+ \+0x[0-9a-f]+\n$", t))


@pytest.mark.parametrize("name", _ENDS_WITH_A_FRAME)
def test_a_whole_dump_saved_without_its_final_newline_keeps_its_last_frame(name: str) -> None:
    """An editor or ``echo -n`` drops the last newline: the last line still has its ``+0x…`` offset, so it is whole
    (issue 12, item 12: ``main.main()`` / ``main.go:147 +0x1d3`` was lost and the dump flagged truncated)."""
    text, full = _DUMP_TEXTS[name], _DUMP_PARSED[name]
    dump = parse_goroutine_dump(text.rstrip("\n"))
    assert dump.truncated == full.truncated and len(dump.goroutines) == len(full.goroutines)
    assert _same(dump.goroutines[-1], full.goroutines[-1])
    cut_in_the_line = text.rstrip("\n").rpartition(" +0x")[0]  # the offset itself is missing: cut for sure
    assert parse_goroutine_dump(cut_in_the_line).goroutines[-1].truncated


def test_cut_inside_a_header_keeps_the_id() -> None:
    third = _FULL.goroutines[2]
    at = _FULL_TEXT.index(f"\n\ngoroutine {third.id} [") + 2
    dump = parse_goroutine_dump(_FULL_TEXT[: at + len(f"goroutine {third.id} [c")])
    assert dump.truncated and dump.goroutines[-1].id == third.id and dump.goroutines[-1].truncated
    assert len(dump.goroutines) == 3 and not dump.goroutines[1].truncated


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_text(text: str) -> None:
    try:
        dump = parse_goroutine_dump(text)
    except ParseError:
        return
    for goroutine in dump.goroutines:
        assert goroutine.id >= 0


_LINES = _FULL_TEXT.split("\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=60), st.lists(st.text(max_size=20), max_size=5))
def test_fuzz_shuffled_dump_lines(lines: list[str], noise: list[str]) -> None:
    with contextlib.suppress(ParseError):
        parse_goroutine_dump("\n".join(lines + noise))


def test_synctest_bubble_and_durable_states() -> None:
    dump = parse_goroutine_dump(_read("bubble.goroutine.stack.txt"))
    in_bubble = [g for g in dump.goroutines if g.synctest_bubble == 1]
    assert len(in_bubble) >= 8
    assert sum(g.durable for g in dump.goroutines) == 7
    assert all(not g.state.endswith(")") or "(" in g.state for g in dump.goroutines)


def test_header_labels_from_a_real_dump() -> None:
    dump = parse_goroutine_dump(_read("parked.goroutine.labels.debug2.txt"))
    labelled = [g for g in dump.goroutines if g.labels]
    assert len(labelled) == 3
    assert dict(labelled[0].labels) == {"peer": "10.0.0.7:443", "role": "sender"}


def test_extra_blank_lines_between_goroutines() -> None:
    text = "\n\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:3 +0x1\n\n\n\n\ngoroutine 2 [sleep]:\ntime.Sleep(0x1)\n"
    text += "\t/t.go:9 +0x2\ncreated by main.main in goroutine 1\n\t/a.go:2 +0x3\n"
    dump = parse_goroutine_dump(text)
    assert [g.id for g in dump.goroutines] == [1, 2] and not dump.other_text and not dump.truncated


def test_a_stack_cached_from_one_dump_keeps_its_own_function_names() -> None:
    old = (
        "goroutine 5 [chan send]:\nmain.handleOld(0x1)\n\t/src/app/h.go:10 +0x1d\n"
        "created by main.main in goroutine 1\n\t/src/app/main.go:9 +0x25\n"
    )
    new = old.replace("handleOld", "handleNew").replace("main.main in", "main.serve in")
    for text, function, creator in ((old, "main.handleOld", "main.main"), (new, "main.handleNew", "main.serve")):
        for _ in range(2):  # the first parse fills the cache, the second reads it
            (goroutine,) = parse_goroutine_dump(text).goroutines
            assert goroutine.frames[0].function == function
            assert goroutine.created_by is not None and goroutine.created_by.function == creator
            assert goroutine.args == ("0x1",) and goroutine.parent_id == 1


@pytest.mark.parametrize(
    "text",
    [
        "goroutine ² [running]:\nmain.main()\n\t/a.go:1 +0x1\n",
        "goroutine 1 [running]:\nmain.main()\n\t/a.go:² +0x1\n",
        "goroutine 1 [chan send, ² minutes]:\nmain.main()\n\t/a.go:1 +0x1\n",
        "goroutine 1 [running, synctest bubble ²]:\nmain.main()\n\t/a.go:1 +0x1\n",
        "goroutine 2 [running]:\nmain.f()\n\t/a.go:1 +0x1\ncreated by main.main in goroutine ²\n\t/a.go:2 +0x1\n",
        "goroutine 2 [running]:\nmain.f()\n\t/a.go:1 +0x1\ncreated by main.main in goroutine 1\n\t/a.go:² +0x1\n",
    ],
)
def test_digits_that_are_not_numbers(text: str) -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` fails: such lines are not goroutine text, never a ValueError."""
    with contextlib.suppress(ParseError):
        parse_goroutine_dump(text)


# ---- first sight: the whole-list reading of ordinary stacks against the line-by-line one ------------------------

_LINE_BY_LINE = goroutine_blocks.Parser.goroutine_slow


@contextlib.contextmanager
def _first_sight(*, line_by_line: bool) -> Iterator[mock.MagicMock]:
    """Parse with empty caches, so that every stack is read at first sight (the caches outlive a parse); with
    ``line_by_line`` the whole-list reading is off. Yields a spy on the line-by-line reading."""
    with contextlib.ExitStack() as patches:
        fresh = goroutine_blocks.Parser()  # this thread's parser, with empty caches
        patches.enter_context(mock.patch.object(goroutine_blocks._PARSERS, "parser", fresh, create=True))
        if line_by_line:
            patches.enter_context(mock.patch.object(goroutine_blocks.Parser, "goroutine_pairs", return_value=None))
        yield patches.enter_context(
            mock.patch.object(goroutine_blocks.Parser, "goroutine_slow", autospec=True, side_effect=_LINE_BY_LINE)
        )


def _both_readings(text: str) -> tuple[GoroutineDump | None, GoroutineDump | None, int]:
    """(dump read with the whole-list reading, dump read line by line, line-by-line reads in the first)."""
    dumps: list[GoroutineDump | None] = []
    reads: list[int] = []
    for line_by_line in (False, True):
        with _first_sight(line_by_line=line_by_line) as spy:
            try:
                dumps.append(parse_goroutine_dump(text))
            except ParseError:
                dumps.append(None)
            reads.append(spy.call_count)
    return dumps[0], dumps[1], reads[0]


def _assert_same(got: GoroutineDump | None, want: GoroutineDump | None) -> None:
    """Ids, states, frames, creators, parents, flags, labels, ancestors, CALL text, other text: all of it."""
    assert (got is None) == (want is None)
    if got is None or want is None:
        return
    assert len(got.goroutines) == len(want.goroutines)
    for mine, theirs in zip(got.goroutines, want.goroutines, strict=True):
        assert repr(mine) == repr(theirs)
        assert mine.args == theirs.args
    assert (got.other_text, got.truncated) == (want.other_text, want.truncated)


def _novel_stacks(text: str, seed: int) -> str:
    """The dump's blocks shuffled, and each block's line numbers shifted by its new place: no stack repeats, so
    every goroutine is a first sight (and FILE lines of other lengths)."""
    blocks = text.rstrip("\n").split("\n\n")
    random.Random(seed).shuffle(blocks)
    shifted = [
        re.sub(r"\.go:([0-9]+)", lambda match, shift=place * 7: f".go:{int(match[1]) + shift}", block)
        for place, block in enumerate(blocks)
    ]
    return "\n\n".join(shifted) + "\n"


@pytest.mark.parametrize("name", sorted(_DUMP_TEXTS))
@pytest.mark.parametrize("novel", [False, True], ids=["as-captured", "novel-stacks"])
def test_first_sight_reading_agrees_with_line_by_line(name: str, novel: bool) -> None:
    text = _novel_stacks(_DUMP_TEXTS[name], seed=len(name)) if novel else _DUMP_TEXTS[name]
    fast, slow, line_by_line_reads = _both_readings(text)
    _assert_same(fast, slow)
    assert fast is not None
    # only what is not plain CALL/FILE pairs (ancestors, elided frames, a stack on another thread) goes line by line
    unusual = sum(bool(g.ancestors or g.stack.elided or g.stack_unavailable or g.truncated) for g in fast.goroutines)
    assert line_by_line_reads == unusual


_ODD_PAIRS = [
    ("main.(*T).run.func1(0x1, {0x2, 0x3})", "\t/src/a.go:12 +0x1d"),  # parentheses in the function
    ("main.f(...)", "\t/src/a.go:3"),  # inlined: no offset
    ("main.f(..., 0x1)", "\t/src/a.go:3 +0x2"),  # "..." that is not inlined
    ("main.f(...)", "\t/src/a.go:3 +0x2"),
    ("main.f.func1(...)", "\t/src/a.go:3"),  # the same FILE lines for other functions (a closure on the line)
    ("main.h(0x1)", "\t/src/a.go:3 +0x2"),
    ("main.g()", "\t/src/a.go:4 +0x1F"),  # upper-case offset
    ("main.g()", "\t/src/a.go:4 +0xZZ"),  # not an offset: not a frame
    ("main.g()", "\t/src/a.go:4 +0x"),
    ("main.g()", "\t/src/a.go:4 "),  # a space and nothing after it
    ("main.g()", "\t/src/a.go:4 fp=0xc000 sp=0xc001 pc=0x4a"),  # GOTRACEBACK=system without an offset
    ("main.g()", "\t/src/a.go:4 +0x1d fp=0xc000 sp=0xc001 pc=0x4a"),
    ("main.g()", "\t/src/a b.go:4 +0x1d"),  # a space in the path
    ("main.g()", "\tC:/src/a.go:4 +0x1d"),  # a colon in the path
    ("main.g()", "\t/src/a.go:٣ +0x1d"),  # a digit that is not ASCII
    ("main.g()", "\t/src/a.go:007 +0x1d"),
    ("main.g()", "\t/src/a.go:x +0x1d"),
    ("main.g()", "/src/a.go:4 +0x1d"),  # no tab
    ("main.g(", "\t/src/a.go:4 +0x1d"),  # no ")"
    ("main.g", "\t/src/a.go:4 +0x1d"),
    ("(0x1)", "\t/src/a.go:4 +0x1d"),  # nothing before "("
    ("main.g(0x1)(0x2)", "\t/src/a.go:4 +0x1d"),
    ("\tmain.g()", "\t/src/a.go:4 +0x1d"),
    ("created by main.main(0x1)", "\t/src/a.go:9 +0x25"),  # a creator in the middle
    ("created by main.main in goroutine 1", "\t/src/a.go:9 +0xZZ"),  # a creator's bad offset is only dropped
    ("created by main.main in goroutine ²", "\t/src/a.go:9 +0x25"),
    ("...3 frames elided...", "\t/src/a.go:4 +0x1d"),
    ("main.g()", "\tgoroutine running on other thread; stack unavailable"),
]


_ODD_STACKS = st.lists(st.sampled_from(_ODD_PAIRS), min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(_ODD_STACKS, _ODD_STACKS, st.booleans())
def test_first_sight_reading_of_odd_pairs(
    first: list[tuple[str, str]], second: list[tuple[str, str]], created: bool
) -> None:
    """Pairs the whole-list reading must read exactly as the line-by-line one does, or leave to it. A frame
    begins the first goroutine and ends the second: a stack not seen before, often of FILE lines all seen before."""
    creator = ["created by main.main in goroutine 1", "\t/src/main.go:9 +0x25"] if created else []
    both = ("main.both()", "\t/src/both.go:1 +0x1")
    first, second = [both, *first], [*second, both]
    bodies = ["\n".join([line for pair in pairs for line in pair] + creator) for pairs in (first, second)]
    text = f"goroutine 7 [chan send]:\n{bodies[0]}\n\ngoroutine 8 [select]:\n{bodies[1]}\n"
    _assert_same(*_both_readings(text)[:2])


_DUMP_SEEDS = {name: seed(name) for name in sorted(_DUMP_TEXTS)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_DUMP_SEEDS)).flatmap(lambda name: damaged(_DUMP_SEEDS[name])))
def test_first_sight_reading_of_damaged_dumps(data: bytes) -> None:
    _assert_same(*_both_readings(data.decode("utf-8", "replace"))[:2])


def test_one_file_line_for_two_functions() -> None:
    """Frames are found by their FILE line, yet a closure inlined on its function's line (or another binary) prints
    the same FILE line for another function, or for a call that is not inlined. (No two stacks below have the same
    FILE lines: a whole stack is found by those.)"""
    stacks = [
        [("main.serve.func1(...)", 7), ("main.main()", 3)],
        [("main.serve(...)", 7), ("main.main()", 4)],
        [("main.serve(0x1)", 7), ("main.main()", 5)],
        [("main.serve.func1(0x2)", 7), ("main.main()", 3), ("main.main()", 4)],  # every FILE line seen before
        [("main.serve.func1(...)", 7), ("main.main()", 5), ("main.main()", 4)],
        [("main.leak(...)", 9), ("main.main()", 3)],
        [("main.serve.func1(0x3)", 7), ("main.leak(...)", 9), ("main.main()", 4)],
    ]
    text = "".join(
        f"goroutine {5 + index} [select]:\n" + "".join(f"{call}\n\t/src/a.go:{line}\n" for call, line in pairs) + "\n"
        for index, pairs in enumerate(stacks)
    )
    fast, slow, _ = _both_readings(text)
    _assert_same(fast, slow)
    assert fast is not None
    assert [(g.frames[0].function, g.frames[0].inlined) for g in fast.goroutines] == [
        ("main.serve.func1", True),
        ("main.serve", True),
        ("main.serve", False),
        ("main.serve.func1", False),
        ("main.serve.func1", True),
        ("main.leak", True),
        ("main.serve.func1", False),
    ]
    assert fast.goroutines[0].frames[0] is fast.goroutines[4].frames[0]


def test_a_parse_leaves_the_cycle_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    parse_goroutine_dump(_FULL_TEXT)
    assert gc.isenabled()
    gc.disable()
    try:
        parse_goroutine_dump(_FULL_TEXT)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_signed_pc_offset_is_not_read_as_a_number() -> None:
    # found by the invariant fuzzing: int(text, 16) reads "-1d" as -29, so "+0x-1d" gave a frame a negative offset
    from leaksleuth.errors import ParseError

    dump = (
        "goroutine 8 [IO wait]:\n"
        "internal/poll.(*FD).Accept(0x2a11a76e4100)\n"
        "\t/usr/lib/go/src/internal/poll/fd_unix.go:618 +0x-1d\n"
        "main.main()\n"
        "\t/src/main.go:18 +0x78\n"
    )
    try:
        parsed = parse_goroutine_dump(dump)
    except ParseError as exc:
        assert "+0x-1d" in str(exc)
        return
    assert all(frame.pc_offset >= -1 for g in parsed.goroutines for frame in g.frames)


# ---- windows: a dump is decoded and split a piece at a time -----------------------------------------------------


def _in_windows(data: bytes, window: int) -> GoroutineDump | str:
    """The dump parsed in windows of ``window`` bytes, or its ParseError's message."""
    with mock.patch.object(goroutine_text, "_WINDOW", window):
        try:
            return parse_goroutine_dump(data)
        except ParseError as exc:
            return str(exc)


def _assert_windows_change_nothing(data: bytes, whole: GoroutineDump | str) -> None:
    for window in (1, 2, 3, 64):
        got = _in_windows(data, window)
        if isinstance(whole, str) or isinstance(got, str):
            assert got == whole
        else:
            _assert_same(got, whole)


@pytest.mark.parametrize("name", sorted(_DUMP_TEXTS))
def test_a_dump_read_in_small_windows_parses_as_one_piece(name: str) -> None:
    """Windows end after a blank line: however small they are, no block, CRLF pair or UTF-8 sequence is cut."""
    text = _DUMP_TEXTS[name]
    for data in (text.encode(), text.replace("\n", "\r\n").encode(), f"\n\n\n{text}\n\n\n".encode()):
        whole = parse_goroutine_dump(data.decode())  # (text is read as one piece)
        assert whole.goroutines
        _assert_windows_change_nothing(data, whole)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_DUMP_SEEDS)).flatmap(lambda name: damaged(_DUMP_SEEDS[name])))
def test_damaged_dumps_read_in_small_windows_parse_as_one_piece(data: bytes) -> None:
    """Cut, spliced and invalid UTF-8 bytes: the partial last line, a header cut short, the quote of an error."""
    _assert_windows_change_nothing(data, _in_windows(data, len(data) + 1))


@pytest.mark.parametrize(
    ("data", "stub"),
    [
        (b"\n\ngoroutine 5 [ru", True),
        (b" \n \ngoroutine 5 [ru", True),  # only whitespace before it
        (b"x\n\n\ngoroutine 5 [ru", True),
        (b"x\ngoroutine 5 [ru", False),  # a line of the block before it
    ],
)
def test_the_end_of_a_dump_read_in_windows(data: bytes, stub: bool) -> None:
    """What comes before a partial last line (in the last window or the ones before it) decides whether it was the
    header of one more goroutine."""
    whole = _in_windows(data, len(data) + 1)
    assert isinstance(whole, str) != stub
    _assert_windows_change_nothing(data, whole)
