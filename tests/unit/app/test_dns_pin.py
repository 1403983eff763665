"""serve's capture connects to the addresses ``TargetPolicy.check`` checked: a DNS answer that changes after the
check (rebinding) does not reach the address it changed to."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from leaksleuth.app.capture import AlertService, CaptureConfig
from leaksleuth.app.targeting import TargetPolicy
from leaksleuth.store.db import open_store
from tests.support.scrape import pprof_target

NAME = "rebinding.invalid"  # never resolves for real: only the stub below answers for it


def test_a_capture_goes_to_the_checked_address_after_the_name_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo
    answers: list[str] = []
    lock = threading.Lock()

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return real(host, port, *args, **kwargs)
        with lock:  # the first answer (the check's) is allowed; every later one is a refused address
            answers.append("127.0.0.1" if not answers else "127.0.0.2")
            address = answers[-1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pprof_target() as (port, checked), pprof_target(address="127.0.0.2", port=port) as (_, moved):
        service = AlertService(
            open_store(str(tmp_path / "s")),
            token=None,
            capture=CaptureConfig(
                template="http://{instance}",
                samples=1,
                every=0,
                timeout=5,
                policy=TargetPolicy.from_options(["127.0.0.1/32"]),
            ),
        )
        document, _confidence, captured = asyncio.run(service._capture(f"http://{NAME}:{port}", {}))
    assert "error" not in document, document.get("error")
    assert captured == f"http://{NAME}:{port}"
    assert answers[:1] == ["127.0.0.1"]  # the check resolved the name once
    assert checked and not moved, (checked, moved)
