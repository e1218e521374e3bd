"""The registry secret in the build namespace: it exists (else the pod waits in FailedMount), it
is a `kubernetes.io/dockerconfigjson` secret, and its `auths` name the registry the Jenkinsfile
pushes to. Its data keys feed the template's `items` check; its credentials feed the push check."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, Report
from dockyard.doctor.kube import Cluster, api_message
from dockyard.doctor.registry import RegistryLogin, dockerconfig_logins

AREA = "secret"
DOCKERCONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKERCONFIG_KEY = ".dockerconfigjson"


@dataclass
class SecretFacts:
    keys: dict[str, set[str]] = field(default_factory=dict)  # secret -> its data keys
    logins: dict[str, dict[str, RegistryLogin]] = field(default_factory=dict)  # secret -> host -> login


def create_command(name: str, namespace: str, host: str) -> str:
    return (f"kubectl create secret docker-registry {name} --namespace {namespace}"
            f" --docker-server={host or 'REGISTRY'} --docker-username=USER --docker-password=PASSWORD")


def check_secrets(report: Report, cluster: Cluster, wanted: dict[str, list[str]]) -> SecretFacts:
    """`wanted`: secret name -> the registry hosts it must hold credentials for."""
    from kubernetes.client.exceptions import ApiException

    facts = SecretFacts()
    ns = cluster.namespace
    for name, hosts in wanted.items():
        create = create_command(name, ns, hosts[0] if hosts else "")
        try:
            secret = cluster.call(cluster.core().read_namespaced_secret, name, ns)
        except ApiException as e:
            if e.status == 404:
                report.add(AREA, "secret.exists", PROBLEM,
                           f"secret {name!r} does not exist in namespace {ns}: the build pod would wait"
                           f" in ContainerCreating with FailedMount (secret \"{name}\" not found)",
                           fix=create)
            elif e.status == 403:
                report.add(AREA, "secret.exists", SKIPPED,
                           f"secret {name!r} cannot be read by {cluster.username or 'this identity'}"
                           " (secrets get: see rbac above)")
            else:
                report.add(AREA, "secret.exists", PROBLEM, f"reading secret {name!r}: {api_message(e)}")
            continue
        except Exception as e:  # noqa: BLE001 - timeouts and connection failures
            report.add(AREA, "secret.exists", PROBLEM, f"reading secret {name!r}: {api_message(e)}")
            continue
        data = secret.data or {}
        facts.keys[name] = set(data)
        kind = secret.type or "Opaque"
        recreate = f"kubectl delete secret {name} --namespace {ns}\n{create}"
        if kind != DOCKERCONFIG_TYPE or DOCKERCONFIG_KEY not in data:
            if "config.json" in data:  # an Opaque secret holding config.json works without items
                report.add(AREA, "secret.type", OK, f"secret {name!r} ({kind}) holds config.json")
                raw = data["config.json"]
            else:
                report.add(AREA, "secret.type", PROBLEM,
                           f"secret {name!r} is of type {kind} with keys"
                           f" {', '.join(sorted(data)) or '(none)'},"
                           f" not a {DOCKERCONFIG_TYPE} secret with {DOCKERCONFIG_KEY}",
                           fix=recreate)
                continue
        else:
            raw = data[DOCKERCONFIG_KEY]
        try:
            logins = dockerconfig_logins(base64.b64decode(raw), f"secret {name}")
        except ValueError as e:
            report.add(AREA, "secret.auths", PROBLEM, f"secret {name!r}: its docker config is unusable: {e}",
                       fix=recreate)
            continue
        facts.logins[name] = logins
        missing = [h for h in hosts if h not in logins]
        if missing:
            report.add(AREA, "secret.auths", PROBLEM,
                       f"secret {name!r} holds credentials for {', '.join(sorted(logins)) or 'no registry'},"
                       f" not for {', '.join(missing)} (where the build pushes or pulls)",
                       fix=f"kubectl delete secret {name} --namespace {ns}\n"
                           + create_command(name, ns, missing[0]))
            continue
        report.add(AREA, "secret.auths", OK,
                   f"secret {name!r} ({kind}) holds credentials for {', '.join(sorted(logins))}")
    return facts
