"""The four credential kinds, as typed values; each knows its Kubernetes-style data keys and what to mask.

A credential's `data()` is what a Kubernetes Secret of the matching type would hold, so that a pod
template's `secret` volume with `items: [{key, path}]` can be honoured unchanged:

| kind                | class              | data keys                              |
|---------------------|--------------------|----------------------------------------|
| `username_password` | `UsernamePassword` | `username`, `password` (basic-auth)    |
| `secret_text`       | `SecretText`       | `text`                                 |
| `docker_config`     | `DockerConfig`     | `.dockerconfigjson` (dockerconfigjson) |
| `secret_file`       | `SecretFile`       | the file name, e.g. `kubeconfig`       |
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILENAME = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9._-]{0,254}$")
DOCKERCONFIGJSON = ".dockerconfigjson"


class CredentialError(ValueError):
    """Bad input for a credential (the message names the field and the fix)."""


def check_id(credential_id: str) -> str:
    """Ids are Jenkins-style credentialsId values: letters, digits, `.`, `_`, `-`."""
    if not isinstance(credential_id, str) or not _ID.match(credential_id):
        raise CredentialError(
            f"invalid credential id {credential_id!r}: use 1-128 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit), e.g. harbor-auth"
        )
    return credential_id


@dataclass(frozen=True)
class Credential:
    """Common fields. Subclasses add the secret fields; `repr` never shows secrets."""

    kind: ClassVar[str] = ""
    id: str
    description: str = field(default="", kw_only=True)

    def data(self) -> dict[str, bytes]:
        """The Kubernetes Secret `data` this credential stands for (key -> bytes)."""
        raise NotImplementedError

    def mask_values(self) -> list[str]:
        """Every string that must never appear in a log (the masking writer adds encodings)."""
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        """The secret fields as JSON-able values (encrypted before storage)."""
        raise NotImplementedError

    def public(self) -> dict[str, Any]:
        """What may be shown to users: id, kind, description and non-secret fields."""
        return {"id": self.id, "kind": self.kind, "description": self.description}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, kind={self.kind!r}, <secret hidden>)"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class UsernamePassword(Credential):
    kind: ClassVar[str] = "username_password"
    username: str = ""
    password: str = ""

    def data(self) -> dict[str, bytes]:
        return {"username": self.username.encode(), "password": self.password.encode()}

    def mask_values(self) -> list[str]:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return [self.password, basic]

    def payload(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}

    def public(self) -> dict[str, Any]:
        return {**super().public(), "username": self.username}


@dataclass(frozen=True, repr=False)
class SecretText(Credential):
    kind: ClassVar[str] = "secret_text"
    text: str = ""

    def data(self) -> dict[str, bytes]:
        return {"text": self.text.encode()}

    def mask_values(self) -> list[str]:
        return [self.text]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True, repr=False)
class DockerConfig(Credential):
    """A docker `config.json` (`auths` map), as `kubectl create secret docker-registry` makes."""

    kind: ClassVar[str] = "docker_config"
    config_json: str = "{}"

    @classmethod
    def for_registry(
        cls,
        credential_id: str,
        server: str,
        username: str,
        password: str,
        *,
        email: str = "",
        description: str = "",
    ) -> DockerConfig:
        """`auths.{server}.{username,password,auth}` exactly as kubectl writes it."""
        if not server:
            raise CredentialError("docker-registry credential needs --server HOST[:PORT]")
        if not username:
            raise CredentialError("docker-registry credential needs --username")
        entry: dict[str, str] = {
            "username": username,
            "password": password,
            "auth": base64.b64encode(f"{username}:{password}".encode()).decode(),
        }
        if email:
            entry["email"] = email
        config = {"auths": {server: entry}}
        return cls(check_id(credential_id), config_json=json.dumps(config), description=description)

    def __post_init__(self) -> None:
        config = self.config()
        auths = config.get("auths")
        if not isinstance(auths, dict):
            raise CredentialError('docker config JSON needs an "auths" object: {"auths": {"HOST": {...}}}')
        for server, entry in auths.items():
            if not isinstance(entry, dict):
                raise CredentialError(f"docker config JSON: auths[{server!r}] must be an object")

    def config(self) -> dict[str, Any]:
        try:
            value = json.loads(self.config_json)
        except json.JSONDecodeError as exc:
            raise CredentialError(f"docker config JSON is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CredentialError("docker config JSON must be an object with 'auths'")
        return value

    def auths(self) -> dict[str, dict[str, str]]:
        return dict(self.config().get("auths", {}))

    def login_for(self, server: str) -> tuple[str, str] | None:
        """(username, password) for a registry host, from `username`/`password` or `auth`."""
        entry = self.auths().get(server)
        if entry is None:
            return None
        if entry.get("username") or entry.get("password"):
            return str(entry.get("username", "")), str(entry.get("password", ""))
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
        return None

    def data(self) -> dict[str, bytes]:
        return {DOCKERCONFIGJSON: self.config_json.encode()}

    def mask_values(self) -> list[str]:
        values: list[str] = []
        for entry in self.auths().values():
            for name in ("password", "auth", "identitytoken", "registrytoken"):
                if entry.get(name):
                    values.append(str(entry[name]))
            if entry.get("auth"):
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    values.append(base64.b64decode(entry["auth"]).decode().partition(":")[2])
        values.append(base64.b64encode(self.config_json.encode()).decode())
        return values

    def payload(self) -> dict[str, Any]:
        return {"config_json": self.config_json}

    def public(self) -> dict[str, Any]:
        servers = {s: str(e.get("username", "")) for s, e in self.auths().items()}
        return {**super().public(), "servers": servers}


@dataclass(frozen=True, repr=False)
class SecretFile(Credential):
    kind: ClassVar[str] = "secret_file"
    filename: str = "secret"
    content: bytes = b""

    def __post_init__(self) -> None:
        if not _FILENAME.match(self.filename) or self.filename in (".", ".."):
            raise CredentialError(
                f"invalid secret file name {self.filename!r}: use letters, digits, '.', '_', '-' (no '/')"
            )

    def data(self) -> dict[str, bytes]:
        return {self.filename: self.content}

    def mask_values(self) -> list[str]:
        try:
            return [self.content.decode()]
        except UnicodeDecodeError:  # binary: it can only reach a log encoded
            return [base64.b64encode(self.content).decode()]

    def payload(self) -> dict[str, Any]:
        return {"filename": self.filename, "content": base64.b64encode(self.content).decode()}

    def public(self) -> dict[str, Any]:
        return {**super().public(), "filename": self.filename, "size": len(self.content)}


KINDS: dict[str, type[Credential]] = {
    cls.kind: cls for cls in (UsernamePassword, SecretText, DockerConfig, SecretFile)
}


def from_payload(kind: str, credential_id: str, description: str, payload: Mapping[str, Any]) -> Credential:
    """Rebuild a typed credential from its decrypted payload."""
    if kind == UsernamePassword.kind:
        return UsernamePassword(
            credential_id, username=payload["username"], password=payload["password"], description=description
        )
    if kind == SecretText.kind:
        return SecretText(credential_id, text=payload["text"], description=description)
    if kind == DockerConfig.kind:
        return DockerConfig(credential_id, config_json=payload["config_json"], description=description)
    if kind == SecretFile.kind:
        return SecretFile(
            credential_id,
            filename=payload["filename"],
            content=base64.b64decode(payload["content"]),
            description=description,
        )
    raise CredentialError(f"unknown credential kind {kind!r}: use one of {', '.join(KINDS)}")


def from_request(body: Mapping[str, Any]) -> Credential:
    """Build a credential from an API body; every missing field is named in the error."""
    if not isinstance(body, Mapping):
        raise CredentialError("request body must be a JSON object")
    credential_id = check_id(str(body.get("id", "")))
    kind = str(body.get("kind", ""))
    description = str(body.get("description", ""))

    def need(name: str) -> str:
        value = body.get(name)
        if not isinstance(value, str) or value == "":
            raise CredentialError(f"kind {kind} needs a non-empty string field {name!r}")
        return value

    if kind == UsernamePassword.kind:
        return UsernamePassword(
            credential_id, username=need("username"), password=need("password"), description=description
        )
    if kind == SecretText.kind:
        return SecretText(credential_id, text=need("text"), description=description)
    if kind == DockerConfig.kind:
        if body.get("config_json"):
            raw = body["config_json"]
            text = raw if isinstance(raw, str) else json.dumps(raw)
            return DockerConfig(credential_id, config_json=text, description=description)
        return DockerConfig.for_registry(
            credential_id,
            need("server"),
            need("username"),
            need("password"),
            email=str(body.get("email", "")),
            description=description,
        )
    if kind == SecretFile.kind:
        try:
            content = base64.b64decode(need("content_base64"), validate=True)
        except ValueError:
            raise CredentialError("content_base64 is not valid base64") from None
        return SecretFile(credential_id, filename=need("filename"), content=content, description=description)
    raise CredentialError(f"unknown credential kind {kind!r}: use one of {', '.join(KINDS)}")
