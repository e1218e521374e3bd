"""git over SSH, like Gitea's built-in SSH server: an asyncssh listener in Dockyard's own process.

Public-key authentication only (keys added through `/api/v1/user/keys`), as user `git`; the key
says who connects. The only commands are `git-upload-pack` and `git-receive-pack` on
`owner/repo`, which pass the same permission check and run through the same code as smart HTTP
(`SmartHTTP.access` / `SmartHTTP.run_service`), so protected branches, push events, webhooks and
CI triggers are the same for both transports. A shell, other commands, subsystems (sftp), ptys,
port, agent and X11 forwarding are refused.

Bounds: connections at once, sessions per connection, authentication attempts and time,
keepalives (a half-open client is dropped in about 90 s), and an idle limit on client input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import warnings
from pathlib import Path
from typing import Any

from dockyard.auth import AuthService, Principal
from dockyard.git.repos import Repo
from dockyard.git.smarthttp import AccessRefused, SmartHTTP
from dockyard.git.sshkeys import PublicKey, PublicKeyStore, fingerprint
from dockyard.git.sshpaths import SSH_USER, CommandRefused, parse_command
from dockyard.store import atomic_write_bytes

with warnings.catch_warnings():  # its DSA support warns on import; this module loads only with SSH on
    warnings.simplefilter("ignore")
    import asyncssh

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 256
MAX_SESSIONS = 4  # per connection (OpenSSH's ControlMaster may multiplex a few)
MAX_AUTH_TRIES = 12  # public-key checks per connection: each offered key costs one or two
LOGIN_TIMEOUT = 30.0
SESSION_WAIT = 60.0  # an authenticated connection that opens no session is closed
KEEPALIVE_INTERVAL = 30.0
KEEPALIVE_COUNT = 3
IDLE_TIMEOUT = 300.0  # no input from the client while git waits for it: git sees EOF
_CHUNK = 256 * 1024
_PROTOCOL_RE = re.compile(r"^[A-Za-z0-9=:._-]{1,200}$")
HOST_KEY_NAME = "ssh_host_ed25519_key"


def load_or_create_host_key(path: Path) -> Any:
    """The server's ed25519 host key, generated once (0600) so clients' known_hosts stay valid."""
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, key.export_private_key("openssh"), mode=0o600)
    return asyncssh.read_private_key(str(path))


class GitSSHServer:
    """The listener; `start()` binds and logs the host key's fingerprint, `stop()` closes it."""

    def __init__(self, smart: SmartHTTP, keys: PublicKeyStore, auth: AuthService,
                 host_key_path: Path, host: str, port: int) -> None:
        self.smart = smart
        self.keys = keys
        self.auth = auth
        self.host_key_path = host_key_path
        self.host = host
        self.port = port
        self.connections = 0
        self.fingerprint = ""
        self._acceptor: Any = None

    async def start(self) -> None:
        key = await asyncio.to_thread(load_or_create_host_key, self.host_key_path)
        self.fingerprint = key.get_fingerprint()
        try:
            self._acceptor = await asyncssh.create_server(
                lambda: _Connection(self), self.host, self.port,
                server_host_keys=[key], process_factory=self._session, encoding=None,
                allow_pty=False, x11_forwarding=False, agent_forwarding=False,
                login_timeout=LOGIN_TIMEOUT, keepalive_interval=KEEPALIVE_INTERVAL,
                keepalive_count_max=KEEPALIVE_COUNT, server_version="Dockyard",
            )
        except OSError as exc:
            raise RuntimeError(f"cannot listen for SSH on {self.host}:{self.port}: {exc}; choose "
                               "another --ssh-port (DOCKYARD_SSH_PORT)") from exc
        log.info("git over SSH on %s:%s, host key %s (ED25519)", self.host, self.port,
                 self.fingerprint)

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

    # one session (an exec request) ------------------------------------------------------
    async def _session(self, process: Any) -> None:
        conn: _Connection = process.get_extra_info("connection").get_owner()
        conn.session_started()
        try:
            await self._serve(process, conn)
        except Exception:
            log.exception("SSH session of %s failed", conn.describe())
            _refuse(process, "Dockyard: internal error; the server's log has the details")
        finally:
            conn.session_ended()

    async def _serve(self, process: Any, conn: _Connection) -> None:
        if conn.sessions > MAX_SESSIONS:
            return _refuse(process, f"Dockyard: at most {MAX_SESSIONS} sessions per connection")
        principal = await asyncio.to_thread(self._principal, conn.key)
        if isinstance(principal, str):
            return _refuse(process, principal)
        if process.subsystem is not None:
            return _refuse(process, f"Dockyard: subsystem {process.subsystem!r} is not available "
                                    "(no sftp or scp); use git clone/fetch/push")
        if process.command is None:
            return _refuse(process, f"Hi there, {principal.username}! You've successfully "
                                    "authenticated, but Dockyard does not provide shell access.")
        try:
            command = parse_command(process.command)
        except CommandRefused as exc:
            return _refuse(process, f"Dockyard: {exc}")
        access = await asyncio.to_thread(self.smart.access, principal, command.owner, command.repo,
                                         command.service)
        if isinstance(access, AccessRefused):
            return _refuse(process, f"Dockyard: {access.message}")
        await self._run(process, command.service, access, principal)

    def _principal(self, key: PublicKey | None) -> Principal | str:
        """The key's user, looked up again for every session: a deleted key or a disabled user
        stops working at once, even on a connection authenticated before."""
        current = self.keys.get(key.id) if key is not None else None
        if current is None or key is None or current.fingerprint != key.fingerprint:
            return "Dockyard: the key this connection authenticated with has been deleted"
        user = self.auth.get_user(current.username)
        if user is None or user.disabled:
            return f"Dockyard: user {current.username} is disabled"
        self.keys.touch(current.id)
        return Principal(user.id, user.username, user.is_admin, via="ssh")

    async def _run(self, process: Any, service: str, repo: Repo, principal: Principal) -> None:
        protocol = process.env.get("GIT_PROTOCOL", "")
        protocol = protocol if isinstance(protocol, str) and _PROTOCOL_RE.match(protocol) else ""

        async def feed(proc: asyncio.subprocess.Process) -> None:
            await _copy_input(process, proc)

        proc, done = await self.smart.run_service(service, repo, principal, protocol, feed,
                                                  stateless=False)
        assert proc.stdout is not None
        finished = False
        try:
            gone = False
            while chunk := await proc.stdout.read(_CHUNK):
                if gone:
                    continue
                try:
                    process.stdout.write(chunk)
                    await process.stdout.drain()
                except (OSError, asyncssh.Error):
                    gone = True  # the client left: let git finish (or fail) on its own
            finished = True
            await asyncio.shield(done)  # push events, webhooks, CI: as over HTTP
        finally:
            if not finished:
                self.smart.keep_draining(proc)
        with contextlib.suppress(Exception):
            process.exit(proc.returncode or 0)


async def _copy_input(process: Any, proc: asyncio.subprocess.Process) -> None:
    """Client -> git's stdin until the client's EOF, git's exit or IDLE_TIMEOUT without input."""
    assert proc.stdin is not None
    exited = asyncio.ensure_future(proc.wait())
    try:
        while True:
            read = asyncio.ensure_future(process.stdin.read(_CHUNK))
            ready, _ = await asyncio.wait({read, exited}, timeout=IDLE_TIMEOUT,
                                          return_when=asyncio.FIRST_COMPLETED)
            if read not in ready:
                read.cancel()
                if not ready:
                    log.info("no input from the SSH client for %ss; git sees EOF", IDLE_TIMEOUT)
                return
            data = read.result()
            if not data:
                return
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (OSError, asyncio.IncompleteReadError):
        return  # the client or git went away; git decides on what it has
    except Exception as exc:  # asyncssh's connection errors: the same
        log.info("SSH input ended: %s", exc)
    finally:
        exited.cancel()
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _refuse(process: Any, message: str) -> None:
    """Tell the client why (git prints it before its own 'Could not read from remote
    repository') and end the session with status 1."""
    with contextlib.suppress(Exception):
        process.stderr.write((message.rstrip() + "\n").encode())
        process.exit(1)


def _no_forwarding() -> Exception:
    return asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                     "Dockyard: port forwarding is not allowed")


class _Connection(asyncssh.SSHServer):
    """One client connection: authenticates by public key only and remembers which stored key
    it was; everything else asyncssh.SSHServer may be asked (forwarding) is refused."""

    def __init__(self, server: GitSSHServer) -> None:
        self.server = server
        self.conn: Any = None
        self.key: PublicKey | None = None
        self.attempts = 0
        self.sessions = 0
        self._waiting: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, conn: Any) -> None:
        self.conn = conn
        if self.server.connections >= MAX_CONNECTIONS:
            log.warning("SSH: refusing %s: %s connections already", self.describe(),
                        MAX_CONNECTIONS)
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                            "Dockyard: too many SSH connections, try again later")
            return
        self.server.connections += 1
        self._counted = True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self.server.connections -= 1
            self._counted = False
        if self._waiting is not None:
            self._waiting.cancel()

    def begin_auth(self, username: str) -> bool:
        if username != SSH_USER:
            self.conn.send_auth_banner(
                f"Dockyard: connect as {SSH_USER}@ (ssh://{SSH_USER}@host:port/owner/repo.git), "
                f"not as {username}@: your key says who you are\n")
        return True

    def auth_completed(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiting = loop.call_later(SESSION_WAIT, self._no_session)

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    async def validate_public_key(self, username: str, key: Any) -> bool:
        """Whether `key` is a stored key (its signature is checked by asyncssh afterwards); the
        last key validated is the one the connection authenticated with."""
        self.attempts += 1
        if self.attempts > MAX_AUTH_TRIES:
            self.conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                                 "Dockyard: too many authentication attempts")
            return False
        found = None
        if username == SSH_USER:
            found = await asyncio.to_thread(self._lookup, bytes(key.public_data))
        self.key = found
        return found is not None

    def _lookup(self, blob: bytes) -> PublicKey | None:
        key = self.server.keys.by_fingerprint(fingerprint(blob))
        if key is None:
            return None
        user = self.server.auth.get_user(key.username)
        return key if user is not None and not user.disabled else None

    # port forwarding (TCP and Unix, both directions): refused
    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> bool:
        raise _no_forwarding()

    def unix_connection_requested(self, dest_path: str) -> bool:
        raise _no_forwarding()

    def unix_server_requested(self, listen_path: str) -> bool:
        return False

    # sessions ---------------------------------------------------------------------------
    def session_started(self) -> None:
        self.sessions += 1
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def session_ended(self) -> None:
        self.sessions -= 1

    def _no_session(self) -> None:
        if self.sessions == 0 and self.conn is not None:
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION,
                                 f"Dockyard: no session opened within {SESSION_WAIT:.0f} s")

    def describe(self) -> str:
        peer = self.conn.get_extra_info("peername") if self.conn is not None else None
        who = self.key.username if self.key is not None else "unauthenticated"
        return f"{who} from {peer[0] if peer else '?'}"
