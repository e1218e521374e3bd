"""Running the real `dockyard doctor` command, and the tutorial's artefacts set up on a real server."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.ci.conftest import TUTORIAL, job_xml, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

TUTORIAL_REGISTRY = "10.0.24.28:30002"
ITEMS_LINE = "      items: [{key: .dockerconfigjson, path: config.json}]\n"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.out))

    def statuses(self, check: str) -> list[str]:
        return [f["status"] for f in self.json()["findings"] if f["check"] == check]

    def finding(self, check: str, status: str | None = None) -> dict[str, Any]:
        for f in self.json()["findings"]:
            if f["check"] == check and (status is None or f["status"] == status):
                return dict(f)
        raise AssertionError(f"no {check} finding ({status}) in:\n{self.out}\n{self.err}")


def doctor(*args: str, env: dict[str, str] | None = None, home: Path | None = None,
           timeout: float = 180) -> Result:
    """`dockyard doctor ARGS` as a user runs it (`home`: a HOME without ~/.kube/config)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "KUBECONFIG"))}
    if home is not None:
        environ["HOME"] = str(home)
    environ.update(env or {})
    r = subprocess.run([sys.executable, "-m", "dockyard", "doctor", *args], capture_output=True, text=True,
                       env=environ, timeout=timeout)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr + r.stdout
    return Result(r.returncode, r.stdout, r.stderr)


def login(user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> list[str]:
    return ["--user", user, "--password", password]


def tutorial_jenkinsfile(registry: str, items: bool = True, secret: str = "harbor-auth",
                         image: str | None = None, pull_secret: str | None = None) -> str:
    """The tutorial's Jenkinsfile with its registry address changed (and the pitfalls on demand)."""
    text = (TUTORIAL / "Jenkinsfile").read_text().replace(TUTORIAL_REGISTRY, registry)
    assert ITEMS_LINE in text
    if pull_secret:
        text = text.replace("spec:\n", f"spec:\n  imagePullSecrets: [{{name: {pull_secret}}}]\n", 1)
    if not items:
        text = text.replace(ITEMS_LINE, "")
    if image is not None:
        text = text.replace("gcr.io/kaniko-project/executor:debug", image)
    return text.replace("secretName: harbor-auth", f"secretName: {secret}")


@contextmanager
def admin_http(server: DockyardServer) -> Iterator[httpx.Client]:
    """The administrator's client with a crumb for its session (Jenkins API POSTs)."""
    with server.client() as http:
        crumb = http.get("/crumbIssuer/api/json").json()
        http.headers[crumb["crumbRequestField"]] = crumb["crumb"]
        yield http


def repo_with_job(server: DockyardServer, owner: str, password: str, jenkinsfile: str,
                  private: bool = False) -> tuple[str, str]:
    """(owner/repo, job name): a repository of `owner` holding `jenkinsfile` and a job building it."""
    name = unique("app")
    with server.client(owner, password) as c:
        r = c.post("/api/v1/user/repos", json={"name": name, "private": private, "auto_init": True,
                                               "default_branch": "main"})
        assert r.status_code == 201, r.text
        r = c.post(f"/api/v1/repos/{owner}/{name}/contents/Jenkinsfile",
                   json={"content": base64.b64encode(jenkinsfile.encode()).decode(), "message": "ci"})
        assert r.status_code == 201, r.text
    job = unique("job")
    with admin_http(server) as http:
        r = http.post("/createItem", params={"name": job},
                      content=job_xml(f"{server.url}/{owner}/{name}.git"),
                      headers={"Content-Type": "application/xml"})
        assert r.status_code == 200, r.text
    return f"{owner}/{name}", job


def certificate(directory: Path) -> tuple[Path, Path, bytes]:
    """A self-signed serving certificate for 127.0.0.1: (cert file, key file, PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doctor-webhook")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "webhook.crt", directory / "webhook.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file, pem
