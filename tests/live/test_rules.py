"""`leaksleuth rules`: the generated rules pass `promtool check rules` and the committed `promtool test rules` cases;
the Alertmanager snippet loads in a real Alertmanager that then delivers to a webhook with the bearer token."""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from leaksleuth.cli import EXIT_USAGE
from leaksleuth.cli.main import main
from tests.conftest import ROOT
from tests.support.loopback import serving
from tests.support.prometheus_live import binary, running_alertmanager, wait_for

CASES = ROOT / "testdata" / "prometheus"
RULES, ALERTMANAGER, UNIT_TESTS = "leaksleuth.rules.yml", "alertmanager.leaksleuth.yml", "leaksleuth.rules.test.yml"
# a protection in the rules -> (the lines that implement it, the look-alike that fires without them)
PROTECTIONS = {
    "warm-up: judged after two growth windows of uptime": (
        ["and leaksleuth:process_uptime_seconds > 7200"],
        'instance="warmup:6060"',
    ),
    "history: a baseline needs a day of it": (["and count_over_time("], 'instance="sawtooth:6060"'),
    "sawtooth: must exceed its own P95": (["avg5m > 1.1 * leaksleuth:", ":p95_7d > "], 'instance="sawtooth:6060"'),
    "young: forecast from processes up for the whole window": (
        ["and leaksleuth:process_uptime_seconds > 21600"],
        'instance="sawtooth:6060"',
    ),
    "restarted: container forecast from containers up for the whole window": (
        ["(time() - container_start_time_seconds"],
        'pod="api-3"',
    ),
}


def generate(out_dir: Path, *args: str) -> None:
    assert main(["rules", "--output-dir", str(out_dir), *args]) == 0


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    generate(tmp_path)
    shutil.copy(CASES / UNIT_TESTS, tmp_path / UNIT_TESTS)
    return tmp_path


def test_generated_files_match_the_committed_copies(generated: Path) -> None:
    for name in (RULES, ALERTMANAGER):
        assert (generated / name).read_text() == (CASES / name).read_text(), (
            f"{name} changed: regenerate with `leaksleuth rules --output-dir testdata/prometheus`, "
            "then re-run promtool test rules"
        )


def test_promtool_check_rules_accepts_defaults_and_options(generated: Path, tmp_path: Path) -> None:
    result = promtool("check", "rules", RULES, cwd=generated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 16 rules found" in result.stdout
    custom = tmp_path / "custom"
    generate(
        custom,
        *("--selector", '{job="api",namespace="shop"}', "--peers-by", "job,namespace", "--for", "1h"),
        *("--baseline-window", "14d", "--label", "team=payments", "--serve-url", "https://leaksleuth.ops:9443/"),
    )
    result = promtool("check", "rules", RULES, cwd=custom)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = [r for g in yaml.safe_load((custom / RULES).read_text())["groups"] for r in g["rules"]]
    raw = [r["expr"] for r in rules if r.get("record", "").endswith(":avg5m") or "process_start" in r["expr"]]
    assert all('{job="api",namespace="shop"}' in expr for expr in raw), raw
    alerts = [r for r in rules if "alert" in r]
    assert all(a["for"] == "1h" and a["labels"]["team"] == "payments" for a in alerts)
    assert any("quantile by (job, namespace)" in r["expr"] for r in rules)
    assert any("[14d] offset 1h" in r["expr"] for r in rules)
    route = yaml.safe_load((custom / ALERTMANAGER).read_text())
    assert route["receivers"][0]["webhook_configs"][0]["url"] == "https://leaksleuth.ops:9443/alerts"


def test_promtool_unit_tests_fire_on_leaks_and_stay_silent_on_look_alikes(generated: Path) -> None:
    result = promtool("test", "rules", UNIT_TESTS, cwd=generated)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_protection_is_what_keeps_a_look_alike_silent(generated: Path) -> None:
    """Drop one protection from the rules: the committed cases must then fail (they are not passing vacuously)."""
    rules = (generated / RULES).read_text()
    runs = {}
    for protection, (needles, _) in PROTECTIONS.items():
        kept = [line for line in rules.splitlines() if not any(needle in line for needle in needles)]
        assert len(kept) < len(rules.splitlines()), f"{protection}: {needles} not found in the rules"
        variant = generated / protection.split(":")[0].replace(" ", "-")
        variant.mkdir()
        (variant / RULES).write_text("\n".join(kept) + "\n")
        shutil.copy(generated / UNIT_TESTS, variant / UNIT_TESTS)
        runs[protection] = subprocess.Popen(
            [binary("promtool"), "test", "rules", UNIT_TESTS],
            cwd=variant,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # promtool reports failed cases on stderr
            text=True,
        )
    for protection, run in runs.items():
        out, _ = run.communicate(timeout=180)
        assert run.returncode != 0, f"without '{protection}' the cases still pass"
        look_alike = PROTECTIONS[protection][1]
        assert "FAILED" in out and look_alike in out.partition("got:[")[2], (protection, out[-3000:])


def test_rules_cli_prints_yaml_and_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    names = [r.get("alert") for g in document["groups"] for r in g["rules"] if "alert" in r]
    assert names == [
        "GoGoroutineLeak",
        "GoHeapLeak",
        "GoMemoryLimitForecast",
        "ContainerMemoryLimitForecast",
        "GoGoroutineFleetOutlier",
        "GoHeapFleetOutlier",
    ]
    assert main(["rules", "--alertmanager"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["receivers"][0]["name"] == "leaksleuth"
    assert main(["rules", "--label", "no-equals-sign"]) == 2
    assert main(["rules", "--for", "soon"]) == 2
    err = capsys.readouterr().err
    assert "invalid duration 'soon'" in err and "Traceback" not in err


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str | None, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Webhook.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _webhook() -> Iterator[str]:
    with serving(_Webhook) as url:
        yield url


@pytest.mark.live
def test_alertmanager_routes_leak_alerts_to_serve_with_the_bearer_token(tmp_path: Path) -> None:
    token = tmp_path / "leaksleuth.token"
    token.write_text("s3cret\n")
    _Webhook.received = []
    with _webhook() as url:
        generate(tmp_path, "--serve-url", url, "--token-file", str(token))
        snippet = yaml.safe_load((tmp_path / ALERTMANAGER).read_text())
        snippet["route"]["routes"][0]["group_wait"] = "1s"  # the generated 30s is right in production, slow in a test
        config = {
            "route": {"receiver": "default", **snippet["route"]},
            "receivers": [{"name": "default"}, *snippet["receivers"]],
        }
        (tmp_path / "check.yml").write_text(yaml.safe_dump(config))
        checked = subprocess.run(
            [binary("amtool"), "check-config", str(tmp_path / "check.yml")], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with running_alertmanager(tmp_path / "am", config) as alertmanager:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            alerts = [
                {"labels": {"alertname": "GoHeapLeak", "leaksleuth": "heap", "job": "api", "instance": "10.0.0.7:6060"},
                 "startsAt": now},
                {"labels": {"alertname": "DiskFull", "job": "api", "instance": "10.0.0.7:9100"}, "startsAt": now},
            ]  # fmt: skip
            httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
            wait_for(lambda: bool(_Webhook.received), timeout=20, what="Alertmanager's webhook call")
    authorization, payload = _Webhook.received[0]
    assert authorization == "Bearer s3cret"
    assert payload["version"] == "4"
    assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["GoHeapLeak"]  # DiskFull is not routed to serve


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline-window", "12h"], "--baseline-min-history 1d must be shorter than --baseline-window 12h"),
        (["--baseline-min-history", "30d"], "--baseline-min-history 30d must be shorter than --baseline-window 7d"),
        (["--peers-by", "app.kubernetes.io/name"], "--peers-by: 'app.kubernetes.io/name' is not a label name"),
        (["--peers-by", "job,team-name"], "--peers-by: 'team-name' is not a label name"),
        (["--peers-by", "instance"], "--peers-by instance makes every instance its own fleet of one"),
        (["--label", "__name__=x"], "--label: '__name__' is not a valid alert label name"),
        (["--label", "é=x"], "--label: 'é' is not a valid alert label name"),
        (["--label", "leaksleuth=heap"], "would override the 'leaksleuth' label, which routes the alerts"),
        (["--label", "team=a", "--label", "team=b"], "--label team given twice"),
        (["--selector", ",,"], "--selector must be label matchers like '{job=\"api\"}', got ',,'"),
        (["--container-selector", "garbage"], "--container-selector must be label matchers"),
        (["--outlier-ratio", "-1"], "--outlier-ratio must be a finite number greater than 1"),
        (["--outlier-ratio", "nan"], "--outlier-ratio must be a finite number greater than 1"),
        (["--serve-url", "http://[::1"], "--serve-url must be an http(s) URL, got 'http://[::1'"),
    ],
)
def test_rules_refuses_options_prometheus_rejects_or_that_never_fire(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["rules", "--output-dir", str(tmp_path / "out"), *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in " ".join(err.split()), err
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_rules_accepts_a_regex_with_braces_and_promtool_agrees(tmp_path: Path) -> None:
    generate(tmp_path, "--selector", '{pod=~"api-[0-9]{3}", namespace!~`kube-.*`,}', "--baseline-min-history", "6d")
    text = (tmp_path / RULES).read_text()
    assert 'go_goroutines{pod=~"api-[0-9]{3}",namespace!~`kube-.*`}[5m]' in text
    result = promtool("check", "rules", RULES, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_output_dir_that_cannot_be_written_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("not a directory\n")
    assert main(["rules", "--output-dir", str(a_file)]) == EXIT_USAGE
    assert main(["rules", "--output-dir", str(a_file / "sub")]) == EXIT_USAGE
    assert main(["rules", "--output-dir", "/proc/nope"]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long paths
    assert "Traceback" not in err, err
    assert f"--output-dir {str(a_file)!r} is a file, not a directory" in err
    assert f"cannot write {str(a_file / 'sub')!r}: Not a directory" in err
    assert "--output-dir '/proc/nope': cannot write '/proc/nope'" in err
    assert a_file.read_text() == "not a directory\n"
