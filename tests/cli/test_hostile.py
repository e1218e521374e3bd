"""What a user gets when things go wrong: no server, a wrong password, a name with `../`, a
closed pipe, Ctrl-C, offline commands pointed at no data directory. Always one line on stderr,
a non-zero exit, never a traceback, and never a data directory that was not there."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ci.conftest import inline_job_xml, unique
from tests.cli.conftest import dockyard, environ, one_line_error
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, free_port


def test_no_server_and_wrong_password(server: DockyardServer) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for args in (("repos", "list"), ("orgs", "list"), ("images", "list"), ("jobs", "list"),
                 ("webhooks", "list", "a/b"), ("user", "list")):
        line = one_line_error(dockyard(*args, "--url", down, env=environ()))
        assert f"cannot reach Dockyard at {down}" in line and "dockyard up" in line, line
        line = one_line_error(dockyard(*args, env=environ(server, password="wrong")))
        assert "HTTP 401" in line and "--password" in line, line


def test_credentials_in_the_url_are_used_and_never_printed(server: DockyardServer) -> None:
    """`--url http://user:pw@host` is read as curl and git read it: the login is used, and an
    error naming the server shows the address without it."""
    secret = "s3cret-in-url"
    down = f"http://{ADMIN_USER}:{secret}@127.0.0.1:{free_port()}"
    line = one_line_error(dockyard("repos", "list", "--url", down, env=environ(user=None, password=None)))
    assert "cannot reach Dockyard at http://127.0.0.1:" in line and secret not in line, line
    good = server.url.replace("://", f"://{ADMIN_USER}:{ADMIN_PASSWORD}@")
    listing = dockyard("orgs", "list", "--url", good, env=environ(user=None, password=None))
    assert listing.returncode == 0 and ADMIN_PASSWORD not in listing.stderr, listing.stderr
    wrong = server.url.replace("://", f"://{ADMIN_USER}:{secret}@")
    line = one_line_error(dockyard("orgs", "list", "--url", wrong, env=environ(user=None, password=None)))
    assert "HTTP 401" in line and secret not in line, line


def test_user_without_password_is_told_the_right_flag(server: DockyardServer) -> None:
    """In `credentials add-*`, --password is the secret stored: the server's is --dockyard-password."""
    proc = dockyard("credentials", "add-docker-registry", unique("c"), "--server", "h:1", "--username",
                    "u", "--password", "stored-secret", env=environ(server, password=None))
    line = one_line_error(proc)
    assert "pass --dockyard-password or --token" in line and "DOCKYARD_PASSWORD" in line
    listing = dockyard("credentials", "list", env=environ(server, password=None))
    assert "pass --password or --token" in one_line_error(listing)
    # `user add`'s --password is the new user's; `user list`'s is the server's
    add = dockyard("user", "add", unique("u"), "--password", "new-users", env=environ(server, password=None))
    assert "pass --dockyard-password or --token" in one_line_error(add)
    for args in (("user", "list"), ("user", "--password", "bootcamp", "list")):
        assert dockyard(*args, env=environ(server, password=None)).returncode == (0 if len(args) > 2 else 1)


@pytest.mark.parametrize("args", [
    ("repos", "create", "../evil"),
    ("repos", "create", "admin/.."),
    ("repos", "delete", "../../etc", "--yes"),
    ("repos", "list", ".."),
    ("orgs", "create", "../evil"),
    ("webhooks", "list", "admin/../../x"),
    ("webhooks", "delete", "admin/x", "../1"),
    ("images", "tags", "admin/../evil"),
    ("images", "delete-tag", "admin/x:../../y"),
    ("jobs", "show", "../evil"),
    ("jobs", "console", "x", "../1"),
    ("jobs", "build", "x", "-p", "novalue"),
    ("user", "token", "../admin", "--name", "t"),
    ("trace", "x", "../1"),
    ("trace", "../evil", "1"),
])
def test_names_with_dot_dot_are_refused_before_any_request(server: DockyardServer,
                                                            args: tuple[str, ...]) -> None:
    before = sorted(p.relative_to(server.data_dir) for p in server.data_dir.rglob("*evil*"))
    line = one_line_error(dockyard(*args, env=environ(server)), code=2)
    assert line.startswith(f"dockyard {args[0]}: "), line
    assert sorted(p.relative_to(server.data_dir) for p in server.data_dir.rglob("*evil*")) == before


def test_a_missing_file_is_one_line(server: DockyardServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-job.xml"
    line = one_line_error(dockyard("ci", "create", unique("x"), "--xml", str(missing), env=environ(server)))
    assert str(missing) in line and "No such file" in line


def _long_job(server: DockyardServer, tmp_path: Path, script: str) -> tuple[str, int]:
    """A job whose build #1 runs `script`, started and left running or done."""
    env = environ(server)
    name = unique("clipipe")
    xml = tmp_path / "job.xml"
    pipeline = f"pipeline {{ agent any\n stages {{ stage('s') {{ steps {{ sh '{script}' }} }} }} }}"
    xml.write_text(inline_job_xml(pipeline))
    assert dockyard("ci", "create", name, "--xml", str(xml), env=env).returncode == 0
    started = dockyard("jobs", "build", name, env=env)
    assert started.returncode == 0, started.stderr
    return name, 1


def test_closed_pipe_ends_quietly(server: DockyardServer, tmp_path: Path) -> None:
    """`dockyard jobs console JOB | head -1` on a log of megabytes: head's one line, and dockyard
    ends with the shell's SIGPIPE status, nothing on stderr."""
    name, number = _long_job(server, tmp_path, "seq 1 300000")
    env = environ(server)
    deadline = time.monotonic() + 120
    while "result:\tSUCCESS" not in dockyard("jobs", "show", name, env=env).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for args in (("jobs", "console", name), ("jobs", "console", name, str(number), "--follow")):
        proc = subprocess.Popen([sys.executable, "-m", "dockyard", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does after its line
        code = proc.wait(timeout=60)
        err = proc.stderr.read().decode()
        assert first.startswith(b"Started by user"), first
        assert code == 141 and err == "", (code, err)
    # and through a real shell pipeline
    pipeline = f"set -o pipefail; {sys.executable} -m dockyard jobs console {name} | head -1; echo status=$?"
    shell = subprocess.run(["bash", "-c", pipeline], env=env, capture_output=True, text=True, timeout=60)
    assert shell.stdout.splitlines() == ["Started by user admin", "status=141"] and shell.stderr == ""


def test_ctrl_c_while_following_a_build(server: DockyardServer, tmp_path: Path) -> None:
    name, number = _long_job(server, tmp_path, "echo started; sleep 60")
    env = environ(server)
    # Ctrl-C at a terminal: SIGINT at its default in the child, even when this suite runs in
    # the background (a shell's `cmd &` ignores SIGINT, and the ignore is inherited)
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "jobs", "console", name, "-f"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None and proc.stderr is not None
    try:
        deadline = time.monotonic() + 60
        while "started" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        err = proc.stderr.read()
        assert code == 130 and "Traceback" not in err and err.strip() == "dockyard jobs: interrupted", err
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([sys.executable, "-m", "dockyard", "ci", "stop", name, str(number)], env=env,
                       capture_output=True, timeout=60)


def test_offline_commands_never_create_a_data_dir(server: DockyardServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environ(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"))
    missing = tmp_path / "no-such-dir"
    line = one_line_error(dockyard("user", "list", "--data-dir", str(missing), env=env), code=2)
    assert str(missing) in line and "--data-dir" in line and "never creates" in line
    line = one_line_error(dockyard("registry", "gc", "--dry-run", env=env), code=2)
    assert str(home / ".local" / "share" / "dockyard") in line and "--data-dir" in line
    line = one_line_error(dockyard("registry", "gc", env={**env, "DOCKYARD_DATA_DIR": str(missing)}), code=2)
    assert "DOCKYARD_DATA_DIR" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(dockyard("user", "add", "x", "--password", "p", "--data-dir", str(empty), env=env),
                          code=2)
    assert "not a Dockyard data directory" in line
    assert not missing.exists() and not home.exists() and list(empty.iterdir()) == []
    # passwd is offline only, and says how
    passwd = dockyard("user", "passwd", ADMIN_USER, "--password", "x", env=environ(server))
    line = one_line_error(passwd, code=2)
    assert "--data-dir" in line
    # on a real data directory, offline maintenance works (the server running or not)
    listed = dockyard("user", "list", "--data-dir", str(server.data_dir),
                      "--database-url", server.database_url, env=env)
    assert listed.returncode == 0 and listed.stdout.startswith(f"{ADMIN_USER}\tadmin\t"), listed.stderr
    # and without --data-dir the same command asks the server
    assert dockyard("user", "list", env=environ(server)).stdout.startswith(f"{ADMIN_USER}\tadmin\t")
