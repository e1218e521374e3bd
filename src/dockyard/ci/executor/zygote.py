"""A pre-warmed `dockyard executor`: one process that has already imported the builder forks a
child per `/kaniko/executor` call, so a build step does not pay ~0.5-1 s of Python imports.

Protocol (Unix socket in a 0700 directory, peer uid checked): the client sends one JSON header
line `{"argv": [...], "env": {...}, "cwd": "..."}` with its stdin/stdout/stderr attached as
SCM_RIGHTS; the zygote forks, the child runs `dockyard executor ARGV` on those descriptors in its
own process group, and the zygote answers with the exit status (4 bytes, big-endian). If the
client goes away (the step was stopped), the child's process group is killed.

The loop is single-threaded (selectors + non-blocking waitpid) so forking is safe.
`zygote_client.py` is the client; when the zygote is not there it execs the plain executor.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import sys

PRELOAD = (
    "dockyard.cli.executor_cmd",
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
    os.chmod(path, 0o600)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> client connection
    by_conn: dict[int, int] = {}  # connection fd -> pid
    print("ready", flush=True)
    parent = os.getppid()
    while True:
        if os.getppid() != parent:  # the server died (even by SIGKILL): do not linger
            for pid in children:
                _kill(pid)
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
            return
        for key, _ in sel.select(timeout=0.02):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                started = _start(conn)
                if started is None:
                    conn.close()
                    continue
                children[started] = conn
                by_conn[conn.fileno()] = started
                sel.register(conn, selectors.EVENT_READ)
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
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!i", code))
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(conn)
            by_conn.pop(conn.fileno(), None)
            conn.close()
            del children[pid]


def _start(conn: socket.socket) -> int | None:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return None
    fds = array.array("i")
    header = b""
    while not header.endswith(b"\n"):
        data, ancdata, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
        if not data:
            return None
        header += data
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    request = json.loads(header)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: become the executor process
        code = 1
        try:
            os.setpgid(0, 0)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            from dockyard.cli import main

            code = int(main(["executor", *request["argv"]]) or 0)
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
    return pid


def _kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


if __name__ == "__main__":
    serve(sys.argv[1])
