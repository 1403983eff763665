"""``leaksleuth rules``: Prometheus rules for goroutine and heap leaks, and the Alertmanager route to ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leaksleuth.errors import ConfigError

Opt = typer.Option
RULES_FILE = "leaksleuth.rules.yml"
ALERTMANAGER_FILE = "alertmanager.leaksleuth.yml"


def command(
    selector: Annotated[str, Opt(help="Label matchers for the Go services, e.g. '{job=\"api\"}'.")] = "{}",
    for_: Annotated[str, Opt("--for", help="How long a condition must hold before the alert fires.")] = "30m",
    growth_window: Annotated[str, Opt(help="Window over which steady growth is judged.")] = "1h",
    baseline_window: Annotated[str, Opt(help="Dynamic baseline: P95 over this window (quantile_over_time).")] = "7d",
    baseline_min_history: Annotated[
        str, Opt(help="History the baseline needs before the leak alerts can fire.")
    ] = "1d",
    forecast_window: Annotated[str, Opt(help="predict_linear fits memory over this window ...")] = "6h",
    forecast_horizon: Annotated[str, Opt(help="... and alerts when the limit is reached within this horizon.")] = "4h",
    peers_by: Annotated[str, Opt(help="Labels that make instances peers, for the outlier alerts.")] = "job",
    outlier_ratio: Annotated[float, Opt(help="Fleet outlier: this many times the peers' median.")] = 3.0,
    container_selector: Annotated[
        str, Opt(help="Matchers for cAdvisor's container metrics.")
    ] = '{container!="",container!="POD"}',
    label: Annotated[list[str] | None, Opt(help="Extra label NAME=VALUE on every alert (repeatable).")] = None,
    serve_url: Annotated[
        str, Opt(help="Where `leaksleuth serve` listens (Alertmanager posts to URL/alerts).")
    ] = "http://leaksleuth:9477",
    token_file: Annotated[
        str, Opt(help="Bearer token file Alertmanager sends to serve (path as Alertmanager sees it).")
    ] = "/etc/alertmanager/leaksleuth.token",
    alertmanager: Annotated[
        bool, Opt("--alertmanager", help="Print the Alertmanager route + receiver instead of the rules.")
    ] = False,
    format_: Annotated[
        str, Opt("--format", help="prometheus (a rules file) or prometheus-operator (a PrometheusRule manifest).")
    ] = "prometheus",
    output_dir: Annotated[
        Path | None, Opt(help=f"Write {RULES_FILE} and {ALERTMANAGER_FILE} into this directory.")
    ] = None,
) -> None:
    """Print Prometheus recording + alerting rules (YAML) for goroutine and heap leaks with dynamic baselines."""
    from leaksleuth.durations import parse_duration
    from leaksleuth.integrations.rules import RuleOptions, rule_groups
    from leaksleuth.integrations.rules_files import (
        ALERTMANAGER_HEADER,
        alertmanager_config,
        prometheus_rule,
        rules_header,
        to_yaml,
    )

    options = RuleOptions(
        selector=selector,
        for_=parse_duration(for_),
        growth_window=parse_duration(growth_window),
        baseline_window=parse_duration(baseline_window),
        baseline_min_history=parse_duration(baseline_min_history),
        forecast_window=parse_duration(forecast_window),
        forecast_horizon=parse_duration(forecast_horizon),
        peers_by=tuple(name.strip() for name in peers_by.split(",") if name.strip()) or ("job",),
        outlier_ratio=outlier_ratio,
        container_selector=container_selector,
        serve_url=serve_url,
        token_file=token_file,
        extra_labels=_labels(label or []),
    )
    if format_ not in ("prometheus", "prometheus-operator"):
        raise ConfigError(f"--format must be prometheus or prometheus-operator, got {format_!r}")
    groups = rule_groups(options)
    document = prometheus_rule(groups) if format_ == "prometheus-operator" else groups
    rules_text = to_yaml(document, rules_header(options, operator=format_ == "prometheus-operator"))
    alertmanager_text = to_yaml(alertmanager_config(options), ALERTMANAGER_HEADER)
    if output_dir is not None:
        _write(output_dir, {RULES_FILE: rules_text, ALERTMANAGER_FILE: alertmanager_text})
        typer.echo(f"wrote {output_dir / RULES_FILE} and {output_dir / ALERTMANAGER_FILE}")
        return
    typer.echo(alertmanager_text if alertmanager else rules_text, nl=False)


def _labels(items: list[str]) -> dict[str, str]:
    """NAME=VALUE pairs; whether NAME is a valid alert label is RuleOptions.check's call."""
    labels: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ConfigError(f"--label must look like NAME=VALUE, got {item!r}", hint="e.g. --label team=payments")
        if name in labels:
            raise ConfigError(f"--label {name} given twice ({labels[name]!r} and {value.strip()!r})")
        labels[name] = value.strip()
    return labels


def _write(directory: Path, files: dict[str, str]) -> None:
    if directory.exists() and not directory.is_dir():
        raise ConfigError(
            f"--output-dir {str(directory)!r} is a file, not a directory",
            hint="name a directory (created if missing), or leave --output-dir out to print the rules",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text)
    except OSError as exc:
        where = exc.filename or directory
        raise ConfigError(
            f"--output-dir {str(directory)!r}: cannot write {str(where)!r}: {exc.strerror or exc}",
            hint="name a directory you can write to",
        ) from None
