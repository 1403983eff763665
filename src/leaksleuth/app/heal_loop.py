"""Self-healing beside a watch: ``heal --k8s`` (:func:`heal_loop`, its own watcher) and ``serve --heal`` (the
service's watcher). After each round the verdicts (trigger b) and the quarantined pods whose time is up go to the
:class:`~leaksleuth.app.heal.Healer`; OOM kills (trigger c) come from a Kubernetes watch stream as they happen, or,
where the API refuses a watch, from each round's list of pods (:class:`HealBackground`)."""

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
from leaksleuth.model.report import Report


@dataclass(slots=True)
class LoopConfig:
    namespace: str | None = None
    selector: str | None = None
    interval: float = 30.0
    rounds: int | None = None  # None: until stopped
    timeout: float = 10.0


class HealBackground:
    """What self-healing runs beside a watcher: the OOM pod watch and its consumer, and one evaluation after each
    round (:meth:`on_round`; a round ending while the last evaluation still captures is skipped, the next catches
    up). Start and stop it on the event loop."""

    def __init__(
        self,
        healer: Healer,
        api_client: Any,
        config: LoopConfig,
        *,
        on_decision: Callable[[Decision], None] = lambda _: None,
        on_notice: Callable[[str], None] = lambda _: None,
        on_failure: Callable[[BaseException], None] = lambda _: None,
    ) -> None:
        self.healer = healer
        self.config = config
        self.decisions: list[Decision] = []
        self.on_decision = on_decision
        self.on_notice = on_notice
        self.on_failure = on_failure
        self.oom = PodWatch(api_client, config.namespace, config.selector)
        self._noticed = False
        self._busy: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.oom.start()
        task = asyncio.get_running_loop().create_task(self._oom_kills())
        task.add_done_callback(self._failed)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Stop the pod watch and wait for the evaluations in flight (a quarantine's ``--keep`` is an annotation:
        whoever runs next deletes the pod when it is due)."""
        self.oom.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._busy] if self._busy else []), return_exceptions=True)

    def on_round(self, report: Report) -> None:
        if self._busy is not None and not self._busy.done():
            return
        self._busy = asyncio.get_running_loop().create_task(self._evaluate(report))
        self._busy.add_done_callback(self._failed)

    def _decided(self, made: list[Decision]) -> None:
        self.decisions.extend(made)
        for decision in made:
            self.on_decision(decision)

    def _failed(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.on_failure(error)

    async def _oom_kills(self) -> None:
        """Trigger (c) as the watch stream reports it: each OOM-killed pod to the healer (which ignores a kill it
        has handled already: a reopened stream lists every pod again)."""
        while True:
            pod = await self.oom.pods.get()
            self._decided(await self.healer.check_pods([pod]))

    async def _evaluate(self, report: Report) -> None:
        healer, config, oom = self.healer, self.config, self.oom
        if oom.given_up and not self._noticed:
            self._noticed = True
            self.on_notice(f"{oom.given_up}: OOM kills are read from each round's list of pods instead")
        pods = await asyncio.to_thread(healer.kube.list_pods, config.namespace, config.selector)
        by_url = {target.url: pod for pod in pods if (target := pod_to_target(pod)) is not None}
        made: list[Decision] = []
        for verdict in report.targets:
            pod = by_url.get(verdict.target)
            if pod is not None:
                found = await healer.on_verdict(pod.metadata.namespace, pod.metadata.name, verdict.to_json())
                made.extend([found] if found is not None else [])
        if not oom.watching:  # the pod watch gave up (no watch permission, say): this round's list stands in
            made.extend(await healer.check_pods(pods))
        await healer.reap(config.namespace)
        self._decided(made)


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
    they are kept) with the :class:`HealBackground` beside it, for the rounds asked or until ``stop`` is set;
    returns every decision made. A failure (a missing permission) stops the watch and is raised."""
    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import RoundSummary, WatchConfig
    from leaksleuth.collect.scrape_config import ScrapeConfig

    sources = [
        ("kubernetes", kubernetes_source(namespace=config.namespace, selector=config.selector, api_client=api_client)),
        (
            "quarantined",
            kubernetes_source(namespace=config.namespace, selector=f"{QUARANTINE_LABEL}=true", api_client=api_client),
        ),
    ]
    failure: list[BaseException] = []

    def failed(error: BaseException) -> None:
        failure.append(error)
        watcher.stop()  # a missing permission will not grant itself next round

    background = HealBackground(
        healer, api_client, config, on_decision=on_decision, on_notice=on_notice, on_failure=failed
    )

    def on_round(_: RoundSummary) -> None:
        background.on_round(watcher.report(departed=False))

    watcher = Watcher(
        Discovery([], sources, refresh=0),
        ScrapeConfig(timeout=config.timeout),
        WatchConfig(interval=config.interval, max_rounds=config.rounds),
        store=healer.store,
        on_round=on_round,
    )
    await background.start()
    stopping = asyncio.get_running_loop().create_task(_stop_on(stop, watcher))
    try:
        await watcher.run()
    finally:
        stopping.cancel()
        await background.stop()
    await healer.drain()
    if failure:
        raise failure[0]  # a missing permission, for one: said once, clearly, by the caller
    return background.decisions


async def _stop_on(stop: asyncio.Event | None, watcher: Any) -> None:
    if stop is not None:
        await stop.wait()
        watcher.stop()
