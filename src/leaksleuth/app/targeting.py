"""Which URL an alert may make ``serve`` fetch: the target template filled from the alert's labels, checked.

Labels come from whoever can post to ``/alerts`` (or write an alerting rule): hostile until checked. A label value
that fills the template may not carry URL syntax (``/ ? # @ \\ %``, whitespace, control characters): ``?`` would
swallow the template's ``:6060``, ``/`` add a path, ``@`` send credentials. The filled URL is parsed again and each
placeholder must have stayed in the part of the URL the template put it in. Before any request, ``TargetPolicy``
checks the host's addresses against ``--allow-cidr`` (default: the private ranges and loopback) unless the name is
in ``--allow-host``, and the port against ``--allow-port``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from leaksleuth.errors import ConfigError
from leaksleuth.integrations.promql import is_label_name
from leaksleuth.model.target import normalize_url

KUBERNETES = "kubernetes"  # the template that resolves the alert's namespace/pod labels through the Kubernetes API


# placeholders split from the ``instance`` label; instance_ip reads better for IP:port instances (same value)
INSTANCE_PLACEHOLDERS = ("instance_host", "instance_port", "instance_ip")
PLACEHOLDER_HELP = (
    "placeholders: any alert label ({instance}, {job}, {pod}, …), or {instance_host} / {instance_ip} and "
    "{instance_port} split from the instance label"
)


@functools.lru_cache(maxsize=16)  # one template per server: checked at startup, not parsed again per alert
def template_fields(template: str) -> tuple[str, ...]:
    """The placeholders of a target template; ConfigError (quoting it) for anything but plain ``{label}``."""

    def bad(why: str) -> ConfigError:
        return ConfigError(
            f"--target-template {template!r}: {why}",
            hint=f"e.g. http://{{instance_host}}:6060 or 'kubernetes'; {PLACEHOLDER_HELP}; write {{{{ }}}} for a "
            "literal brace",
        )

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
        raise bad(f"unbalanced braces ({exc})") from None
    fields = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not is_label_name(name):
            raise bad(f"{{{name}}} is not a label name" if name else "{} needs a label name")
        if spec:
            raise bad(f"{{{name}:{spec}}} has a format spec: close the brace before the ':'")
        if conversion:
            raise bad(f"{{{name}!{conversion}}}: conversions are not supported, only plain {{label}}")
        fields.append(name)
    # "6060" reads as a host or as a port, wherever a label lands in the URL
    example = {name: "10.0.0.7" if name in ("instance_host", "instance_ip") else "6060" for name in fields}
    try:  # an example alert's URL: "ftp://{instance}" or "http://[{instance_host}" fail here, not per alert
        normalize_url(template.format_map(example))
    except ConfigError as exc:
        raise bad(f"gives {template.format_map(example)!r} for an example alert: {exc}") from None
    return tuple(fields)


def target_url(template: str, labels: Mapping[str, str]) -> str:
    """Fill the template from the alert's labels, plus ``instance_host``/``instance_port`` split from ``instance``
    (``instance_ip`` is another name for ``instance_host``). ConfigError when a label is missing, carries URL
    syntax, or the filled URL puts a label's value anywhere but where the template put it.

    With the ``kubernetes`` template the result is ``k8s://NAMESPACE/POD``, resolved to the pod's IP and
    ``leaksleuth.io/port`` when the capture starts (container alerts carry pod labels, not a Go instance)."""
    if template == KUBERNETES:
        namespace, pod = labels.get("namespace"), labels.get("pod")
        if not namespace or not pod:
            raise ConfigError("alert has no namespace and pod labels for the kubernetes target template")
        check_label_value("namespace", namespace)
        check_label_value("pod", pod)
        return f"k8s://{namespace}/{pod}"
    fields = tuple(dict.fromkeys(template_fields(template)))
    values = dict(labels)
    instance = values.get("instance", "")
    if instance:
        host, colon, port = instance.rpartition(":")
        if not (colon and port.isdigit()):
            host, port = instance, ""
        values.setdefault("instance_host", host)  # IPv6 keeps its brackets: it goes back into a URL
        values.setdefault("instance_ip", values["instance_host"])
        if port:
            values.setdefault("instance_port", port)
    missing = [name for name in fields if name not in values]
    if missing:
        raise ConfigError(_missing(missing, template, labels))
    for name in fields:  # a derived placeholder is checked as the label it came from
        source = name if name in labels or name not in INSTANCE_PLACEHOLDERS else "instance"
        check_label_value(source, labels[source])
    url = template.format_map(values)
    _check_filled(template, fields, values, url)
    return url


def _missing(names: list[str], template: str, labels: Mapping[str, str]) -> str:
    derived = [name for name in names if name in INSTANCE_PLACEHOLDERS]
    plain = [name for name in names if name not in INSTANCE_PLACEHOLDERS]
    reasons = []
    if plain:
        reasons.append(f"no label {', '.join(plain)}")
    if derived and not labels.get("instance"):
        reasons.append(f"no label instance (for {', '.join('{' + n + '}' for n in derived)})")
    elif derived:  # only the port can be missing: the host is always there
        reasons.append(f"instance {labels['instance']!r}, without a port (for {{instance_port}})")
    return (
        f"alert has {'; '.join(reasons)} for the target template {template!r} "
        f"(labels: {', '.join(sorted(labels)) or 'none'}; {PLACEHOLDER_HELP})"
    )


# URL syntax and what no host, port or path segment a label fills needs; whitespace and controls are checked apart
_URL_SYNTAX = frozenset("/?#@\\%")
_SHOWN = 80  # characters of a refused value quoted in the reason


def check_label_value(name: str, value: str) -> None:
    """ConfigError when a label value that fills the target URL carries URL syntax or invisible characters."""
    for char in value:
        if char in _URL_SYNTAX or char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            shown = value[:_SHOWN] + ("…" if len(value) > _SHOWN else "")
            raise ConfigError(
                f"label {name}={shown!r}: {char!r} is not allowed in a label that fills the target URL "
                "(/ ? # @ \\ %, whitespace and control characters are refused)"
            )


def _check_filled(template: str, fields: tuple[str, ...], values: Mapping[str, str], url: str) -> None:
    """Each placeholder's value must have stayed in the URL part (netloc, path, query, fragment) the template put
    it in, with no credentials and a port that is a number."""
    tokens = {name: f"lsplaceholder{index}x" for index, name in enumerate(fields)}
    scheme = "" if "://" in template else "http://"  # "{instance}" is a target like "host:port": http is added
    shape, url = urlsplit(scheme + template.format_map(tokens)), scheme + url

    def fill(part: str) -> str:
        for name, token in tokens.items():
            part = part.replace(token, values[name])
        return part

    expected = (shape.scheme, fill(shape.netloc), fill(shape.path), fill(shape.query), fill(shape.fragment))
    try:
        got = urlsplit(url)
        got.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise ConfigError(f"the alert's labels make {url!r}, not a URL: {exc}") from None
    if tuple(got[:5]) != expected or got.username is not None or not got.hostname:
        raise ConfigError(f"the alert's labels make {url!r}, which is not the URL the template {template!r} shapes")


DEFAULT_ALLOWED = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(ConfigError):
    """The target's host or port is outside the allow-lists: nothing was fetched."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    networks: tuple[Network, ...]
    hosts: tuple[str, ...] = ()  # exact names, or "*.suffix"
    ports: frozenset[int] = frozenset()  # empty: any port

    @classmethod
    def from_options(
        cls, cidrs: Iterable[str] | None = None, hosts: Iterable[str] = (), ports: Iterable[int] = ()
    ) -> TargetPolicy:
        networks = []
        for cidr in cidrs or DEFAULT_ALLOWED:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ConfigError(f"--allow-cidr {cidr!r}: {exc}", hint="e.g. 10.0.0.0/8 or 127.0.0.1/32") from None
        allowed_ports = frozenset(ports)
        if any(not 0 < port < 65536 for port in allowed_ports):
            raise ConfigError(f"--allow-port wants ports in 1-65535, got {sorted(allowed_ports)}")
        return cls(tuple(networks), tuple(h.strip().lower().rstrip(".") for h in hosts), allowed_ports)

    def describe(self) -> str:
        ports = ", ".join(map(str, sorted(self.ports))) if self.ports else "any port"
        names = f"; hosts {', '.join(self.hosts)}" if self.hosts else ""
        return f"targets in {', '.join(map(str, self.networks))}{names}; {ports}"

    async def check(self, url: str) -> tuple[str, ...]:
        """TargetRefused unless ``url``'s port is allowed and its host is an allowed name or every address it
        resolves to is in an allowed network. Returns the addresses checked, for the capture to connect to only
        those (a DNS answer that changes after the check, rebinding, never reaches a refused address). A host
        allowed by ``--allow-host`` is not resolved: it returns no addresses, and the capture resolves that name
        itself (unpinned: the user trusts the name, not an address)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.ports and port not in self.ports:
            raise TargetRefused(f"{url}: port {port} is not in --allow-port ({self.describe()})")
        if self._named(host):
            return ()
        addresses = await _addresses(parts, port)
        if not addresses:  # nothing to pin would mean "resolve it again": refused instead
            raise TargetRefused(f"{url}: {host} resolves to no address")
        for address in addresses:
            if not any(address in network for network in self.networks):
                raise TargetRefused(
                    f"{url}: {host} is {address}, not in --allow-cidr ({self.describe()})",
                    hint=f"--allow-cidr {address}/32 or --allow-host {host} to allow it",
                )
        return tuple(dict.fromkeys(str(address) for address in addresses))

    def _named(self, host: str) -> bool:
        return any(host == name or (name.startswith("*.") and host.endswith(name[1:])) for name in self.hosts)


async def _addresses(parts: SplitResult, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    host = parts.hostname or ""
    try:
        found = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"{host}: cannot resolve ({exc.strerror or exc})") from None
        found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    # ::ffff:169.254.169.254 is 169.254.169.254
    return [a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a for a in found]
