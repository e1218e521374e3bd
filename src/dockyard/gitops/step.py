"""The pipeline step: `gitopsSetImage(repo: ..., path: ..., image: 'NAME=REF', credentialsId: ...)`.

CI parses the step (Jenkinsfile named arguments or a YAML mapping) into a plain mapping and
calls `run_gitops_step`; this module turns it into a `set_image` call, so the rules live in
one place: the credential is looked up by id (username/password -> basic auth, secret text ->
token), the source commit defaults to `GIT_COMMIT` of the build, and only http(s) repositories
are allowed (a pipeline must not write to the server's local repositories by path).

The step runs in the server process, so a deploy repository on another server is reached only
when the webhook allow-list (`DOCKYARD_WEBHOOK_ALLOWED_HOSTS`, `allowed_hosts`) accepts its
resolved address, as for a webhook: git is then pinned to the checked addresses
(`http.curloptResolve`, no second lookup) and follows no redirect. The caller passes no list for
a repository of this Dockyard itself (the tutorial's deploy repository).

Parameters: `repo` (required), `path` (default "."), `image` (one `NAME=REF` or a list of them)
and/or `images` (a mapping NAME -> REF), `branch`, `message`, `credentialsId`, `sourceCommit`,
`maxAttempts`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from dockyard.gitops.errors import GitOpsError
from dockyard.gitops.git import GitAuth, redact
from dockyard.gitops.references import ImageRef, ImageReferenceError, parse_image_arg
from dockyard.gitops.setimage import DEFAULT_ATTEMPTS, SetImageResult, set_image
from dockyard.http import ALLOWED_HOSTS_SETTING, HostMatchList, parse_address, resolve_allowed

STEP_NAME = "gitopsSetImage"
_KNOWN = {
    "repo",
    "path",
    "image",
    "images",
    "branch",
    "message",
    "credentialsId",
    "sourceCommit",
    "maxAttempts",
}


class CredentialLookup(Protocol):
    def get(self, credential_id: str) -> Any: ...


def run_gitops_step(
    params: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    log: Callable[[str], None],
    credentials: CredentialLookup | None = None,
    workdir: Path | None = None,
    allowed_protocols: Collection[str] | None = ("http", "https"),
    allowed_hosts: HostMatchList | None = None,
) -> SetImageResult:
    """Validate the step's parameters, resolve its credential and run `set_image`; with
    `allowed_hosts`, only a repository whose host the list accepts (see the module docstring)."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise GitOpsError(
            f"{STEP_NAME}: unknown parameter(s) {', '.join(unknown)}; use {', '.join(sorted(_KNOWN))}"
        )
    repo = params.get("repo")
    if not isinstance(repo, str) or not repo:
        raise GitOpsError(f"{STEP_NAME}: 'repo' (the deploy repository URL) is required")
    images = _images(params)
    auth = _auth(params.get("credentialsId"), credentials)
    attempts = params.get("maxAttempts", DEFAULT_ATTEMPTS)
    if not isinstance(attempts, int):
        raise GitOpsError(f"{STEP_NAME}: maxAttempts must be a number")
    git_config = _pinned(repo, allowed_hosts) if allowed_hosts is not None else None
    return set_image(
        repo,
        str(params.get("path") or "."),
        images,
        branch=_optional_str(params, "branch"),
        message=_optional_str(params, "message"),
        source_commit=_optional_str(params, "sourceCommit") or env.get("GIT_COMMIT") or None,
        auth=auth,
        log=log,
        max_attempts=attempts,
        workdir=workdir,
        allowed_protocols=allowed_protocols,
        git_config=git_config,
    )


def _pinned(repo: str, allowed: HostMatchList) -> dict[str, str]:
    """Git configuration that connects to the allowed addresses of `repo`'s host only."""
    try:
        parts = urlsplit(repo)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise GitOpsError(f"{STEP_NAME}: repo {redact(repo)!r} is not a valid URL") from None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return {}  # set_image refuses it, naming the allowed protocols
    try:
        addresses = resolve_allowed(host, port, allowed, "deploy repository host")
    except ValueError as exc:
        raise GitOpsError(
            f"{STEP_NAME}: {exc}. The deploy repository must be on this Dockyard or on a host"
            f" {ALLOWED_HOSTS_SETTING} allows"
        ) from None
    config = {"http.followRedirects": "false"}
    if parse_address(host) is None:  # a name: connect to the addresses checked, no second lookup
        shown = ",".join(f"[{ip}]" if ip.version == 6 else str(ip) for ip in addresses)
        config["http.curloptResolve"] = f"{host}:{port}:{shown}"
    return config


def _images(params: Mapping[str, Any]) -> dict[str, ImageRef | str]:
    out: dict[str, ImageRef | str] = {}
    single = params.get("image")
    args = [single] if isinstance(single, str) else list(single or [])
    try:
        for arg in args:
            if not isinstance(arg, str):
                raise GitOpsError(f"{STEP_NAME}: image must be 'NAME=REF' strings")
            name, ref = parse_image_arg(arg)
            out[name] = ref
    except ImageReferenceError as exc:
        raise GitOpsError(f"{STEP_NAME}: {exc}") from None
    mapping = params.get("images") or {}
    if not isinstance(mapping, Mapping):
        raise GitOpsError(f"{STEP_NAME}: images must be a mapping NAME -> REF")
    for name, ref in mapping.items():
        out[str(name)] = str(ref)
    if not out:
        raise GitOpsError(f"{STEP_NAME}: give image: 'NAME=REF' (or images: [NAME: REF])")
    return out


def _auth(credential_id: Any, credentials: CredentialLookup | None) -> GitAuth | None:
    if credential_id in (None, ""):
        return None
    if credentials is None:
        raise GitOpsError(
            f"{STEP_NAME}: credentialsId {credential_id!r} given but no credential store is configured"
        )
    try:
        credential = credentials.get(str(credential_id))
    except KeyError as e:  # not found, or not available to this job: the message says which
        why = str(e) if type(e) is not KeyError else f"no credential with id {credential_id!r}"
        raise GitOpsError(f"{STEP_NAME}: {why}") from None
    data = credential.data()
    if "username" in data and "password" in data:
        return GitAuth.basic(data["username"].decode(), data["password"].decode())
    if "text" in data:
        return GitAuth.token(data["text"].decode())
    raise GitOpsError(
        f"{STEP_NAME}: credential {credential_id!r} must be a username/password or a secret text (token)"
    )


def _optional_str(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise GitOpsError(f"{STEP_NAME}: {key} must be a string")
    return value
