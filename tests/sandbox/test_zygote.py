"""The pre-warmed executor (ci/executor/zygote.py) and its client: the request format, and a
step that connects and sends nothing holds up no other step's `/kaniko/executor`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.ci.executor import zygote, zygote_client
from dockyard.ci.executor.warm import WarmExecutor, package_root


def test_requests_travel_whole() -> None:
    argv = ["--destination=r/x:1", "a=b", "", "\u00e9", "new\nline"]
    env = {"PATH": "/busybox", "EQ": "a=b=c", "EMPTY": "", "RAW": b"\xff".decode(errors="surrogateescape")}
    encoded = zygote_client.encode_request(argv, env, "/work space")
    assert int.from_bytes(encoded[:4], "big") == len(encoded) - 4
    assert zygote.decode_request(encoded[4:]) == (argv, env, "/work space")


@pytest.mark.parametrize("payload", [b"", b"/cwd", b"/cwd\0x", b"/cwd\x003\0only-one", b"/cwd\x000"])
def test_malformed_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        zygote.decode_request(payload)


@pytest.fixture(scope="module")
def warm_socket() -> Iterator[Path]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    warm = WarmExecutor()
    socket = warm.ensure()
    if socket is None:
        pytest.skip("the pre-warmed executor cannot start here")
    yield socket
    warm.close()


def _in_userns(*argv: str) -> list[str]:
    """A process in a user namespace of its own: the zygote serves only sandboxed peers."""
    return ["unshare", "--user", "--map-root-user", *argv]


def test_a_silent_client_holds_up_no_other(warm_socket: Path) -> None:
    stalled = subprocess.Popen(_in_userns(
        sys.executable, "-c",
        f"import socket,time;s=socket.socket(socket.AF_UNIX);s.connect({str(warm_socket)!r});"
        "s.send(b'\\0\\0');time.sleep(60)",
    ))
    try:
        client = str(Path(zygote_client.__file__))
        done = subprocess.run(
            _in_userns(sys.executable, "-S", "-E", client, str(warm_socket), str(package_root()), "--help"),
            capture_output=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert b"--destination" in done.stdout + done.stderr  # the builder's own usage
    finally:
        stalled.kill()
        stalled.wait()


def _child_of(parent: int) -> int:
    for _ in range(200):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"process {parent} started no child")


@pytest.mark.skipif(os.geteuid() != 0, reason="entering another PID namespace needs root")
def test_the_executor_is_forked_into_the_steps_pid_namespace() -> None:
    """The zygote forks the executor straight into the step's PID namespace (no second fork
    of the warm interpreter) and itself stays in its own."""
    step = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sleep", "60"])
    try:
        peer = _child_of(step.pid)  # PID 1 of the step's namespace
        read, write = os.pipe()
        pid = zygote._fork_into_pid_namespace(peer)
        if pid == 0:
            os.write(write, f"{os.getpid()} {os.stat('/proc/self/ns/pid').st_ino}".encode())
            os._exit(0)
        os.close(write)
        seen = os.read(read, 100).split()
        os.close(read)
        assert os.waitpid(pid, 0)[1] == 0
        assert int(seen[1]) == os.stat(f"/proc/{peer}/ns/pid").st_ino
        assert int(seen[0]) == 2  # the namespace's second process, after its PID 1
        assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    finally:
        step.kill()
        step.wait()


def _zygote_children(socket_path: Path) -> list[int]:
    zygote_pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                      and str(socket_path).encode() in _cmdline(p))
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == zygote_pid and stat[0] != "Z":
                children.append(int(entry.name))
    return children


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _announce(socket_path: Path, pid: int) -> None:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(socket_path))
        s.sendall(pid.to_bytes(4, "big"))


def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(what)


@pytest.mark.skipif(os.geteuid() != 0, reason="a supervisor's announcement is root's")
def test_an_announced_step_gets_a_prepared_executor(warm_socket: Path) -> None:
    """A sandbox supervisor announces a Kaniko step's PID 1 (RunRequest.ready_socket): the zygote
    forks a child into that step's namespaces before its /kaniko/executor connects, the call is
    served by that child, and a prepared child its step never used goes with the step."""
    def step() -> tuple[subprocess.Popen[bytes], int, int]:
        process = subprocess.Popen(["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
                                    "sleep", "60"])
        pid1 = _child_of(process.pid)
        return process, pid1, os.stat(f"/proc/{pid1}/ns/pid").st_ino

    def prepared_for(ns: int) -> list[int]:
        found = []
        for child in _zygote_children(warm_socket):
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{child}/ns/pid").st_ino == ns:
                    found.append(child)
        return found

    used, pid1, ns = step()
    unused, unused_pid1, unused_ns = step()
    try:
        _announce(warm_socket, pid1)
        _announce(warm_socket, unused_pid1)
        _until(lambda: len(prepared_for(ns)) == 1 and len(prepared_for(unused_ns)) == 1,
               "no prepared child in each announced step's PID namespace")
        (child,) = prepared_for(ns)
        client = str(Path(zygote_client.__file__))
        done = subprocess.run(
            ["nsenter", "-t", str(pid1), "--user", "--pid", "--", sys.executable, "-S", "-E", client,
             str(warm_socket), str(package_root()), "--help"],
            capture_output=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert b"--destination" in done.stdout + done.stderr  # the builder's own usage
        assert not os.path.exists(f"/proc/{child}")  # it served the call and was reaped
        unused.kill()
        unused.wait()
        _until(lambda: not prepared_for(unused_ns), "the unused prepared child outlived its step")
    finally:
        for process in (used, unused):
            process.kill()
            process.wait()
