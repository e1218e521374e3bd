"""The token flow of one registry host, as Docker does it.

`/v2/` (or any request) answers `401` with `WWW-Authenticate: Bearer realm=,service=,scope=`:
a token is fetched from the realm (Basic credentials from config.json, an identity token as
an OAuth2 refresh token, or anonymous) and sent as `Authorization: Bearer`; tokens are cached
per scope until shortly before they expire. A `Basic` challenge gets Basic credentials. The
session (`transport`) asks for the header of each request and hands over each 401.
"""

from __future__ import annotations

import base64
import re
import threading
import time

from dockyard.oci import http
from dockyard.oci.errors import RegistryAuthError, error_from
from dockyard.oci.logins import Login

_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="x",service="y"` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


class Authenticator:
    """The auth state of one host: its challenge (`mode` "bearer", "basic" or None for
    anonymous), the credential from config.json, and bearer tokens per scope. Thread-safe."""

    def __init__(self, host: str, client: http.Client, credential: Login | None) -> None:
        self.host = host
        self.client = client  # the host session's: token realms are fetched through it
        self.credential = credential
        self.mode: str | None = None
        self.challenge: dict[str, str] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()
        # one token request per scope at a time: concurrent uploads that meet the same 401
        # wait for the first one's token instead of each asking the token service
        self.fetching: dict[str, threading.Lock] = {}

    def note_challenge(self, header: str) -> None:
        scheme, params = parse_challenge(header)
        if scheme == "bearer" and params.get("realm"):
            self.mode, self.challenge = "bearer", params
        elif scheme == "basic":
            self.mode = "basic"

    def header(self, scope: str) -> str | None:
        credential = self.credential
        if credential is not None and credential.registry_token:
            return f"Bearer {credential.registry_token}"
        if self.mode == "basic":
            if credential is None or not credential.has_basic:
                return None
            raw = f"{credential.username}:{credential.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if self.mode == "bearer":
            token = self._token(scope)
            return f"Bearer {token}" if token else None
        return None

    def _token(self, scope: str, refused: str | None = None) -> str | None:
        """The cached token for `scope`, else a new one; `refused` (the Authorization header a
        401 answered) forces a new token unless another thread already replaced that one."""
        with self.lock:
            fetch_lock = self.fetching.setdefault(scope, threading.Lock())
        with fetch_lock:
            with self.lock:
                cached = self.tokens.get(scope)
            if cached and cached[1] > time.monotonic() and f"Bearer {cached[0]}" != refused:
                return cached[0]
            token, lifetime = self._fetch_token(scope)
            with self.lock:
                self.tokens[scope] = (token, time.monotonic() + max(lifetime - 10, 10))
            return token

    def _fetch_token(self, scope: str) -> tuple[str, float]:
        realm = self.challenge.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryAuthError(f"registry {self.host} sent an invalid token realm {realm!r}")
        service = self.challenge.get("service")
        scopes = [s for s in scope.split(" ") if s]
        credential = self.credential
        try:
            if credential is not None and credential.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": credential.identity_token,
                    "client_id": "dockyard",
                    "scope": " ".join(scopes),
                }
                if service:
                    form["service"] = service
                response = self.client.post(realm, data=form)
            else:
                params: list[tuple[str, str | int | float | bool | None]] = (
                    [("service", service)] if service else []
                )
                params += [("scope", s) for s in scopes]
                auth = None
                if credential is not None and credential.has_basic:
                    params.append(("account", credential.username))
                    auth = (credential.username, credential.password)
                response = self.client.get(realm, params=params, auth=auth)
        except http.HTTPError as exc:
            raise RegistryAuthError(f"token service of {self.host} unreachable: {exc}") from None
        if response.status_code in (401, 403):
            who = (
                f"user {credential.username!r}"
                if credential and credential.username
                else "anonymous access"
            )
            raise RegistryAuthError(
                f"token service of {self.host} refused {who} (HTTP {response.status_code});"
                " check the credentials in config.json",
                response.status_code,
            )
        if response.status_code != 200:
            raise error_from(response, f"token request to {self.host}")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryAuthError(f"token service of {self.host} answered without a token")
        return str(token), float(body.get("expires_in") or 60)

    def on_unauthorized(self, response: http.Response, scope: str,
                        sent: str | None = None) -> bool:
        """Adopt the challenge of a 401 to a request that carried Authorization `sent`; True
        when retrying may now succeed."""
        header = response.headers.get("www-authenticate", "")
        previous_mode = self.mode
        self.note_challenge(header)
        scheme, params = parse_challenge(header)
        if self.mode == "bearer":
            wanted = scope
            if params.get("scope") and params["scope"] not in scope.split(" "):
                wanted = f"{scope} {params['scope']}".strip()
            self._token(wanted, refused=sent or "")
            with self.lock:
                self.tokens[scope] = self.tokens[wanted]
            return True
        if self.mode == "basic":
            if self.credential is None or not self.credential.has_basic:
                raise RegistryAuthError(
                    f"registry {self.host} requires a user name and password and none is configured"
                    " (add it to $DOCKER_CONFIG/config.json, ~/.docker/config.json or"
                    " /kaniko/.docker/config.json)",
                    401,
                )
            return previous_mode != "basic"
        return False

