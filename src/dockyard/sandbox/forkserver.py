"""The sandbox server: one warm, single-threaded process that forks the supervisor of each CI
step, so a step pays neither an interpreter start nor the sandbox's imports (~60 ms), and
its sandbox's first process is a fork too (`run_in_sandbox(fork=True)`, ~30 ms more).

The server process (multi-threaded, so it must not fork Python code itself) holds one end of
a SOCK_SEQPACKET socket pair; this process has the other, inherited, and no path on disk, so
nothing else can ask it for anything. A request is one message: the JSON
`{"request": REQUEST.json path, "cwd": dir}` with two descriptors, a stream socket for the
step's status and the write end of the step's output pipe (and, made while it waited, a
user namespace for the step: the first step process then forks no helper to make one). The
forked child starts a session
of its own, sends its pid (4 bytes, big-endian) on the status socket, runs
`python -m dockyard.sandbox`'s `main` with its stdout and stderr on the pipe, and sends its
exit status (4 bytes) before it exits. The caller stops it with its process group, as any
step process (SIGTERM: the supervisor kills the sandbox and removes its cgroup); a status
socket closed without a status means the supervisor was killed.

This process reaps its children as they exit and exits when the server's end closes, however
the server went; running steps go on to their end.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

MAX_MESSAGE = 65536
STATUS = struct.Struct("!i")


def serve(control: socket.socket) -> None:
    """The loop: one fork per request until the server's end of `control` closes."""
    from dockyard.sandbox import init
    from dockyard.sandbox.__main__ import main
    from dockyard.sandbox.run import SpareUserns

    init.preload()
    wakeup = _child_exit_wakeup()
    print("ready", flush=True)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # the server stopped reading after "ready"
    os.close(null)
    spare = SpareUserns.make()  # the next step's user namespace, made while nothing waits
    while True:
        readable, _, _ = select.select([control.fileno(), wakeup], [], [])
        if wakeup in readable:
            _reap(wakeup)
        if control.fileno() not in readable:
            continue
        try:
            message, fds = _receive(control)
        except OSError:
            return
        if not message:
            return  # the server went
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        status_fd, out = fds
        pid = os.fork()
        if pid == 0:
            control.close()
            os.close(wakeup)
            _step(json.loads(message), status_fd, out, main, spare)
        os.close(status_fd)
        os.close(out)
        if spare is not None:
            spare.close()  # the step's now
        spare = SpareUserns.make()


def _child_exit_wakeup() -> int:
    """A pipe that becomes readable when a step's supervisor exits, to reap it then (not
    SIGCHLD ignored: that would make the wait for a spare user namespace's helper fail)."""
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)  # a handler, so the fd is written
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    return read


def _reap(wakeup: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(wakeup, 512):
            pass
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _receive(control: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    message, ancdata, _flags, _addr = control.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(2 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    return message, list(fds)


def _step(request: dict[str, str], status_fd: int, out: int, main: object, userns: object) -> None:
    """In the forked child: become the step's supervisor; never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.set_inheritable(status_fd, False)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.write(status_fd, STATUS.pack(os.getpid()))
        os.chdir(request["cwd"])
        code = main(request["request"], fork=True, userns=userns)  # type: ignore[operator]
    except SystemExit as e:  # SIGTERM: the sandbox is gone, its cgroup removed
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - the status is all the caller gets
        with contextlib.suppress(OSError):
            os.write(2, f"dockyard: the step's supervisor failed: {e!r}\n".encode())
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            os.write(status_fd, STATUS.pack(code))
        os._exit(code & 0xFF)


class SandboxServer:
    """The server's handle on the sandbox server: started on first use, restarted after it
    died, stopped at shutdown. `spawn` is thread-safe."""

    def __init__(self, pythonpath: str) -> None:
        self.pythonpath = pythonpath  # where `dockyard` is importable from (the server's own package)
        self.process: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self._lock = threading.Lock()
        self._closed = False

    def ensure(self) -> bool:
        """Whether it runs, starting it if needed (blocking: call from a thread)."""
        with self._lock:
            if self._closed:
                return False
            if self.process is not None and self.process.poll() is None and self.control is not None:
                return True
            self._stop()
            return self._start()

    def _start(self) -> bool:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        env["PYTHONPATH"] = self.pythonpath
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", "import sys;sys.path[:0]=sys.argv[2:];"
                 "from dockyard.sandbox.forkserver import main;main(int(sys.argv[1]))",
                 str(theirs.fileno()), self.pythonpath],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                env=env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a Ctrl-C of the server's terminal is the server's to handle
            )
        except OSError:
            ours.close()
            return False
        finally:
            theirs.close()
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        self.process.stdout.close()
        if ready.strip() != b"ready":
            ours.close()
            self._stop()
            return False
        self.control = ours
        return True

    def spawn(self, request: Path, cwd: Path) -> tuple[socket.socket, int]:
        """Starts the step of request file `request` in `cwd`: (the status socket, the read end
        of its output). OSError when the sandbox server is gone (the caller starts the step
        the cold way and calls `ensure` for the next)."""
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read, write = os.pipe()
        try:
            message = json.dumps({"request": str(request), "cwd": str(cwd)}).encode()
            fds = array.array("i", [status_theirs.fileno(), write])
            with self._lock:
                if self.control is None:
                    raise OSError("the sandbox server is not running")
                try:
                    self.control.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                except OSError:
                    self.control.close()
                    self.control = None
                    raise
        except OSError:
            status.close()
            os.close(read)
            raise
        finally:
            status_theirs.close()
            os.close(write)
        return status, read

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()

    def _stop(self) -> None:
        if self.control is not None:
            self.control.close()  # the server sees its end close and exits
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def main(control_fd: int) -> None:
    serve(socket.socket(fileno=control_fd))
    os._exit(0)
