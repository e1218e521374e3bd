"""Registry credentials from Docker's config.json (what `docker login` and Kaniko use).

Files, first match per registry wins: `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`,
`/kaniko/.docker/config.json`, then what podman and skopeo log in to: `$REGISTRY_AUTH_FILE` or
else `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/<uid>/auth.json` without it) and
`~/.config/containers/auth.json`. An `auths` entry has `auth` (base64 `user:password`) or
`username`/`password`, optionally `identitytoken`; keys may be `host`, `host:port`,
`https://host/v1/` and so on. `credHelpers` / `credsStore` run `docker-credential-<name> get`.
Secrets never appear in `repr()` or in error messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.oci.reference import DOCKER_HUB

log = logging.getLogger(__name__)

_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", DOCKER_HUB}


@dataclass(frozen=True)
class Login:
    """What config.json holds for one registry (user/password or tokens)."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # OAuth2 refresh token for the token realm
    registry_token: str = field(default="", repr=False)  # a bearer token used as is

    @property
    def has_basic(self) -> bool:
        return bool(self.username or self.password)


def normalise_registry_key(key: str) -> str:
    """`https://index.docker.io/v1/` -> `docker.io`; `http://h:5000/v2` -> `h:5000`; lowercased."""
    key = key.strip()
    if "://" in key:
        key = urlsplit(key).netloc or key
    key = key.split("/", 1)[0].lower()
    return DOCKER_HUB if key in _HUB_ALIASES else key


def default_config_paths() -> list[Path]:
    """Docker's files, then the containers tools' (`containers_auth_paths`)."""
    paths: list[Path] = []
    if os.environ.get("DOCKER_CONFIG"):
        paths.append(Path(os.environ["DOCKER_CONFIG"]) / "config.json")
    paths.append(Path.home() / ".docker" / "config.json")
    paths.append(Path("/kaniko/.docker/config.json"))
    return paths + containers_auth_paths()


def containers_auth_paths() -> list[Path]:
    """Where `podman login`, `skopeo login` and buildah write, read in their order
    (containers/image's getAuthFilePaths): `$REGISTRY_AUTH_FILE` alone when set; otherwise the
    runtime file, `$XDG_RUNTIME_DIR/containers/auth.json` or `/run/containers/<uid>/auth.json`
    (root's `podman login` without a login session), then `$XDG_CONFIG_HOME/containers/auth.json`
    (default `~/.config`). Their docker fall-backs are read before, in `default_config_paths`."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [Path(os.environ["REGISTRY_AUTH_FILE"])]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    runtime = (Path(runtime_dir) / "containers" / "auth.json" if runtime_dir
               else Path(f"/run/containers/{os.getuid()}/auth.json"))
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [runtime, Path(config_home) / "containers" / "auth.json"]


class Logins:
    """Looks up a credential for a registry host; `Logins.load()` reads the files."""

    def __init__(
        self,
        auths: dict[str, Login] | None = None,
        helpers: dict[str, str] | None = None,
        default_helper: str | None = None,
    ) -> None:
        self._auths = {normalise_registry_key(k): v for k, v in (auths or {}).items()}
        self._helpers = {normalise_registry_key(k): v for k, v in (helpers or {}).items()}
        self._default_helper = default_helper

    @classmethod
    def load(cls, paths: list[Path] | None = None) -> Logins:
        store = cls()
        for path in default_config_paths() if paths is None else paths:
            try:
                data = json.loads(Path(path).read_text())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read registry credentials from {path}: {exc}") from None
            store._merge(data, path)
        return store

    def _merge(self, data: object, path: Path) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        for key, entry in (data.get("auths") or {}).items():
            host = normalise_registry_key(key)
            if host in self._auths or not isinstance(entry, dict):
                continue
            credential = _credential_from_entry(entry, key, path)
            if credential is not None:
                self._auths[host] = credential
        for key, helper in (data.get("credHelpers") or {}).items():
            self._helpers.setdefault(normalise_registry_key(key), helper)
        if data.get("credsStore") and self._default_helper is None:
            self._default_helper = str(data["credsStore"])

    def add(self, registry: str, credential: Login) -> None:
        self._auths[normalise_registry_key(registry)] = credential

    def lookup(self, registry: str) -> Login | None:
        host = normalise_registry_key(registry)
        if host in self._auths:
            return self._auths[host]
        helper = self._helpers.get(host) or self._default_helper
        if helper:
            return _from_helper(helper, host)
        return None

    def __repr__(self) -> str:
        return f"Logins(registries={sorted(self._auths)}, helpers={sorted(self._helpers)})"


def _credential_from_entry(entry: dict[str, object], key: str, path: Path) -> Login | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    auth = entry.get("auth")
    if auth:
        try:
            decoded = base64.b64decode(str(auth), validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(
                f"{path}: the 'auth' of {key!r} is not base64 of user:password"
            ) from None
        if ":" not in decoded:
            raise ValueError(f"{path}: the 'auth' of {key!r} must decode to user:password")
        username, password = decoded.split(":", 1)
    token = str(entry.get("identitytoken") or "")
    registry_token = str(entry.get("registrytoken") or "")
    if not (username or password or token or registry_token):
        return None
    return Login(username, password, token, registry_token)


def _from_helper(helper: str, host: str) -> Login | None:
    program = f"docker-credential-{helper}"
    for server in (
        host,
        f"https://{host}",
        "https://index.docker.io/v1/" if host == DOCKER_HUB else "",
    ):
        if not server:
            continue
        try:
            result = subprocess.run(
                [program, "get"],
                input=server.encode(),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            log.warning(
                "credential helper %s is not installed; continuing without credentials", program
            )
            return None
        if result.returncode == 0:
            try:
                data = json.loads(result.stdout)
            except ValueError:
                log.warning("credential helper %s printed invalid JSON", program)
                return None
            username, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
            if username == "<token>":
                return Login(identity_token=secret)
            return Login(username, secret)
    return None
