"""The scraper against an HTTPS target that wants a client certificate and a bearer token (real TLS on loopback)."""

from __future__ import annotations

import contextlib
import re
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from leaksleuth.collect.scrape_config import ScrapeConfig, tls_verify
from leaksleuth.errors import ConfigError
from tests.support.loopback import serving
from tests.support.scrape import answer_pprof, scrape_one

TOKEN = "t0ken"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by that CA."""
    where = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=leaksleuth test CA",
        cwd=where,
    )
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=where,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            cwd=where,
        )
    return where


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or self.headers.get("X-Tenant") != "a":
            self.send_response(401)
            self.end_headers()
            return
        answer_pprof(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def https_target(pki: Path) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection
    with serving(_Handler, tls=context) as url:
        yield url


def _authenticated(pki: Path) -> ScrapeConfig:
    """What the test target wants: our CA trusted, a client certificate, the bearer token and the header."""
    return ScrapeConfig(
        timeout=5,
        retries=0,
        bearer_token=TOKEN,
        headers={"X-Tenant": "a"},
        ca_file=str(pki / "ca.crt"),
        client_cert=str(pki / "client.crt"),
        client_key=str(pki / "client.key"),
    )


def test_mutual_tls_with_bearer_token_and_headers(pki: Path) -> None:
    good = _authenticated(pki)
    with https_target(pki) as url:
        result = scrape_one(good, url)
        assert result.status == "ok", result.error
        assert result.dump is not None and len(result.dump.goroutines) == 33
        assert result.heap is not None and result.memstats is not None and result.memstats.goroutines == 33
        no_token = scrape_one(replace(good, bearer_token=None), url)
        assert no_token.status == "error" and "HTTP 401" in (no_token.error or "")
        no_client_cert = scrape_one(replace(good, client_cert=None, client_key=None), url)
        assert no_client_cert.status != "ok"
        unknown_ca = scrape_one(replace(good, ca_file=None), url)
        assert unknown_ca.status != "ok" and "CERTIFICATE_VERIFY_FAILED" in (unknown_ca.error or "").upper()
        # --insecure skips checking the server, not authenticating to it: the target still gets our certificate
        insecure = scrape_one(replace(good, ca_file=None, insecure=True), url)
        assert insecure.status == "ok", insecure.error


def test_bad_tls_files_are_configuration_errors(pki: Path, tmp_path: Path) -> None:
    """Before the first round, with the reason: not a traceback, not every target failing TLS."""
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("this is not a certificate\n")
    cases = [
        (ScrapeConfig(client_cert="/nonexistent.pem"), "--cert: cannot read /nonexistent.pem: No such file"),
        (ScrapeConfig(ca_file="/nonexistent.pem"), "--ca: cannot read /nonexistent.pem: No such file"),
        (ScrapeConfig(client_cert=str(pki / "client.crt"), client_key=str(tmp_path)), "--key: cannot read"),
        (ScrapeConfig(client_key=str(pki / "client.key")), "--key needs --cert"),
        (ScrapeConfig(ca_file=str(not_pem)), "not a PEM CA bundle"),
        (ScrapeConfig(client_cert=str(not_pem), client_key=str(pki / "client.key")), "PEM"),
        (ScrapeConfig(client_cert=str(pki / "client.crt"), client_key=str(pki / "server.key")), "KEY_VALUES_MISMATCH"),
    ]
    for config, message in cases:
        with pytest.raises(ConfigError, match=re.escape(message)):
            tls_verify(config)
    assert tls_verify(ScrapeConfig(client_cert=str(pki / "client.crt"), client_key=str(pki / "client.key")))


def test_a_pinned_connection_still_verifies_the_name(pki: Path) -> None:
    """DNS pinning moves the TCP connect, not TLS: SNI and the certificate check use the URL's name. The test
    certificate names IP 127.0.0.1 only, so a name pinned to that address is refused by the check."""
    good = _authenticated(pki)
    with https_target(pki) as url:
        port = url.rpartition(":")[2]
        same = scrape_one(replace(good, pinned={"127.0.0.1": ("127.0.0.1",)}), url)
        assert same.status == "ok", same.error
        named = scrape_one(
            replace(good, pinned={"tls-name.invalid": ("127.0.0.1",)}), f"https://tls-name.invalid:{port}"
        )
        assert named.status != "ok" and "CERTIFICATE_VERIFY_FAILED" in (named.error or "").upper(), named.error
        assert "tls-name.invalid" in (named.error or "") or "hostname" in (named.error or "").lower(), named.error
