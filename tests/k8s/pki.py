"""The test cluster's credentials: a CA and certificates made with openssl, a static token file
with one identity per component and person, and a kubeconfig per identity.

ECDSA P-256 keys keep the whole set under a second to make, so each session has fresh ones.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "127.0.0.1"  # the kubelet's --hostname-override: its node name and InternalIP
# user -> groups of every static token; the names are those RBAC's bootstrap policy binds
IDENTITIES: dict[str, tuple[str, ...]] = {
    "admin": ("system:masters",),
    f"system:node:{NODE_NAME}": ("system:nodes",),
    "system:kube-controller-manager": (),
    "system:kube-scheduler": (),
    "dockyard-user": (),  # authenticated, with no rights of its own
}
UNPRIVILEGED_USER = "dockyard-user"


@dataclass
class Credentials:
    """Paths of everything the components read."""

    directory: Path
    ca_cert: Path
    tokens: dict[str, str]

    def file(self, name: str) -> Path:
        return self.directory / name

    def kubeconfig(self, user: str) -> Path:
        return self.directory / f"{user.replace(':', '-')}.kubeconfig"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    os.chmod(path, 0o600)


def _certificate(directory: Path, name: str, subject: str, usage: str, names: list[str]) -> None:
    """`name.crt`/`name.key` signed by the CA, with extended key `usage` and subject alt names."""
    key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "ext"))
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
             f"extendedKeyUsage={usage}"]
    if names:
        lines.append("subjectAltName=" + ",".join(names))
    ext.write_text("\n".join(lines) + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.crt"), "-CAkey",
             str(directory / "ca.key"), "-CAcreateserial", "-days", "30", "-extfile", str(ext),
             "-out", str(directory / f"{name}.crt"))
    csr.unlink()
    ext.unlink()


def make_credentials(directory: Path, server_addresses: list[str], server_url: str) -> Credentials:
    """Fresh CA, serving and client certificates, service-account keys, tokens and kubeconfigs.

    `server_addresses`: the IPs the API server's certificate is valid for; `server_url`: what
    the kubeconfigs point at."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    _key(directory / "ca.key")
    _openssl("req", "-x509", "-new", "-key", str(directory / "ca.key"), "-subj",
             "/CN=dockyard-test-kubernetes-ca", "-days", "30", "-out", str(directory / "ca.crt"))
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local"]
    _certificate(directory, "apiserver", "/CN=kube-apiserver", "serverAuth",
                 [f"IP:{ip}" for ip in server_addresses] + [f"DNS:{name}" for name in dns])
    _certificate(directory, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver",
                 "clientAuth", [])
    _certificate(directory, "kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}", "serverAuth",
                 [f"IP:{NODE_NAME}", "DNS:localhost"])
    _key(directory / "service-account.key")
    _openssl("pkey", "-in", str(directory / "service-account.key"), "-pubout", "-out",
             str(directory / "service-account.pub"))
    tokens = {user: secrets.token_hex(16) for user in IDENTITIES}
    rows = [f'{tokens[user]},{user},{user},"{",".join(groups)}"' if groups else
            f"{tokens[user]},{user},{user}" for user, groups in IDENTITIES.items()]
    token_file = directory / "tokens.csv"
    token_file.write_text("\n".join(rows) + "\n")
    os.chmod(token_file, 0o600)
    credentials = Credentials(directory, directory / "ca.crt", tokens)
    for user in IDENTITIES:
        write_kubeconfig(credentials.kubeconfig(user), server_url, credentials.ca_cert, user,
                         tokens[user])
    return credentials


def write_kubeconfig(path: Path, server_url: str, ca_cert: Path, user: str, token: str) -> None:
    """A kubeconfig for `user` with a bearer token (JSON is valid YAML, so no YAML writer)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server_url,
                                                   "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
    }
    path.write_text(json.dumps(config, indent=1))
    os.chmod(path, 0o600)
