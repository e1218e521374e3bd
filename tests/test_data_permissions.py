"""Issue 10 #10: everything Dockyard writes under DATA is 0700/0600, checked against a real
`dockyard up` after a tutorial-like flow (git push, skopeo push, a CI build with an artifact);
and a data directory left open is named at start, its top directory fixed."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import Jenkins, api_token, job_xml
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool, start_server
from tests.git.conftest import git_env
from tests.images import make_layout

pytestmark = pytest.mark.slow

JENKINSFILE = """pipeline {
  agent any
  stages {
    stage('build') {
      steps {
        sh 'echo built > out.txt && mkdir -p dist && echo x > dist/app.bin'
        sh 'ln -s SECRET leak.txt'
        archiveArtifacts artifacts: 'out.txt,dist/*,leak.txt'
      }
    }
  }
}
"""


def _open_to_others(data: Path) -> list[str]:
    """Every path under `data` with a group/other permission bit, build workspaces excepted
    (`ci/<job>/<n>/workspace` is the build's content, inside 0700 directories)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(data):
        here = Path(dirpath)
        rel = here.relative_to(data)
        if len(rel.parts) >= 3 and rel.parts[0] == "ci" and rel.parts[-1].isdigit():
            dirnames[:] = [d for d in dirnames if d != "workspace"]
        for name in [*dirnames, *filenames]:
            st = (here / name).lstat()
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                found.append(f"{stat.S_IMODE(st.st_mode):04o} {(here / name).relative_to(data)}")
    return found


def _git(*args: str, cwd: Path, home: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=git_env(home), check=True, capture_output=True)


def test_tutorial_like_flow_leaves_nothing_open_to_others(fresh_server: DockyardServer,
                                                          tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    server, data = fresh_server, fresh_server.data_dir
    admin = (ADMIN_USER, ADMIN_PASSWORD)
    # git: a repository with a Jenkinsfile, pushed with the git CLI
    r = httpx.post(f"{server.url}/api/v1/user/repos", auth=admin,
                   json={"name": "perm-app", "auto_init": True, "private": False})
    assert r.status_code == 201, r.text
    clone_url = f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@{server.host_port}/admin/perm-app.git"
    work = tmp_path / "work"
    _git("clone", "-q", clone_url, str(work), cwd=tmp_path, home=tmp_path)
    # a symlink out of the workspace is never archived (the copy runs as the server)
    (work / "Jenkinsfile").write_text(JENKINSFILE.replace("SECRET", str(data / "secrets" / "token.key")))
    _git("add", "Jenkinsfile", cwd=work, home=tmp_path)
    _git("commit", "-qm", "pipeline", cwd=work, home=tmp_path)
    _git("push", "-q", "origin", "main", cwd=work, home=tmp_path)
    # registry: an image pushed with skopeo
    layout = make_layout(tmp_path / "layout", layers=[{"hello.txt": b"hello\n"}])
    subprocess.run([skopeo, "copy", "--dest-tls-verify=false", "--dest-creds",
                    f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"oci:{layout.path}:{layout.tag}",
                    f"docker://{server.host_port}/admin/perm-image:1"],
                   check=True, capture_output=True)
    # CI: a job from that repository, built once (log, trace, artifacts, workspace)
    jenkins = Jenkins(server, api_token(server))
    jenkins.create("perm-job", job_xml(f"{server.url}/admin/perm-app.git"))
    info, console = jenkins.run("perm-job")
    assert info["result"] == "SUCCESS", console
    assert {a["relativePath"] for a in info["artifacts"]} == {"out.txt", "dist/app.bin"}

    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("dockyard.db", "dockyard.db-wal"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert list((data / "registry").rglob("*")) and list((data / "git").rglob("objects/*"))
    assert _open_to_others(data) == []
    # the build's own files keep an agent's modes: COPY puts them into images
    workspace = next((data / "ci" / "perm-job").glob("*/workspace"))
    assert stat.S_IMODE((workspace / "out.txt").stat().st_mode) == 0o644


def test_start_names_open_paths_and_closes_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    server.stop()
    (data / "left-open.txt").write_text("restored from a backup with the wrong modes\n")
    (data / "left-open.txt").chmod(0o644)
    (data / "git").chmod(0o755)
    data.chmod(0o755)
    server = start_server(data)
    try:
        deadline = time.monotonic() + 5
        while "left-open.txt" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log()
    finally:
        server.stop()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700  # the top directory is fixed
    assert f"{data / 'left-open.txt'} is 0644" in log and "chmod go-rwx" in log
    assert f"{data / 'git'} is 0755" in log
    assert f"data directory {data} was open to group/others; now 0700" in log
