"""Real peers for the oci tests: CNCF distribution (`docker-registry`) on a free loopback port,
plain, with htpasswd (bcrypt via the libc crypt module) or with token auth.

Token auth needs a token server; `TokenServer` is a small but real one (it is what Harbor's
`/service/token` does): it checks Basic credentials, grants the requested scopes and signs an
RS256 JWT with `openssl`, which the registry verifies against the certificate in its
`rootcertbundle` (key id in libtrust's format).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import free_port, require_tool
from tests.processes import stop_process

USER = "alice"
PASSWORD = "wonderland-S3cret!"
REFRESH_TOKEN = "refresh-token-of-alice"




@dataclass
class Registry:
    host: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def blob_file(self, digest: str) -> Path:
        hex_ = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"

    def stop(self) -> None:
        stop_process(self.process)


def self_signed_certificate(directory: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) for `name` as an IP SAN, made with openssl."""
    openssl = require_tool("openssl")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=IP:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def start_registry(
    base: Path, auth_yaml: str = "", tls: tuple[Path, Path] | None = None
) -> Registry:
    binary = require_tool("docker-registry")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = base / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: oci-tests\n"
        + (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
        + auth_yaml
    )
    log = base / "registry.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    registry = Registry(f"127.0.0.1:{port}", base / "data", process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited:\n{log.read_text()}")
        try:
            scheme = "https" if tls else "http"
            answer = httpx.get(f"{scheme}://{registry.host}/v2/", timeout=1, verify=False)
            if answer.status_code in (200, 401):
                return registry
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not start:\n{log.read_text()}")


def bcrypt_hash(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # libxcrypt does bcrypt ($2b$); the module exists up to Python 3.12

        # cost 4 (rounds=16): the registry checks bcrypt on every request
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


def _libtrust_key_id(der_public_key: bytes) -> str:
    encoded = base64.b32encode(hashlib.sha256(der_public_key).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class TokenServer:
    """Issues registry bearer tokens for USER/PASSWORD; records the scopes it was asked for."""

    directory: Path
    service: str = "oci-test-registry"
    issuer: str = "oci-test-issuer"
    port: int = field(default_factory=free_port)
    scopes_seen: list[str] = field(default_factory=list)
    requests_without_auth: int = 0

    def __post_init__(self) -> None:
        openssl = require_tool("openssl")
        self.key = self.directory / "token.key"
        self.cert = self.directory / "token.crt"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key),
                "-out",
                str(self.cert),
                "-days",
                "2",
                "-subj",
                "/CN=oci-test-token",
            ],
            check=True,
            capture_output=True,
        )
        pub = subprocess.run(
            [openssl, "x509", "-in", str(self.cert), "-pubkey", "-noout"],
            check=True,
            capture_output=True,
        ).stdout
        der = subprocess.run(
            [openssl, "pkey", "-pubin", "-outform", "DER"],
            input=pub,
            check=True,
            capture_output=True,
        ).stdout
        self.kid = _libtrust_key_id(der)
        self.openssl = openssl
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_yaml(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {self.realm}\n    service: {self.service}\n"
            f"    issuer: {self.issuer}\n    rootcertbundle: {self.cert}\n"
        )

    def sign(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            [self.openssl, "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                query = parse_qs(urlsplit(self.path).query)
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    server.requests_without_auth += 1
                    self._reply(401, {"details": "credentials required"})
                    return
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if (user, password) != (USER, PASSWORD) or query.get("service") != [server.service]:
                    self._reply(401, {"details": "invalid credentials"})
                    return
                scopes = query.get("scope", [])
                server.scopes_seen.extend(scopes)
                self._reply(200, {"token": server.sign(user, scopes), "expires_in": 300})

            def do_POST(self) -> None:  # noqa: N802 - OAuth2 refresh-token grant (identitytoken)
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [
                    REFRESH_TOKEN
                ]:
                    self._reply(401, {"details": "invalid refresh token"})
                    return
                scopes = " ".join(form.get("scope", [])).split()
                server.scopes_seen.extend(scopes)
                self._reply(200, {"access_token": server.sign(USER, scopes), "expires_in": 300})

            def _reply(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def docker_config(directory: Path, host: str, user: str = USER, password: str = PASSWORD) -> Path:
    """A config.json as `docker login` writes it (base64 `auth`)."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    base = tmp_path_factory.mktemp("htpasswd-registry")
    htpasswd = base / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt_hash(PASSWORD)}\n")
    reg = start_registry(base, f"auth:\n  htpasswd:\n    realm: oci-tests\n    path: {htpasswd}\n")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, TokenServer]]:
    base = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(base)
    reg = start_registry(base, tokens.registry_yaml())
    yield reg, tokens
    reg.stop()
    tokens.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    """A registry serving HTTPS with a self-signed certificate; yields it and the certificate."""
    base = tmp_path_factory.mktemp("tls-registry")
    cert, key = self_signed_certificate(base)
    reg = start_registry(base, tls=(cert, key))
    yield reg, cert
    reg.stop()
