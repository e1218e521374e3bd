"""The pre-warmed executor (ci/executor/zygote.py) and its client: the request format, and a
step that connects and sends nothing holds up no other step's `/kaniko/executor`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
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
