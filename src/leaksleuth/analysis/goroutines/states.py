"""How a goroutine is parked: a slug from the printed state (debug=2), or from the runtime frames (protos); and
where: the blocking frame, the line to fix (``inspect`` needs no more of the goroutine analysis than this module).

debug=1 text hides the runtime frames at the top of every stack (``runtime/pprof.printStackRecord``): a goroutine
blocked in ``runtime.chansend1``/``chanrecv1``/``selectgo``/``block`` shows only address-only frames above the user
frame, so channel operations and selects cannot be told apart from the stack. The frames that stay visible (sync,
time, internal/poll, syscall) still classify; for the rest, the blocking line's source text (when it can be read
here) or a goroutineleak proto of the same process (which keeps the runtime frames) has to say.
"""

from __future__ import annotations

import re

from leaksleuth.analysis.symbols import is_stdlib
from leaksleuth.model.goroutines import Frame

_STATE_CLASSES = {
    "chan send": "chan-send",
    "chan receive": "chan-receive",
    "chan send (nil chan)": "nil-chan-send",
    "chan receive (nil chan)": "nil-chan-receive",
    "select": "select",
    "select (no cases)": "select-no-cases",
    "sync.Mutex.Lock": "mutex",
    "sync.RWMutex.Lock": "rwmutex-lock",
    "sync.RWMutex.RLock": "rwmutex-rlock",
    "sync.WaitGroup.Wait": "waitgroup",
    "sync.Cond.Wait": "cond",
    "semacquire": "semaphore",
    "sleep": "sleep",
    "IO wait": "io-wait",
    "syscall": "syscall",
    "running": "running",
    "runnable": "runnable",
}
# frames that reveal the parking primitive when the state is not printed (proto / debug=1), innermost match wins
_FRAME_CLASSES = (
    ("runtime.chansend", "chan-send"),
    ("runtime.chanrecv", "chan-receive"),
    ("runtime.selectgo", "select"),
    ("runtime.block", "select-no-cases"),
    ("sync.(*Mutex).Lock", "mutex"),
    ("sync.(*RWMutex).RLock", "rwmutex-rlock"),
    ("sync.(*RWMutex).Lock", "rwmutex-lock"),
    ("sync.(*WaitGroup).Wait", "waitgroup"),
    ("sync.(*Cond).Wait", "cond"),
    ("sync.runtime_SemacquireMutex", "mutex"),
    ("sync.runtime_SemacquireRWMutexR", "rwmutex-rlock"),
    ("sync.runtime_SemacquireRWMutex", "rwmutex-lock"),
    ("sync.runtime_SemacquireWaitGroup", "waitgroup"),
    ("sync.runtime_notifyListWait", "cond"),
    ("time.Sleep", "sleep"),
    ("internal/poll.runtime_pollWait", "io-wait"),
    ("syscall.Syscall", "syscall"),
    ("syscall.RawSyscall", "syscall"),
    ("internal/runtime/syscall.", "syscall"),
    # the goroutine writing the profile itself (not runtime/pprof.Do, which labelled goroutines pass through)
    ("runtime/pprof.writeGoroutine", "running"),
    ("runtime/pprof.writeRuntimeProfile", "running"),
    ("runtime/pprof.(*Profile).WriteTo", "running"),
)
BLOCKING_CLASSES = frozenset(
    {
        "chan-send",
        "chan-receive",
        "nil-chan-send",
        "nil-chan-receive",
        "select",
        "mutex",
        "rwmutex-lock",
        "rwmutex-rlock",
        "waitgroup",
        "cond",
        "semaphore",
    }
)


def classify_state(state: str, frames: tuple[Frame, ...]) -> str:
    """A slug for how the goroutine is parked: from the printed state, else from the frames."""
    if state:
        found = _STATE_CLASSES.get(state)
        if found:
            return found
        if state.startswith(("GC ", "force gc", "finalizer", "GOMAXPROCS", "trace reader", "debug call", "wait for")):
            return "runtime-internal"
        return slug(state)
    for frame in frames:
        for prefix, frame_class in _FRAME_CLASSES:
            if frame.function.startswith(prefix):
                return frame_class
    return "unknown"


# packages that only carry a blocked goroutine to its parking spot: never "the line to fix"
_PLUMBING_TOP = frozenset({"runtime", "internal", "sync", "syscall", "os", "io", "bufio", "time", "context"})


def blocking_frame(frames: tuple[Frame, ...]) -> Frame | None:
    """The first frame in user code (the line to fix); for stdlib-only stacks (net/http's connection loops), the
    first frame above the generic plumbing (runtime, sync, io, net's file descriptors…)."""
    for frame in frames:
        if not is_stdlib(frame.function):
            return frame
    for frame in frames:
        package = frame.package
        if package != "net" and package.split("/", 1)[0] not in _PLUMBING_TOP:
            return frame
    return frames[0] if frames else None


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A category slug (``^[a-z0-9][a-z0-9-]*$``, report@1) for a wait reason the table above does not know:
    ``synctest.Run`` -> ``synctest-run``."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-") or "unknown"


# The blocking line's text, for stacks whose runtime frames are hidden (debug=1). A line that could block in more
# than one way (``out <- <-in``) says nothing.
_SELECT_EMPTY = re.compile(r"^select\s*\{\s*\}")
_SELECT = re.compile(r"^select\s*\{")
_RANGE = re.compile(r"^for\b.*\brange\b")
# a statement that starts with a channel expression (ch <- v), not with a keyword (return <-ch, case <-ch:)
_SEND = re.compile(r"^(?!(?:return|case|go|defer|if|switch)\b)[\w.\[\]()*]+\s*<-")
_RECEIVE = re.compile(r"<-\s*[\w(*]")


def classify_source(text: str) -> str | None:
    """``chan-send``/``chan-receive``/``select``/``select-no-cases`` from the Go statement on the blocking line."""
    code = text.split("//", 1)[0].strip()
    if _SELECT_EMPTY.match(code):
        return "select-no-cases"
    if _SELECT.match(code):
        return "select"
    send = _SEND.match(code)
    if send is not None:
        return None if _RECEIVE.search(code, send.end()) else "chan-send"
    if _RANGE.match(code) or _RECEIVE.search(code):
        return "chan-receive"
    return None
