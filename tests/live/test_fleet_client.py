"""The Prometheus client: chunking under 11,000 points, bounded retries, one-line errors, auth headers.

A fake Prometheus (httpx.MockTransport) answers like the real API; the live tests talk to the real one.
"""

from __future__ import annotations

import http.server
import json
import math
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from leaksleuth.cli import EXIT_ERROR, EXIT_USAGE
from leaksleuth.cli.main import main
from leaksleuth.durations import format_duration, parse_duration
from leaksleuth.errors import ConfigError, FetchError
from leaksleuth.integrations.prometheus import MAX_POINTS_PER_SERIES, PrometheusClient, chunk_ranges, normalize_url
from leaksleuth.integrations.promql import normalize_selector
from tests.support.loopback import serving
from tests.support.prometheus_live import free_port

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kwargs: object) -> tuple[PrometheusClient, list[float]]:
    slept: list[float] = []
    return PrometheusClient(
        "http://prom:9090", transport=httpx.MockTransport(handler), sleep=slept.append, **kwargs
    ), slept


def range_answer(request: httpx.Request) -> httpx.Response:
    """Like Prometheus: one point per step from start to end, and the same 400 above 11,000 points."""
    query = parse_qs(request.url.query.decode())
    start, end, step = (float(query[name][0]) for name in ("start", "end", "step"))
    if (end - start) / step > MAX_POINTS_PER_SERIES:
        error = "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution"
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": error})
    points = [[round(start + k * step, 3), str(k)] for k in range(math.floor((end - start) / step + 1e-9) + 1)]
    result = [{"metric": {"__name__": "go_goroutines", "instance": "a:1"}, "values": points}]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_range_queries_are_chunked_under_the_point_limit_and_stitched_without_gaps() -> None:
    prometheus, _ = client(range_answer)
    start, step = 1_700_000_000.0, 15.0
    end = start + 2 * 86400  # 11,521 points at 15 s: one request would be refused
    series = prometheus.query_range("go_goroutines", start=start, end=end, step=step)
    assert prometheus.requests_sent == 2
    (only,) = series
    assert len(only.timestamps) == 11_521
    assert only.timestamps[0] == start and only.timestamps[-1] == end
    assert all(b - a == step for a, b in zip(only.timestamps, only.timestamps[1:], strict=False))
    assert dict(only.labels) == {"__name__": "go_goroutines", "instance": "a:1"}


@pytest.mark.parametrize(("seconds", "step"), [(60, 1), (11_000, 1), (11_001, 1), (3 * 86400, 15), (7 * 86400, 7)])
def test_chunks_cover_the_grid_exactly_once(seconds: int, step: float) -> None:
    start = 1_700_000_000.0
    chunks = list(chunk_ranges(start, start + seconds, step))
    grid = [t for a, b in chunks for t in (a + k * step for k in range(round((b - a) / step) + 1))]
    assert grid == [start + k * step for k in range(round(seconds / step) + 1)]
    assert all((b - a) / step + 1 <= MAX_POINTS_PER_SERIES for a, b in chunks)


def test_transient_failures_are_retried_a_bounded_number_of_times() -> None:
    answers = iter([httpx.Response(503, text="overloaded"), httpx.Response(502), None])

    def flaky(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        return answer or httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    prometheus, slept = client(flaky, retries=2)
    assert prometheus.query("up") == []
    assert prometheus.requests_sent == 3 and len(slept) == 2

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    prometheus, slept = client(down, retries=3)
    with pytest.raises(FetchError, match=r"^Prometheus at http://prom:9090 unreachable: ConnectError: \[Errno 111\]"):
        prometheus.query("up")
    assert prometheus.requests_sent == 4 and len(slept) == 3


def test_query_errors_are_not_retried_and_read_like_prometheus_said_them() -> None:
    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "("'}
        )

    prometheus, slept = client(bad)
    with pytest.raises(FetchError) as caught:
        prometheus.query('up{job=~"("}')
    assert str(caught.value) == 'Prometheus returned error: bad_data: parse error: unexpected "("'
    assert caught.value.hint == 'query: up{job=~"("}'
    assert prometheus.requests_sent == 1 and slept == []
    with pytest.raises(FetchError, match="exceeded maximum resolution") as too_big:
        client(range_answer)[0]._get(
            "/api/v1/query_range", {"query": "x", "start": "0", "end": "20000", "step": "1"}, "x"
        )
    assert too_big.value.hint == "shorten --window or use a coarser --step"


def test_something_that_is_not_prometheus_is_named_as_such() -> None:
    prometheus, _ = client(lambda request: httpx.Response(200, text="<html>Grafana</html>"))
    with pytest.raises(FetchError, match="answered HTTP 200, not a Prometheus API response: '<html>Grafana</html>'"):
        prometheus.query("up")
    prometheus, _ = client(lambda request: httpx.Response(401, text="Unauthorized"))
    with pytest.raises(FetchError) as caught:
        prometheus.query("up")
    assert caught.value.hint is not None and "--bearer-token-file" in caught.value.hint


def test_bearer_token_headers_and_response_cap() -> None:
    seen: list[httpx.Headers] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}})

    prometheus, _ = client(record, bearer_token="t0k", headers={"X-Scope-OrgID": "team-a"})
    assert prometheus.query("1+1")[0].values == (2.0,)
    assert seen[0]["authorization"] == "Bearer t0k" and seen[0]["x-scope-orgid"] == "team-a"
    huge, _ = client(lambda request: httpx.Response(200, content=b"x" * 5000), max_body=1000)
    with pytest.raises(FetchError, match="response exceeds 1,000 bytes"):
        huge.query("up")


def test_targets_for_discovery() -> None:
    answer = {
        "status": "success",
        "data": {
            "activeTargets": [
                {"labels": {"job": "api", "instance": "10.0.0.7:6060"}, "discoveredLabels": {}, "scrapeInterval": "15s",
                 "scrapeUrl": "http://10.0.0.7:6060/metrics", "health": "up", "lastError": ""},
            ]
        },
    }  # fmt: skip
    prometheus, _ = client(lambda request: httpx.Response(200, json=answer))
    (target,) = prometheus.targets()
    assert target.labels["instance"] == "10.0.0.7:6060" and target.scrape_interval == 15.0 and target.health == "up"


def test_durations_urls_and_selectors() -> None:
    assert [parse_duration(d) for d in ("90s", "1h30m", "7d", "2w", "250ms", "42")] == [
        90,
        5400,
        604800,
        1209600,
        0.25,
        42,
    ]
    assert [format_duration(s) for s in (5400, 604800, 86400 + 60, 0.5)] == ["1h30m", "7d", "1d1m", "500ms"]
    with pytest.raises(ConfigError, match="invalid duration 'soon'"):
        parse_duration("soon")
    assert normalize_url("prometheus:9090/") == "http://prometheus:9090"
    assert normalize_url("https://p.example/prom/graph") == "https://p.example/prom"
    assert normalize_selector('job="api"') == '{job="api"}' and normalize_selector(" ") == "{}"
    with pytest.raises(ConfigError, match="--selector must be label matchers"):
        normalize_selector('go_goroutines{job="api"}')


def test_fleet_cli_with_prometheus_down_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["fleet", "--prometheus", url, "--window", "10m", "--timeout", "2"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"leaksleuth: error: Prometheus at {url} unreachable: ConnectError:")
    assert "hint: check --prometheus" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2


def test_fleet_cli_rejects_bad_options_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--prometheus", "http://127.0.0.1:1", "--window", "a while"]) == 2
    assert main(["fleet", "--prometheus", "http://127.0.0.1:1", "--selector", "up{}"]) == 2
    assert main(["fleet", "--prometheus", "http://127.0.0.1:1", "--header", "no colon"]) == 2
    err = capsys.readouterr().err
    assert "invalid duration 'a while'" in err and "--header must look like" in err and "Traceback" not in err


# ---- malformed API answers: one FetchError naming the query and quoting the bad piece, never a traceback --------

MATRIX, VECTOR = "matrix", "vector"
MALFORMED = {
    "matrix value not a number": ({"resultType": MATRIX, "result": [{"metric": {}, "values": [[1, "x"]]}]}, '[1,"x"]'),
    "matrix point not a list": ({"resultType": MATRIX, "result": [{"metric": {}, "values": [7]}]}, "7"),
    "matrix values not a list": ({"resultType": MATRIX, "result": [{"metric": {}, "values": "7"}]}, '"7"'),
    "vector item without value": ({"resultType": VECTOR, "result": [{"metric": {"job": "a"}}]}, '{"metric":'),
    "result item a string": ({"resultType": MATRIX, "result": ["go_goroutines"]}, '"go_goroutines"'),
    "metric not an object": ({"resultType": MATRIX, "result": [{"metric": [1, 2], "values": []}]}, "[1,2]"),
    "label value a number": ({"resultType": VECTOR, "result": [{"metric": {"a": 1}, "value": [1, "2"]}]}, '{"a":1}'),
    "string result": ({"resultType": "string", "result": [1, "text"]}, '"string"'),
    "scalar not a pair": ({"resultType": "scalar", "result": [1]}, "[1]"),
}  # fmt: skip


def _prometheus_answering(data: object) -> type[http.server.BaseHTTPRequestHandler]:
    body = json.dumps({"status": "success", "data": data}).encode()

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Answer


@pytest.mark.parametrize(("data", "quoted"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_query_results_are_one_fetch_error_naming_the_query(
    data: object, quoted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(_prometheus_answering(data)) as url:
        args = ["fleet", "--prometheus", url, "--json", "--window", "10m", "--step", "15s", "--baseline-window", "0"]
        assert main([*args, "--timeout", "5"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    (first, *_) = err.strip().splitlines()  # --json: no progress lines before it
    assert first.startswith(f"leaksleuth: error: Prometheus at {url}: query 'go_goroutines"), err
    assert quoted in first, err


def test_malformed_targets_answer_is_a_fetch_error() -> None:
    def answer(labels: object, interval: object) -> Handler:
        entry = {"labels": labels, "discoveredLabels": {}, "scrapeInterval": interval, "health": "up"}
        body = {"status": "success", "data": {"activeTargets": [entry]}}
        return lambda request: httpx.Response(200, json=body)

    with pytest.raises(FetchError, match=r"/api/v1/targets: labels are not an object of strings: \[\"job\"\]"):
        client(answer(["job"], "15s"))[0].targets()
    with pytest.raises(FetchError, match='scrapeInterval is not a duration: "soon"'):
        client(answer({"job": "api"}, "soon"))[0].targets()


def test_fleet_url_and_timeout_mistakes_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--prometheus", "http://[::1", "--window", "10m"]) == EXIT_USAGE
    assert main(["fleet", "--prometheus", "http://prom:port", "--window", "10m"]) == EXIT_USAGE
    assert main(["fleet", "--prometheus", "http://127.0.0.1:1", "--window", "10m", "--timeout", "0"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert "--prometheus is not a valid URL, got 'http://[::1': Invalid IPv6 URL" in err
    assert "--prometheus is not a valid URL, got 'http://prom:port'" in err
    assert "--timeout must be a positive number of seconds, got 0" in err
    with pytest.raises(ConfigError, match="--timeout must be a positive"):
        PrometheusClient("http://prom:9090", timeout=math.nan)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ('{pod=~"api-[0-9]{3}"}', '{pod=~"api-[0-9]{3}"}'),  # braces inside a regex value
        ('job = "a,b}" , ns!~`kube-\\d+`,', '{job="a,b}",ns!~`kube-\\d+`}'),  # blanks and a trailing comma go
        ("{msg='it\\'s', x=\"\\\"\\u00e9\\x41\\101\"}", "{msg='it\\'s',x=\"\\\"\\u00e9\\x41\\101\"}"),
    ],
)
def test_selectors_are_parsed_not_brace_counted(given: str, normalized: str) -> None:
    assert normalize_selector(given) == normalized


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (",,", "expected a label name, found ',,' at column 1"),
        ("garbage", "expected =, !=, =~ or !~ after 'garbage', found the end"),
        ('{é="x"}', "expected a label name, found 'é=\"x\"' at column 2"),
        ('{__name__="up"}', "__name__ is set by leaksleuth"),
        ("{job=api}", "expected a quoted value, found 'api'"),
        ('{a="x" b="y"}', "expected ',' between matchers, found 'b=\"y\"' at column 8"),
        ('{a="x",,b="y"}', "empty matcher between commas"),
        ('{job="api"', "no closing '}'"),
        ('{pod=~"api-\\d+"}', "unknown escape sequence '\\d' at column 12"),
        ('{a="\\x4"}', "invalid escape sequence"),
        ('{a="x', "no closing '}'"),
        ('{a="x}', 'unterminated "-quoted string at column 4'),
    ],
)
def test_bad_selectors_name_the_problem_and_the_column(bad: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_selector(bad, option="--container-selector")
    text = str(caught.value)
    assert text.startswith(f"--container-selector must be label matchers like '{{job=\"api\"}}', got {bad!r}: ")
    assert message in text, text
