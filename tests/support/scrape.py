"""One scrape of one URL with a real ``Scraper`` (its clients, parse threads and clock), for tests."""

from __future__ import annotations

import asyncio

from leaksleuth.collect.scrape_config import ScrapeConfig, ScrapeResult
from leaksleuth.collect.scraper import Scraper
from leaksleuth.model.target import make_target


def scrape_one(config: ScrapeConfig, url: str) -> ScrapeResult:
    async def run() -> ScrapeResult:
        async with Scraper(config) as scraper:
            return await scraper.scrape(make_target(url))

    return asyncio.run(run())
