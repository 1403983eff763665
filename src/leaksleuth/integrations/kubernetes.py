"""The Kubernetes API, client side (the official ``kubernetes`` client): pod discovery by annotation, and for
self-healing pods, their owners, budgets and Events.

Every call names what it needs (verb, resource, namespace), so a 403 becomes one clear ConfigError naming the
missing permission rather than a client traceback; a 429 on an eviction is an answer ("the budget says wait"), not a
failure. The client is synchronous: callers on an event loop run these methods in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leaksleuth.errors import ConfigError, FetchError
from leaksleuth.extras import require_extra
from leaksleuth.model.target import Target, TargetSource, make_target

T = TypeVar("T")
SCRAPE_ANNOTATION = "leaksleuth.io/scrape"
PORT_ANNOTATION = "leaksleuth.io/port"
SCHEME_ANNOTATION = "leaksleuth.io/scheme"
SERVICE_LABELS = ("app.kubernetes.io/name", "app", "k8s-app")
RBAC_HINT = "grant it with deploy/rbac/heal.yaml (kubectl apply -f deploy/rbac/heal.yaml)"


def kubernetes_api_client(*, kubeconfig: str | None = None, api_client: Any = None) -> Any:
    """An ApiClient: ``api_client`` as given (tests), in-cluster credentials, or a kubeconfig."""
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise ConfigError("Kubernetes support needs the official client", hint="pip install 'leaksleuth[k8s]'") from exc
    if api_client is not None:
        return api_client
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"no Kubernetes configuration: {exc}", hint="set KUBECONFIG or --kubeconfig") from exc
    return client.ApiClient()


def kubernetes_api(*, kubeconfig: str | None = None, api_client: Any = None) -> Any:
    """A CoreV1Api (pod discovery needs nothing else)."""
    from kubernetes import client

    return client.CoreV1Api(kubernetes_api_client(kubeconfig=kubeconfig, api_client=api_client))


def kubernetes_call(verb: str, resource: str, namespace: str | None, call: Callable[[], T]) -> T:
    """Run one API call; errors become FetchError, a 403 a ConfigError naming the missing permission."""
    from kubernetes import client

    where = f"in namespace {namespace!r}" if namespace else "cluster-wide"
    try:
        return call()
    except client.ApiException as exc:
        if exc.status == 403:
            raise ConfigError(
                f"Kubernetes RBAC: this service account may not {verb} {resource} {where} (403 Forbidden)",
                hint=RBAC_HINT,
            ) from None
        raise FetchError(
            f"Kubernetes API ({verb} {resource} {where}): {exc.status} {exc.reason}", status=exc.status
        ) from exc
    except Exception as exc:  # urllib3 / socket errors surface as many types; report them as one fetch failure
        raise FetchError(
            f"Kubernetes API unreachable ({verb} {resource} {where}): {type(exc).__name__}: {exc}"
        ) from exc


# ---- pod discovery --------------------------------------------------------------------------------------------------


def kubernetes_source(
    *,
    namespace: str | None = None,
    selector: str | None = None,
    kubeconfig: str | None = None,
    api_client: Any = None,
) -> TargetSource:
    """Running pods annotated ``leaksleuth.io/scrape: "true"``; port from ``leaksleuth.io/port`` (default 6060)."""
    require_extra("k8s", "kubernetes")  # when the source is made (options), not at the first round
    api: list[Any] = []

    def list_pods() -> list[Target]:
        if not api:
            api.append(kubernetes_api(kubeconfig=kubeconfig, api_client=api_client))
        core = api[0]
        if namespace:
            pods = kubernetes_call(
                "list", "pods", namespace, lambda: core.list_namespaced_pod(namespace, label_selector=selector)
            )
        else:
            pods = kubernetes_call(
                "list", "pods", None, lambda: core.list_pod_for_all_namespaces(label_selector=selector)
            )
        return [t for t in (pod_to_target(pod) for pod in pods.items) if t is not None]

    async def discover() -> list[Target]:
        return await asyncio.to_thread(list_pods)

    return discover


def pod_target(namespace: str, name: str, *, kubeconfig: str | None = None, api_client: Any = None) -> Target:
    """The pprof base URL of one pod (an alert names it): its IP and ``leaksleuth.io/port`` (default 6060).

    The scrape annotation is not required here: the alert asked for this pod explicitly."""
    core = kubernetes_api(kubeconfig=kubeconfig, api_client=api_client)
    pod = kubernetes_call("get", "pods", namespace, lambda: core.read_namespaced_pod(name, namespace))
    target = pod_to_target(pod, require_annotation=False)
    if target is None:
        phase = pod.status.phase if pod.status else "unknown"
        raise FetchError(f"pod {namespace}/{name} is not running with an IP (phase {phase})")
    return target


def pod_to_target(pod: Any, *, require_annotation: bool = True) -> Target | None:
    """A running pod's pprof base URL (its IP, ``leaksleuth.io/port``); None if it is not running with an IP."""
    metadata = pod.metadata
    annotations = metadata.annotations or {}
    if require_annotation and str(annotations.get(SCRAPE_ANNOTATION, "")).lower() != "true":
        return None
    status = pod.status
    if status is None or status.phase != "Running" or not status.pod_ip:
        return None
    port = str(annotations.get(PORT_ANNOTATION, "6060"))
    scheme = str(annotations.get(SCHEME_ANNOTATION, "http"))
    labels = metadata.labels or {}
    service = next((labels[key] for key in SERVICE_LABELS if key in labels), "")
    if not service and metadata.owner_references:
        service = metadata.owner_references[0].name
    address = f"[{status.pod_ip}]" if ":" in status.pod_ip else status.pod_ip
    return make_target(
        f"{scheme}://{address}:{port}",
        service or metadata.name,
        {"namespace": metadata.namespace or "", "pod": metadata.name},
    )


# ---- quantities and budgets ----------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?$")
_SUFFIX = {
    None: 1.0, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``1.5Gi``, ``1e9`` is not one) -> a number; FetchError if bad."""
    found = _QUANTITY.match(str(text).strip())
    if found is None:
        raise FetchError(f"not a Kubernetes quantity: {str(text)[:40]!r}")
    return float(found.group(1)) * _SUFFIX[found.group(2)]


def scaled(value: int | str | None, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field (``maxUnavailable: 25%``) of ``total``, rounded as the controllers round it."""
    if value is None:
        return None
    text = str(value).strip()
    if text.endswith("%"):
        amount = float(text[:-1]) * total / 100
        return math.ceil(amount) if round_up else math.floor(amount)
    return int(text)


# ---- workloads -----------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Workload:
    """The controller that replaces a pod: a Deployment (through its ReplicaSet) or a StatefulSet."""

    kind: str  # Deployment | StatefulSet
    name: str
    namespace: str
    replicas: int
    selector: Mapping[str, str]  # spec.selector.matchLabels
    max_unavailable: int  # the controller's own rollout budget, as an absolute count
    replica_set: str | None = None  # the ReplicaSet in between, for a Deployment
    replica_set_selector: Mapping[str, str] = field(default_factory=dict)  # adds pod-template-hash

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.kind.lower()}/{self.name}"

    @property
    def label_selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))


def controller_of(metadata: Any) -> Any:
    """The ownerReference with ``controller: true`` (the one that recreates the object), or None."""
    return next((ref for ref in metadata.owner_references or () if ref.controller), None)


def pod_ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status is None or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


class Kubernetes:
    """The calls self-healing makes, each one checked (see :func:`kubernetes_call`)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.policy = client.PolicyV1Api(api_client)

    # ---- pods ------------------------------------------------------------------------------------------------------
    def list_pods(self, namespace: str | None, selector: str | None = None) -> list[Any]:
        if namespace:
            found = kubernetes_call(
                "list", "pods", namespace, lambda: self.core.list_namespaced_pod(namespace, label_selector=selector)
            )
        else:
            found = kubernetes_call(
                "list", "pods", None, lambda: self.core.list_pod_for_all_namespaces(label_selector=selector)
            )
        return list(found.items)

    def read_pod(self, namespace: str, name: str) -> Any:
        return kubernetes_call("get", "pods", namespace, lambda: self.core.read_namespaced_pod(name, namespace))

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> Any:
        return kubernetes_call(
            "patch", "pods", namespace, lambda: self.core.patch_namespaced_pod(name, namespace, patch)
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        kubernetes_call("delete", "pods", namespace, lambda: self.core.delete_namespaced_pod(name, namespace))

    def evict_pod(self, namespace: str, name: str) -> bool:
        """The Eviction API (it honours PodDisruptionBudgets). False: 429, the budget allows no disruption now."""
        from kubernetes import client

        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        try:
            kubernetes_call(
                "create",
                "pods/eviction",
                namespace,
                lambda: self.core.create_namespaced_pod_eviction(name, namespace, body),
            )
        except FetchError as exc:
            if exc.status == 429:
                return False
            raise
        return True

    # ---- owners and budgets ----------------------------------------------------------------------------------------
    def workload_of(self, pod: Any) -> Workload | None:
        """ReplicaSet -> Deployment, or StatefulSet; None for a bare pod or one owned by anything else."""
        namespace = pod.metadata.namespace
        owner = controller_of(pod.metadata)
        if owner is None:
            return None
        if owner.kind == "StatefulSet":
            sts = kubernetes_call(
                "get",
                "statefulsets.apps",
                namespace,
                lambda: self.apps.read_namespaced_stateful_set(owner.name, namespace),
            )
            replicas = sts.spec.replicas if sts.spec.replicas is not None else 1
            sts_rolling = sts.spec.update_strategy.rolling_update if sts.spec.update_strategy else None
            budget = scaled(sts_rolling.max_unavailable if sts_rolling else None, replicas, round_up=False)
            return Workload("StatefulSet", owner.name, namespace, replicas, _match_labels(sts), budget or 1)
        if owner.kind != "ReplicaSet":
            return None
        rs = kubernetes_call(
            "get", "replicasets.apps", namespace, lambda: self.apps.read_namespaced_replica_set(owner.name, namespace)
        )
        rs_owner = controller_of(rs.metadata)
        if rs_owner is None or rs_owner.kind != "Deployment":
            return None
        deploy = kubernetes_call(
            "get", "deployments.apps", namespace, lambda: self.apps.read_namespaced_deployment(rs_owner.name, namespace)
        )
        replicas = deploy.spec.replicas if deploy.spec.replicas is not None else 1
        rolling = deploy.spec.strategy.rolling_update if deploy.spec.strategy else None
        budget = scaled(rolling.max_unavailable if rolling else "25%", replicas, round_up=False)
        return Workload(
            "Deployment",
            rs_owner.name,
            namespace,
            replicas,
            _match_labels(deploy),
            budget if budget is not None else 0,
            owner.name,
            _match_labels(rs),
        )

    def disruption_budgets(self, namespace: str) -> list[Any]:
        found = kubernetes_call(
            "list",
            "poddisruptionbudgets.policy",
            namespace,
            lambda: self.policy.list_namespaced_pod_disruption_budget(namespace),
        )
        return list(found.items)

    def patch_workload(self, workload: Workload, patch: dict[str, Any]) -> None:
        resource = "deployments.apps" if workload.kind == "Deployment" else "statefulsets.apps"
        method = (
            self.apps.patch_namespaced_deployment
            if workload.kind == "Deployment"
            else self.apps.patch_namespaced_stateful_set
        )
        kubernetes_call("patch", resource, workload.namespace, lambda: method(workload.name, workload.namespace, patch))

    def rollout_restart(self, workload: Workload, when: dt.datetime) -> None:
        """``kubectl rollout restart``: a new template annotation makes the controller replace every pod in turn."""
        stamp = when.astimezone(dt.UTC).isoformat(timespec="seconds")
        restarted = {"kubectl.kubernetes.io/restartedAt": stamp}
        self.patch_workload(workload, {"spec": {"template": {"metadata": {"annotations": restarted}}}})

    # ---- events ----------------------------------------------------------------------------------------------------
    def create_event(self, pod: Any, reason: str, message: str, when: dt.datetime) -> None:
        """A core/v1 Event about ``pod`` (``kubectl describe pod`` shows it), named the way kubectl names them."""
        from kubernetes import client

        metadata = pod.metadata
        namespace = metadata.namespace
        stamp = when.astimezone(dt.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{metadata.name}.{int(stamp.timestamp() * 1e9):x}", namespace=namespace),
            involved_object=client.V1ObjectReference(
                kind="Pod", name=metadata.name, namespace=namespace, uid=metadata.uid, api_version="v1"
            ),
            reason=reason,
            message=message[:1024],  # the apiserver caps Event messages; ours quote a file:line, never a dump
            type="Normal",
            source=client.V1EventSource(component="leaksleuth"),
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
        )
        kubernetes_call("create", "events", namespace, lambda: self.core.create_namespaced_event(namespace, event))


def _match_labels(obj: Any) -> dict[str, str]:
    selector = obj.spec.selector
    return dict(selector.match_labels or {}) if selector is not None else {}


def selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects ``labels``; an empty one selects all."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expression in selector.match_expressions or ():
        present, values = expression.key in labels, set(expression.values or ())
        holds = {
            "In": present and labels.get(expression.key) in values,
            "NotIn": not present or labels.get(expression.key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(expression.operator, False)
        if not holds:
            return False
    return True
