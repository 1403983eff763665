"""``leaksleuth fleet --prometheus URL``: leaking instances across a fleet, straight from Prometheus' metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.cli import EXIT_FINDINGS
from leaksleuth.cli.options import Timeout
from leaksleuth.errors import ConfigError

Opt = typer.Option


def command(
    prometheus: Annotated[
        str,
        Opt("--prometheus", envvar="LEAKSLEUTH_PROMETHEUS", help="Prometheus base URL, e.g. http://prometheus:9090."),
    ],
    selector: Annotated[str, Opt(help="Label matchers for the Go services, e.g. '{job=\"api\"}'.")] = "{}",
    window: Annotated[str, Opt(help="How far back to look (Prometheus duration: 90s, 6h, 2d).")] = "6h",
    step: Annotated[
        str | None, Opt(help="Resolution; default: the scrape interval, or coarser for ~1,500 points.")
    ] = None,
    end: Annotated[
        str | None, Opt(help="End of the window: RFC3339 or unix seconds (default: now), for past incidents.")
    ] = None,
    baseline_window: Annotated[
        str, Opt(help="Dynamic baseline: P95 over this long window before --window ('0' to skip).")
    ] = "7d",
    peers_by: Annotated[str, Opt(help="Labels that make instances peers (comma-separated).")] = "job",
    load: Annotated[
        str | None,
        Opt(
            help="PromQL giving each instance's load (e.g. 'sum by (instance) (rate(http_requests_total[1m]))'); "
            "default: the allocation rate."
        ),
    ] = None,
    container_selector: Annotated[
        str, Opt(help="Matchers for cAdvisor's container metrics (joined on namespace/pod/container).")
    ] = '{container!="",container!="POD"}',
    node_selector: Annotated[
        str, Opt(help="Matchers for node_exporter's node_sockstat_* series (socket memory per node).")
    ] = '{job=~".*node.*"}',
    socket_memory_threshold: Annotated[
        str, Opt(help="A node's TCP socket memory above this, and growing, is a node finding (50Mi, 64MB).")
    ] = "50Mi",
    json_output: Annotated[bool, Opt("--json", help="Print a leaksleuth/report@1 document.")] = False,
    fail_on: Annotated[
        float | None, Opt(min=0.0, max=1.0, help="Exit 1 when a suspect reaches this confidence (a CI gate).")
    ] = None,
    top: Annotated[int, Opt(help="Instances to show in the table.")] = 20,
    bearer_token_file: Annotated[
        Path | None, Opt(help="File holding a bearer token for Prometheus (or a proxy in front of it).")
    ] = None,
    header: Annotated[list[str] | None, Opt(help="Extra HTTP header 'Name: value' (repeatable).")] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Rank the instances of a fleet by how likely they leak goroutines or memory, from Prometheus metrics."""
    from leaksleuth.analysis.series.fleet import analyze_fleet
    from leaksleuth.analysis.series.knockon import find_incidents, mark_root_causes
    from leaksleuth.analysis.series.netbuf import node_facts
    from leaksleuth.analysis.series.pernode import compare_nodes
    from leaksleuth.cli.options import parse_headers, positive_size, read_secret
    from leaksleuth.durations import parse_duration
    from leaksleuth.integrations.prometheus import PrometheusClient
    from leaksleuth.integrations.prometheus_fleet import FleetQuery, fetch_fleet, fetch_nodes
    from leaksleuth.integrations.promql import normalize_selector
    from leaksleuth.report import fleet as render
    from leaksleuth.report.terminal import data_text, stderr_console, stdout_console

    window_seconds = parse_duration(window)
    if window_seconds <= 0:
        raise ConfigError("--window must be positive")
    baseline_seconds = parse_duration(baseline_window)
    threshold = positive_size("--socket-memory-threshold", socket_memory_threshold)
    nodes_selector = normalize_selector(node_selector, option="--node-selector")
    query = FleetQuery(
        selector=normalize_selector(selector),
        window=window_seconds,
        step=parse_duration(step) if step else None,
        end=_parse_time(end) if end else None,
        baseline_window=baseline_seconds or None,
        peers_by=tuple(label.strip() for label in peers_by.split(",") if label.strip()) or ("job",),
        load=load,
        container_selector=normalize_selector(container_selector, option="--container-selector"),
    )
    err = stderr_console()
    with PrometheusClient(
        prometheus,
        timeout=timeout,
        bearer_token=read_secret(bearer_token_file, "--bearer-token-file") if bearer_token_file else None,
        headers=parse_headers(header or []),
    ) as client:
        data = fetch_fleet(
            client,
            query,
            now=time.time(),
            progress=None if json_output else lambda m: err.print(data_text(m, style="dim")),
        )
        node_series = fetch_nodes(client, nodes_selector, start=data.start, end=data.end, step=data.step)
    nodes = node_facts(node_series, threshold=threshold)  # node findings: no target's confidence reads them
    reports = analyze_fleet(data.instances)
    incidents = find_incidents(data.instances, {r.target: r for r in reports})
    mark_root_causes(reports, incidents, data.instances)
    comparisons = compare_nodes(data.instances, {r.target: r for r in reports})
    view = render.FleetView(
        client.url, query.selector, data.start, data.end, data.step, reports, data.notes, incidents, comparisons, nodes
    )
    if json_output:
        typer.echo(json.dumps(render.to_json(view), indent=2))
    else:
        render.render(stdout_console(), view, top=top)
    if fail_on is not None and any(s.confidence >= fail_on for r in reports for s in r.suspects):
        raise typer.Exit(EXIT_FINDINGS)


def _parse_time(text: str) -> float:
    import datetime as dt

    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--end must be RFC3339 or unix seconds, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
