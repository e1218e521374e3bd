"""The ASGI layer of the toolkit: per-path body limits enforced before any handler runs, and
response header values that the server can always send.

For every bounded route the body is read here, chunk by chunk, and refused with 413 the moment
it passes the route's limit (or at once when Content-Length already says so) - before the
handler authenticates, checks a signature or hashes a password, and without holding more than
the limit in memory. Streamed routes (blob uploads, git packs) pass through untouched: their
handlers write the stream to disk as it arrives.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.http.body import BODY_CACHE_KEY
from dockyard.http.errors import NATIVE, BadRequest, WireFormat, too_large

log = logging.getLogger(__name__)

STREAMED = None  # a rule's limit: the handler streams the body itself
_WIRE_KEY = "dockyard_http_wire"


@dataclass(frozen=True)
class BodyRule:
    """Requests whose path matches `pattern` speak `wire` and send at most `limit` bytes."""

    pattern: str
    limit: int | None
    wire: WireFormat

    def matches(self, path: str) -> bool:
        return re.search(self.pattern, path) is not None


class BodyPolicy:
    """An ordered list of rules; the first match wins, else `default`."""

    def __init__(self, rules: list[BodyRule], default: BodyRule) -> None:
        self.rules = rules
        self.default = default

    def for_path(self, path: str) -> BodyRule:
        return next((r for r in self.rules if r.matches(path)), self.default)


def wire_of(request: Request) -> WireFormat:
    """The wire format of the API this request reached (set by the middleware)."""
    wire = request.scope.get(_WIRE_KEY)
    return wire if isinstance(wire, WireFormat) else NATIVE


class BoundedBodyMiddleware:
    def __init__(self, app: ASGIApp, policy: BodyPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.policy.for_path(scope["path"])
        scope[_WIRE_KEY] = rule.wire
        send = _safe_headers(send)
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        if rule.limit is STREAMED or not has_body:
            await self.app(scope, receive, send)
            return
        try:
            if length is not None and length.isdigit() and int(length) > rule.limit:
                raise too_large(rule.limit)
            body = await _read_bounded(receive, rule.limit)
        except BadRequest as exc:
            # No `Connection: close`: closing with unread bytes in the socket makes the kernel
            # send a reset that can destroy this answer; the server drains the rest instead.
            await rule.wire.render(exc)(scope, receive, send)
            return
        except _Disconnected:
            return
        scope[BODY_CACHE_KEY] = body
        await self.app(scope, _replay(body, receive), send)


class _Disconnected(Exception):
    pass


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


_BAD_HEADER_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _safe_headers(send: Send) -> Send:
    """Control characters in a response header value (a job or repository name echoed into
    `Location` or `X-Error`) become '?': the server would otherwise drop the connection."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [(k, _BAD_HEADER_BYTES.sub(b"?", v))
                                  for k, v in message.get("headers", [])]
        await send(message)

    return sending


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands out the pre-read body once, then waits on the real one
    (so streaming responses still see the client disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def render_bad_request(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: a `BadRequest` in the wire format of the path's API."""
    assert isinstance(exc, BadRequest)
    return wire_of(request).render(exc)


async def render_internal_error(request: Request, exc: Exception) -> Response:
    """The last resort: an unexpected exception is logged and answered with a 500 in the
    path's format (Starlette re-raises it afterwards, so the traceback reaches the log)."""
    log.error("unhandled %s in %s %s", type(exc).__name__, request.method, request.url.path)
    return wire_of(request).internal()
