"""One scrape of one URL with a real ``Scraper`` (its clients, parse threads and clock), for tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.collect.scraper import Scraper
from leaksleuth.model.target import make_target
from tests.conftest import CAPTURES
from tests.support.hostile import GO_1_26
from tests.support.loopback import serving


def scrape_one(config: ScrapeConfig, url: str) -> ScrapeResult:
    async def run() -> ScrapeResult:
        async with Scraper(config) as scraper:
            return await scraper.scrape(make_target(url))

    return asyncio.run(run())


def answer_pprof(handler: BaseHTTPRequestHandler) -> None:
    """Answer a GET as a Go 1.26 service would, from captured files (``?gc=1`` ignored); 404 for anything else."""
    name = GO_1_26.get(handler.path.replace("heap?gc=1", "heap"))
    body = (CAPTURES / name).read_bytes() if name else b"404 page not found\n"
    handler.send_response(200 if name else 404)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def pprof_target(
    *, redirect_to: str = "", address: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """A loopback Go 1.26 pprof target (captured files): yields (its port, the paths it was asked for, in order).
    With ``redirect_to``, every answer is a 302 to that base URL plus the path."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer_pprof(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler, address=address, port=port) as url:
        yield int(url.rpartition(":")[2]), hits
