"""deploy/grafana/leaksleuth-dashboard.json: a Grafana dashboard (checked against the schema below: the members
Grafana's dashboard model requires of a dashboard, its panels, targets and variables), whose every query is valid
PromQL (promtool) and reads only series that exist: the recording rules of ``leaksleuth rules``, the gauges and
counters ``leaksleuth serve`` exports, and Prometheus' ALERTS."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from leaksleuth.integrations.rules import RuleOptions, rule_groups
from tests.conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "leaksleuth-dashboard.json"
DATASOURCE = {"type": "object", "required": ["type", "uid"], "properties": {"type": {"const": "prometheus"}}}
TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {"refId": {"type": "string", "pattern": "^[A-Z]$"}, "expr": {"type": "string", "minLength": 1}},
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time", "version"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "type"],
                        "properties": {"type": {"enum": ["datasource", "query", "custom", "interval", "constant"]}},
                    },
                }
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["timeseries", "stat", "bargauge", "table", "gauge", "piechart"]},
                    "datasource": DATASOURCE,
                    "gridPos": {
                        "type": "object",
                        "required": ["x", "y", "w", "h"],
                        "properties": {"x": {"minimum": 0, "maximum": 23}, "w": {"minimum": 1, "maximum": 24}},
                    },
                    "targets": {"type": "array", "minItems": 1, "items": TARGET},
                },
            },
        },
    },
}
VARIABLES = {"$job": ".*", "$service": ".*", "$__rate_interval": "5m", "$__interval": "1m"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a]
    return exprs


def test_the_dashboard_fits_the_schema(dashboard: dict[str, Any]) -> None:
    jsonschema.validate(dashboard, SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    names = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = {m for expr in _exprs(dashboard) for m in re.findall(r"\$(\w+)", expr)} - {"__rate_interval", "__interval"}
    assert used <= names  # every $variable a query uses is defined


def test_every_query_reads_series_that_exist(dashboard: dict[str, Any]) -> None:
    recorded = {
        rule["record"] for group in rule_groups(RuleOptions())["groups"] for rule in group["rules"] if "record" in rule
    }
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "leaksleuth").rglob("*.py"))
    for expr in _exprs(dashboard):
        names = set(re.findall(r"(?<![\w:])(leaksleuth[\w:]*|ALERTS)(?![\w:])", expr)) - {"ALERTS"}
        assert names or "ALERTS{" in expr, expr
        for name in names:
            exported = f'"{name.removesuffix("_total")}"'  # prometheus_client adds _total to counters
            assert name in recorded or exported in source, f"{name} in {expr!r}: no rule records it, serve has none"


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    rules = []
    for number, query in enumerate(_exprs(dashboard)):
        expr = query
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
