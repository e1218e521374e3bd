"""Push webhooks from an external Gitea/Forgejo or GitHub, for repositories hosted elsewhere.

The HMAC-SHA256 signature is checked over the exact request bytes (`X-Gitea-Signature`: plain hex;
`X-Hub-Signature-256`: `sha256=<hex>`); a missing or wrong signature is 403 and starts nothing.
The shared secret is `DOCKYARD_CI_WEBHOOK_SECRET`, else DATA/secrets/ci-webhook.secret (created on
first start; admins read it at GET /api/ci/hooks/secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.ci.component import CIOperations
from dockyard.ci.csrf import HTTPError
from dockyard.ci.scm import repo_key
from dockyard.events import ZERO_SHA, PushEvent
from dockyard.http import WEBHOOK_LIMIT, BadRequest, media_type, parse_json, read_body
from dockyard.store import atomic_write_text


def load_webhook_secret(secrets_dir: Path, configured: str = "") -> str:
    """The configured secret (Settings.ci_webhook_secret), else the one generated in secrets_dir."""
    if configured:
        return configured
    path = secrets_dir / "ci-webhook.secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(24)
        atomic_write_text(path, value + "\n", mode=0o600)
        return value


def verify_signature(secret: str, body: bytes, headers: Any, github: bool) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    hub = headers.get("x-hub-signature-256", "")
    if hub:
        return hmac.compare_digest(hub, "sha256=" + expected)
    if not github:
        given = headers.get("x-gitea-signature") or headers.get("x-gogs-signature") or ""
        return bool(given) and hmac.compare_digest(given, expected)
    return False


def hook_routes(ci: CIOperations) -> list[BaseRoute]:
    async def gitea(request: Request) -> Response:
        return await _receive(ci, request, github=False)

    async def github(request: Request) -> Response:
        return await _receive(ci, request, github=True)

    async def secret(request: Request) -> Response:
        try:
            principal = await asyncio.to_thread(ci.crumbs.principal, request)
        except HTTPError as e:
            return e.response()
        if not principal.is_admin:
            return HTTPError(403, "only administrators may read the webhook secret").response()
        return JSONResponse({"secret": ci.webhook_secret})

    return [
        Route("/api/ci/hooks/gitea", gitea, methods=["POST"]),
        Route("/api/ci/hooks/github", github, methods=["POST"]),
        Route("/api/ci/hooks/secret", secret, methods=["GET"]),
    ]


async def _receive(ci: CIOperations, request: Request, github: bool) -> Response:
    body = await read_body(request, WEBHOOK_LIMIT)
    if not ci.webhook_secret or not verify_signature(ci.webhook_secret, body, request.headers, github):
        return JSONResponse(
            {
                "message": "invalid or missing webhook signature (X-Hub-Signature-256 or"
                " X-Gitea-Signature, HMAC-SHA256 of the body with the CI webhook secret)"
            },
            status_code=403,
        )
    event = (
        request.headers.get("x-github-event")
        if github
        else request.headers.get("x-gitea-event")
        or request.headers.get("x-gogs-event")
        or request.headers.get("x-github-event")
    ) or ""
    if event == "ping":
        return JSONResponse({"message": "pong"})
    if event != "push":
        return JSONResponse({"message": f"event {event!r} ignored: only push starts builds"}, status_code=202)
    try:
        if media_type(request) == "application/x-www-form-urlencoded":
            payload = parse_json(parse_qs(body.decode())["payload"][0])
        else:
            payload = parse_json(body)
        ref = str(payload["ref"])
        after = str(payload["after"])
        repo = payload["repository"]
        pusher = payload.get("pusher") or {}
        if not isinstance(repo, dict) or not isinstance(pusher, dict):
            raise TypeError("repository and pusher must be objects")
    except (BadRequest, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return JSONResponse(
            {"message": "not a push payload: need ref, after and repository"}, status_code=400
        )
    if not ref.startswith("refs/heads/") or set(after) == {"0"}:
        return JSONResponse({"message": "not a branch update; nothing to build", "builds": []})
    urls = {repo.get(k) for k in ("clone_url", "html_url", "ssh_url", "git_url") if repo.get(k)}
    seen: set[str] = set()
    builds = []
    for url in urls:
        key = repo_key(str(url))
        if key in seen:
            continue
        seen.add(key)
        pushed = PushEvent(
            ref=ref, before=str(payload.get("before") or ZERO_SHA), after=after, clone_url=str(url),
            pusher=str(pusher.get("login") or pusher.get("username") or pusher.get("name") or "webhook"),
            source="webhook",
        )
        builds += await asyncio.to_thread(ci.push, pushed)
    return JSONResponse(
        {
            "message": f"{len(builds)} build(s) queued",
            "builds": [{"job": b.job_name, "number": b.number, "queue_id": b.id} for b in builds],
        }
    )
