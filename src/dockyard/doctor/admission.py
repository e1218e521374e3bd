"""A server-side dry-run create of the build pod: every admission step runs (Pod Security
Admission, ValidatingAdmissionPolicy, webhooks such as Kyverno and Gatekeeper, quotas, limit
ranges, schema validation) and nothing is stored. A denial is quoted as the API server words it,
with the command that fixes it; warnings (PSA `warn` mode) are passed on."""

from __future__ import annotations

import re
from typing import Any

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, WARNING, Report
from dockyard.doctor.kube import Cluster, api_message

AREA = "admission"
_PSA = re.compile(r'violates PodSecurity "([a-z]+):([^"]*)"')
_VAP = re.compile(r"ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request")
_WEBHOOK = re.compile(r'admission webhook "([^"]+)" denied the request')
_KYVERNO_POLICY = re.compile(r"^\s*([a-z0-9][a-z0-9.-]*):\s*$", re.M)
_GATEKEEPER_CONSTRAINT = re.compile(r"\[([a-z0-9][a-z0-9.-]*)\]")
_RBAC = re.compile(r'cannot create resource "pods"')
_WARNING = re.compile(r'^\d{3} \S+ "(.*)"$')


def check_dry_run(report: Report, cluster: Cluster, pod: dict[str, Any]) -> None:
    ns = cluster.namespace
    try:
        status, warnings, body = cluster.send("POST", f"/api/v1/namespaces/{ns}/pods", pod,
                                              [("dryRun", "All")])
    except Exception as e:  # noqa: BLE001 - timeouts and connection failures
        report.add(AREA, "admission.dry-run", PROBLEM,
                   f"the dry-run create of the build pod failed: {api_message(e)}",
                   fix="check that the API server is reachable (see kubernetes above)")
        return
    if status >= 300:
        _denied(report, cluster, status, str(body.get("message") or f"HTTP {status}"))
        return
    for value in warnings:
        m = _WARNING.match(value.strip())
        text = m.group(1) if m else value.strip()
        report.add(AREA, "admission.warning", WARNING, f"the API server warns about the build pod: {text}")
    report.add(AREA, "admission.dry-run", OK,
               f"the build pod passes admission in namespace {ns} (server-side dry-run create)")


def _denied(report: Report, cluster: Cluster, status: int, message: str) -> None:
    ns, check = cluster.namespace, "admission.dry-run"
    said = f"the API server refuses the build pod: {message}"
    if m := _PSA.search(message):
        level = m.group(1)
        report.add(AREA, "admission.pod-security", PROBLEM,
                   f"Pod Security Admission denies the build pod: namespace {ns} enforces {level!r}",
                   detail=message,
                   fix=f"builds with Kaniko run as root and need 'baseline'; as a cluster administrator:\n"
                       f"kubectl label namespace {ns} pod-security.kubernetes.io/enforce=baseline"
                       " --overwrite\n"
                       "(or set the securityContext fields the message names in the pod template)")
    elif m := _VAP.search(message):
        policy, binding = m.group(1), m.group(2)
        report.add(AREA, "admission.policy", PROBLEM,
                   f"ValidatingAdmissionPolicy {policy!r} (binding {binding!r}) denies the build pod",
                   detail=message,
                   fix="change the pod template to satisfy the policy (see its message), or make the"
                       " binding warn instead of deny, as a cluster administrator:\n"
                       f"kubectl patch validatingadmissionpolicybinding {binding} --type=merge"
                       " -p '{\"spec\":{\"validationActions\":[\"Warn\",\"Audit\"]}}'")
    elif (m := _WEBHOOK.search(message)) and "kyverno" in m.group(1):
        policies = [p for p in _KYVERNO_POLICY.findall(message.split("denied the request", 1)[1])]
        names = ", ".join(policies) or "(see the message)"
        fixes = "\n".join(f"kubectl patch clusterpolicy {p} --type=merge"
                          " -p '{\"spec\":{\"validationFailureAction\":\"Audit\"}}'" for p in policies)
        report.add(AREA, "admission.kyverno", PROBLEM, f"Kyverno policy {names} blocks the build pod",
                   detail=message,
                   fix="add what the policy requires to the pod template (resources, labels...), write"
                       f" a PolicyException for namespace {ns}, or switch the policy to Audit"
                       " (the tutorial's A.2):\n" + fixes)
    elif (m := _WEBHOOK.search(message)) and "gatekeeper" in m.group(1):
        constraints = _GATEKEEPER_CONSTRAINT.findall(message)
        fixes = "\n".join(f"kubectl patch $(kubectl get constraints -o name | grep '/{c}$') --type=merge"
                          " -p '{\"spec\":{\"enforcementAction\":\"dryrun\"}}'" for c in constraints)
        report.add(AREA, "admission.gatekeeper", PROBLEM,
                   f"Gatekeeper constraint {', '.join(constraints) or '(see the message)'} denies"
                   " the build pod",
                   detail=message,
                   fix="change the pod template to satisfy the constraint, exclude namespace"
                       f" {ns} (spec.match.excludedNamespaces), or switch it to dryrun:\n" + fixes)
    elif m := _WEBHOOK.search(message):
        report.add(AREA, "admission.webhook", PROBLEM,
                   f"admission webhook {m.group(1)!r} denies the build pod",
                   detail=message, fix="change the pod template to satisfy the webhook's policy")
    elif status == 403 and _RBAC.search(message):
        report.add(AREA, check, SKIPPED, "the dry-run needs `create pods`, which the kubeconfig's identity"
                   " lacks (see rbac above)")
    elif status == 404 and "namespaces" in message:
        report.add(AREA, check, PROBLEM, f"namespace {ns} does not exist", detail=message,
                   fix=f"kubectl create namespace {ns}")
    elif "exceeded quota" in message:
        report.add(AREA, "admission.quota", PROBLEM, "a ResourceQuota refuses the build pod", detail=message,
                   fix=f"lower the template's resources.requests/limits, or raise the quota: kubectl describe"
                       f" resourcequota --namespace {ns}")
    elif "serviceaccount" in message.lower() and "not found" in message:
        report.add(AREA, check, PROBLEM, said, fix=f"kubectl create serviceaccount NAME --namespace {ns}"
                   " (the template's serviceAccountName), or remove serviceAccountName")
    elif status == 422:
        report.add(AREA, "admission.invalid", PROBLEM, "the build pod is not a valid Pod", detail=message,
                   fix="correct the pod template's fields named in the message")
    else:
        report.add(AREA, check, PROBLEM, said, fix="see the API server's message")
