"""Registry checks from the doctor's machine: the credentials the build pushes with get a push
token for the destination repository (the same token request Kaniko makes), and the template's
images exist where the cluster will pull them from.

Only registries of this Dockyard are asked; an image on another registry (gcr.io, docker.io) is
SKIPPED rather than fetched from the internet."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, Report, brief

AREA = "registry"


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str
    source: str  # what the credentials are, for messages: "secret harbor-auth", "your Dockyard login"


def dockerconfig_logins(data: bytes, source: str) -> dict[str, RegistryLogin]:
    """host -> login from a `.dockerconfigjson` (ValueError naming what is wrong with it)."""
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ValueError(f"not JSON: {brief(e)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("auths"), dict):
        raise ValueError('no "auths" object')
    out = {}
    for key, entry in doc["auths"].items():
        if not isinstance(entry, dict):
            continue
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                username, sep, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise ValueError(f"the auth of {key!r} is not base64 of user:password")
        out[registry_host(key)] = RegistryLogin(username, password, source)
    return out


def registry_host(key: str) -> str:
    """An auths key as a host: `http://h:5000/v2/` -> `h:5000` (what the registry clients match)."""
    key = key.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    return key.split("/", 1)[0].lower()


class Probe:
    """Talks to registries by host as Kaniko's flags say: plain HTTP for `insecure` hosts
    (--insecure), unverified TLS for `unverified` ones (--skip-tls-verify); otherwise verified
    TLS, so no registry password goes to a host that cannot prove who it is."""

    def __init__(self, insecure: Iterable[str], timeout: float, unverified: Iterable[str] = ()) -> None:
        self.insecure = set(insecure)
        self.unverified = set(unverified)
        self.timeout = timeout

    def scheme(self, host: str) -> str:
        return "http" if host in self.insecure else "https"

    def granted(self, host: str, repository: str, login: RegistryLogin | None,
                actions: str = "pull,push") -> set[str]:
        """The actions a token for `repository` grants `login` (RuntimeError naming the failure)."""
        import httpx

        from dockyard.oci import parse_challenge

        base = f"{self.scheme(host)}://{host}"
        with httpx.Client(timeout=self.timeout, verify=host not in self.unverified) as http:
            try:
                ping = http.get(base + "/v2/")
            except httpx.HTTPError as e:
                raise RuntimeError(f"cannot reach the registry at {base}: {brief(e)}") from None
            if ping.status_code == 200:
                return set(actions.split(","))
            scheme, params = parse_challenge(ping.headers.get("www-authenticate", ""))
            if ping.status_code != 401 or scheme != "bearer" or not params.get("realm"):
                raise RuntimeError(f"{base}/v2/ answered HTTP {ping.status_code} without a token challenge")
            query = {"scope": f"repository:{repository}:{actions}"}
            if params.get("service"):
                query["service"] = params["service"]
            auth = (login.username, login.password) if login else None
            try:
                r = http.get(params["realm"], params=query, auth=auth)
            except httpx.HTTPError as e:
                raise RuntimeError(f"token service {params['realm']} unreachable: {brief(e)}") from None
        if r.status_code in (401, 403):
            who = f"user {login.username!r} ({login.source})" if login else "anonymous access"
            raise PermissionError(f"the registry's token service refuses {who}: HTTP {r.status_code}")
        if r.status_code != 200:
            raise RuntimeError(f"token request answered HTTP {r.status_code}: {r.text.strip()[:200]}")
        token = str((r.json() or {}).get("token") or "")
        return _token_actions(token, repository) if token.count(".") == 2 else set(actions.split(","))

    def manifest_exists(self, image: str, login: RegistryLogin | None) -> bool:
        from dockyard.oci import Login, Logins, RegistryClient, RegistryOptions, parse_reference

        ref = parse_reference(image)
        logins = Logins({ref.registry: Login(login.username, login.password)} if login else {})
        options = RegistryOptions(insecure=set(self.insecure), skip_tls_verify=set(self.unverified),
                                  timeout=self.timeout, retries=0)
        with RegistryClient(options, logins) as client:
            return client.head_manifest(ref) is not None


def _token_actions(token: str, repository: str) -> set[str]:
    """The actions a registry JWT grants for `repository` (its `access` claim)."""
    try:
        payload = token.split(".")[1]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError):
        return set()
    granted: set[str] = set()
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repository:
            granted |= {str(a) for a in entry.get("actions") or []}
    return granted


def check_push(report: Report, probe: Probe, destination: str, login: RegistryLogin | None) -> None:
    """Whether `login` may push to `destination` (host/repository:tag)."""
    host, _, rest = destination.partition("/")
    repository = rest.split("@", 1)[0].rsplit(":", 1)[0] if ":" in rest.split("/")[-1] else rest
    if "$" in host or "$" in repository:
        report.add(AREA, "registry.push", SKIPPED, f"destination {destination} is computed at run time")
        return
    who = f"{login.username!r} ({login.source})" if login else "anonymous"
    try:
        granted = probe.granted(host, repository, login)
    except PermissionError as e:
        report.add(AREA, "registry.push", PROBLEM, f"push to {host}/{repository}: {e}",
                   fix=(f"recreate {login.source} with the right password (see the secret's fix)"
                        if login and login.source.startswith("secret") else
                        "give the build valid registry credentials"))
        return
    except RuntimeError as e:
        report.add(AREA, "registry.push", PROBLEM, f"push to {host}/{repository}: {e}",
                   fix=f"start the registry or correct the host in --destination ({host})")
        return
    if "push" not in granted:
        project = repository.split("/", 1)[0]
        report.add(AREA, "registry.push", PROBLEM,
                   f"{who} may not push to {host}/{repository} (the token grants"
                   f" {', '.join(sorted(granted)) or 'nothing'})",
                   fix=f"make {login.username if login else 'the user'} a developer (or more) of project"
                       f" {project!r}, or push to a project it owns")
        return
    report.add(AREA, "registry.push", OK, f"{who} gets a push token for {host}/{repository}")


def check_image(report: Report, probe: Probe, image: str, login: RegistryLogin | None,
                our_hosts: set[str]) -> None:
    from dockyard.oci import RegistryError, parse_reference

    try:
        ref = parse_reference(image)
    except ValueError as e:
        report.add(AREA, "registry.image", PROBLEM, f"image {image!r} is not a valid reference: {e}",
                   fix="correct the image: in the pod template")
        return
    if ref.registry not in our_hosts:
        report.add(AREA, "registry.image", SKIPPED,
                   f"image {image} is on {ref.registry}, not this Dockyard's registry: the cluster pulls it"
                   " itself (not fetched from here)")
        return
    who = f"with {login.source}" if login else "anonymously"
    try:
        exists = probe.manifest_exists(image, login)
    except (RegistryError, OSError) as e:
        hint = ("add the registry secret to the pod template's imagePullSecrets"
                if "401" in str(e) or "auth" in str(e).lower() else f"check that {ref.registry} is up")
        report.add(AREA, "registry.image", PROBLEM, f"image {image} cannot be resolved {who}: {brief(e)}",
                   fix=hint)
        return
    if not exists:
        report.add(AREA, "registry.image", PROBLEM, f"image {image} does not exist in the registry",
                   fix=f"push it (skopeo copy ... docker://{image}, or `dockyard image import"
                       f" --rootfs DIR --destination {image}`), or correct the image: in the template")
        return
    report.add(AREA, "registry.image", OK, f"image {image} resolves {who}")
