"""``leaksleuth watch``: collect from a fleet, store snapshots, live verdicts per instance, a report at the end."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leaksleuth.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from leaksleuth.cli import discovery_options as found
from leaksleuth.cli.discovery_options import build_discovery
from leaksleuth.cli.options import MinGrowth, SourceRoots, positive_duration, positive_seconds, stop_signals
from leaksleuth.collect import DEBUG2_THRESHOLD, WATCH_INTERVAL
from leaksleuth.collect.plan import PlanConfig
from leaksleuth.model.report import Report
from leaksleuth.model.verdict import SUSPECT_CONFIDENCE

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console
    from rich.live import Live

    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import RoundSummary
    from leaksleuth.collect.discovery import Discovery
    from leaksleuth.collect.scrape_config import ScrapeConfig
    from leaksleuth.collect.source import SourceRoot
    from leaksleuth.store.db import Store

Opt = typer.Option
EXIT_INTERRUPTED = 130  # a second Ctrl-C: the shell's code for "killed by SIGINT"
MIN_BODY = 1024  # below this not even an empty goroutine profile fits: every target would fail "too large"


def command(
    urls: found.Urls = None,
    targets_file: found.TargetsFile = None,
    dns: found.Dns = None,
    dns_srv: found.DnsSrv = None,
    dns_server: found.DnsServer = None,
    k8s: found.K8s = False,
    namespace: found.Namespace = None,
    selector: found.Selector = None,
    kubeconfig: found.Kubeconfig = None,
    prometheus_targets: found.PrometheusTargets = None,
    job: found.Job = None,
    interval: Annotated[str, Opt(help="Time between rounds (a target still busy skips one).")] = f"{WATCH_INTERVAL:g}s",
    duration: Annotated[str | None, Opt(help="Stop after this long (default: until Ctrl-C).")] = None,
    rounds: Annotated[int | None, Opt(min=1, help="Stop after this many rounds.")] = None,
    report: Annotated[Path | None, Opt(help="Write the leaksleuth/report@1 JSON here at the end.")] = None,
    html: Annotated[Path | None, Opt(help="Write an HTML report here at the end.")] = None,
    json_lines: Annotated[bool, Opt("--json-lines", help="One JSON event per finding on stdout.")] = False,
    fail_on: Annotated[float | None, Opt(min=0.0, max=1.0, help="Exit 1 if a suspect reaches this confidence.")] = None,
    shard: found.Shard = None,
    store: Annotated[str | None, Opt(help="Store directory, sqlite:/// or postgresql:// URL.")] = None,
    blobs: Annotated[str | None, Opt(help="fsspec URL for profile blobs (required with a database URL).")] = None,
    no_store: Annotated[bool, Opt("--no-store", help="Keep nothing on disk.")] = False,
    retention_age: Annotated[str | None, Opt(help="Drop snapshots older than this (e.g. 7d).")] = None,
    retention_count: Annotated[
        int | None, Opt(min=1, help="Keep at most this many snapshots per target and kind.")
    ] = None,
    timeout: Annotated[
        float,
        Opt(
            help="Seconds one target's scrape may take, every request and retry included; at most --interval.",
            callback=positive_seconds,
        ),
    ] = 10.0,
    retries: Annotated[int, Opt(min=0, help="Retries after a transient failure.")] = 2,
    concurrency: Annotated[int, Opt(min=1, help="Requests in flight at once, across all targets.")] = 64,
    max_body: Annotated[int, Opt(min=MIN_BODY, help="Largest response accepted, in bytes.")] = 64 << 20,
    debug2_threshold: Annotated[
        int, Opt(min=0, help="Fetch debug=2 dumps only below this many goroutines.")
    ] = DEBUG2_THRESHOLD,
    heap_every: Annotated[int, Opt(min=0, help="Fetch the heap profile every N rounds (0: never).")] = 1,
    heap_gc: Annotated[
        bool, Opt("--heap-gc/--no-heap-gc", help="Ask for a GC before each heap profile (?gc=1): exact live heap.")
    ] = True,
    full_scrape: Annotated[
        bool,
        Opt(
            "--full-scrape",
            help="Fetch everything every round (debug=2 / goroutineleak, heap?gc=1) instead of the adaptive plan.",
        ),
    ] = False,
    leak_every: Annotated[
        int, Opt(min=1, help="Adaptive plan: goroutineleak every N rounds while nothing grows (proven leaks included).")
    ] = PlanConfig().leak_every,
    round_events: Annotated[
        bool,
        Opt("--round-events", help="With --json-lines: one 'round' event per target and round (fetches, top suspect)."),
    ] = False,
    bearer_token_file: Annotated[Path | None, Opt(help="File holding a bearer token.")] = None,
    header: Annotated[list[str] | None, Opt(help="Extra request header 'Name: value' (repeatable).")] = None,
    cert: Annotated[str | None, Opt(help="TLS client certificate (PEM).")] = None,
    key: Annotated[str | None, Opt(help="TLS client key (PEM).")] = None,
    ca: Annotated[str | None, Opt(help="CA bundle to verify targets.")] = None,
    insecure: Annotated[bool, Opt("--insecure", help="Do not verify TLS certificates.")] = False,
    min_growth: MinGrowth = 5,
    source_root: SourceRoots = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No live table.")] = False,
) -> None:
    """Watch Go services: scrape goroutine and heap profiles each interval, store them, judge each instance live."""
    # long on purpose: every usage error is raised here, before anything is opened or bound, in the order of
    # --help; the work itself is in the functions this calls
    from leaksleuth.cli.options import check_writable, parse_headers, read_secret
    from leaksleuth.collect.scrape_config import ScrapeConfig, tls_verify
    from leaksleuth.collect.source import SourceRoot

    every = positive_duration("--interval", interval)
    stop_after = positive_duration("--duration", duration) if duration else None
    scrape = ScrapeConfig(
        timeout=timeout,
        retries=retries,
        max_body=max_body,
        concurrency=concurrency,
        debug2_threshold=debug2_threshold,
        heap_every=heap_every,
        heap_gc=heap_gc,
        plan=None if full_scrape else PlanConfig(leak_every=leak_every, growth=min_growth),
        headers=parse_headers(header or []),
        bearer_token=read_secret(bearer_token_file, "--bearer-token-file") if bearer_token_file else None,
        client_cert=cert,
        client_key=key,
        ca_file=ca,
        insecure=insecure,
    )
    roots = tuple(SourceRoot.parse(text) for text in source_root or ())
    tls_verify(scrape)  # a missing or mismatched --cert/--key/--ca is a usage error now, not a failure per target
    discovery = build_discovery(
        urls or [],
        targets_file,
        dns or [],
        dns_srv or [],
        dns_server,
        k8s,
        namespace,
        selector,
        kubeconfig,
        prometheus_targets,
        job,
        shard,
    )
    for output in (report, html):
        if output is not None:
            check_writable(output)  # fail now, not after a five-minute watch
    the_store = None if no_store else _open_store(store, blobs)
    import asyncio

    code = asyncio.run(
        run_watch(
            discovery,
            scrape,
            the_store,
            interval=every,
            duration=stop_after,
            rounds=rounds,
            report_path=report,
            html_path=html,
            json_lines=json_lines or round_events,
            round_events=round_events,
            fail_on=fail_on,
            quiet=quiet,
            retention=(
                positive_duration("--retention-age", retention_age) if retention_age else None,
                retention_count,
            ),
            min_growth=min_growth,
            source_roots=roots,
        )
    )
    if code:
        raise typer.Exit(code)


def _open_store(store: str | None, blobs: str | None) -> Store:
    from leaksleuth.store.db import open_store

    return open_store(store, blobs)


async def run_watch(
    discovery: Discovery,
    scrape: ScrapeConfig,
    store: Store | None,
    *,
    interval: float,
    duration: float | None,
    rounds: int | None,
    report_path: Path | None,
    html_path: Path | None,
    json_lines: bool,
    fail_on: float | None,
    round_events: bool = False,
    quiet: bool,
    retention: tuple[float | None, int | None],
    min_growth: int = 5,
    source_roots: tuple[SourceRoot, ...] = (),
) -> int:
    import asyncio

    from rich.live import Live

    from leaksleuth.analysis.goroutines.verdict import Options
    from leaksleuth.app.watch import Watcher
    from leaksleuth.app.watch_config import WatchConfig
    from leaksleuth.report.terminal import stderr_console, stdout_console

    console = stderr_console() if json_lines or quiet else stdout_console()
    config = WatchConfig(
        interval=interval,
        duration=duration,
        max_rounds=rounds,
        retention_age=retention[0],
        retention_count=retention[1],
        options=Options(min_growth=min_growth, watching=True),
        source_roots=source_roots,
    )
    watcher = Watcher(discovery, scrape, config, store=store)
    live = Live(console=console, refresh_per_second=2, transient=False) if not quiet else None
    printer = _RoundPrinter(watcher, discovery, console, live, interval, json_lines=json_lines, events=round_events)

    def stopping() -> None:
        watcher.stop()
        console.print("[dim]stopping: writing the report of what completed (Ctrl-C again quits at once)[/]")

    watcher.on_round = printer
    with _stop_signals(asyncio.get_running_loop(), stopping, console):
        try:
            if live is not None:
                with live:
                    report = await watcher.run()
                console.print()
            else:
                report = await watcher.run()
        finally:
            if store is not None:
                store.close()
        _write_files(report, report_path, html_path)
    return _finish(report, console, brief=quiet or json_lines, written=(report_path, html_path), fail_on=fail_on)


class _RoundPrinter:
    """After each round: the overload warning (once), the verdict events on stdout (--json-lines, --round-events),
    the live table, and discovery's errors."""

    def __init__(
        self,
        watcher: Watcher,
        discovery: Discovery,
        console: Console,
        live: Live | None,
        interval: float,
        *,
        json_lines: bool,
        events: bool,
    ) -> None:
        self.watcher, self.discovery, self.console, self.live = watcher, discovery, console, live
        self.interval, self.json_lines, self.events = interval, json_lines, events
        self.seen: dict[tuple[str, str, str, int], float] = {}  # findings already written as events
        self.overloaded = False

    def __call__(self, summary: RoundSummary) -> None:
        from leaksleuth.report import watch as render
        from leaksleuth.report.terminal import data_text

        fleet = len(summary.results) + len(summary.busy)
        if not self.overloaded and len(summary.busy) >= max(2, fleet // 10):  # one hung target is not an overload
            self.overloaded = True
            self.console.print(
                f"[yellow]{len(summary.busy)} of {fleet} targets were still being scraped when round "
                f"{summary.number} started: scraping the fleet takes longer than --interval ({self.interval:g}s), so "
                "they skip rounds (the 'missed' column). Raise --interval or split the fleet with --shard.[/]"
            )
        if self.live is not None or self.json_lines:  # a whole-fleet verdict each round only when someone reads it
            report = self.watcher.report(departed=False)  # the live view is of what is still there
            if self.json_lines:
                render.write_events(sys.stdout, render.finding_events(report, self.seen, SUSPECT_CONFIDENCE))
            if self.events:
                render.write_events(sys.stdout, render.round_events(report, summary.number, summary.results))
            if self.live is not None:
                series = {state.url: state.series.values("goroutines") for state in self.watcher.current()}
                self.live.update(
                    render.live_table(
                        report,
                        series,
                        round_number=summary.number,
                        seconds=summary.seconds,
                        busy=len(summary.busy),
                        departed=len(self.watcher.departed()),
                    )
                )
        for name, error in self.discovery.errors.items():
            self.console.print(data_text(f"discovery {name}: {error}", style="yellow"))


def _write_files(report: Report, report_path: Path | None, html_path: Path | None) -> None:
    from leaksleuth.cli.options import write_output

    document = report.to_json()
    if report_path is not None:
        write_output(report_path, json.dumps(document, indent=2) + "\n")
    if html_path is not None:
        from leaksleuth.report.html import render_report

        write_output(html_path, render_report(document, title="leaksleuth watch"))


def _finish(
    report: Report, console: Console, *, brief: bool, written: tuple[Path | None, ...], fail_on: float | None
) -> int:
    """The verdict on the console (a one-line summary when stdout carries events or --quiet) and the exit code."""
    from leaksleuth.report import watch as render
    from leaksleuth.report.runtime import incident_text, runtime_table
    from leaksleuth.report.terminal import data_text

    if brief:
        console.print(render.summary_line(report), highlight=False, markup=False)
    else:
        console.print(render.verdict_table(report))
        for incident in report.incidents:
            console.print(incident_text(incident))
        runtime = runtime_table(report.targets)
        if runtime is not None:
            console.print(runtime)
    if any(written):
        console.print(data_text(f"wrote {', '.join(str(p) for p in written if p)}", style="dim"))
    if report.targets and not any(t.status == "ok" for t in report.targets):
        console.print("[red]no target could be scraped: nothing was judged[/]")
        return EXIT_ERROR  # a gate must not pass because every URL was wrong or down
    if fail_on is not None and report.max_confidence() >= fail_on:
        return EXIT_FINDINGS
    return EXIT_OK


@contextlib.contextmanager
def _stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None], console: Console) -> Iterator[None]:
    """SIGINT/SIGTERM: the first stops the watch (the report is still written), a second exits at once with 130.

    Plain signal handlers, not ``loop.add_signal_handler``: those run only when the event loop gets control, and a
    second Ctrl-C must work while the loop is busy judging a fleet or blocked writing the report.
    """
    received = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal received
        received += 1
        if received == 1:
            loop.call_soon_threadsafe(stop)
            return
        if console.is_terminal:
            console.show_cursor(True)  # the live table hides it
        os.write(2, b"\nleaksleuth: interrupted twice: exiting without a report\n")
        os._exit(EXIT_INTERRUPTED)

    with stop_signals(handler):
        yield
