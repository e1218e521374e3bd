"""The everyday commands (repos, orgs, webhooks, users, images, jobs) through the server's
APIs, run as real `dockyard` processes against `dockyard up`, checked with git and skopeo."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci.conftest import inline_job_xml, unique
from tests.cli.conftest import dockyard, environ, one_line_error
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool


def test_orgs_repos_and_webhooks(server: DockyardServer, tmp_path: Path) -> None:
    env = environ(server)
    org = unique("cliorg")
    assert dockyard("orgs", "create", org, "--description", "made by the CLI", env=env).returncode == 0
    listed = dockyard("orgs", "list", "--all", env=env)
    assert f"{org}\tpublic\tmade by the CLI" in listed.stdout.splitlines()
    created = dockyard("repos", "create", f"{org}/svc", "--init", "--private", env=env)
    assert created.returncode == 0, created.stderr
    clone_url = created.stdout.strip()
    assert clone_url == f"{server.url}/{org}/svc.git"
    assert f"{org}/svc\tprivate\tmain\t{clone_url}" in dockyard("repos", "list", org, env=env).stdout
    # the repository is real: git clones it (README.md from --init) with the same login
    authed = clone_url.replace("://", f"://{ADMIN_USER}:{ADMIN_PASSWORD}@")
    subprocess.run(["git", "clone", "-q", authed, str(tmp_path / "svc")], check=True, capture_output=True)
    assert (tmp_path / "svc" / "README.md").is_file()
    mine = dockyard("repos", "create", unique("mine"), env=env)
    assert mine.stdout.strip().startswith(f"{server.url}/{ADMIN_USER}/")

    added = dockyard("webhooks", "add", f"{org}/svc", "https://ci.example.com/hook", "--secret-stdin",
                     "--event", "push", "--branch-filter", "main", env=env, stdin="hook-secret\n")
    assert added.returncode == 0, added.stderr
    hook_id = added.stdout.split()[2]
    listing = dockyard("webhooks", "list", f"{org}/svc", env=env)
    assert f"{hook_id}\thttps://ci.example.com/hook\tpush\tactive" in listing.stdout
    assert "hook-secret" not in dockyard("webhooks", "list", f"{org}/svc", "--json", env=env).stdout
    assert dockyard("webhooks", "delete", f"{org}/svc", hook_id, env=env).returncode == 0
    assert dockyard("webhooks", "list", f"{org}/svc", env=env).stdout == ""

    refused = dockyard("repos", "delete", f"{org}/svc", env=env)
    assert "--yes" in one_line_error(refused, 2)
    assert dockyard("repos", "delete", f"{org}/svc", "--yes", env=env).returncode == 0
    assert f"{org}/svc" not in dockyard("repos", "list", org, env=env).stdout
    gone = dockyard("repos", "delete", f"{org}/svc", "--yes", env=env)
    assert "HTTP 404" in one_line_error(gone)


def test_users_and_tokens_through_the_api(server: DockyardServer) -> None:
    admin = environ(server)
    name = unique("cliuser")
    added = dockyard("user", "add", name, "--password-stdin", env=admin, stdin="s3cret-pw\n")
    assert added.returncode == 0, added.stderr
    assert f"{name}\tuser\t" in dockyard("user", "list", env=admin).stdout
    # the new user works on their own namespace, and may not list users
    own = environ(server, user=name, password="s3cret-pw")
    assert dockyard("repos", "create", "tool", env=own).stdout.strip() == f"{server.url}/{name}/tool.git"
    assert "HTTP 403" in one_line_error(dockyard("user", "list", env=own))
    # an administrator makes a token for them; it signs in without a password
    token = dockyard("user", "token", name, "--name", "cli", "--scope", "read:repository", env=admin)
    assert token.returncode == 0, token.stderr
    as_token = environ(server, user=None, password=None, DOCKYARD_TOKEN=token.stdout.strip())
    assert f"{name}/tool\t" in dockyard("repos", "list", name, env=as_token).stdout
    # a read-only token may not create
    assert "HTTP 403" in one_line_error(dockyard("repos", "create", "nope", env=as_token))


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Path:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("busybox-static is not installed (make install adds it)")
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    return root


def test_images_list_tags_artifacts_and_delete_tag(server: DockyardServer, tmp_path: Path,
                                                   busybox_rootfs: Path) -> None:
    skopeo = require_tool("skopeo")
    config = tmp_path / "docker"
    config.mkdir()
    login = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {server.host_port: {"auth": login}}}))
    repo = unique("cliimg")
    ref = f"{server.host_port}/{ADMIN_USER}/{repo}"
    env = environ(server, DOCKER_CONFIG=str(config))
    pushed = dockyard("image", "import", "--rootfs", str(busybox_rootfs),
                      "-d", f"{ref}:1", "-d", f"{ref}:latest", env=env)
    assert pushed.returncode == 0, pushed.stderr

    listing = dockyard("images", "list", ADMIN_USER, env=env)
    assert f"{ADMIN_USER}/{repo}\t1 artifacts\t" in listing.stdout
    tags = dockyard("images", "tags", f"{ADMIN_USER}/{repo}", env=env).stdout.splitlines()
    names = sorted(line.split("\t")[0] for line in tags)
    assert names == [f"{ADMIN_USER}/{repo}:{t}" for t in ("1", "latest")]
    digest = tags[0].split("\t")[1]
    artifacts = dockyard("images", "artifacts", f"{ADMIN_USER}/{repo}", env=env).stdout.splitlines()
    assert len(artifacts) == 1 and artifacts[0].startswith(f"{digest}\tIMAGE\t")
    assert artifacts[0].endswith("\t1,latest") or artifacts[0].endswith("\tlatest,1")

    assert dockyard("images", "delete-tag", f"{ADMIN_USER}/{repo}:1", env=env).returncode == 0
    listed = subprocess.run([skopeo, "list-tags", "--tls-verify=false", "--creds",
                             f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"docker://{ref}"],
                            capture_output=True, text=True, check=True)
    assert json.loads(listed.stdout)["Tags"] == ["latest"]
    again = dockyard("images", "delete-tag", f"{ADMIN_USER}/{repo}:1", env=env)
    assert "HTTP 404" in one_line_error(again)


def test_jobs_build_show_console(server: DockyardServer, tmp_path: Path) -> None:
    env = environ(server)
    name = unique("clijob")
    xml = tmp_path / "job.xml"
    xml.write_text(inline_job_xml(
        "pipeline { agent any\n stages { stage('s') { steps { sh 'echo hello from $JOB_NAME' } } } }"))
    assert dockyard("ci", "create", name, "--xml", str(xml), env=env).returncode == 0
    assert f"{name}\tNOT_BUILT\t{server.url}/job/{name}/" in dockyard("jobs", "list", env=env).stdout
    none_yet = dockyard("jobs", "show", name, env=env)
    assert f"dockyard jobs build {name}" in one_line_error(none_yet)
    built = dockyard("jobs", "build", name, "--wait", env=env)
    assert built.returncode == 0, built.stderr
    assert f"hello from {name}" in built.stdout and f"{name} #1" in built.stderr
    show = dockyard("jobs", "show", name, env=env)
    assert show.returncode == 0 and "result:\tSUCCESS" in show.stdout
    assert f"url:\t{server.url}/job/{name}/1/" in show.stdout
    assert f"hello from {name}" in dockyard("jobs", "console", name, "1", env=env).stdout
    assert f"{name}\tSUCCESS\t" in dockyard("jobs", "list", env=env).stdout
    missing = dockyard("jobs", "show", unique("nojob"), env=env)
    assert "HTTP 404" in one_line_error(missing)
