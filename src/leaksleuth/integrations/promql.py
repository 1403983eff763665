"""PromQL pieces shared by ``fleet`` (which queries Prometheus) and ``rules`` (which only writes YAML).

Dependency-free on purpose: ``leaksleuth rules`` imports this and should not pull in httpx or numpy.
"""

from __future__ import annotations

import re

from leaksleuth.errors import ConfigError

DEFAULT_CONTAINER_SELECTOR = '{container!="",container!="POD"}'
# series name -> cAdvisor metric (the kubelet's /metrics/cadvisor)
CONTAINER_METRICS = {
    "container_working_set_bytes": "container_memory_working_set_bytes",  # what the OOM killer compares
    "container_limit_bytes": "container_spec_memory_limit_bytes",  # 0 = no limit
}
_SELECTOR = re.compile(r"^\{.*\}$", re.DOTALL)


def normalize_selector(text: str) -> str:
    """``job="api"`` or ``{job="api"}`` -> ``{job="api"}``; empty -> ``{}``."""
    spec = text.strip()
    if not spec:
        return "{}"
    if not spec.startswith("{"):
        spec = "{" + spec + "}"
    if not _SELECTOR.match(spec) or spec.count("{") != 1 or spec.count("}") != 1:
        raise ConfigError(
            f"--selector must be label matchers like '{{job=\"api\"}}', got {text!r}",
            hint="the metric names are leaksleuth's; give only the {…} part",
        )
    return spec
