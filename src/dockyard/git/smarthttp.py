"""Git's smart HTTP protocol, done by `git upload-pack`/`git receive-pack --stateless-rpc`.

Dockyard only authenticates, authorises and pipes: the request body streams into the git
process's stdin (gunzipped on the fly when the client compressed it) while its stdout streams
back as the response, so no pack is ever held in memory whatever its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from dockyard.auth import AuthService, Principal, Role, missing_scope, parse_authorization
from dockyard.git.gitcmd import git_env
from dockyard.git.names import InvalidName, strip_git_suffix, validate_owner, validate_repo
from dockyard.git.protection import RULES_ENV, ProtectionStore
from dockyard.git.pushlog import PUSH_LOG_ENV, RefUpdate, read_push_log
from dockyard.git.repos import Repo, RepoService

log = logging.getLogger(__name__)

SERVICES = ("git-upload-pack", "git-receive-pack")
REALM = 'Basic realm="Dockyard", charset="UTF-8"'
_CHUNK = 256 * 1024
_MAX_INFLATE_STEP = 1 << 20
# A client that stops sending mid-request must not hold a git process forever.
BODY_IDLE_TIMEOUT = 300.0
_PROTOCOL_RE = re.compile(r"^[A-Za-z0-9=:._-]{1,200}$")

PushCallback = Callable[[Repo, Principal, list[RefUpdate]], Awaitable[None]]


@dataclass(frozen=True)
class AccessRefused:
    """Why a git request may not go on: an HTTP status (401 asks for credentials) and the text
    the client shows (HTTP body or SSH stderr)."""

    status: int
    message: str


class SmartHTTP:
    def __init__(
        self, repos: RepoService, auth: AuthService, protections: ProtectionStore,
        hooks_dir: Path, tmp_dir: Path, on_push: PushCallback,
    ) -> None:
        self.repos = repos
        self.protections = protections
        self.auth = auth
        self.hooks_dir = hooks_dir
        self.tmp_dir = tmp_dir
        self.on_push = on_push
        self._background: set[asyncio.Task[None]] = set()
        tmp_dir.mkdir(parents=True, exist_ok=True)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{owner}/{repo}/info/refs", self.info_refs, methods=["GET"]),
            Route("/{owner}/{repo}/git-upload-pack", self.upload_pack, methods=["POST"]),
            Route("/{owner}/{repo}/git-receive-pack", self.receive_pack, methods=["POST"]),
        ]

    # endpoints -----------------------------------------------------------------------
    async def info_refs(self, request: Request) -> Response:
        service = request.query_params.get("service", "")
        if service not in SERVICES:
            return PlainTextResponse(
                "Dockyard serves git's smart HTTP protocol only: use a git client >= 1.6.6 "
                "(info/refs needs ?service=git-upload-pack or git-receive-pack)\n",
                status_code=403,
            )
        target = await self._authorize(request, service)
        if isinstance(target, Response):
            return target
        repo, principal = target
        protocol = self._protocol(request)
        prefix = b""
        if not (service == "git-upload-pack" and "version=2" in protocol):
            # Protocol v0/v1 announce the service first; v2 starts with its capabilities.
            prefix = _pkt_line(f"# service={service}\n") + b"0000"
        proc = await self._spawn(service, repo, protocol, advertise=True, push_log=None)
        body = self._stream(proc, None, prefix)
        return _git_response(body, f"application/x-{service}-advertisement")

    async def upload_pack(self, request: Request) -> Response:
        return await self._rpc(request, "git-upload-pack")

    async def receive_pack(self, request: Request) -> Response:
        return await self._rpc(request, "git-receive-pack")

    # the RPC ---------------------------------------------------------------------------
    async def _rpc(self, request: Request, service: str) -> Response:
        if request.headers.get("content-type", "") != f"application/x-{service}-request":
            return PlainTextResponse(
                f"expected Content-Type application/x-{service}-request\n", status_code=415)
        encoding = request.headers.get("content-encoding", "").lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            return PlainTextResponse(f"unsupported Content-Encoding {encoding!r}: use gzip\n",
                                     status_code=415)
        target = await self._authorize(request, service)
        if isinstance(target, Response):
            return target
        repo, principal = target
        gzip = encoding in ("gzip", "x-gzip")
        proc, done = await self.run_service(service, repo, principal, self._protocol(request),
                                            lambda proc: _feed(request, proc, gzip=gzip))
        return _git_response(self._stream(proc, done, b""), f"application/x-{service}-result")

    async def run_service(
        self, service: str, repo: Repo, principal: Principal, protocol: str,
        feed: Callable[[asyncio.subprocess.Process], Coroutine[Any, Any, None]], *,
        stateless: bool = True,
    ) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
        """Start `service` on an authorised repository for HTTP (`--stateless-rpc`) or SSH (one
        full-duplex exchange): a push gets the protected-branch rules and its push log, and the
        returned task ends after the push's events, webhooks and CI triggers have fired."""
        push_log = rules_file = None
        if service == "git-receive-pack":
            push_log = self._temp_file("push-", b"")
            rules = self.protections.rules_for(repo.id, principal)
            if rules is not None:
                rules_file = self._temp_file("rules-", json.dumps(rules).encode())
        proc = await self._spawn(service, repo, protocol, advertise=False, push_log=push_log,
                                 rules_file=rules_file, stateless=stateless)
        feeder = asyncio.create_task(feed(proc))
        return proc, self._supervise(service, proc, feeder, repo, principal, push_log, rules_file)

    def _temp_file(self, prefix: str, content: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=prefix)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        return Path(name)

    async def _spawn(
        self, service: str, repo: Repo, protocol: str, *, advertise: bool,
        push_log: Path | None, rules_file: Path | None = None, stateless: bool = True,
    ) -> asyncio.subprocess.Process:
        env = {}
        if protocol:
            env["GIT_PROTOCOL"] = protocol
        if push_log is not None:
            env[PUSH_LOG_ENV] = str(push_log)
        if rules_file is not None:
            env[RULES_ENV] = str(rules_file)
        argv = [
            "git",
            "-c", f"core.hooksPath={self.hooks_dir}",
            "-c", "uploadpack.allowFilter=true",
            "-c", "uploadpack.allowAnySHA1InWant=true",
            "-c", "receive.advertisePushOptions=false",
            service.removeprefix("git-"), *(["--stateless-rpc"] if stateless else []),
        ]
        if advertise:
            argv.append("--advertise-refs")
        argv.append(str(self.repos.path_of(repo.owner, repo.name)))
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if not advertise else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL if advertise else asyncio.subprocess.PIPE,
            env=git_env(env),
        )

    def _supervise(
        self,
        service: str,
        proc: asyncio.subprocess.Process,
        feeder: asyncio.Task[None],
        repo: Repo,
        principal: Principal,
        push_log: Path | None,
        rules_file: Path | None,
    ) -> asyncio.Task[None]:
        """Wait for the git process apart from the response, so that a client hanging up
        early never skips the push events of refs that git did update."""

        async def finish() -> None:
            stderr = await proc.stderr.read() if proc.stderr else b""
            code = await proc.wait()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            if code != 0:
                log.info("%s for %s exited %s: %s", service, repo.full_name, code,
                         stderr.decode(errors="replace")[-2000:].strip())
            if rules_file is not None:
                rules_file.unlink(missing_ok=True)
            if push_log is not None:
                updates = read_push_log(push_log)
                push_log.unlink(missing_ok=True)
                if updates:
                    try:
                        created = [u.branch for u in updates if u.created and u.branch]
                        current = await self.repos.adopt_default_branch(repo, created)
                        await self.on_push(current, principal, updates)
                    except Exception:  # the push itself succeeded; never fail the response
                        log.exception("after-push processing of %s failed", repo.full_name)

        task = asyncio.create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _stream(
        self, proc: asyncio.subprocess.Process, done: asyncio.Task[None] | None, prefix: bytes
    ) -> AsyncIterator[bytes]:
        assert proc.stdout is not None
        finished = False
        try:
            if prefix:
                yield prefix
            while True:
                chunk = await proc.stdout.read(_CHUNK)
                if not chunk:
                    break
                yield chunk
            finished = True
            if done is not None:
                await asyncio.shield(done)
            else:
                await proc.wait()
        finally:
            if not finished:
                self.keep_draining(proc)

    def keep_draining(self, proc: asyncio.subprocess.Process) -> None:
        """The client went away: keep reading git's output so it can finish (or fail) on its
        own, and a push that git accepted still fires its events."""
        task = asyncio.create_task(_drain(proc))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # auth ------------------------------------------------------------------------------
    async def _authorize(self, request: Request, service: str) -> tuple[Repo, Principal] | Response:
        creds = parse_authorization(request.headers.get("authorization"))
        principal = await run_in_threadpool(self.auth.authenticate, creds)
        owner, name = request.path_params["owner"], request.path_params["repo"]
        if principal is None:  # a bad name is a 400 whoever asks
            bad = _bad_name(owner, name)
            return PlainTextResponse(f"{bad}\n", status_code=400) if bad else \
                _challenge("Invalid username, password or token.")
        access = self.access(principal, owner, name, service)
        if isinstance(access, Repo):
            return access, principal
        if access.status == 401:
            return _challenge(access.message)
        return PlainTextResponse(f"{access.message}\n", status_code=access.status)

    def access(self, principal: Principal, owner: str, name: str,
               service: str) -> Repo | AccessRefused:
        """The one permission check of git over HTTP and SSH: the repository `principal` may
        read (git-upload-pack) or write (git-receive-pack), or why not, as an HTTP status."""
        bad = _bad_name(owner, name)
        if bad:
            return AccessRefused(400, bad)
        name = strip_git_suffix(name)
        repo = self.repos.get(owner, name)
        role = self.repos.role(principal, repo) if repo is not None else Role.NONE
        if repo is None or role < Role.READ:
            # Missing and hidden look the same; anonymous users are asked to log in.
            if principal.is_anonymous:
                return AccessRefused(401, "Authentication required.")
            return AccessRefused(404, f"Repository {owner}/{name} not found.")
        if service == "git-receive-pack" and role < Role.WRITE:
            if principal.is_anonymous:
                return AccessRefused(401, f"Authentication required to push to {repo.full_name}.")
            return AccessRefused(
                403, f"User {principal.username} has no write permission on {repo.full_name}.")
        pushing = service == "git-receive-pack"
        if not principal.allows("repository", pushing):  # (public-only: role() is NONE)
            return AccessRefused(403, missing_scope("repository", pushing))
        return repo

    @staticmethod
    def _protocol(request: Request) -> str:
        value = request.headers.get("git-protocol", "")
        return value if _PROTOCOL_RE.match(value) else ""


async def _feed(request: Request, proc: asyncio.subprocess.Process, *, gzip: bool) -> None:
    """Copy the request body into git's stdin, inflating in bounded steps (no gzip bomb)."""
    assert proc.stdin is not None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    body = request.stream().__aiter__()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(body.__anext__(), BODY_IDLE_TIMEOUT)
            except StopAsyncIteration:
                break
            except TimeoutError:
                log.info("no request body data for %ss; git sees a truncated body and aborts",
                         BODY_IDLE_TIMEOUT)
                return
            if inflater is None:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
                continue
            data = inflater.decompress(chunk, _MAX_INFLATE_STEP)
            while True:
                if data:
                    proc.stdin.write(data)
                    await proc.stdin.drain()
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, _MAX_INFLATE_STEP)
        if inflater is not None:
            proc.stdin.write(inflater.flush())
            await proc.stdin.drain()
    except ClientDisconnect:
        log.info("client disconnected mid-request; git sees a truncated body and aborts")
    except zlib.error as exc:
        log.info("request body is not valid gzip (%s); git sees a truncated body", exc)
    except (BrokenPipeError, ConnectionResetError):
        pass  # git stopped reading: it already decided, its answer is on stdout
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.read(_CHUNK):
        pass
    await proc.wait()


class _PipeResponse(StreamingResponse):
    """A streaming response that never calls `receive`: the request body is still being read
    by the feeder task while the response streams (Starlette's StreamingResponse would listen
    for a disconnect on `receive` and swallow body chunks)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _git_response(body: AsyncIterator[bytes], content_type: str) -> Response:
    return _PipeResponse(
        body,
        media_type=content_type,
        headers={
            "Cache-Control": "no-cache, max-age=0, must-revalidate",
            "Pragma": "no-cache",
            "Expires": "Fri, 01 Jan 1980 00:00:00 GMT",
        },
    )


def _bad_name(owner: str, name: str) -> str | None:
    try:
        validate_owner(owner)
        validate_repo(strip_git_suffix(name))
    except InvalidName as exc:
        return str(exc)
    return None


def _challenge(message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=401,
                             headers={"WWW-Authenticate": REALM})


def _pkt_line(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data
