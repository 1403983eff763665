"""Prometheus recording + alerting rules for goroutine and heap leaks, and the Alertmanager route to ``serve``.

The alerts, and what keeps each quiet on healthy look-alikes:

- ``GoGoroutineLeak`` / ``GoHeapLeak``: growing (``deriv`` over the growth window), rising above noise (the last
  window's low is above the previous window's high: a sawtooth's lows do not rise) and above the instance's own
  normal range (the dynamic baseline: P95 of a 5-minute average over days, ending before the growth window).
  Warm-up and restarts: only processes up for two growth windows are judged.
- ``GoMemoryLimitForecast`` / ``ContainerMemoryLimitForecast``: ``predict_linear`` over a long window (longer
  than a cache or GC sawtooth) reaches GOMEMLIMIT / the container memory limit within the horizon.
- ``GoGoroutineFleetOutlier`` / ``GoHeapFleetOutlier``: far above the median of the instance's peers (same job by
  default), in fleets of at least three.

Every alert carries ``leaksleuth: goroutine|heap``: the Alertmanager route sends those to ``leaksleuth serve``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from leaksleuth.durations import format_duration
from leaksleuth.errors import ConfigError
from leaksleuth.formats.memstats import PROMETHEUS_METRIC_OF
from leaksleuth.integrations.promql import (
    CONTAINER_METRICS,
    DEFAULT_CONTAINER_SELECTOR,
    is_label_name,
    normalize_selector,
)

MiB = 1 << 20
PREFIX = "leaksleuth"
# metric names from their owners: client_golang's in formats.memstats, cAdvisor's in integrations.promql
GOROUTINES = PROMETHEUS_METRIC_OF["goroutines"]
HEAP = PROMETHEUS_METRIC_OF["heap_inuse"]
RSS = PROMETHEUS_METRIC_OF["rss_bytes"]
START = PROMETHEUS_METRIC_OF["process_start_seconds"]
GOMEMLIMIT = PROMETHEUS_METRIC_OF["gomemlimit_bytes"]
WORKING_SET = CONTAINER_METRICS["container_working_set_bytes"]
CONTAINER_LIMIT = CONTAINER_METRICS["container_limit_bytes"]


@dataclass(slots=True)
class RuleOptions:
    selector: str = "{}"  # the Go services' series
    for_: float = 30 * 60.0
    growth_window: float = 3600.0
    baseline_window: float = 7 * 86400.0
    baseline_min_history: float = 86400.0  # no baseline (so no leak alert) before this much history
    baseline_margin: float = 1.1  # above the baseline P95 by 10% ...
    min_goroutine_growth: int = 50  # ... and by at least this much
    min_heap_growth_bytes: int = 32 * MiB
    forecast_window: float = 6 * 3600.0
    forecast_horizon: float = 4 * 3600.0
    peers_by: tuple[str, ...] = ("job",)
    outlier_ratio: float = 3.0
    container_selector: str = DEFAULT_CONTAINER_SELECTOR
    interval: float = 60.0  # rule evaluation interval
    serve_url: str = "http://leaksleuth:9477"  # serve's default --listen port
    token_file: str = "/etc/alertmanager/leaksleuth.token"
    extra_labels: dict[str, str] = field(default_factory=dict)  # added to every alert (team, …)

    def check(self) -> None:
        """ConfigError for options Prometheus would reject, or that would write alerts that can never fire."""
        normalize_selector(self.selector, option="--selector")
        normalize_selector(self.container_selector, option="--container-selector")
        for option, seconds in (
            ("--growth-window", self.growth_window),
            ("--baseline-window", self.baseline_window),
            ("--forecast-window", self.forecast_window),
            ("--forecast-horizon", self.forecast_horizon),
            ("the evaluation interval", self.interval),
        ):
            if not seconds > 0:
                raise ConfigError(f"{option} must be positive, got {format_duration(seconds)}")
        if self.for_ < 0 or self.baseline_min_history < 0:
            raise ConfigError("--for and --baseline-min-history must not be negative")
        if self.baseline_min_history >= self.baseline_window:
            # the guard counts the baseline window's samples: it can never reach a longer history, and a window
            # exactly as long is met only while no evaluation was ever missed
            raise ConfigError(
                f"--baseline-min-history {format_duration(self.baseline_min_history)} must be shorter than "
                f"--baseline-window {format_duration(self.baseline_window)}: the baseline only sees that window's "
                "history, so the leak alerts could never fire",
                hint="shorten --baseline-min-history or lengthen --baseline-window (defaults: 1d and 7d)",
            )
        _check_ratio("--outlier-ratio", self.outlier_ratio, "the peers' median")
        _check_ratio("the baseline margin", self.baseline_margin, "the baseline P95", strict=False)
        if self.min_goroutine_growth < 0 or self.min_heap_growth_bytes < 0:
            raise ConfigError("the minimum goroutine and heap growth must not be negative")
        _check_peers(self.peers_by)
        for name in self.extra_labels:
            _check_alert_label(name)
        if not _is_http_url(self.serve_url):
            raise ConfigError(
                f"--serve-url must be an http(s) URL, got {self.serve_url!r}", hint="e.g. http://leaksleuth:9477"
            )
        if not self.token_file.strip():
            raise ConfigError("--token-file must name a file", hint="the path as Alertmanager sees it")


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:  # "http://[::1" and the like
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_ratio(option: str, ratio: float, of: str, *, strict: bool = True) -> None:
    if not math.isfinite(ratio) or ratio < 1 or (strict and ratio == 1):
        bound = "greater than 1" if strict else "at least 1"
        raise ConfigError(
            f"{option} must be a finite number {bound} (a multiple of {of}), got {ratio:g}",
            hint=f"e.g. {option} 3 for three times {of}" if strict else None,
        )


def _check_peers(peers_by: Sequence[str]) -> None:
    if not peers_by:
        raise ConfigError("--peers-by needs at least one label", hint="e.g. --peers-by job")
    for name in peers_by:
        if not is_label_name(name) or name.startswith("__"):
            raise ConfigError(
                f"--peers-by: {name!r} is not a label name Prometheus can group by",
                hint="label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with __ "
                "(Kubernetes labels like app.kubernetes.io/name arrive relabelled, e.g. app_kubernetes_io_name)",
            )
        if name == "instance":
            raise ConfigError(
                "--peers-by instance makes every instance its own fleet of one: the outlier alerts need three peers",
                hint="group by what replicas share, e.g. --peers-by job or job,namespace",
            )
    if len(set(peers_by)) != len(peers_by):
        raise ConfigError(f"--peers-by names a label twice: {','.join(peers_by)!r}")


def _check_alert_label(name: str) -> None:
    if not is_label_name(name) or name.startswith("__"):
        raise ConfigError(
            f"--label: {name!r} is not a valid alert label name",
            hint="label names match [a-zA-Z_][a-zA-Z0-9_]*; names starting with __ are reserved",
        )
    if name in (PREFIX, "alertname"):
        why = "routes the alerts to leaksleuth serve" if name == PREFIX else "is the rule's name"
        raise ConfigError(f"--label {name}=… would override the {name!r} label, which {why}")


def rule_groups(options: RuleOptions) -> dict[str, Any]:
    """The rule file as data (``{"groups": [...]}``)."""
    options.check()
    sel = _matchers(options.selector)
    every = format_duration(options.interval)
    recording = [
        _record(_avg(GOROUTINES), f"avg_over_time({GOROUTINES}{sel}[5m])"),
        _record(_avg(HEAP), f"avg_over_time({HEAP}{sel}[5m])"),
        _record(_avg(RSS), f"avg_over_time({RSS}{sel}[5m])"),
        _record(f"{PREFIX}:process_uptime_seconds", f"time() - {START}{sel}"),
    ]
    by = ", ".join(options.peers_by)
    for metric in (GOROUTINES, HEAP):
        recording += [
            _record(
                f"{_avg(metric)}:median_by_{'_'.join(options.peers_by)}", f"quantile by ({by}) (0.5, {_avg(metric)})"
            ),
            _record(f"{_avg(metric)}:count_by_{'_'.join(options.peers_by)}", f"count by ({by}) ({_avg(metric)})"),
        ]
    history = f"[{format_duration(options.baseline_window)}] offset {format_duration(options.growth_window)}"
    baseline = [
        # a baseline exists only once there is enough history: a first climb looks exactly like a leak
        _record(
            _p95(metric, options),
            f"quantile_over_time(0.95, {_avg(metric)}{history})\n"
            f"and count_over_time({_avg(metric)}{history}) >= {options.baseline_min_history / options.interval:g}",
        )
        for metric in (GOROUTINES, HEAP)
    ]
    alerts = [
        _leak_alert("GoGoroutineLeak", GOROUTINES, "goroutine", options, options.min_goroutine_growth),
        _leak_alert("GoHeapLeak", HEAP, "heap", options, options.min_heap_growth_bytes),
        _go_limit_forecast(sel, options),
        _container_limit_forecast(options),
        _outlier_alert("GoGoroutineFleetOutlier", GOROUTINES, "goroutine", options, 100),
        _outlier_alert("GoHeapFleetOutlier", HEAP, "heap", options, 64 * MiB),
    ]
    return {
        "groups": [
            {"name": f"{PREFIX}.recording", "interval": every, "rules": recording},
            # the P95 over days is the costly one: every 5 minutes is plenty for a baseline
            {
                "name": f"{PREFIX}.baseline",
                "interval": format_duration(max(options.interval, 300.0)),
                "rules": baseline,
            },
            {"name": f"{PREFIX}.alerts", "interval": every, "rules": alerts},
        ]
    }


def _matchers(selector: str) -> str:
    """``{job="api"}`` to append to metric names; nothing for an empty selector."""
    normalized = normalize_selector(selector, option="--selector")
    return "" if normalized == "{}" else normalized


def _avg(metric: str) -> str:
    return f"{PREFIX}:{metric}:avg5m"


def _p95(metric: str, options: RuleOptions) -> str:
    return f"{PREFIX}:{metric}:p95_{format_duration(options.baseline_window)}"


def _record(name: str, expr: str) -> dict[str, Any]:
    return {"record": name, "expr": expr}


def _alert(
    name: str, expr: str, options: RuleOptions, *, kind: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": format_duration(options.for_),
        "labels": {"severity": severity, PREFIX: kind, **options.extra_labels},
        "annotations": {"summary": summary, "description": description},
    }


def _leak_alert(name: str, metric: str, kind: str, options: RuleOptions, floor: int) -> dict[str, Any]:
    avg, p95 = _avg(metric), _p95(metric, options)
    window = format_duration(options.growth_window)
    previous = format_duration(options.growth_window + options.interval)  # no sample shared with the last window
    expr = (
        f"deriv({avg}[{window}]) * 3600 > 0\n"  # the value is the growth per hour, for the summary
        f"and min_over_time({avg}[{window}]) > max_over_time({avg}[{window}] offset {previous})\n"
        f"and {avg} > {options.baseline_margin:g} * {p95}\n"
        f"and {avg} - {p95} > {floor}\n"
        f"and {PREFIX}:process_uptime_seconds > {2 * options.growth_window:g}"
    )
    if kind == "goroutine":
        what, grows, rate = "The goroutine count", "grows", "{{ $value | humanize }} goroutines/h"
        capture = "Capture: leaksleuth goroutines http://{{ $labels.instance }} --every 10s --count 6"
    else:
        what, grows, rate = "Heap in use", "grows", "{{ $value | humanize1024 }}B/h"
        capture = "Routed to leaksleuth serve, a heap profile is captured and analysed."
    return _alert(
        name,
        expr,
        options,
        kind=kind,
        severity="warning",
        summary=f"{what} of {{{{ $labels.job }}}} {{{{ $labels.instance }}}} {grows} steadily (+{rate})",
        description=(
            f"{what} rose over the last {window}, above noise, past its P95 of the last "
            f"{format_duration(options.baseline_window)}, and the process is not warming up. {capture}"
        ),
    )


def _go_limit_forecast(sel: str, options: RuleOptions) -> dict[str, Any]:
    window, horizon = format_duration(options.forecast_window), format_duration(options.forecast_horizon)
    expr = (
        f"predict_linear({RSS}{sel}[{window}], {options.forecast_horizon:g}) > {GOMEMLIMIT}{sel}\n"
        f"and deriv({RSS}{sel}[{window}]) > 0\n"
        f"and {PREFIX}:process_uptime_seconds > {options.forecast_window:g}"
    )
    return _alert(
        "GoMemoryLimitForecast",
        expr,
        options,
        kind="heap",
        severity="critical",
        summary=f"{{{{ $labels.job }}}} {{{{ $labels.instance }}}} reaches its GOMEMLIMIT within {horizon}",
        description=(
            f"Resident memory grew over the last {window}; at that rate it passes GOMEMLIMIT within {horizon} "
            "(predicted {{ $value | humanize1024 }}B). Past the limit the GC runs almost continuously."
        ),
    )


def _container_limit_forecast(options: RuleOptions) -> dict[str, Any]:
    sel = normalize_selector(options.container_selector, option="--container-selector")
    window, horizon = format_duration(options.forecast_window), format_duration(options.forecast_horizon)
    # per container first: after a restart cAdvisor starts a new series (new id label) while the old one is still in
    # the range, and one-to-one matching on (namespace, pod, container) would fail on the duplicates
    per = "by (namespace, pod, container)"
    memory = f"{WORKING_SET}{sel}[{window}]"
    expr = (
        f"max {per} (predict_linear({memory}, {options.forecast_horizon:g}))\n"
        f"  > max {per} ({CONTAINER_LIMIT}{sel} > 0)\n"
        f"and max {per} (deriv({memory})) > 0\n"
        f"and min {per} (time() - container_start_time_seconds{sel}) > {options.forecast_window:g}"
    )
    return _alert(
        "ContainerMemoryLimitForecast",
        expr,
        options,
        kind="heap",
        severity="critical",
        summary=(
            f"{{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}} ({{{{ $labels.container }}}}) "
            f"reaches its memory limit within {horizon}"
        ),
        description=(
            f"The container's working set grew over the last {window}; at that rate it reaches its memory limit "
            f"within {horizon} (predicted {{{{ $value | humanize1024 }}}}B) and is OOM-killed."
        ),
    )


def _outlier_alert(name: str, metric: str, kind: str, options: RuleOptions, floor: int) -> dict[str, Any]:
    avg, group = _avg(metric), "_".join(options.peers_by)
    median, count = f"{avg}:median_by_{group}", f"{avg}:count_by_{group}"
    on = f"on ({', '.join(options.peers_by)})"
    expr = (
        f"{avg} / {on} group_left () {median} > {options.outlier_ratio:g}\n"
        f"and {avg} - {on} group_left () {median} > {floor}\n"
        f"and {on} ({count} >= 3)"
    )
    noun, measure = ("goroutines", "The goroutine count") if kind == "goroutine" else ("heap in use", "Heap in use")
    peers = " ".join(f"{{{{ $labels.{label} }}}}" for label in options.peers_by)
    return _alert(
        name,
        expr,
        options,
        kind=kind,
        severity="warning",
        summary=f'{{{{ $labels.instance }}}} has {{{{ printf "%.1f" $value }}}}x the {noun} of its {group} peers',
        description=(
            f"{measure} of {{{{ $labels.instance }}}} is more than {options.outlier_ratio:g}x the median over "
            f"{peers}: one replica leaks, or gets different traffic."
        ),
    )
