"""How a goroutine is parked: a slug from the printed state (debug=2), or from the runtime frames (protos)."""

from __future__ import annotations

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
        return state.replace(" ", "-").lower()
    for frame in frames:
        for prefix, slug in _FRAME_CLASSES:
            if frame.function.startswith(prefix):
                return slug
    return "unknown"
