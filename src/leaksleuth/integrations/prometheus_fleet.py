"""What ``leaksleuth fleet`` asks Prometheus: the Go runtime series of every instance a selector matches.

One range query per metric over the window (the client chunks them under Prometheus' 11,000-point limit), joined
per instance into ``analysis.series.InstanceSeries``; container working set and limit (cAdvisor) are joined by
namespace/pod/container when the Go series carry those labels; the dynamic baseline is one instant query per
metric: the P95 over ``--baseline-window`` ending where the analysed window begins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.analysis.series.fleet import SERIES_NAMES, InstanceSeries
from leaksleuth.analysis.series.netbuf import NODE_METRICS, NodeSeries
from leaksleuth.durations import format_duration
from leaksleuth.errors import ConfigError
from leaksleuth.formats.memstats import PROMETHEUS_METRIC_OF
from leaksleuth.integrations.prometheus import PrometheusClient, Series
from leaksleuth.integrations.promql import (
    CONTAINER_CPU_METRICS,
    CONTAINER_METRICS,
    DEFAULT_CONTAINER_SELECTOR,
    Matcher,
    parse_selector,
    selector_of,
)

# series name -> metric; names are MemStats attributes, metrics come from the one names table in formats.memstats
SERIES_METRICS = {name: PROMETHEUS_METRIC_OF[name] for name in SERIES_NAMES if name in PROMETHEUS_METRIC_OF}
# series that are not one metric: the GC pause summary's quantiles (without their quantile label, so they join the
# instance) and its sum (seconds, as MemStats' PauseTotalNs): a query with ``{selector}`` for the user's matchers and
# the query's own ones after them
_PAUSES = "go_gc_duration_seconds"
DERIVED_SERIES: dict[str, tuple[str, tuple[Matcher, ...]]] = {
    **{
        name: (f"max without (quantile) ({_PAUSES}{{selector}})", (Matcher("quantile", "=", f'"{quantile}"'),))
        for name, quantile in (
            ("gc_pause_p50_seconds", "0.5"),
            ("gc_pause_p75_seconds", "0.75"),
            ("gc_pause_max_seconds", "1"),
        )
    },
    "pause_total_ns": (_PAUSES + "_sum{selector} * 1e9", ()),
}
BASELINE_SERIES = ("goroutines", "heap_inuse", "rss_bytes")
_TARGET_POINTS = 1500  # default resolution: enough for the statistics, cheap for Prometheus
_PODS_PER_QUERY = 200
_PROBE_METRIC = PROMETHEUS_METRIC_OF["goroutines"]  # every Go client exports it: the probe for scrape interval and jobs

Progress = Callable[[str], None]


@dataclass(slots=True)
class FleetQuery:
    selector: str = "{}"
    window: float = 6 * 3600.0
    step: float | None = None  # None: the scrape interval, or coarser so the window has ~1,500 points
    end: float | None = None  # None: now
    baseline_window: float | None = 7 * 86400.0  # None or 0: no dynamic baseline
    peers_by: tuple[str, ...] = ("job",)
    load: str | None = None  # PromQL with one series per instance (matched on the instance label)
    container_selector: str = DEFAULT_CONTAINER_SELECTOR


@dataclass(slots=True)
class FleetData:
    instances: list[InstanceSeries]
    start: float
    end: float
    step: float
    notes: list[str] = field(default_factory=list)


def fetch_fleet(
    client: PrometheusClient, query: FleetQuery, *, now: float, progress: Progress | None = None
) -> FleetData:
    theirs = parse_selector(query.selector)
    selector = selector_of(*theirs)
    say = progress or (lambda _message: None)
    end = query.end if query.end is not None else now
    start = end - query.window
    step = query.step or _auto_step(client, selector, end, query.window)
    say(f"range queries over {format_duration(query.window)} at {format_duration(step)} resolution")
    columns: dict[tuple[tuple[str, str], ...], dict[str, dict[float, float]]] = {}
    for name, metric in SERIES_METRICS.items():
        for series in client.query_range(f"{metric}{selector}", start=start, end=end, step=step):
            _add(columns, _identity(series.labels), name, series)
    if columns:
        _add_derived(client, columns, theirs, start, end, step)
    if not columns:
        raise ConfigError(
            f"no Go runtime metrics match {selector} in Prometheus at {client.url}", hint=_jobs_hint(client)
        )
    # the latest scrape's outcome: one instant query, not a range query read only for its last point
    latest_up = f"last_over_time(up{selector}[{format_duration(query.window)}])"
    up = {_identity(s.labels): s.values[-1] for s in client.query(latest_up, at=end) if s.values}
    notes: list[str] = []
    if query.load:
        _join_load(client, columns, query.load, start, end, step)
    _join_containers(client, columns, query.container_selector, start, end, step, notes)
    baselines = _baselines(client, selector, end, query, notes) if query.baseline_window else {}
    versions = _go_versions(client, selector, end)
    instances = [
        _instance(key, per_name, query.peers_by, baselines.get(key, {}), up.get(key))
        for key, per_name in columns.items()
    ]
    for key, instance in zip(columns, instances, strict=True):
        instance.go_version = versions.get(key)
    _disambiguate(instances)
    return FleetData(instances, start, end, step, notes)


def _add_derived(
    client: PrometheusClient,
    columns: dict[tuple[tuple[str, str], ...], dict[str, dict[float, float]]],
    theirs: list[Matcher],
    start: float,
    end: float,
    step: float,
) -> None:
    """The GC pause quantiles and pause total, joined onto instances the runtime metrics already found."""
    for name, (template, ours) in DERIVED_SERIES.items():
        promql = template.replace("{selector}", selector_of(*theirs, *ours))
        for series in client.query_range(promql, start=start, end=end, step=step):
            key = _identity(series.labels)
            if key in columns:
                _add(columns, key, name, series)


def fetch_nodes(
    client: PrometheusClient, node_selector: str, *, start: float, end: float, step: float
) -> list[NodeSeries]:
    """node_exporter's ``node_sockstat_*`` per node (its ``instance`` label) over the window; [] when absent. One
    range query for all of them (``__name__`` matches every metric; the user's matchers cannot set it)."""
    name_of = {metric: name for name, metric in NODE_METRICS.items()}
    names = Matcher("__name__", "=~", f'"{"|".join(NODE_METRICS.values())}"')
    query = selector_of(names, *parse_selector(node_selector, option="--node-selector"))  # (no __name__ in theirs)
    nodes: dict[str, NodeSeries] = {}
    for series in client.query_range(query, start=start, end=end, step=step):
        name = name_of.get(series.labels.get("__name__", ""))
        if name is None:
            continue
        labels = {k: v for k, v in series.labels.items() if k != "__name__"}
        node = labels.get("instance") or "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        nodes.setdefault(node, NodeSeries(node)).series[name] = (series.timestamps, series.values)
    return [nodes[node] for node in sorted(nodes)]


def _go_versions(client: PrometheusClient, selector: str, end: float) -> dict[tuple[tuple[str, str], ...], str]:
    """go_info's version label per instance (its other labels are the instance's)."""
    out = {}
    for series in client.query(f"go_info{selector}", at=end):
        labels = {k: v for k, v in series.labels.items() if k != "version"}
        if series.labels.get("version"):
            out[_identity(labels)] = series.labels["version"]
    return out


def _auto_step(client: PrometheusClient, selector: str, end: float, window: float) -> float:
    """The scrape interval (median spacing of raw samples), or coarser so the window has ~1,500 points."""
    lookback = format_duration(max(60.0, min(window, 600.0)))
    raw = client.query(f"{_PROBE_METRIC}{selector}[{lookback}]", at=end)
    gaps = [float(g) for s in raw for g in np.diff(s.timestamps)] if raw else []
    if not gaps:
        raise ConfigError(
            f"no recent {_PROBE_METRIC} samples match {selector} at {client.url}", hint=_jobs_hint(client)
        )
    interval = float(np.median(gaps))
    return float(max(math.ceil(interval), math.ceil(window / _TARGET_POINTS)))


def _jobs_hint(client: PrometheusClient) -> str:
    jobs = sorted({s.labels.get("job", "") for s in client.query(f"count by (job) ({_PROBE_METRIC})")} - {""})
    return (
        f"jobs with Go metrics: {', '.join(jobs)}"
        if jobs
        else f"no job exports {_PROBE_METRIC}: is Prometheus scraping Go services?"
    )


def _identity(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def _add(
    columns: dict[tuple[tuple[str, str], ...], dict[str, dict[float, float]]],
    key: tuple[tuple[str, str], ...],
    name: str,
    series: Series,
) -> None:
    column = columns.setdefault(key, {}).setdefault(name, {})
    for stamp, value in zip(series.timestamps, series.values, strict=True):
        column[round(stamp, 3)] = value


def _instance(
    key: tuple[tuple[str, str], ...],
    per_name: dict[str, dict[float, float]],
    peers_by: Sequence[str],
    baselines: dict[str, float],
    up: float | None,
) -> InstanceSeries:
    labels = dict(key)
    times = sorted(set().union(*(column.keys() for column in per_name.values())))
    values = {
        name: np.asarray([column.get(t, math.nan) for t in times], dtype=np.float64)
        for name, column in per_name.items()
    }
    name = labels.get("instance") or "{" + ",".join(f'{k}="{v}"' for k, v in key) + "}"
    group = "/".join(labels.get(label, "") for label in peers_by)
    series = InstanceSeries(name, np.asarray(times, dtype=np.float64), values, group, labels, baselines)
    if up == 0:
        series.status, series.error = "unreachable", "Prometheus' latest scrape of it failed (up == 0)"
    return series


def _disambiguate(instances: list[InstanceSeries]) -> None:
    seen: dict[str, int] = {}
    for series in instances:
        seen[series.instance] = seen.get(series.instance, 0) + 1
    for series in instances:
        if seen[series.instance] > 1:
            series.instance = f"{series.instance} ({series.labels.get('job', series.group)})"


def _join_load(
    client: PrometheusClient,
    columns: dict[tuple[tuple[str, str], ...], dict[str, dict[float, float]]],
    promql: str,
    start: float,
    end: float,
    step: float,
) -> None:
    """``--load``: one series per instance, matched on the instance label (and job when the result has one)."""
    by_instance: dict[str | None, list[tuple[tuple[tuple[str, str], ...], str | None]]] = {}
    for key in columns:
        labels = dict(key)
        by_instance.setdefault(labels.get("instance"), []).append((key, labels.get("job")))
    for series in client.query_range(promql, start=start, end=end, step=step):
        job = series.labels.get("job")
        for key, key_job in by_instance.get(series.labels.get("instance"), []):
            if "job" not in series.labels or key_job == job:
                _add(columns, key, "load", series)


def _join_containers(
    client: PrometheusClient,
    columns: dict[tuple[tuple[str, str], ...], dict[str, dict[float, float]]],
    container_selector: str,
    start: float,
    end: float,
    step: float,
    notes: list[str],
) -> None:
    """cAdvisor's working set and limit for instances whose Go metrics carry a ``pod`` label (Kubernetes)."""
    labels_of = {key: dict(key) for key in columns}
    pods = sorted({labels["pod"] for labels in labels_of.values() if labels.get("pod")})
    if not pods:
        return
    theirs = parse_selector(container_selector, option="--container-selector")
    for name, metric in {**CONTAINER_METRICS, **CONTAINER_CPU_METRICS}.items():
        by_pod: dict[str | None, list[Series]] = {}
        for first in range(0, len(pods), _PODS_PER_QUERY):
            regex = "|".join(re.escape(pod) for pod in pods[first : first + _PODS_PER_QUERY]).replace("\\", "\\\\")
            selector = selector_of(*theirs, Matcher("pod", "=~", f'"{regex}"'))
            for series in client.query_range(f"{metric}{selector}", start=start, end=end, step=step):
                by_pod.setdefault(series.labels.get("pod"), []).append(series)
        for key, labels in labels_of.items():
            for match in _container_match(labels, by_pod.get(labels.get("pod"), [])):
                _add(columns, key, name, match)
    if not any("container_working_set_bytes" in per_name for per_name in columns.values()):
        notes.append("pods found, but no cAdvisor container_memory_working_set_bytes for them: forecasting against RSS")


def _container_match(labels: dict[str, str], same_pod: Sequence[Series]) -> list[Series]:
    """cAdvisor series of this instance's container, from the series of its pod. Several only when the container
    restarted (cAdvisor starts a new series with a new ``id``): they follow each other in time and are merged.
    Several containers in the pod and no ``container`` label on the Go series: ambiguous, none."""
    candidates = [
        s
        for s in same_pod
        if ("namespace" not in labels or s.labels.get("namespace") == labels["namespace"])
        and ("container" not in labels or s.labels.get("container") == labels["container"])
    ]
    if len({s.labels.get("container") for s in candidates}) != 1:
        return []
    return sorted(candidates, key=lambda s: s.timestamps[0] if s.timestamps else 0.0)


def _baselines(
    client: PrometheusClient, selector: str, end: float, query: FleetQuery, notes: list[str]
) -> dict[tuple[tuple[str, str], ...], dict[str, float]]:
    """P95 of each metric over the baseline window that ends where the analysed window starts."""
    assert query.baseline_window
    window, offset = format_duration(query.baseline_window), format_duration(query.window)
    out: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
    for name in BASELINE_SERIES:
        promql = f"quantile_over_time(0.95, {SERIES_METRICS[name]}{selector}[{window}] offset {offset})"
        for series in client.query(promql, at=end):
            if series.values and math.isfinite(series.values[0]):
                out.setdefault(_identity(series.labels), {})[name] = series.values[0]
    if not out:
        notes.append(f"no history before the window for a {window} baseline: dynamic baseline skipped")
    return out
