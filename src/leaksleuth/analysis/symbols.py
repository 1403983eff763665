"""Go symbols: which functions and files belong to the Go distribution (runtime, internal, standard library), and
profile locations as frames. Both the goroutine and the heap families name "the line to fix" with these."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from leaksleuth.model.goroutines import Frame, package_of

if TYPE_CHECKING:
    from leaksleuth.model.profile import Location, Profile

# Top-level directories of the Go standard library: a frame is "stdlib" when its package starts with one of these
# (and the first path element has no dot, so "github.com/…" and "example.com/x" are user code; "main" is user code).
_STDLIB_TOP = frozenset(
    "archive bufio bytes cmp compress container context crypto database debug embed encoding errors expvar flag fmt "
    "go hash html image index internal io iter log maps math mime net os path plugin reflect regexp runtime slices "
    "sort strconv strings structs sync syscall testing text time unicode unique unsafe vendor weak".split()
)
_GENERIC_SHAPE = re.compile(r"\[[^\]]*\]")
_GOROOT_RUNTIME_FILE = re.compile(r"^(.*)/src/runtime/[^/]+\.go$")


@functools.lru_cache(maxsize=1 << 14)  # a fleet's code repeats the same few thousand names every round
def is_stdlib(function: str) -> bool:
    first = package_of(function).split("/", 1)[0]
    return "." not in first and first in _STDLIB_TOP


def is_runtime(function: str) -> bool:
    return function.startswith(("runtime.", "runtime/internal/", "internal/runtime/"))


def normalize_function(name: str) -> str:
    """Generic shapes differ by format (``F[go.shape.int]`` in protos, ``F[...]`` in dumps): compare as ``[...]``."""
    return _GENERIC_SHAPE.sub("[...]", name) if "[" in name else name


def detect_goroot(profile: Profile) -> str:
    """The GOROOT the profiled binary was built with, from where its ``runtime.*`` functions live ("" if unknown)."""
    for function in profile.functions:
        if function.name.startswith("runtime."):
            match = _GOROOT_RUNTIME_FILE.match(function.filename)
            if match:
                return match.group(1)
    return ""


def is_go_distribution(function: str, file: str, goroot: str) -> bool:
    """Runtime, internal and standard-library code: allocation plumbing, not the line to fix."""
    if goroot and file.startswith(goroot + "/src/"):
        return True
    return is_stdlib(function)


def location_frames(location: Location, *, mark_inlined: bool = False) -> list[Frame]:
    """A profile location's lines as Frames, innermost inlined call first; ``mark_inlined``: flag every line but
    the last (the physical call) as inlined."""
    last = len(location.lines) - 1
    return [
        Frame(line.function.name, line.function.filename, line.line, inlined=mark_inlined and position < last)
        for position, line in enumerate(location.lines)
    ]
