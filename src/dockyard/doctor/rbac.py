"""RBAC: a SelfSubjectAccessReview for every verb the Kubernetes executor uses in the build
namespace. A missing verb is named, with the `kubectl create role/rolebinding` that grants it
(the tutorial's B.5: without `secrets get` the agent pod fails with FailedMount)."""

from __future__ import annotations

from dockyard.doctor.findings import OK, PROBLEM, Report
from dockyard.doctor.kube import Cluster, api_message

AREA = "rbac"

# (resource, subresource, verbs, what the executor does with them)
NEEDED: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("pods", "", ("create", "get", "list", "watch", "delete"), "start, watch and clean up build pods"),
    ("pods", "exec", ("create",), "run container('x') { sh ... } steps"),
    ("pods", "log", ("get",), "read a container's log"),
    ("events", "", ("list", "watch"), "show pod events in the build log"),
    ("secrets", "", ("get",), "read the registry secret (and pull secrets) the template names"),
)


# with DOCKYARD_K8S_PULL_CREDENTIAL the executor makes each build's pull secret and hands it to the pod
PULL_SECRETS = ("secrets", "", ("get", "create", "patch"),
                "read the registry secret, make each build's pull secret and hand it to its pod")


def needed(pull_credential: bool) -> tuple[tuple[str, str, tuple[str, ...], str], ...]:
    """The executor's rules; with a pull credential its secrets rule is PULL_SECRETS."""
    return tuple(PULL_SECRETS if pull_credential and rule[0] == "secrets" else rule for rule in NEEDED)


def missing_verbs(cluster: Cluster, rules: tuple[tuple[str, str, tuple[str, ...], str], ...] = NEEDED
                  ) -> dict[str, list[str]]:
    """`pods/exec` -> the verbs the current identity lacks (RuntimeError when the review fails)."""
    from kubernetes import client

    authz = client.AuthorizationV1Api(cluster.api)
    missing: dict[str, list[str]] = {}
    for resource, sub, verbs, _why in rules:
        name = f"{resource}/{sub}" if sub else resource
        for verb in verbs:
            review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=cluster.namespace, verb=verb, group="", resource=resource,
                    subresource=sub or None)))
            try:
                result = cluster.call(authz.create_self_subject_access_review, review)
            except Exception as e:  # noqa: BLE001 - any API failure ends the check with its message
                raise RuntimeError(api_message(e)) from None
            if not (result.status and result.status.allowed):
                missing.setdefault(name, []).append(verb)
    return missing


def subject_flag(username: str) -> str:
    """The rolebinding flag naming `username` (service accounts have their own)."""
    prefix = "system:serviceaccount:"
    if username.startswith(prefix):
        return f"--serviceaccount={username[len(prefix):]}"
    return f"--user={username or 'USER'}"


def fix_commands(namespace: str, username: str, missing: dict[str, list[str]]) -> str:
    """One Role per resource (so no verb is granted on a resource that does not need it)."""
    lines = []
    for name, verbs in missing.items():
        role = "dockyard-build-" + name.replace("/", "-")
        lines.append(f"kubectl create role {role} --namespace {namespace} --verb={','.join(verbs)}"
                     f" --resource={name}")
        lines.append(f"kubectl create rolebinding {role} --namespace {namespace} --role={role}"
                     f" {subject_flag(username)}")
    return "\n".join(lines)


def check_rbac(report: Report, cluster: Cluster, pull_credential: bool = False) -> dict[str, list[str]]:
    """The missing verbs (empty when everything is allowed); `pull_credential`: the executor makes
    pull secrets (DOCKYARD_K8S_PULL_CREDENTIAL), which needs more of secrets."""
    who = cluster.username or "the kubeconfig's identity"
    rules = needed(pull_credential)
    try:
        missing = missing_verbs(cluster, rules)
    except RuntimeError as e:
        report.add(AREA, "rbac.review", PROBLEM, f"SelfSubjectAccessReview failed: {e}",
                   fix="check that the API server serves authorization.k8s.io/v1")
        return {}
    for resource, sub, verbs, why in rules:
        name = f"{resource}/{sub}" if sub else resource
        lacking = missing.get(name)
        if lacking:
            report.add(AREA, f"rbac.{name}", PROBLEM,
                       f"{who} may not {', '.join(lacking)} {name} in namespace {cluster.namespace}"
                       f" (needed to {why})",
                       fix="as a cluster administrator:\n"
                           + fix_commands(cluster.namespace, cluster.username, {name: lacking}))
        else:
            report.add(AREA, f"rbac.{name}", OK,
                       f"{who} may {', '.join(verbs)} {name} in {cluster.namespace}")
    return missing
