"""Target sources: files, DNS (a real resolver against a loopback DNS server), Kubernetes (KMock), sharding."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rdatatype
import dns.rrset
import kmock
import pytest
from kubernetes import client

from leaksleuth.collect.discovery import Discovery, dns_source, dns_srv_source
from leaksleuth.collect.targets import parse_shard, parse_targets_file
from leaksleuth.errors import ConfigError, FetchError
from leaksleuth.integrations.kubernetes import kubernetes_source
from leaksleuth.integrations.prometheus import prometheus_source
from leaksleuth.model.target import Target, make_target, normalize_url

ZONE = {
    ("api.prod.svc.", "A"): ["127.0.0.11", "127.0.0.12"],
    ("_pprof._tcp.worker.prod.svc.", "SRV"): ["0 0 7001 w1.prod.svc.", "0 0 7002 w2.prod.svc."],
}


@contextlib.contextmanager
def dns_server() -> Iterator[str]:
    """A tiny authoritative DNS server on loopback UDP answering from ZONE (NXDOMAIN otherwise)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            records = ZONE.get((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
            if records:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 30, "IN", question.rdtype, records)  # type: ignore[arg-type]
                )
            elif not any(name == question.name.to_text() for name, _ in ZONE):
                response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def test_dns_a_and_srv() -> None:
    with dns_server() as server:
        found = asyncio.run(dns_source("api.prod.svc:6060", nameserver=server)())
        assert [t.url for t in found] == ["http://127.0.0.11:6060", "http://127.0.0.12:6060"]
        assert {t.service for t in found} == {"api"}
        srv = asyncio.run(dns_srv_source("_pprof._tcp.worker.prod.svc", nameserver=server)())
        assert [t.url for t in srv] == ["http://w1.prod.svc:7001", "http://w2.prod.svc:7002"]
        assert {t.service for t in srv} == {"worker"}
        with pytest.raises(FetchError, match="no A/AAAA records"):
            asyncio.run(dns_source("missing.prod.svc:6060", nameserver=server)())


def test_a_failing_source_keeps_its_last_targets() -> None:
    calls = {"n": 0}

    async def flaky() -> list[Target]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise FetchError("DNS lookup failed")
        return [make_target("http://10.0.0.1:6060", "api")]

    discovery = Discovery([make_target("http://10.9.9.9:6060")], [("flaky", flaky)], refresh=0)
    first = asyncio.run(discovery())
    second = asyncio.run(discovery())
    assert [t.url for t in first] == [t.url for t in second] == ["http://10.9.9.9:6060", "http://10.0.0.1:6060"]
    assert discovery.errors == {"flaky": "DNS lookup failed"}


def _pod(
    name: str, ip: str, *, scrape: str = "true", phase: str = "Running", port: str | None = None
) -> dict[str, object]:
    annotations = {"leaksleuth.io/scrape": scrape} | ({"leaksleuth.io/port": port} if port else {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "labels": {"app.kubernetes.io/name": "checkout"},
            "annotations": annotations,
        },
        "status": {"phase": phase, "podIP": ip},
    }


async def test_kubernetes_pods_by_annotation(kmock: kmock.KubernetesEmulator) -> None:
    pods = kmock.resource("v1/pods")
    kmock.objects[pods, "prod", "checkout-1"] = _pod("checkout-1", "10.1.0.1", port="7070")
    kmock.objects[pods, "prod", "checkout-2"] = _pod("checkout-2", "10.1.0.2")
    kmock.objects[pods, "prod", "opted-out"] = _pod("opted-out", "10.1.0.3", scrape="false")
    kmock.objects[pods, "prod", "pending"] = _pod("pending", "10.1.0.4", phase="Pending")
    api = client.ApiClient(client.Configuration(host=str(kmock.url).rstrip("/")))
    found = await kubernetes_source(api_client=api, namespace="prod")()
    assert sorted(t.url for t in found) == ["http://10.1.0.1:7070", "http://10.1.0.2:6060"]
    assert {t.service for t in found} == {"checkout"}
    assert dict(found[0].labels)["namespace"] == "prod"
    everywhere = await kubernetes_source(api_client=api)()
    assert len(everywhere) == 2


def test_targets_file_yaml_and_plain(tmp_path: Path) -> None:
    yaml_file = tmp_path / "targets.yaml"
    yaml_file.write_text(
        "targets:\n  - http://10.0.0.1:6060\n  - url: 10.0.0.2:6060/debug/pprof/\n    service: api\n"
        "    labels: {zone: b}\n"
    )
    targets = parse_targets_file(yaml_file)
    assert [t.url for t in targets] == ["http://10.0.0.1:6060", "http://10.0.0.2:6060"]
    assert targets[1].service == "api" and targets[1].label_dict() == {"zone": "b"}
    plain = tmp_path / "targets.txt"
    plain.write_text("# fleet\nhttp://10.0.0.3:6060 service=web zone=a\n10.0.0.4:6060\n")
    assert [(t.url, t.service, t.label_dict()) for t in parse_targets_file(plain)] == [
        ("http://10.0.0.3:6060", "web", {"zone": "a"}),
        ("http://10.0.0.4:6060", "", {}),
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - {service: api}\n")
    with pytest.raises(ConfigError, match="cannot read target"):
        parse_targets_file(bad)
    with pytest.raises(ConfigError):
        normalize_url("ftp://x")


def test_shards_partition_the_fleet() -> None:
    fleet = [make_target(f"http://10.0.{i // 250}.{i % 250}:6060") for i in range(1000)]
    shards = [parse_shard(f"{i}/4") for i in range(1, 5)]
    parts = [[t for t in fleet if shard.keeps(t)] for shard in shards]
    assert sorted(t.url for part in parts for t in part) == sorted(t.url for t in fleet)
    assert all(180 < len(part) < 320 for part in parts)  # a fair share each
    assert [t for t in fleet if parse_shard("2/4").keeps(t)] == parts[1]  # stable
    with pytest.raises(ConfigError):
        parse_shard("0/4")


@pytest.mark.live
def test_prometheus_targets_from_a_real_prometheus(go: str, tmp_path: Path) -> None:
    from tests.support.golive import build, running
    from tests.support.prometheus_live import running_prometheus, scrape_job, wait_for

    binary = build(go, "goleaks", tmp_path)
    with running([str(binary), "-mode", "worker-pool"]) as (_, address):
        jobs = [scrape_job("checkout", [address], labels={"zone": "a"}), scrape_job("other", ["127.0.0.1:9"])]
        with running_prometheus(tmp_path / "prom", jobs) as prometheus:
            source = prometheus_source(prometheus.url, job="checkout")
            found: list[Target] = []

            def discovered() -> bool:
                found[:] = asyncio.run(source())
                return bool(found)

            wait_for(discovered, timeout=30, what="Prometheus to list its targets")
            assert [(t.url, t.service, t.label_dict()) for t in found] == [
                (f"http://{address}", "checkout", {"zone": "a"})
            ]
            everything = asyncio.run(prometheus_source(prometheus.url)())
            assert {t.service for t in everything} == {"checkout", "other"}
    with pytest.raises(FetchError, match="unreachable"):
        asyncio.run(prometheus_source("http://127.0.0.1:9")())
