"""Pod events from a Kubernetes watch stream, for self-healing's OOM trigger: the kubelet records an OOM kill in
``lastState.terminated.reason`` the moment the container restarts, and a watch hears it then, not a round later.

The official client's watch is synchronous, so it runs in its own daemon thread and hands pods to the event loop.
Every stream is bounded: the apiserver ends it after ``timeout_seconds`` (and a client read timeout ends it where a
server does not), then it reopens from the last resourceVersion; failures back off up to :data:`MAX_BACKOFF`. A
watch the API refuses for good (403: the role lacks ``watch``; 404/405: no watch there) is given up once, with the
reason, and the caller falls back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

STREAM_SECONDS = 60  # one watch request: the apiserver closes it after this, and we reopen
MAX_BACKOFF = 30.0
QUEUE_SIZE = 1000  # pods waiting for the healer; past this a pod's event is dropped (the next poll or event has it)
GIVE_UP = (403, 404, 405)
PERMISSION = ("watch", "pods")  # the verb and resource deploy/rbac/heal.yaml grants for this (a test checks)


def oom_killed(pod: Any) -> bool:
    """Whether any container of ``pod`` was last terminated by the OOM killer."""
    statuses = (pod.status.container_statuses or ()) if pod.status else ()
    for status in statuses:
        terminated = status.last_state.terminated if status.last_state else None
        if terminated is not None and terminated.reason == "OOMKilled":
            return True
    return False


class PodWatch:
    """Watch pods (a namespace, or all; a label selector) and queue those that pass ``keep`` for the event loop."""

    def __init__(
        self,
        api_client: Any,
        namespace: str | None,
        selector: str | None = None,
        *,
        keep: Callable[[Any], bool] = oom_killed,
        stream_seconds: int = STREAM_SECONDS,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.selector = selector
        self.keep = keep
        self.stream_seconds = stream_seconds
        self.pods: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self.given_up: str | None = None  # why the watch stopped for good (the caller polls instead)
        self.dropped = 0
        self._stop = threading.Event()
        self._watch: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def watching(self) -> bool:
        return self._thread is not None and self.given_up is None and not self._stop.is_set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="leaksleuth-pod-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop now: the open stream's socket is shut down, so the thread does not wait for its next event."""
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.stop()

    # ---- the thread ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        from kubernetes import client

        backoff = 1.0
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                resource_version = self._stream(resource_version)
                backoff = 1.0
            except client.ApiException as exc:
                if exc.status in GIVE_UP:
                    where = f"in namespace {self.namespace!r}" if self.namespace else "cluster-wide"
                    verb, resource = PERMISSION
                    self.given_up = f"cannot {verb} {resource} {where} ({exc.status} {exc.reason})"
                    return
                resource_version = None  # 410 Gone among others: start again from the current state
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            except Exception:  # a read timeout, a reset connection: urllib3 raises many types; reopen
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def _stream(self, resource_version: str | None) -> str | None:
        from kubernetes import client, watch

        core = client.CoreV1Api(self.api_client)
        arguments: dict[str, Any] = {
            "label_selector": self.selector,
            "timeout_seconds": self.stream_seconds,
            "_request_timeout": (10, self.stream_seconds + 10),  # a server that ignores timeout_seconds
            "allow_watch_bookmarks": True,
        }
        if resource_version:
            arguments["resource_version"] = resource_version
        self._watch = stream = watch.Watch()  # type: ignore[no-untyped-call]
        if self._stop.is_set():
            return resource_version
        if self.namespace:
            events = stream.stream(core.list_namespaced_pod, self.namespace, **arguments)  # type: ignore[no-untyped-call]
        else:
            events = stream.stream(core.list_pod_for_all_namespaces, **arguments)  # type: ignore[no-untyped-call]
        for event in events:
            pod = event.get("object")
            if event.get("type") in ("ADDED", "MODIFIED") and pod is not None and self.keep(pod):
                self._hand_over(pod)
        return stream.resource_version or resource_version

    def _hand_over(self, pod: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def put() -> None:
            try:
                self.pods.put_nowait(pod)
            except asyncio.QueueFull:
                self.dropped += 1

        with contextlib.suppress(RuntimeError):  # the loop closed after the check: nobody is listening any more
            loop.call_soon_threadsafe(put)
