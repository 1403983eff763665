"""``leaksleuth heal --k8s``: capture, analyse, then a guarded, rate-limited remedy; ``heal history``: what it did."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from leaksleuth.cli import heal_options as policy
from leaksleuth.cli.options import Timeout, check_writable
from leaksleuth.errors import ConfigError

Opt = typer.Option
app = typer.Typer(
    help="Self-healing for Kubernetes: capture a leaking pod, analyse it, then quarantine, evict or restart it "
    "within the guards (default --action none: a dry run that records what it would do).",
    add_completion=False,
    invoke_without_command=True,
)
StoreOption = Annotated[str | None, Opt(help="Store directory, sqlite:/// or postgresql:// URL.")]


@app.callback()
def command(
    ctx: typer.Context,
    k8s: Annotated[bool, Opt("--k8s", help="Heal Kubernetes pods (the only place healing applies today).")] = False,
    namespace: Annotated[str | None, Opt(help="Kubernetes namespace (default: all).")] = None,
    selector: Annotated[str | None, Opt(help="Kubernetes label selector.")] = None,
    kubeconfig: Annotated[str | None, Opt(help="Path to a kubeconfig (default: in-cluster, then KUBECONFIG).")] = None,
    action: policy.Action = None,
    dry_run: policy.DryRun = False,
    keep: policy.Keep = None,
    heal_on: policy.HealOn = None,
    heal_at: policy.HealAt = None,
    rate: policy.Rate = None,
    max_actions: policy.MaxActions = None,
    breaker: policy.Breaker = None,
    allow_single: policy.AllowSingle = False,
    opt_in_namespace: policy.OptInNamespace = None,
    interval: Annotated[str, Opt(help="Time between watch rounds.")] = "30s",
    rounds: Annotated[int | None, Opt(min=1, help="Stop after this many rounds (default: until Ctrl-C).")] = None,
    samples: Annotated[int, Opt(min=1, help="Snapshots in the capture before an action.")] = 3,
    every: Annotated[str, Opt(help="Time between the capture's snapshots.")] = "5s",
    timeout: Timeout = 10.0,
    journal: Annotated[Path | None, Opt(help="Append one JSON line per decision here (default: stdout).")] = None,
    metrics_listen: Annotated[
        str | None, Opt(help="HOST:PORT to serve /metrics on (leaksleuth_remediations_total) while healing.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Watch opted-in pods; act on leak verdicts near the memory limit and on OOM-killed siblings."""
    if ctx.invoked_subcommand is not None:
        return
    if not k8s:
        raise ConfigError("heal needs --k8s (pods are what it can replace)", hint="leaksleuth heal --k8s --dry-run")
    from leaksleuth.app.heal_loop import LoopConfig
    from leaksleuth.durations import parse_duration

    given = policy.HealOptions(
        action, dry_run, keep, heal_on, heal_at, rate, max_actions, breaker, allow_single, opt_in_namespace
    )
    config = given.config(samples=samples, every=parse_duration(every), timeout=timeout)
    every_round = parse_duration(interval)
    if every_round <= 0:
        raise ConfigError(f"--interval must be longer than zero, got {interval!r}")
    if journal is not None:
        check_writable(journal)  # before the first round, not at the first decision
    listen = _host_port(metrics_listen) if metrics_listen else None
    loop = LoopConfig(namespace, selector, every_round, rounds, timeout)
    _run(config, loop, kubeconfig, journal, store, listen)


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--metrics-listen wants HOST:PORT, got {listen!r}", hint="e.g. --metrics-listen :9478")
    return host.strip("[]"), int(port)


def _run(
    config: Any,
    loop: Any,
    kubeconfig: str | None,
    journal: Path | None,
    store: str | None,
    listen: tuple[str, int] | None,
) -> None:
    from leaksleuth.app.heal import Healer
    from leaksleuth.app.heal_loop import heal_loop
    from leaksleuth.integrations.kubernetes import Kubernetes, kubernetes_api_client
    from leaksleuth.store.db import open_store

    api_client = kubernetes_api_client(kubeconfig=kubeconfig)
    opened = open_store(store)
    out = journal.open("a", encoding="utf-8") if journal else sys.stdout
    mode = f"dry run of {config.remedy}" if config.simulated else config.remedy
    where = loop.namespace or "all namespaces"
    typer.echo(f"leaksleuth heal: {mode} in {where}; store {opened.description}", err=True)
    server = None
    try:
        healer = Healer(Kubernetes(api_client), opened, config, journal=out)
        if listen is not None:
            from prometheus_client import start_http_server

            server, _ = start_http_server(listen[1], listen[0], registry=healer.registry)
        asyncio.run(heal_loop(healer, loop, api_client=api_client, on_decision=_say, on_notice=_notice))
    finally:
        if server is not None:
            server.shutdown()
        opened.close()
        if journal:
            out.close()


def _notice(text: str) -> None:
    typer.echo(f"leaksleuth heal: {text}", err=True)


def _say(decision: Any) -> None:
    from leaksleuth.report.terminal import stderr_console

    stderr_console().print(
        f"{decision.result:8} {decision.namespace}/{decision.pod}: {decision.reason}", markup=False, highlight=False
    )


@app.command("history")
def history(
    store: StoreOption = None,
    limit: Annotated[int, Opt(min=1, help="Newest N decisions.")] = 50,
    json_output: Annotated[bool, Opt("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """What self-healing did, would have done, or refused, newest first (from the store)."""
    from rich.table import Table
    from rich.text import Text

    from leaksleuth.report.terminal import stdout_console
    from leaksleuth.store.db import open_store

    opened = open_store(store, create=False)
    try:
        rows = opened.reports(limit=limit, source="heal")
    finally:
        opened.close()
    if json_output:
        for row in rows:
            typer.echo(json.dumps(row.document, sort_keys=True))
        return
    if not rows:
        stdout_console().print(f"no self-healing decisions in {opened.description}", markup=False)
        return
    table = Table(title=f"Self-healing in {opened.description}", title_justify="left")
    for column in ("at", "pod", "workload", "action", "result", "reason", "report"):
        table.add_column(column)
    for row in rows:
        entry = row.document
        when = dt.datetime.fromtimestamp(row.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        cells = (entry.get("namespace", "") + "/" + entry.get("pod", ""), entry.get("workload") or "-")
        rest = (entry.get("action", ""), entry.get("result", ""), entry.get("reason", ""))
        table.add_row(when, *(Text(str(c)) for c in (*cells, *rest)), str(entry.get("report_id") or "-"))
    stdout_console().print(table)
