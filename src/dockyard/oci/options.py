"""How to reach registries: `RegistryOptions` (Kaniko's registry flags) and the TLS contexts
they mean. Plain HTTP only for hosts marked insecure (`--insecure`, `--insecure-pull`,
`--insecure-registry`) and for loopback hosts; `--skip-tls-verify` turns off certificate
checks; `--registry-certificate HOST=PATH` adds a CA for one host."""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.oci.errors import RegistryError


@dataclass
class RegistryOptions:
    """How to reach registries; mirrors Kaniko's flags."""

    insecure: set[str] = field(default_factory=set)  # hosts that may use plain HTTP
    insecure_all: bool = False  # --insecure / --insecure-pull: every host
    skip_tls_verify: set[str] = field(default_factory=set)
    skip_tls_verify_all: bool = False  # --skip-tls-verify
    ca_certificates: dict[str, Path] = field(default_factory=dict)  # --registry-certificate
    mirrors: list[str] = field(default_factory=list)  # --registry-mirror, for docker.io
    registry_map: dict[str, list[str]] = field(default_factory=dict)  # --registry-map, any registry
    mirror_fallback: bool = True  # False: --skip-default-registry-fallback
    timeout: float = 120.0
    parallel: int = 4
    chunk_size: int = 32 * 1024 * 1024
    monolithic_limit: int = 512 * 1024 * 1024
    user_agent: str = "dockyard"
    retries: int = 2  # GET/HEAD retried on network errors, 429 and 5xx
    retry_backoff: float = 0.5  # seconds, times the attempt number

    def allows_http(self, host: str) -> bool:
        return self.insecure_all or host in self.insecure or is_loopback(host)

    def verifies_tls(self, host: str) -> bool:
        return not (self.skip_tls_verify_all or host in self.skip_tls_verify)

    def tls_verify(self, host: str) -> bool | ssl.SSLContext:
        """TLS verification for `host`: off, the system CAs, or the system CAs plus the
        certificate given for it (Kaniko's `--registry-certificate host=PATH`)."""
        if not self.verifies_tls(host):
            return False
        extra = self.ca_certificates.get(host)
        if extra is None:
            return True
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=str(extra))
        except (OSError, ssl.SSLError) as exc:
            raise RegistryError(f"cannot load the certificate {extra} for {host}: {exc}") from None
        return context


class _LazyTrust:
    """The verifying TLS context every client shares; its CA bundle (tens of milliseconds to
    parse) is loaded by a request hook before the first https request, so builds that only
    talk to plain-HTTP registries (loopback, --insecure) never pay for it."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostnames
        self.loaded = False
        self.lock = threading.Lock()

    def ensure_loaded(self) -> None:
        if self.loaded:
            return
        with self.lock:
            if self.loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):  # as httpx does (trust_env)
                self.context.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.context.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.context.load_verify_locations(cafile=certifi.where())
            self.loaded = True

    def loaded_context(self) -> ssl.SSLContext:
        self.ensure_loaded()
        return self.context


@functools.lru_cache(maxsize=1)
def _trust() -> _LazyTrust:
    return _LazyTrust()


@functools.lru_cache(maxsize=1)
def no_verify() -> ssl.SSLContext:
    """A context that checks no certificate (--skip-tls-verify, and probing for TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def session_tls(options: RegistryOptions, host: str
                ) -> ssl.SSLContext | Callable[[], ssl.SSLContext]:
    """The TLS context for `host`: a callable for the shared verifying context, whose CA
    bundle is then read at the first https request only."""
    verify = options.tls_verify(host)
    if verify is True:
        return _trust().loaded_context
    if verify is False:
        return no_verify()
    return verify

