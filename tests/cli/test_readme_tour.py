"""README's five-minute tour, run as written: its shell blocks, in order, under `bash -e`, against
a fresh `dockyard up` (its own start line is replaced by the test's server on a free port; the
port and /tmp paths are rewritten, nothing else)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.cli.conftest import environ
from tests.conftest import REPO_ROOT, DockyardServer, require_tool


def tour_blocks() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## A five-minute tour")
    end = readme.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", readme[start:end], flags=re.S)


def test_the_tour_commands_are_the_tutorials_identities() -> None:
    text = "".join(tour_blocks())
    assert "--admin-user admin --admin-password bootcamp" in text
    assert 'curl -u bootcamp:bootcamp "http://127.0.0.1:8080/api/v1/user/repos"' in text  # A.3, verbatim
    assert "/api/v2.0/projects/bootcamp/repositories" in text


def test_readme_tour_runs_as_written(fresh_server: DockyardServer, tmp_path: Path) -> None:
    for tool in ("git", "curl", "jq", "skopeo", "podman"):
        require_tool(tool)
    if not Path("/bin/busybox").exists():
        require_tool("busybox-static")
    server = fresh_server
    script = "\n".join(tour_blocks())
    lines = [line for line in script.splitlines() if " up --data-dir " not in line]
    script = "\n".join(lines).replace("127.0.0.1:8080", server.host_port).replace("/tmp/", f"{tmp_path}/")
    work = tmp_path / "work"
    work.mkdir()
    env = environ(HOME=str(tmp_path / "home"), REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    venv = REPO_ROOT / ".venv" / "bin"
    script = script.replace("$PWD/.venv/bin", str(venv if venv.is_dir() else Path(sys.executable).parent))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert '"name": "bootcamp/hello-kaniko"' in proc.stdout
    assert f"bootcamp/notes-app\tpublic\tmain\t{server.url}/bootcamp/notes-app.git" in proc.stdout
    assert "bootcamp/hello-kaniko:1\tsha256:" in proc.stdout
    assert (work / "notes-app" / "README.md").is_file()
    # the stand-in alpine ran the RUN step: the image's last layer holds the file it wrote
    layout = tmp_path / "layout"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--src-creds", "admin:bootcamp",
                    f"docker://{server.host_port}/bootcamp/hello-kaniko:1", f"oci:{layout}:1"],
                   check=True, capture_output=True, timeout=300)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    with tarfile.open(_blob(layout, manifest["layers"][-1]["digest"])) as layer:
        member = layer.extractfile("hello")
        assert member is not None and member.read() == b"Hello from Kaniko\n"


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":")
    return layout / "blobs" / algorithm / hex_digest
