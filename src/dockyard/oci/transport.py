"""One registry host over `oci.http`: its base URL (scheme found by pinging `/v2/`), its
HTTP connections and its auth (`oci.auth`), and requests with retries.

GET/HEAD are retried on network errors, 429 and 5xx; any request that answers 401 adopts the
challenge and is sent once more (its body re-created). The scheme and challenge of a host are
remembered by the process for a few minutes: a build opens several clients.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dockyard.oci import http
from dockyard.oci.auth import Authenticator
from dockyard.oci.errors import RegistryError
from dockyard.oci.logins import Login
from dockyard.oci.options import RegistryOptions, no_verify, session_tls
from dockyard.oci.reference import Reference

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD"})
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

# scheme and auth challenge per (host, plain HTTP allowed), shared by every client of the
# process for a few minutes: a build opens several clients and each would ping twice
_KNOWN_BASES: dict[tuple[str, bool], tuple[float, str, str]] = {}
_KNOWN_BASE_SECONDS = 300.0


def repository_scope(ref: Reference, actions: str) -> str:
    """The token scope for `actions` ("pull", "pull,push") on `ref`'s repository."""
    return f"repository:{ref.repository}:{actions}"


def speaks_tls(host: str, timeout: float) -> tuple[bool, str]:
    """Whether `host` answers a TLS handshake (certificate not checked: this only picks the
    scheme; the real https requests verify). Lets a plain-HTTP registry skip the https
    attempt without loading the CA bundle."""
    parts = urlsplit(f"https://{host}")
    try:
        with socket.create_connection((parts.hostname or host, parts.port or 443),
                                      timeout=min(timeout, 10.0)) as sock, \
                no_verify().wrap_socket(sock, server_hostname=parts.hostname):
            return True, ""
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return False, f"{exc.__class__.__name__}: {exc}"



class HostSession:
    """One registry host: base URL (scheme found by ping), HTTP client, auth state."""

    def __init__(self, host: str, options: RegistryOptions, credential: Login | None) -> None:
        self.host = host
        self.options = options
        self.client = http.Client(
            tls=session_tls(options, host),  # the CA bundle is read at the first https request
            timeout=options.timeout,
            connect_timeout=min(options.timeout, 30.0),
            headers={"User-Agent": options.user_agent},
        )
        self.auth = Authenticator(host, self.client, credential)
        self.base: str | None = None
        self.lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    # -- connection --------------------------------------------------------------------------
    def ensure_base(self) -> str:
        with self.lock:
            if self.base is not None:
                return self.base
            schemes = ["https"]
            if self.options.allows_http(self.host):
                schemes.append("http")
            known_key = (self.host, "http" in schemes)
            known = _KNOWN_BASES.get(known_key)
            if known and time.monotonic() - known[0] < _KNOWN_BASE_SECONDS:
                self.base = known[1]
                if known[2]:
                    self.auth.note_challenge(known[2])
                return self.base
            problems = []
            for scheme in schemes:
                if scheme == "https" and "http" in schemes:
                    tls, problem = speaks_tls(self.host, self.options.timeout)
                    if not tls:
                        problems.append(f"https: {problem}")
                        continue
                url = f"{scheme}://{self.host}/v2/"
                try:
                    response = self._ping(url)
                except http.HTTPError as exc:
                    problems.append(f"{scheme}: {exc.__class__.__name__}: {exc}")
                    continue
                if response.status_code not in (200, 401):
                    what = "this is not a registry" if response.status_code == 404 else ""
                    problems.append(
                        f"{scheme}: /v2/ answered HTTP {response.status_code} {what}".rstrip()
                    )
                    continue
                self.base = f"{scheme}://{self.host}"
                challenge = ""
                if response.status_code == 401:
                    challenge = response.headers.get("www-authenticate", "")
                    self.auth.note_challenge(challenge)
                _KNOWN_BASES[known_key] = (time.monotonic(), self.base, challenge)
                return self.base
            hint = "" if "http" in schemes else " (use --insecure if it serves plain HTTP)"
            if any("CERTIFICATE_VERIFY_FAILED" in problem for problem in problems):
                hint += (
                    "; its TLS certificate is not trusted: give its CA with"
                    " --registry-certificate HOST=PATH or use --skip-tls-verify"
                )
            raise RegistryError(f"cannot reach registry {self.host}: {'; '.join(problems)}{hint}")

    def _ping(self, url: str) -> http.Response:
        """GET /v2/, retrying 429/5xx (not connection errors: the next scheme is tried then)."""
        for attempt in range(self.options.retries):
            response = self.client.get(url)
            if response.status_code not in _TRANSIENT_STATUS:
                return response
            time.sleep(self.options.retry_backoff * (attempt + 1))
        return self.client.get(url)

    def url(self, path: str) -> str:
        return self.ensure_base() + path


    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        scope: str,
        *,
        headers: dict[str, str] | None = None,
        body: Callable[[], Any] | bytes | None = None,
        stream: bool = False,
        follow_redirects: bool = False,
    ) -> http.Response:
        """Send with auth; on 401 adopt the challenge and retry once (`body` is re-created)."""
        if not url.startswith(("http://", "https://")):
            url = self.url(url)
        else:
            self.ensure_base()
        authenticated = False
        transient = 0
        while True:
            request_headers = dict(headers or {})
            authorization = self.auth.header(scope)
            if authorization:
                request_headers["Authorization"] = authorization
            content = body() if callable(body) else body
            log.debug("%s %s", method, url.split("?", 1)[0])
            retry = method in _IDEMPOTENT and transient < self.options.retries
            try:
                response = self.client.request(
                    method, url, headers=request_headers, content=content, stream=stream,
                    follow_redirects=follow_redirects,
                )
            except http.HTTPError as exc:
                if retry and isinstance(exc, http.TransportError):
                    transient += 1
                    time.sleep(self.options.retry_backoff * transient)
                    continue
                raise RegistryError(
                    f"{method} {self.host}: {exc.__class__.__name__}: {exc}"
                ) from None
            if response.status_code == 401 and not authenticated:
                authenticated = True
                if self.auth.on_unauthorized(response, scope, authorization):
                    response.close()
                    continue
            if retry and response.status_code in _TRANSIENT_STATUS:
                response.close()
                transient += 1
                time.sleep(self.options.retry_backoff * transient)
                continue
            return response
        return response

