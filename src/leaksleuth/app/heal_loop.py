"""``heal --k8s``: watch the opted-in pods, and after each round hand the verdicts (trigger b) and the quarantined
pods whose time is up to the :class:`~leaksleuth.app.heal.Healer`; OOM kills (trigger c) come from a Kubernetes
watch stream as they happen (:func:`heal_oom_kills`), or, where the API refuses a watch, from each round's list."""

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
from leaksleuth.integrations.kubernetes_watch import PodWatch


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
    stop: asyncio.Event | None = None,
    on_notice: Callable[[str], None] = lambda _: None,
) -> list[Decision]:
    """Watch (pods annotated ``leaksleuth.io/scrape: "true"``, plus the quarantined ones: captures continue while
    they are kept), then after every round evaluate; OOM kills as the pod watch reports them. Runs for the rounds
    asked, or until ``stop`` is set; returns every decision made. ``on_notice`` hears, once, that the pod watch
    gave up and each round's list stands in for it."""
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

    def decided(made: list[Decision]) -> None:
        decisions.extend(made)
        for decision in made:
            on_decision(decision)

    oom = PodWatch(api_client, config.namespace, config.selector)

    noticed: list[str] = []

    async def evaluate() -> None:
        if oom.given_up and not noticed:
            noticed.append(oom.given_up)
            on_notice(f"{oom.given_up}: OOM kills are read from each round's list of pods instead")
        decided(await _evaluate(healer, watcher, config, poll_ooms=not oom.watching))

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
    oom.start()
    loop = asyncio.get_running_loop()
    helpers = [loop.create_task(heal_oom_kills(healer, oom, decided))]
    helpers[0].add_done_callback(_keep_failure)
    if stop is not None:
        helpers.append(loop.create_task(_stop_on(stop, watcher)))
    try:
        await watcher.run()
    finally:
        oom.stop()
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, *busy, return_exceptions=True)
    await healer.drain()
    if failure:
        raise failure[0]  # a missing permission, for one: said once, clearly, by the caller
    return decisions


async def heal_oom_kills(healer: Healer, oom: PodWatch, decided: Callable[[list[Decision]], None]) -> None:
    """Trigger (c) as the watch stream reports it: each OOM-killed pod to the healer (which ignores a kill it has
    handled already: a reopened stream lists every pod again)."""
    while True:
        pod = await oom.pods.get()
        decided(await healer.check_pods([pod]))


async def _stop_on(stop: asyncio.Event, watcher: Any) -> None:
    await stop.wait()
    watcher.stop()


async def _evaluate(healer: Healer, watcher: Any, config: LoopConfig, *, poll_ooms: bool) -> list[Decision]:
    pods = await asyncio.to_thread(healer.kube.list_pods, config.namespace, config.selector)
    by_url = {target.url: pod for pod in pods if (target := pod_to_target(pod)) is not None}
    made: list[Decision] = []
    for verdict in watcher.report(departed=False).targets:
        pod = by_url.get(verdict.target)
        if pod is not None:
            found = await healer.on_verdict(pod.metadata.namespace, pod.metadata.name, verdict.to_json())
            made.extend([found] if found is not None else [])
    if poll_ooms:  # the pod watch gave up (no watch permission, say): this round's list is the fallback
        made.extend(await healer.check_pods(pods))
    await healer.reap(config.namespace)
    return made
