"""Outgoing webhooks: Gitea's hook records, headers and signatures, delivered in the background.

A delivery is signed over the exact bytes sent (HMAC-SHA256 hex in `X-Gitea-Signature`, and
`sha256=<hex>` in `X-Hub-Signature-256`), retried with exponential backoff when the receiver
fails or is down (pending deliveries are stored, so a restart resumes them), and every attempt
is logged with its status, duration, headers and the first KiB of the response body (none for
a redirect, which is never followed) so a user can see why a hook did not fire.

Targets follow Gitea's `[webhook] ALLOWED_HOST_LIST` (`DOCKYARD_WEBHOOK_ALLOWED_HOSTS`, default
`external`; see `hostmatch`): the host is resolved once per attempt, the address checked, and
the request sent to that very address (Host header and TLS name kept), so a name that resolves
to loopback, a private network or the metadata service is refused however it is spelt or
re-pointed. A refused delivery is logged with the reason and not retried; a literal address
that the list refuses is refused already when the hook is created or edited (422).
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from sqlalchemy import text

from dockyard.git.apitime import gitea_time
from dockyard.http import HostMatchList, IPAddress, canonical, parse_address
from dockyard.store import Database, insert_row, update_row, utcnow

log = logging.getLogger(__name__)

HOOK_TYPES = ("gitea", "gogs", "forgejo")
EVENTS = ("push", "create", "delete")
_ACCEPTED_EVENTS = frozenset(
    {*EVENTS, "fork", "issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment",
     "pull_request", "pull_request_assign", "pull_request_label", "pull_request_milestone",
     "pull_request_comment", "pull_request_review_approved", "pull_request_review_rejected",
     "pull_request_review_comment", "pull_request_sync", "pull_request_review_request",
     "wiki", "repository", "release", "package", "status", "workflow_run", "workflow_job"}
)
DELIVER_TIMEOUT = 5.0
MAX_LOGGED_RESPONSE = 1024  # bytes of a receiver's answer kept in the delivery log


class HookError(Exception):
    """An invalid hook definition; the message names the field."""


@dataclass(frozen=True)
class Hook:
    id: int
    repo_id: int
    type: str
    url: str
    http_method: str
    content_type: str
    secret: str
    events: list[str]
    branch_filter: str
    authorization_header: str
    active: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Any) -> Hook:
        return cls(row.id, row.repo_id, row.type, row.url, row.http_method, row.content_type,
                   row.secret, json.loads(row.events), row.branch_filter,
                   row.authorization_header, bool(row.active), row.created_at, row.updated_at)

    def wants(self, event: str, branch: str | None) -> bool:
        if not self.active or event not in self.events:
            return False
        return branch is None or branch_matches(self.branch_filter, branch)

    def to_json(self) -> dict[str, Any]:
        """Gitea's `Hook`; the secret is never shown again, as in Gitea."""
        return {
            "id": self.id,
            "type": self.type,
            "branch_filter": self.branch_filter,
            "config": {"url": self.url, "content_type": self.content_type,
                       "http_method": self.http_method.lower()},
            "events": self.events,
            "authorization_header": "",
            "active": self.active,
            "updated_at": gitea_time(self.updated_at),
            "created_at": gitea_time(self.created_at),
        }


def branch_matches(pattern: str, branch: str) -> bool:
    """Gitea's branch filter: a glob, `{a,b}` alternatives; empty or `*` matches every branch."""
    if pattern in ("", "*"):
        return True
    return any(fnmatch.fnmatchcase(branch, p) for p in _expand_braces(pattern))


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end():]
    return [x for alt in match.group(1).split(",") for x in _expand_braces(head + alt + tail)]


class HookStore:
    def __init__(self, db: Database, allowed: HostMatchList) -> None:
        self.db = db
        self.allowed = allowed

    def for_repo(self, repo_id: int) -> list[Hook]:
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM git_hooks WHERE repo_id = :r ORDER BY id"),
                                {"r": repo_id}).all()
        return [Hook.from_row(r) for r in rows]

    def get(self, repo_id: int, hook_id: int) -> Hook | None:
        with self.db.read() as conn:
            row = conn.execute(text("SELECT * FROM git_hooks WHERE repo_id = :r AND id = :i"),
                               {"r": repo_id, "i": hook_id}).first()
        return Hook.from_row(row) if row else None

    def create(self, repo_id: int, option: dict[str, Any]) -> Hook:
        """From Gitea's `CreateHookOption`; `active` defaults to false exactly as in Gitea."""
        hook_type = option.get("type")
        if hook_type not in HOOK_TYPES:
            raise HookError(f"type must be one of {', '.join(HOOK_TYPES)} (got {hook_type!r})")
        config = option.get("config")
        if not isinstance(config, dict):
            raise HookError("config is required: {\"url\": ..., \"content_type\": \"json\"}")
        fields = _config_fields(config, self.allowed, require=True)
        fields.update(_common_fields(option))
        fields.setdefault("events", json.dumps(["push"]))
        fields.setdefault("active", False)
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            hook_id = insert_row(conn, "git_hooks", {
                "repo_id": repo_id, "type": hook_type, "secret": "", "branch_filter": "",
                "authorization_header": "", "http_method": "POST", **fields,
                "created_at": now, "updated_at": now})
        hook = self.get(repo_id, int(hook_id))
        assert hook is not None
        return hook

    def update(self, hook: Hook, option: dict[str, Any]) -> Hook:
        """From Gitea's `EditHookOption`: only the fields given change."""
        fields: dict[str, Any] = {}
        if isinstance(option.get("config"), dict):
            fields.update(_config_fields(option["config"], self.allowed, require=False))
        fields.update(_common_fields(option))
        if fields:
            fields["updated_at"] = utcnow().isoformat()
            with self.db.transaction() as conn:
                update_row(conn, "git_hooks", {"id": hook.id}, fields)
        updated = self.get(hook.repo_id, hook.id)
        assert updated is not None
        return updated

    def delete(self, hook: Hook) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM git_hooks WHERE id = :i"), {"i": hook.id})

    # pending deliveries: survive a restart ------------------------------------------
    def queue_add(self, delivery: str, hook: Hook, event: str, body: bytes) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text("INSERT INTO git_hook_queue (uuid, hook_id, event, body, attempts, next_at)"
                     " VALUES (:u, :h, :e, :b, 0, :n)"),
                {"u": delivery, "h": hook.id, "e": event, "b": body.decode(), "n": time.time()},
            )

    def queue_update(self, delivery: str, attempts: int, next_at: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("UPDATE git_hook_queue SET attempts = :a, next_at = :n"
                              " WHERE uuid = :u"), {"a": attempts, "n": next_at, "u": delivery})

    def queue_remove(self, delivery: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM git_hook_queue WHERE uuid = :u"), {"u": delivery})

    def queued(self) -> list[tuple[Hook, str, str, bytes, int, float]]:
        """(hook, delivery, event, body, attempts made, next attempt as unix time)."""
        with self.db.read() as conn:
            rows = conn.execute(text(
                "SELECT q.uuid, q.event, q.body, q.attempts, q.next_at, h.* FROM git_hook_queue q"
                " JOIN git_hooks h ON h.id = q.hook_id ORDER BY q.next_at")).all()
        return [(Hook.from_row(r), r.uuid, r.event, r.body.encode(), r.attempts, r.next_at)
                for r in rows]

    # delivery log -----------------------------------------------------------------
    def record(self, hook: Hook, attempt: Attempt) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text("INSERT INTO git_hook_deliveries (hook_id, uuid, event, attempt, url,"
                     " request_headers, payload, status_code, success, duration_ms,"
                     " response_headers, response_body, error, delivered_at) VALUES (:h, :u, :e,"
                     " :a, :url, :rh, :p, :s, :ok, :d, :resh, :resb, :err, :at)"),
                {"h": hook.id, "u": attempt.delivery, "e": attempt.event, "a": attempt.number,
                 "url": hook.url, "rh": json.dumps(attempt.request_headers),
                 "p": attempt.body.decode(errors="replace"), "s": attempt.status_code,
                 "ok": attempt.success, "d": attempt.duration_ms,
                 "resh": json.dumps(attempt.response_headers), "resb": attempt.response_body,
                 "err": attempt.error, "at": utcnow().isoformat()},
            )

    def deliveries(self, hook_id: int, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                text("SELECT * FROM git_hook_deliveries WHERE hook_id = :h ORDER BY id DESC"
                     " LIMIT :l"), {"h": hook_id, "l": limit}).all()
        return [
            {
                "id": r.id, "uuid": r.uuid, "event": r.event, "attempt": r.attempt, "url": r.url,
                "is_succeed": bool(r.success), "status_code": r.status_code,
                "duration_ms": round(r.duration_ms, 1), "error": r.error,
                "delivered": gitea_time(r.delivered_at),
                "request": {"headers": json.loads(r.request_headers), "body": r.payload},
                "response": {"status": r.status_code, "headers": json.loads(r.response_headers),
                             "body": r.response_body},
            }
            for r in rows
        ]


def _config_fields(config: dict[str, Any], allowed: HostMatchList, *, require: bool
                   ) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    url = config.get("url")
    if url is not None or require:
        fields["url"] = _checked_url(str(url or ""), allowed)
    content_type = config.get("content_type")
    if content_type is not None or require:
        if content_type not in ("json", "form"):
            raise HookError("config.content_type must be json or form")
        fields["content_type"] = content_type
    if config.get("secret") is not None:
        fields["secret"] = str(config["secret"])
    method = config.get("http_method")
    if method:
        if str(method).upper() != "POST":
            raise HookError("config.http_method: only POST is supported")
        fields["http_method"] = "POST"
    return fields


def _checked_url(url: str, allowed: HostMatchList) -> str:
    """An http(s) URL with a host and a valid port, whose host, if it is a literal address in
    any spelling, the allow-list accepts (names are checked when they are resolved)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise HookError("config.url is not a valid URL (check the host and port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HookError("config.url must be an http:// or https:// URL")
    ip = parse_address(parts.hostname)
    if ip is not None and not allowed.allows(parts.hostname, ip):
        raise HookError(allowed.refusal(parts.hostname, ip))
    return url


def _common_fields(option: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    events = option.get("events")
    if events is not None:
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise HookError("events must be a list of event names such as [\"push\"]")
        unknown = sorted(set(events) - _ACCEPTED_EVENTS)
        if unknown:
            raise HookError(f"unknown events {unknown}; known: push, create, delete, ...")
        fields["events"] = json.dumps(events or ["push"])
    if option.get("branch_filter") is not None:
        fields["branch_filter"] = str(option["branch_filter"])
    if option.get("authorization_header") is not None:
        fields["authorization_header"] = str(option["authorization_header"])
    if option.get("active") is not None:
        fields["active"] = bool(option["active"])
    return fields


@dataclass
class Attempt:
    delivery: str
    event: str
    number: int
    body: bytes
    request_headers: dict[str, str]
    status_code: int | None = None
    success: bool = False
    duration_ms: float = 0.0
    response_headers: dict[str, str] | None = None
    response_body: str = ""
    error: str = ""
    final: bool = False  # refused by policy: retrying cannot help


def signed_headers(hook: Hook, event: str, delivery: str, body: bytes) -> dict[str, str]:
    """Gitea's delivery headers (with the Gogs and GitHub copies) for these exact bytes."""
    sha256 = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(hook.secret.encode(), body, hashlib.sha1).hexdigest()
    headers = {
        "Content-Type": "application/json" if hook.content_type == "json"
        else "application/x-www-form-urlencoded",
        "User-Agent": "Dockyard-Hookshot",
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Event": event,
        "X-Gitea-Event-Type": event,
        "X-Gitea-Signature": sha256,
        "X-Gogs-Delivery": delivery,
        "X-Gogs-Event": event,
        "X-Gogs-Event-Type": event,
        "X-Gogs-Signature": sha256,
        "X-Hub-Signature": f"sha1={sha1}",
        "X-Hub-Signature-256": f"sha256={sha256}",
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": event,
        "X-GitHub-Event-Type": event,
    }
    if hook.authorization_header:
        headers["Authorization"] = hook.authorization_header
    return headers


def encode_payload(hook: Hook, payload: dict[str, Any]) -> bytes:
    """Gitea's encoding: 2-space indented JSON, or a form field `payload=<json>`."""
    data = json.dumps(payload, indent=2, ensure_ascii=False)
    if hook.content_type == "form":
        return urlencode({"payload": data}).encode()
    return data.encode()


class TargetRefused(Exception):
    """The hook's host resolves only to addresses the allow-list refuses; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the URL with the checked address in place of the name, the
    Host header and TLS server name of the original URL."""

    url: str
    host_header: str
    server_name: str | None


async def resolve_targets(url: str, allowed: HostMatchList) -> list[Target]:
    """Resolve the URL's host once and aim the request at each address the allow-list accepts,
    in the resolver's order (the caller tries the next when one cannot be reached, as a dialer
    does): the address checked is the address connected to, never looked up a second time."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = parse_address(host)
    if literal is not None:
        candidates: list[IPAddress] = [literal]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        candidates = [canonical(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
                      for info in infos]
    if not candidates:
        raise socket.gaierror(f"no address for {host}")
    chosen = [ip for ip in dict.fromkeys(candidates) if allowed.allows(host, ip)]
    if not chosen:
        raise TargetRefused(allowed.refusal(host, candidates[0]))
    userinfo, _, host_port = parts.netloc.rpartition("@")
    server_name = host if parts.scheme == "https" and literal is None else None
    targets = []
    for ip in chosen:
        address = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = (userinfo + "@" if userinfo else "") + address + (
            f":{parts.port}" if parts.port else "")
        targets.append(Target(parts._replace(netloc=netloc).geturl(), host_port, server_name))
    return targets


class Deliverer:
    """Sends deliveries in background tasks; a slow or dead receiver never slows a push."""

    def __init__(self, store: HookStore, retry_delays: tuple[float, ...]) -> None:
        self.store = store
        self.retry_delays = retry_delays
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client and resume the deliveries a previous process left pending."""
        self._client = httpx.AsyncClient(timeout=DELIVER_TIMEOUT, follow_redirects=False,
                                         trust_env=False)
        for hook, delivery, event, body, attempts, next_at in await asyncio.to_thread(
                self.store.queued):
            self._spawn(self._deliver(hook, event, delivery, body, attempts,
                                      max(0.0, next_at - time.time())))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def enqueue(self, hook: Hook, event: str, payload: dict[str, Any]) -> str:
        """Record and schedule a delivery; returns its id (X-Gitea-Delivery)."""
        delivery = str(uuid.uuid4())
        body = encode_payload(hook, payload)
        self.store.queue_add(delivery, hook, event, body)
        self._spawn(self._deliver(hook, event, delivery, body))
        return delivery

    async def drain(self) -> None:
        """Wait for the deliveries in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, hook: Hook, event: str, delivery: str, body: bytes,
                       attempts_made: int = 0, wait: float = 0.0) -> None:
        """Attempt until a 2xx or the retries run out; the queue row is the resumable state."""
        headers = signed_headers(hook, event, delivery, body)
        logged_headers = {k: ("***" if k == "Authorization" else v) for k, v in headers.items()}
        if wait:
            await asyncio.sleep(wait)
        for number in range(attempts_made + 1, len(self.retry_delays) + 2):
            attempt = Attempt(delivery, event, number, body, logged_headers)
            await self._send(hook, headers, attempt)
            try:
                await asyncio.to_thread(self.store.record, hook, attempt)
            except Exception:  # the hook was deleted meanwhile
                log.info("webhook %s: delivery %s not logged (hook gone?)", hook.id, delivery)
                return
            if attempt.success or attempt.final or number > len(self.retry_delays):
                if attempt.final:
                    log.warning("webhook %s: %s", hook.id, attempt.error)
                elif not attempt.success:
                    log.warning("webhook %s: giving up after %d attempts", hook.id, number)
                await asyncio.to_thread(self.store.queue_remove, delivery)
                return
            delay = self.retry_delays[number - 1]
            await asyncio.to_thread(self.store.queue_update, delivery, number, time.time() + delay)
            await asyncio.sleep(delay)
            current = await asyncio.to_thread(self.store.get, hook.repo_id, hook.id)
            if current is None or not current.active:
                await asyncio.to_thread(self.store.queue_remove, delivery)
                return

    async def _send(self, hook: Hook, headers: dict[str, str], attempt: Attempt) -> None:
        if self._client is None:
            await self.start()
        assert self._client is not None
        started = time.perf_counter()
        attempt.response_headers = {}
        try:
            targets = await resolve_targets(hook.url, self.store.allowed)
            for i, target in enumerate(targets):
                try:
                    await self._post(target, headers, attempt)
                    break
                except httpx.ConnectError:
                    if i == len(targets) - 1:
                        raise
        except TargetRefused as exc:
            attempt.error, attempt.final = f"refused: {exc}", True
        except (socket.gaierror, UnicodeError) as exc:
            attempt.error = f"cannot resolve {urlsplit(hook.url).hostname}: {exc}"
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        attempt.duration_ms = (time.perf_counter() - started) * 1000

    async def _post(self, target: Target, headers: dict[str, str], attempt: Attempt) -> None:
        assert self._client is not None
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        async with self._client.stream(
            "POST", target.url, content=attempt.body, extensions=extensions,
            headers={**headers, "Host": target.host_header, "Accept-Encoding": "identity"},
        ) as response:
            await _record_response(response, attempt)


async def _record_response(response: httpx.Response, attempt: Attempt) -> None:
    """Status and headers; the first KiB of the body, none of a redirect's (never followed)."""
    status = attempt.status_code = response.status_code
    attempt.success = 200 <= status < 300
    attempt.response_headers = dict(response.headers)
    if 300 <= status < 400:
        attempt.error = f"receiver answered HTTP {status}: redirects are not followed"
        return
    attempt.response_body = await _first_bytes(response, MAX_LOGGED_RESPONSE)
    if not attempt.success:
        attempt.error = f"receiver answered HTTP {status}"


async def _first_bytes(response: httpx.Response, limit: int) -> str:
    """At most `limit` bytes of the body, as sent (never decompressed), read no further."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return kept.decode(errors="replace")
