"""A pre-warmed `dockyard executor`: one process that has already imported the builder forks a
child per `/kaniko/executor` call, so a build step does not pay ~0.5-1 s of Python imports.

Protocol (Unix socket in a 0700 directory, bound into the Kaniko stand-in's sandbox; peer
checked): the client sends one request, `zygote_client.encode_request(argv, env, cwd)` (a 4-byte length,
then NUL-separated fields: no JSON, whose import costs the client's start ~5 ms), with its
stdin/stdout/stderr attached as SCM_RIGHTS; requests are read as they come (a client that
sends nothing holds up no other); the zygote forks, the child enters the
client's sandbox (its cgroups, then its net/UTS/IPC/PID/mount namespaces and last its user
namespace, as root there: an unprivileged uid on the host) and runs the builder's `kaniko_main(ARGV)`
there on those descriptors in its own process group, so the build sees exactly what the step
sees; the zygote answers with the exit status (4 bytes, big-endian). If the client goes away
(the step was stopped), the child's process group is killed.

The loop is single-threaded (selectors + non-blocking waitpid) so forking is safe. A child's
exit wakes it at once (SIGCHLD through signal.set_wakeup_fd), so the step's status goes back
as soon as the build ends; the timeout only rechecks that the server is still alive.
`zygote_client.py` is the client; when the zygote is not there it execs the plain executor.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import struct
import sys

PARENT_CHECK_SECONDS = 0.5  # how soon a zygote whose server died (even by SIGKILL) goes
MAX_REQUEST = 4 << 20  # argv + environment: twice Linux's usual ARG_MAX
NAMESPACES = ("net", "uts", "ipc", "mnt", "user")  # and PID: forked into it (_fork_into_pid_namespace)
CLONE_NEWPID = 0x20000000
PRELOAD = (
    "dockyard.builder.kaniko",
    "dockyard.builder.report",
    "dockyard.builder.engine",
    "dockyard.builder.outputs",
    "dockyard.oci.remote",
)


def preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


def serve(path: str) -> None:
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o666)  # reached only through the 0700 directory or a sandbox's bind of it
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    wakeup = _child_exit_wakeup()
    sel.register(wakeup, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> client connection
    by_conn: dict[int, int] = {}  # connection fd -> pid
    pending: dict[int, _Pending] = {}  # connection fd -> the request read so far
    print("ready", flush=True)
    parent = os.getppid()
    while True:
        if os.getppid() != parent:  # the server died (even by SIGKILL): do not linger
            for pid in children:
                _kill(pid)
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
            return
        for key, _ in sel.select(timeout=PARENT_CHECK_SECONDS):
            if key.fileobj is wakeup:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wakeup, 512):
                        pass
            elif key.fileobj is listener:
                conn, _ = listener.accept()
                peer = _sandboxed_peer(conn)
                if peer is None:
                    conn.close()
                    continue
                conn.setblocking(False)
                pending[conn.fileno()] = _Pending(conn, peer)
                sel.register(conn, selectors.EVENT_READ)
            elif key.fd in pending:
                request = pending[key.fd]
                if not request.read():
                    continue
                del pending[key.fd]
                sel.unregister(request.conn)
                started = _start(request) if request.complete() else None
                if started is None:
                    request.close()
                    continue
                request.conn.setblocking(True)
                children[started] = request.conn
                by_conn[request.conn.fileno()] = started
                sel.register(request.conn, selectors.EVENT_READ)
            else:
                conn = key.fileobj  # type: ignore[assignment]
                if not conn.recv(1, socket.MSG_PEEK):  # client gone: stop its build
                    gone = by_conn.get(conn.fileno())
                    if gone is not None:
                        _kill(gone)
                    sel.unregister(conn)
        for pid, conn in list(children.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 1 << 8
            if done == 0:
                continue
            code = _exit_code(status)
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!i", code))
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(conn)
            by_conn.pop(conn.fileno(), None)
            conn.close()
            del children[pid]


def decode_request(payload: bytes) -> tuple[list[str], dict[str, str], str]:
    """(argv, env, cwd) of `zygote_client.encode_request`'s payload; ValueError when it is not one."""
    fields = [os.fsdecode(f) for f in payload.split(b"\0")]
    count = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    if count < 1 or len(fields) < 2 + count:
        raise ValueError("malformed request")
    argv, entries = fields[2:2 + count], fields[2 + count:]
    env = dict(entry.split("=", 1) for entry in entries if "=" in entry)
    return argv, env, fields[0]


class _Pending:
    """A connection whose request is still arriving: its bytes and descriptors so far."""

    def __init__(self, conn: socket.socket, peer: int) -> None:
        self.conn, self.peer = conn, peer
        self.data = b""
        self.fds = array.array("i")
        self.broken = False

    def read(self) -> bool:
        """Reads what is there; True once the request is whole or cannot become one."""
        try:
            data, ancdata, _flags, _addr = self.conn.recvmsg(
                65536, socket.CMSG_SPACE(3 * self.fds.itemsize), socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return False
        except OSError:
            data, ancdata = b"", []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                self.fds.frombytes(payload[: len(payload) - (len(payload) % self.fds.itemsize)])
        self.data += data
        self.broken = not data or len(self.fds) > 3 or self.length() > MAX_REQUEST
        return self.broken or self.complete()

    def length(self) -> int:
        return int.from_bytes(self.data[:4], "big") if len(self.data) >= 4 else 0

    def complete(self) -> bool:
        return not self.broken and len(self.data) >= 4 and len(self.data) - 4 >= self.length() \
            and len(self.fds) == 3

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.conn.close()


def _sandboxed_peer(conn: socket.socket) -> int | None:
    """The peer's pid when it is a sandboxed step (another user namespace than ours)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    peer, _uid, _gid = struct.unpack("3i", creds)
    try:
        if os.stat(f"/proc/{peer}/ns/user").st_ino == os.stat("/proc/self/ns/user").st_ino:
            return None
    except OSError:
        return None
    return peer


def _start(request: _Pending) -> int | None:
    try:
        argv, env, cwd = decode_request(request.data[4:4 + request.length()])
    except ValueError:
        return None
    fds = list(request.fds)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = _fork_into_pid_namespace(request.peer)
    if pid == 0:  # child: become the executor process
        code = 1
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nothing of the zygote or of other builds' steps
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            enter_sandbox(request.peer)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            from dockyard.builder import kaniko_main

            code = int(kaniko_main(argv) or 0)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 - report anything, the parent only sees a status
            print(f"error: {e}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in fds:
        os.close(fd)
    request.fds = array.array("i")
    return pid


def _fork_into_pid_namespace(peer: int) -> int:
    """os.fork() with the child in step `peer`'s PID namespace (setns of a PID namespace changes
    only where children go; the zygote itself stays in its own): the executor is forked
    straight into it, no second fork of the warm interpreter. Where it cannot be entered
    the child is forked here and `enter_sandbox` refuses it."""
    try:
        target = os.open(f"/proc/{peer}/ns/pid", os.O_RDONLY)
    except OSError:
        return os.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY)
    pid, entered = -1, False
    try:
        entered = _libc().setns(target, CLONE_NEWPID) == 0
        pid = os.fork()
    finally:
        os.close(target)
        if pid != 0 and entered and _libc().setns(own, CLONE_NEWPID) != 0:  # the zygote's again
            raise OSError(ctypes.get_errno(), "cannot return to the zygote's PID namespace")
        os.close(own)
    return pid


def enter_sandbox(pid: int) -> None:
    """Join process `pid`'s cgroups and namespaces (the user namespace last: up to then this
    process has the rights to join the others), as root of its user namespace. This process
    was forked into its PID namespace (`_fork_into_pid_namespace`): refused otherwise."""
    libc = _libc()
    ns = {name: os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY) for name in NAMESPACES}
    own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in NAMESPACES}
    if os.fstat(ns["user"]).st_ino == own["user"]:  # the peer went and its pid was reused
        raise OSError(f"process {pid} is no longer a sandboxed step")
    if os.stat(f"/proc/{pid}/ns/pid").st_ino != os.stat("/proc/self/ns/pid").st_ino:
        raise OSError(f"cannot enter the PID namespace of step process {pid}")
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "dockyard-" not in path:
                continue
            base = "/sys/fs/cgroup" + (f"/{controllers}" if controllers else "")
            with open(f"{base}{path}/cgroup.procs", "w") as procs:
                procs.write("0")  # this process (its pid here is the step namespace's)
    for name in NAMESPACES:
        if os.fstat(ns[name]).st_ino == own[name]:
            os.close(ns[name])  # shared with us (the host's network)
            continue
        if libc.setns(ns[name], 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot enter the step's {name} namespace: {os.strerror(err)}")
        os.close(ns[name])
    os.setresgid(0, 0, 0)
    with contextlib.suppress(PermissionError):
        os.setgroups([])
    os.setresuid(0, 0, 0)


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _child_exit_wakeup() -> int:
    """A non-blocking pipe that becomes readable when a child exits (the signal module writes
    the signal number into it), so the loop needs no polling interval on the exit path."""
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)  # a handler, so the fd is written
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    return read


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


if __name__ == "__main__":
    serve(sys.argv[1])
