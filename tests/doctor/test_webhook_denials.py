"""Kyverno and Gatekeeper denials of the build pod, as `dockyard doctor` quotes them.

Neither can be installed here (their images and charts come from the internet), so each test
registers a STAND-IN: a real ValidatingWebhookConfiguration on the real test cluster whose
webhook - a small HTTPS server in this process, with Kyverno's (or Gatekeeper's) webhook name -
denies pods with the exact message shape that project sends. The API server, the admission chain
and the dry-run are the real ones; only the policy engine behind the webhook is a stand-in."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.doctor.cluster import Setup, until
from tests.doctor.helpers import certificate

pytestmark = pytest.mark.slow

KYVERNO = ("\n\nresource Pod/{ns}/{name} was blocked due to the following policies \n\n"
           "require-requests-limits:\n  validate-resources: 'validation error: CPU and memory resource"
           " requests and limits are required. rule validate-resources failed at path"
           " /spec/containers/0/resources/limits/'\n"
           "disallow-latest-tag:\n  validate-image-tag: 'validation error: Using a mutable image tag"
           " e.g. latest is not allowed. rule validate-image-tag failed at path /spec/containers/0/image/'\n")
GATEKEEPER = "[must-have-owner] you must provide labels: {{\"owner\"}}"


class _Deny(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        template = KYVERNO if self.path.startswith("/kyverno") else GATEKEEPER  # ?timeout=5s follows
        message = template.format(ns=request["namespace"], name=request.get("name") or "pod")
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
            "uid": request["uid"], "allowed": False, "status": {"code": 403, "message": message}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """(port, CA PEM) of the denying HTTPS server on 127.0.0.1."""
    cert_file, key_file, pem = certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deny)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], pem
    server.shutdown()
    server.server_close()


def _register(setup: Setup, name: str, webhook_name: str, url: str, pem: bytes) -> None:
    config = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
              "metadata": {"name": name}, "webhooks": [{
                  "name": webhook_name, "failurePolicy": "Fail", "sideEffects": "None",
                  "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
                  "clientConfig": {"url": url, "caBundle": base64.b64encode(pem).decode()},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                             "resources": ["pods"]}],
                  "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": setup.namespace}}}]}
    applied = setup.cluster.apply(config)
    assert applied.returncode == 0, applied.stderr


def _denied(setup: Setup, webhook: tuple[int, bytes], webhook_name: str, path: str,
            check: str) -> dict[str, str]:
    """The doctor's finding `check` while the stand-in webhook denies pods in the namespace."""
    port, pem = webhook
    setup.secret()
    job = setup.job()
    name = f"doctor-{path}-{uuid.uuid4().hex[:8]}"
    _register(setup, name, webhook_name, f"https://127.0.0.1:{port}/{path}", pem)
    try:
        r = until(lambda: setup.doctor(job), lambda r: check in r.out)
    finally:
        setup.cluster.kubectl("delete", "validatingwebhookconfiguration", name)
    assert r.code == 1
    return r.finding(check, "problem")


def test_a_kyverno_denial_is_quoted_with_the_policies_and_their_fix(
        setup: Setup, webhook: tuple[int, bytes]) -> None:
    """STAND-IN for Kyverno (see the module docstring): its webhook name and message format."""
    problem = _denied(setup, webhook, "validate.kyverno.svc-fail", "kyverno", "admission.kyverno")
    assert problem["message"] == ("Kyverno policy require-requests-limits, disallow-latest-tag blocks the"
                                  " build pod")
    assert 'admission webhook "validate.kyverno.svc-fail" denied the request' in problem["detail"]
    assert "CPU and memory resource requests and limits are required" in problem["detail"]
    for policy in ("require-requests-limits", "disallow-latest-tag"):
        assert (f"kubectl patch clusterpolicy {policy} --type=merge"
                " -p '{\"spec\":{\"validationFailureAction\":\"Audit\"}}'") in problem["fix"]


def test_a_gatekeeper_denial_is_quoted_with_the_constraint_and_its_fix(
        setup: Setup, webhook: tuple[int, bytes]) -> None:
    """STAND-IN for Gatekeeper (see the module docstring): its webhook name and message format."""
    problem = _denied(setup, webhook, "validation.gatekeeper.sh", "gatekeeper", "admission.gatekeeper")
    assert problem["message"] == "Gatekeeper constraint must-have-owner denies the build pod"
    assert 'you must provide labels: {"owner"}' in problem["detail"]
    assert "kubectl patch $(kubectl get constraints -o name | grep '/must-have-owner$')" in problem["fix"]
    assert "enforcementAction" in problem["fix"]
