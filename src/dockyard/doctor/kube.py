"""The cluster connection: a kubeconfig (or the pod's service account) turned into an API client
with a timeout on every call and no retries, so an unreachable or silent API server costs one
timeout and one clear finding, never a hang or a traceback.

The `kubernetes` package loads only here and only when a cluster is configured: the server-only
checks run without it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, Report, brief

AREA = "kubernetes"
IN_CLUSTER = "in-cluster service account"
T = TypeVar("T")


@dataclass
class Cluster:
    api: Any  # kubernetes.client.ApiClient
    host: str
    namespace: str
    source: str  # the kubeconfig path, or IN_CLUSTER
    timeout: float
    username: str = ""

    def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call with the doctor's timeout (connect and read)."""
        return method(*args, _request_timeout=(self.timeout, self.timeout), **kwargs)

    def send(self, method: str, path: str, body: Any = None,
             query: list[tuple[str, str]] | None = None) -> tuple[int, list[str], dict[str, Any]]:
        """One request with a manifest sent exactly as given: (status, Warning headers, JSON body).
        The typed methods validate bodies against their models first, which refuses what the API
        server accepts (`cpu: 1`, a number, in the tutorial's template)."""
        params = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(*params, _request_timeout=(self.timeout, self.timeout))
        data = response.read() or b""
        headers = response.getheaders()
        warnings = headers.getlist("Warning") if hasattr(headers, "getlist") else \
            [v for k, v in dict(headers or {}).items() if k.lower() == "warning"]
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {"message": data.decode(errors="replace")[:500]}
        return int(response.status), list(warnings), doc if isinstance(doc, dict) else {}

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def close(self) -> None:
        self.api.close()


def api_message(error: Exception) -> str:
    """The API server's own message of an ApiException (its Status body), else the exception."""
    body = getattr(error, "body", None)
    if body:
        try:
            doc = json.loads(body)
            if isinstance(doc, dict) and doc.get("message"):
                return str(doc["message"])
        except (ValueError, TypeError):
            pass
    status, reason = getattr(error, "status", None), getattr(error, "reason", None)
    if status:
        return f"HTTP {status} {reason or ''}".strip()
    return brief(error)


def kubeconfig_path(given: Path | None) -> tuple[Path | None, str]:
    """(the kubeconfig to use or None, where it came from), as kubectl chooses it."""
    if given is not None:
        return given, "--kubeconfig"
    env = os.environ.get("KUBECONFIG", "")
    if env:
        first = next((p for p in env.split(os.pathsep) if p), "")
        return (Path(first) if first else None), "$KUBECONFIG"
    default = Path.home() / ".kube" / "config"
    return (default if default.exists() else None), "~/.kube/config"


def connect(report: Report, kubeconfig: Path | None, context: str | None, namespace: str | None,
            timeout: float) -> Cluster | None:
    """A reachable cluster, or None with a finding that says why the Kubernetes checks are skipped."""
    path, origin = kubeconfig_path(kubeconfig)
    in_cluster = path is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if path is None and not in_cluster:
        report.add(AREA, "kubernetes.config", SKIPPED,
                   "no cluster configured (no --kubeconfig, $KUBECONFIG or ~/.kube/config, not in a pod):"
                   " the Kubernetes checks (RBAC, dry-run, registry secret, pod network) were skipped",
                   fix="pass --kubeconfig PATH (and --namespace NS) to check the build namespace")
        return None
    try:
        from kubernetes import client, config
    except ImportError:
        report.add(AREA, "kubernetes.config", SKIPPED,
                   "the Python package 'kubernetes' is not installed: the Kubernetes checks were skipped",
                   fix="pip install 'kubernetes>=37'")
        return None
    source = IN_CLUSTER if in_cluster else str(path)
    try:
        if in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            default_ns = ns_file.read_text().strip() if ns_file.exists() else "default"
        else:
            assert path is not None
            if not path.is_file():
                raise FileNotFoundError(f"{path} ({origin}) does not exist")
            configuration = client.Configuration()
            config.load_kube_config(config_file=str(path), context=context,
                                    client_configuration=configuration, persist_config=False)
            _contexts, active = config.list_kube_config_contexts(config_file=str(path))
            chosen = next((c for c in _contexts if c.get("name") == context), active) if context else active
            default_ns = str(((chosen or {}).get("context") or {}).get("namespace") or "default")
    except Exception as e:  # noqa: BLE001 - a bad kubeconfig fails in many ways; each is one finding
        report.add(AREA, "kubernetes.config", PROBLEM, f"the kubeconfig {source} cannot be used: {brief(e)}",
                   fix=f"check it with `kubectl --kubeconfig {source} config view`, or pass another"
                       " --kubeconfig / --context")
        return None
    configuration.retries = 0  # one attempt per call: the timeout is the whole wait
    api = client.ApiClient(configuration)
    cluster = Cluster(api, configuration.host, namespace or default_ns, source, timeout)
    report.context["cluster"] = configuration.host
    report.context["namespace"] = cluster.namespace
    try:
        version = cluster.call(client.VersionApi(api).get_code)
    except Exception as e:  # noqa: BLE001 - connection refused, timeouts, TLS and HTTP errors alike
        status = getattr(e, "status", None)
        if status in (401, 403):
            report.add(AREA, "kubernetes.reach", PROBLEM,
                       f"the API server at {configuration.host} rejects the kubeconfig's credentials:"
                       f" {api_message(e)}", fix=f"renew the credentials in {source}")
        else:
            report.add(AREA, "kubernetes.reach", PROBLEM,
                       f"cannot reach the Kubernetes API server at {configuration.host} (within"
                       f" {timeout:g} s): {api_message(e)}; the other Kubernetes checks were skipped",
                       fix=f"check the cluster is up and the kubeconfig's server: kubectl --kubeconfig"
                           f" {source} cluster-info")
        api.close()
        return None
    cluster.username = _whoami(cluster)
    who = f" as {cluster.username}" if cluster.username else ""
    report.add(AREA, "kubernetes.reach", OK,
               f"Kubernetes {version.git_version} at {configuration.host}{who},"
               f" build namespace {cluster.namespace}")
    return cluster


def _whoami(cluster: Cluster) -> str:
    """The kubeconfig's identity (SelfSubjectReview); '' when the server does not say."""
    from kubernetes import client

    try:
        review = cluster.call(client.AuthenticationV1Api(cluster.api).create_self_subject_review,
                              client.V1SelfSubjectReview())
        info = review.status.user_info if review.status else None
        return str(info.username or "") if info else ""
    except Exception:  # noqa: BLE001 - only used to word the RBAC fix
        return ""
