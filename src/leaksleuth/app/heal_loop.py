"""``heal --k8s``: watch the opted-in pods, and after each round hand the verdicts (trigger b), the OOM kills
(trigger c) and the quarantined pods whose time is up to the :class:`~leaksleuth.app.heal.Healer`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leaksleuth.app.heal import Healer
from leaksleuth.app.heal_guards import QUARANTINE_LABEL
from leaksleuth.app.heal_records import Decision
from leaksleuth.collect.discovery import Discovery
from leaksleuth.integrations.kubernetes import kubernetes_source, pod_to_target


@dataclass(slots=True)
class LoopConfig:
    namespace: str | None = None
    selector: str | None = None
    interval: float = 30.0
    rounds: int | None = None  # None: until stopped
    timeout: float = 10.0


async def heal_loop(
    healer: Healer,
    config: LoopConfig,
    *,
    api_client: Any,
    on_decision: Callable[[Decision], None] = lambda _: None,
) -> list[Decision]:
    """Watch (pods annotated ``leaksleuth.io/scrape: "true"``, plus the quarantined ones: captures continue while
    they are kept), then after every round evaluate; returns every decision made."""
    from leaksleuth.app.watch import RoundSummary, WatchConfig, Watcher
    from leaksleuth.collect.scraper import ScrapeConfig

    sources = [
        ("kubernetes", kubernetes_source(namespace=config.namespace, selector=config.selector, api_client=api_client)),
        (
            "quarantined",
            kubernetes_source(namespace=config.namespace, selector=f"{QUARANTINE_LABEL}=true", api_client=api_client),
        ),
    ]
    decisions: list[Decision] = []
    busy: list[asyncio.Task[None]] = []
    failure: list[BaseException] = []

    async def evaluate() -> None:
        made = await _evaluate(healer, watcher, config)
        decisions.extend(made)
        for decision in made:
            on_decision(decision)

    def on_round(_: RoundSummary) -> None:
        if busy and not busy[-1].done():
            return  # the previous evaluation still runs (captures take a while): the next round catches up
        task = asyncio.get_running_loop().create_task(evaluate())
        task.add_done_callback(_keep_failure)
        busy[:] = [task]

    def _keep_failure(task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            failure.append(error)
            watcher.stop()  # a missing permission will not grant itself next round

    watcher = Watcher(
        Discovery([], sources, refresh=0),
        ScrapeConfig(timeout=config.timeout),
        WatchConfig(interval=config.interval, max_rounds=config.rounds),
        store=healer.store,
        on_round=on_round,
    )
    await watcher.run()
    await asyncio.gather(*busy, return_exceptions=True)
    await healer.drain()
    if failure:
        raise failure[0]  # a missing permission, for one: said once, clearly, by the caller
    return decisions


async def _evaluate(healer: Healer, watcher: Any, config: LoopConfig) -> list[Decision]:
    pods = await asyncio.to_thread(healer.kube.list_pods, config.namespace, config.selector)
    by_url = {target.url: pod for pod in pods if (target := pod_to_target(pod)) is not None}
    made: list[Decision] = []
    for verdict in watcher.report(departed=False).targets:
        pod = by_url.get(verdict.target)
        if pod is not None:
            found = await healer.on_verdict(pod.metadata.namespace, pod.metadata.name, verdict.to_json())
            made.extend([found] if found is not None else [])
    made.extend(await healer.check_pods(pods))
    await healer.reap(config.namespace)
    return made
