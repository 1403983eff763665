"""sniff() names every captured format; load() reads files, bytes and URLs; inspect renders them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from leaksleuth.cli.main import main
from leaksleuth.collect.load import load, read_file
from leaksleuth.errors import FetchError, InputTooLargeError, ParseError
from leaksleuth.formats import Format, parse, sniff
from tests.conftest import CAPTURES, captures, ids
from tests.support.loopback import serving

EXPECTED = {
    "proto": Format.PPROF,
    "debug2": Format.GOROUTINE_DUMP,
    "panic": Format.GOROUTINE_DUMP,
    "expvar": Format.EXPVAR,
    "prometheus": Format.PROMETHEUS,
}
ALL = captures()


_BUILD_INFO = b'# HELP build_info Build information.\n# TYPE build_info gauge\nbuild_info{version="%s"} 1\n'


@pytest.mark.parametrize("where", ["first", "after the HELP and TYPE lines", "inside"])
def test_metrics_with_a_50_mb_label_value_are_metrics(where: str) -> None:
    """sniff decides on the structure of the lines it sees, not on their length (issue 12, item 13)."""
    metrics = (CAPTURES / "parked.metrics.txt").read_bytes()
    huge = _BUILD_INFO % (b"v" * (50 << 20))
    if where == "first":
        data = huge + metrics
    elif where == "inside":
        at = metrics.index(b"\n", len(metrics) // 2) + 1
        data = metrics[:at] + huge + metrics[at:]
    else:
        data = huge[huge.index(b"build_info{") :] + metrics
    assert sniff(data) is Format.PROMETHEUS
    assert sniff(gzip.compress(data, compresslevel=1)) is Format.PROMETHEUS
    parsed = parse(data)
    assert parsed.format is Format.PROMETHEUS and parsed.memstats == parse(metrics).memstats


def test_a_long_line_that_is_no_metric_is_still_unrecognised() -> None:
    with pytest.raises(ParseError, match="unrecognised input"):
        parse(b"this is a note, not a metric: " + b"x" * (1 << 17) + b"\n")


@pytest.mark.parametrize("entry", ALL, ids=ids(ALL))
def test_sniff_every_capture(entry: dict[str, str]) -> None:
    data = (CAPTURES / entry["file"]).read_bytes()
    expected = EXPECTED.get(entry["format"])
    if entry["format"] == "debug1":
        expected = Format.HEAP_TEXT if entry["kind"] == "heap" else Format.COUNT_TEXT
    assert sniff(data) == expected
    if not data.startswith(b"\x1f\x8b"):
        assert sniff(gzip.compress(data)) == expected
    assert parse(data).format == expected


@pytest.mark.parametrize("blob", [b"", b"hello", b"\x00\x01\x02garbage", b"<html><body>404</body></html>"])
def test_unknown_input_is_a_parse_error(blob: bytes) -> None:
    with pytest.raises(ParseError):
        parse(blob)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/debug/pprof/goroutine"):
            body = (CAPTURES / "parked.goroutine.debug2.txt").read_bytes()
            self.send_response(200)
        elif self.path == "/huge":
            body = b"x" * (3 << 20)
            self.send_response(200)
        else:
            body = b"404 page not found\n"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


def test_load_base_url_fetches_the_goroutine_dump(server: str) -> None:
    for given in (server, server + "/", server + "/debug/pprof/", server + "/debug/pprof"):  # the index page is HTML
        loaded = load(given)
        assert loaded.source == server + "/debug/pprof/goroutine?debug=2"
        assert loaded.parsed.dump is not None and len(loaded.parsed.dump.goroutines) == 33
    assert load(server + "/debug/pprof/goroutine?debug=2").source == server + "/debug/pprof/goroutine?debug=2"


def test_load_http_errors(server: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        load(server + "/debug/pprof/heap")
    assert caught.value.hint and "net/http/pprof" in caught.value.hint
    with pytest.raises(InputTooLargeError):
        load(server + "/huge", max_size=1 << 20)
    with pytest.raises(FetchError, match="cannot connect"):
        load("http://127.0.0.1:9/debug/pprof/heap", timeout=2)


def test_inspect_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(CAPTURES / "parked.goroutine.debug2.txt")]) == 0
    out = capsys.readouterr().out
    assert "goroutines" in out and "chan send" in out
    assert main(["inspect", "--json", str(CAPTURES / "heapkinds.heap.pb.gz")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "heap" and document["sample_count"] > 0
    assert document["top_index"] == "inuse_space" and document["top_functions"]


def test_inspect_cli_errors(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["inspect", "/does/not/exist"]) == 3
    assert "cannot read /does/not/exist" in capsys.readouterr().err
    assert main(["inspect", "--no-such-flag", "x"]) == 2


def test_a_file_that_never_ends_is_read_only_to_the_cap() -> None:
    """/dev/zero and pipes report size 0 to stat: the read itself must stop at the cap."""
    with pytest.raises(InputTooLargeError, match="more than the 1,048,576-byte cap"):
        read_file("/dev/zero", max_body=1 << 20)


def test_one_cap_for_reading_and_decompressing(monkeypatch: pytest.MonkeyPatch) -> None:
    """LEAKSLEUTH_MAX_DECOMPRESSED bounds the bytes read as well, and the refusal says how to raise it."""
    monkeypatch.setenv("LEAKSLEUTH_MAX_DECOMPRESSED", "1K")
    with pytest.raises(InputTooLargeError, match="exceeds the 1,024-byte cap") as caught:
        load(CAPTURES / "parked.goroutine.debug2.txt")
    assert caught.value.hint is not None and "LEAKSLEUTH_MAX_DECOMPRESSED" in caught.value.hint
    monkeypatch.setenv("LEAKSLEUTH_MAX_DECOMPRESSED", "1M")
    assert load(CAPTURES / "parked.goroutine.debug2.txt").parsed.dump is not None
