"""What kind of allocation a heap-profile site is: makeslice, growslice, map, newobject, string concat, …

Go (1.2x) trims its own allocation frames (``runtime.mallocgc``, ``makeslice``, ``growslice``, ``newobject``…) from
heap profile stacks, so the kind rarely shows as a runtime frame. What is left to go on, in order of trust:

1. allocation plumbing that *is* still on the stack: runtime frames when present (``runtime.mapassign_faststr``,
   ``runtime.concatstrings``…), and standard-library allocators (``strings.(*Builder).WriteString`` grows a slice,
   ``internal/sync.(*HashTrieMap)`` is a ``sync.Map``);
2. the source text of the user line, when the caller could read it (pure here: the CLI passes the text in),
   disambiguated by the object size (the ``bytes`` label) when the line holds two allocations
   (``cache[key] = make([]byte, 16<<10)``: 16 KiB objects are the ``make``, anything else the map).

Anything else is ``unknown``: a wrong kind sends people to the wrong fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leaksleuth.model.profile import Int64Array

MAKESLICE = "makeslice"
GROWSLICE = "growslice"
MAP = "map"
NEWOBJECT = "newobject"
STRING_CONCAT = "string-concat"
STRING_CONVERSION = "string-conversion"
MAKECHAN = "makechan"
GOROUTINE = "goroutine-stack"
INTERFACE = "interface-boxing"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AllocationKind:
    kind: str
    evidence: str  # why: "frame runtime.growslice", "source: ids = append(ids, i)", …


# Innermost plumbing frame first; the first rule that matches a frame decides.
_FRAME_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), kind, why)
    for pattern, kind, why in (
        (r"^runtime\.growslice$", GROWSLICE, "append grows a slice"),
        (r"^runtime\.makeslice(copy)?$", MAKESLICE, "make([]T, n)"),
        (r"^runtime\.(makemap|mapassign|hashGrow|growWork|\(\*hmap\)\.newoverflow)", MAP, "map insert/growth"),
        (r"^internal/runtime/maps\.", MAP, "map insert/growth"),
        (r"^(internal/sync\.(\(\*HashTrieMap|newEntryNode|newIndirectNode)|sync\.\(\*Map\))", MAP, "sync.Map entry"),
        (r"^runtime\.newobject$", NEWOBJECT, "new(T) / &T{}"),
        (r"^runtime\.(concatstring|concatbyte|rawstring)", STRING_CONCAT, "string concatenation"),
        (r"^runtime\.(slicebytetostring|stringtoslice|slicerunetostring|intstring)", STRING_CONVERSION, "conversion"),
        (r"^runtime\.makechan$", MAKECHAN, "make(chan T, n)"),
        (r"^runtime\.(malg|newproc1)$", GOROUTINE, "goroutine stack"),
        (r"^runtime\.convT", INTERFACE, "value boxed in an interface"),
        (r"^strings\.\(\*Builder\)\.", GROWSLICE, "strings.Builder grows its buffer"),
        (r"^bytes\.\(\*Buffer\)\.", GROWSLICE, "bytes.Buffer grows its buffer"),
        (r"^(internal/)?strconv\.|^fmt\.(Sprint|Sprintf|Sprintln|Errorf)$", STRING_CONVERSION, "formatted string"),
        (r"^bufio\.New(Reader|Writer)Size$", MAKESLICE, "bufio buffer"),
        (r"^io\.ReadAll$", GROWSLICE, "io.ReadAll grows its buffer"),
    )
)

# Constructs on a source line, with the kind each allocates. Order does not matter: two different kinds on one
# line are ambiguous unless the object size settles it.
_SOURCE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bappend\("), GROWSLICE),
    (re.compile(r"\bmake\(\s*map\["), MAP),
    (re.compile(r"\bmake\(\s*\[\]"), MAKESLICE),
    (re.compile(r"\bmake\(\s*chan\b"), MAKECHAN),
    (re.compile(r"\bnew\(|&\s*[A-Za-z_][\w.]*(\[[^\]]*\])?\{"), NEWOBJECT),
    (re.compile(r"\+=\s*(\"|`|\w+\()|\"\s*\+|\+\s*\""), STRING_CONCAT),
    (re.compile(r"\bstring\(|\[\]byte\(|\[\]rune\("), STRING_CONVERSION),
    (re.compile(r"\.(Store|LoadOrStore|Swap)\("), MAP),  # sync.Map
    (re.compile(r"\w\[[^\]]+\]\s*=[^=]"), MAP),  # an index store allocates only when it grows a map
    (re.compile(r"^\s*go\s"), GOROUTINE),
)
_MAKE_CONSTANT = re.compile(r"\bmake\(\s*\[\](byte|uint8|int8|bool)\s*,\s*([0-9_]+(?:\s*(?:<<|\*)\s*[0-9_]+)*)\s*[,)]")
_LINE_COMMENT = re.compile(r"//.*$")
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')


def infer_kind(
    plumbing: Sequence[str], source_line: str | None = None, object_size: int | None = None
) -> AllocationKind:
    """The allocation kind of a site from its plumbing frames (innermost first), source text and object size.

    Runtime frames are looked through until one names the kind (``runtime.mallocgc`` does not). The first
    standard-library frame decides: it is what allocated, so the user's source line says nothing about the kind.
    """
    for function in plumbing:
        for pattern, kind, why in _FRAME_RULES:
            if pattern.search(function):
                return AllocationKind(kind, f"frame {function}: {why}")
        if not function.startswith("runtime."):
            return AllocationKind(UNKNOWN, f"allocated inside {function}")
    if source_line:
        return _kind_from_source(source_line.strip(), object_size)
    return AllocationKind(UNKNOWN, "no allocation frame on the stack and no source text")


def _kind_from_source(line: str, object_size: int | None) -> AllocationKind:
    # literals become "" (quotes kept: concatenation rules need them), so "//" or "make(" inside a string is inert
    code = _LINE_COMMENT.sub("", _STRING_LITERAL.sub('""', line))
    constructs = {kind for pattern, kind in _SOURCE_RULES if pattern.search(code)}
    if len(constructs) == 1:
        (kind,) = constructs
        return AllocationKind(kind, f"source: {line}")
    if MAKESLICE in constructs and object_size:
        made = _constant_make_size(code)
        others = constructs - {MAKESLICE}
        if made is not None and size_class(made) == size_class(object_size):
            return AllocationKind(MAKESLICE, f"source: {line} ({object_size} B objects are the make)")
        if made is not None and len(others) == 1:
            (kind,) = others
            return AllocationKind(kind, f"source: {line} ({object_size} B objects are not the {made} B make)")
    if not constructs:
        return AllocationKind(UNKNOWN, f"no allocating construct on the line: {line}")
    return AllocationKind(UNKNOWN, f"several allocations on the line ({', '.join(sorted(constructs))}): {line}")


def _constant_make_size(code: str) -> int | None:
    """Bytes of ``make([]byte, <integer constant expression>)``, when the length is a literal expression."""
    match = _MAKE_CONSTANT.search(code)
    if not match:
        return None
    parts = re.split(r"\s*(<<|\*)\s*", match.group(2))
    value = int(parts[0].replace("_", ""))
    for operator, operand in zip(parts[1::2], parts[2::2], strict=True):
        number = int(operand.replace("_", ""))
        value = value << number if operator == "<<" else value * number
    return value


# Go's size classes (internal/runtime/gc/sizeclasses.go); bigger objects get their own spans, rounded to pages.
SIZE_CLASSES = (
    8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448,
    480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096,
    4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072,
    20480, 21760, 24576, 27264, 28672, 32768,
)  # fmt: skip
_PAGE = 8192


def size_class(size: int) -> int:
    """The object size class for clustering: Go's size class up to 32 KiB, else the next power of two."""
    if size <= 0:
        return 0
    if size <= SIZE_CLASSES[-1]:
        low, high = 0, len(SIZE_CLASSES) - 1
        while low < high:
            middle = (low + high) // 2
            if SIZE_CLASSES[middle] < size:
                low = middle + 1
            else:
                high = middle
        return SIZE_CLASSES[low]
    pages = -(-size // _PAGE) * _PAGE
    return int(1 << (pages - 1).bit_length())


def size_classes(sizes: Int64Array) -> Int64Array:
    """``size_class`` of every element, vectorised."""
    classes = np.asarray(SIZE_CLASSES, dtype=np.int64)
    small = classes[np.minimum(np.searchsorted(classes, sizes), classes.size - 1)]
    pages = -(-sizes // _PAGE) * _PAGE
    large = np.left_shift(1, np.ceil(np.log2(np.maximum(pages, 1))).astype(np.int64))
    return np.where(sizes <= 0, 0, np.where(sizes <= SIZE_CLASSES[-1], small, large)).astype(np.int64)
