"""The step wrapper's shell programs (kubernetes_exec) run by real shells on this machine - dash
and busybox, as in the agent and Kaniko containers - exactly as exec runs them in a pod: START with
the payload on stdin, FOLLOW from byte offsets, KILL by cookie. No cluster is needed for this part."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dockyard.ci.executor.kubernetes_exec import StepFiles, parse_status, step_files

APPLETS = ("sh", "cat", "head", "tail", "wc", "tr", "sleep", "kill", "mv", "rm", "mkdir", "base64", "echo")


@pytest.fixture(params=["dash", "busybox"])
def path_env(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """PATH for the programs: the system's dash + coreutils, or busybox applets only."""
    if request.param == "dash":
        return "/usr/bin:/bin"
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    bin_dir = tmp_path / "busybox-bin"
    bin_dir.mkdir()
    for applet in APPLETS:
        (bin_dir / applet).symlink_to(busybox)
    return str(bin_dir)


def run(argv: list[str], path: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, env={"PATH": path}, timeout=60)


def start(sf: StepFiles, path: str) -> None:
    r = run(sf.start_argv(), path, sf.payload)
    assert r.returncode == 0, r.stderr


def follow_all(sf: StepFiles, path: str, offset: int = 0) -> tuple[bytes, str, int | None]:
    out = b""
    while True:
        r = run(sf.follow_argv(offset + len(out), rounds=50), path)
        out += r.stdout
        word, value = parse_status(r.stderr.decode())
        if word != "more":
            return out, word, value


def test_output_and_exit_code_come_from_files(tmp_path: Path, path_env: str) -> None:
    ws = tmp_path / "ws"
    secret = str(tmp_path / "build" / "secrets" / "token-1")
    script = ('echo one\necho "$GREETING from $POD_CONTAINER in $(pwd)"\n'
              'cat "$TOKEN_FILE"; echo\necho two >&2\nexit 3')
    env = {"GREETING": "it's \"quoted\" $HOME", "TOKEN_FILE": secret, "bad-name": "skipped"}
    sf = step_files("step-1", script, env, str(ws), "kaniko", files={secret: b"s3cr3t\x00bin"},
                    steps_dir=str(tmp_path / "steps"))
    start(sf, path_env)
    out, word, code = follow_all(sf, path_env)
    assert (word, code) == ("exit", 3)
    text = out.decode(errors="replace")
    assert "+ echo one\none\n" in text  # sh -xe, as Jenkins' sh
    assert f"it's \"quoted\" $HOME from kaniko in {ws}\n" in text
    assert "s3cr3t" in text and "two\n" in text
    assert oct(os.stat(secret).st_mode & 0o777) == "0o600"
    assert not (Path(sf.directory) / "run").exists()  # the exported secrets do not stay on disk
    # reading again from any offset gives the rest: a dropped connection loses nothing
    rest, word, code = follow_all(sf, path_env, offset=5)
    assert rest == out[5:] and (word, code) == ("exit", 3)


def test_set_e_fails_and_success_is_zero(tmp_path: Path, path_env: str) -> None:
    steps = str(tmp_path / "steps")
    bad = step_files("s1", "false\necho not reached", {}, str(tmp_path), "jnlp", steps_dir=steps)
    good = step_files("s2", "true", {}, str(tmp_path), "jnlp", steps_dir=steps)
    start(bad, path_env)
    start(good, path_env)
    out, word, code = follow_all(bad, path_env)
    assert (word, code) == ("exit", 1) and b"not reached\n" not in out
    assert follow_all(good, path_env)[1:] == ("exit", 0)


def test_follow_ends_a_round_with_more_while_the_step_runs(tmp_path: Path, path_env: str) -> None:
    sf = step_files("s", "echo started; sleep 30", {}, str(tmp_path), "jnlp", steps_dir=str(tmp_path / "st"))
    start(sf, path_env)
    try:
        deadline = time.monotonic() + 10
        out = b""
        while b"started" not in out and time.monotonic() < deadline:
            r = run(sf.follow_argv(0, rounds=1), path_env)
            out = r.stdout
        word, offset = parse_status(r.stderr.decode())
        assert word == "more" and offset == len(out) and b"started\n" in out
    finally:
        run(sf.kill_argv("KILL"), path_env)


def test_kill_signals_the_steps_processes_and_the_exit_code_says_so(tmp_path: Path, path_env: str) -> None:
    script = "sleep 300 &\nsleep 301\n"  # a background child too: the cookie finds it
    sf = step_files("k", script, {}, str(tmp_path), "jnlp", steps_dir=str(tmp_path / "st"))
    start(sf, path_env)
    deadline = time.monotonic() + 10
    while not (Path(sf.directory) / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert run(sf.kill_argv("TERM"), path_env).returncode == 0
    out, word, code = follow_all(sf, path_env)
    assert word == "exit" and code == 143
    alive = subprocess.run(["pgrep", "-f", "sleep 30[01]"], capture_output=True, text=True).stdout.split()
    mine = [p for p in alive if _has_cookie(p, sf.cookie)]
    assert not mine


def test_a_vanished_step_is_lost_not_passed(tmp_path: Path, path_env: str) -> None:
    sf = step_files("l", "sleep 300", {}, str(tmp_path), "jnlp", steps_dir=str(tmp_path / "st"))
    start(sf, path_env)
    d = Path(sf.directory)
    deadline = time.monotonic() + 10
    while not (d / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the container's processes die at once (OOM kill): the waiter cannot write the exit file
    os.kill(int((d / "wpid").read_text()), 9)
    os.kill(int((d / "pid").read_text()), 9)
    out, word, code = follow_all(sf, path_env)
    assert (word, code) == ("lost", None)


def test_status_lines() -> None:
    assert parse_status("exit 0\n") == ("exit", 0)
    assert parse_status("noise\nmore 12\n") == ("more", 12)
    assert parse_status("lost\n") == ("lost", None)
    assert parse_status("") == ("", None)  # the connection dropped: read again, never a pass
    assert parse_status("exit \n") == ("", None)


def _has_cookie(pid: str, cookie: str) -> bool:
    try:
        return f"DOCKYARD_STEP={cookie}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
