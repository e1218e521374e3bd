"""The Go registry CLIs users already run (crane, oras, regctl) against `dockyard up`.

Each client is built from the Go module proxy into the test cache the first time (pinned
versions, keyed by version, like the conformance suite) and talks plain HTTP to the server.
Every client keeps its login in its own config under the test's temp dir, so the flows here
log in exactly as a user would: crane's docker config, oras's registry config, regctl's
`~/.regctl`.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.images import Layout, make_layout
from tests.registry.conftest import module_server
from tests.s3server import go_binary

CRANE = ("github.com/google/go-containerregistry/cmd/crane", "v0.22.1", "crane")
ORAS = ("oras.land/oras/cmd/oras", "v1.3.6", "oras")
REGCTL = ("github.com/regclient/regclient/cmd/regctl", "v0.11.7", "regctl")
ARTIFACT_TYPE = "application/vnd.dockyard.test.notes.v1"


server = module_server("goclients")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Cli:
    """One Go client binary run with its config (HOME, DOCKER_CONFIG) in a private directory."""

    def __init__(self, spec: tuple[str, str, str], home: Path) -> None:
        self.binary = go_binary(*spec)
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"HOME": str(self.home), "DOCKER_CONFIG": str(self.home / ".docker"),
               "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
        proc = subprocess.run([str(self.binary), *args], env=env, cwd=self.home, input=stdin,
                              capture_output=True, text=True, timeout=300)
        assert (proc.returncode == 0) == ok, (
            f"{self.binary.name} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc


def crane(tmp_path: Path, server: DockyardServer, user: str = ADMIN_USER,
          password: str = ADMIN_PASSWORD) -> Cli:
    cli = Cli(CRANE, tmp_path / f"crane-{user.replace('$', '_')}")
    cli.run("auth", "login", server.host_port, "-u", user, "--password-stdin", stdin=password)
    return cli


def manifest_bytes(layout: Layout) -> bytes:
    return (layout.path / "blobs" / "sha256" / layout.manifest_digest.split(":")[1]).read_bytes()


def denied(proc: subprocess.CompletedProcess[str]) -> bool:
    text = proc.stderr.upper()
    return any(word in text for word in ("DENIED", "UNAUTHORIZED", "403", "401"))


def test_crane_push_pull_list_copy_digest_delete(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    repo = f"{server.host_port}/{unique('crane')}/app"
    cli = crane(tmp_path, server)
    assert server.host_port in (cli.home / ".docker" / "config.json").read_text()
    layout = make_layout(tmp_path / "img", layers=[{"hello": b"hello from crane\n"}])

    pushed = cli.run("push", "--insecure", str(layout.path), f"{repo}:v1").stdout.strip()
    assert pushed == f"{repo}@{layout.manifest_digest}"
    assert cli.run("digest", "--insecure", f"{repo}:v1").stdout.strip() == layout.manifest_digest
    manifest = json.loads(cli.run("manifest", "--insecure", f"{repo}:v1").stdout)
    assert manifest == json.loads(manifest_bytes(layout))

    cli.run("copy", "--insecure", f"{repo}:v1", f"{repo}-copy:stable")
    cli.run("tag", "--insecure", f"{repo}:v1", "v2")
    assert cli.run("ls", "--insecure", repo).stdout.split() == ["v1", "v2"]
    assert cli.run("ls", "--insecure", f"{repo}-copy").stdout.split() == ["stable"]
    assert cli.run("digest", "--insecure", f"{repo}-copy:stable").stdout.strip() == layout.manifest_digest

    out = tmp_path / "pulled"
    cli.run("pull", "--insecure", "--format", "oci", f"{repo}:v2", str(out))
    index = json.loads((out / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [layout.manifest_digest]
    exported = cli.run("export", "--insecure", f"{repo}:v1", "-").stdout
    assert "hello" in exported

    cli.run("delete", "--insecure", f"{repo}@{layout.manifest_digest}")
    gone = cli.run("manifest", "--insecure", f"{repo}:v1", ok=False)
    assert "MANIFEST_UNKNOWN" in gone.stderr or "404" in gone.stderr, gone.stderr
    # the copy in the other repository is its own
    assert cli.run("digest", "--insecure", f"{repo}-copy:stable").stdout.strip() == layout.manifest_digest


def test_crane_robot_pushes_to_its_project_and_a_user_without_rights_is_denied(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    granted, other = unique("crobot"), unique("cother")
    for project in (granted, other):
        assert admin.post("/api/v2.0/projects", json={"project_name": project}).status_code == 201
    body = {"name": f"ci-{granted}", "level": "system", "duration": -1, "permissions": [
        {"kind": "project", "namespace": granted,
         "access": [{"resource": "repository", "action": a} for a in ("pull", "push")]}]}
    created = admin.post("/api/v2.0/robots", json=body)
    assert created.status_code == 201, created.text
    robot = created.json()
    layout = make_layout(tmp_path / "img", layers=[{"robot": b"pushed by a robot with crane\n"}])

    cli = crane(tmp_path, server, robot["name"], robot["secret"])
    cli.run("push", "--insecure", str(layout.path), f"{server.host_port}/{granted}/app:v1")
    assert cli.run("ls", "--insecure", f"{server.host_port}/{granted}/app").stdout.split() == ["v1"]
    refused = cli.run("push", "--insecure", str(layout.path), f"{server.host_port}/{other}/app:v1", ok=False)
    assert denied(refused), refused.stderr
    assert admin.get(f"/v2/{other}/app/tags/list").status_code == 404

    user = unique("norights")
    server.add_user(user, "norightspw")
    outsider = crane(tmp_path, server, user, "norightspw")
    refused = outsider.run("push", "--insecure", str(layout.path), f"{server.host_port}/{granted}/app:v2",
                           ok=False)
    assert denied(refused), refused.stderr
    refused = outsider.run("ls", "--insecure", f"{server.host_port}/{granted}/app", ok=False)
    assert denied(refused), refused.stderr
    assert admin.get(f"/v2/{granted}/app/tags/list").json()["tags"] == ["v1"]
    assert robot["secret"] not in server.log()


def test_oras_push_pull_artifact_with_custom_type(
        server: DockyardServer, admin: httpx.Client, tmp_path: Path) -> None:
    cli = Cli(ORAS, tmp_path / "oras")
    config = str(cli.home / "registry.json")
    repo = f"{server.host_port}/{unique('oras')}/notes"
    wrong = cli.run("login", "--plain-http", "--registry-config", config, "-u", ADMIN_USER,
                    "-p", "wrong" + ADMIN_PASSWORD, server.host_port, ok=False)
    assert denied(wrong), wrong.stderr
    cli.run("login", "--plain-http", "--registry-config", config, "-u", ADMIN_USER,
            "--password-stdin", server.host_port, stdin=ADMIN_PASSWORD)
    (cli.home / "notes.txt").write_text("release notes\n")
    (cli.home / "sbom.json").write_text('{"packages": []}\n')
    common = ("--plain-http", "--registry-config", config)
    cli.run("push", *common, "--artifact-type", ARTIFACT_TYPE, f"{repo}:v1",
            "notes.txt:text/plain", "sbom.json:application/json")

    manifest = json.loads(cli.run("manifest", "fetch", *common, f"{repo}:v1").stdout)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert {layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]} == {
        "notes.txt", "sbom.json"}
    assert cli.run("repo", "tags", *common, repo).stdout.split() == ["v1"]
    digest = cli.run("resolve", *common, f"{repo}:v1").stdout.strip()
    assert admin.head(f"/v2/{repo.split('/', 1)[1]}/manifests/{digest}").status_code == 200

    out = cli.home / "out"
    cli.run("pull", *common, "-o", str(out), f"{repo}:v1")
    assert (out / "notes.txt").read_text() == "release notes\n"
    assert (out / "sbom.json").read_text() == '{"packages": []}\n'

    # an artifact attached to it is found through the referrers API
    (cli.home / "sig.txt").write_text("signed\n")
    cli.run("attach", *common, "--artifact-type", "application/vnd.dockyard.test.sig", f"{repo}:v1",
            "sig.txt:text/plain")
    referrers = json.loads(cli.run("discover", *common, "--format", "json", f"{repo}:v1").stdout)
    assert [r["artifactType"] for r in referrers["referrers"]] == ["application/vnd.dockyard.test.sig"]

    cli.run("manifest", "delete", *common, "--force", f"{repo}@{digest}")
    gone = cli.run("manifest", "fetch", *common, f"{repo}:v1", ok=False)
    assert "not found" in gone.stderr.lower() or "404" in gone.stderr, gone.stderr


def test_regctl_login_image_copy_and_manifest_get(
        server: DockyardServer, tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "img", layers=[{"regctl": b"copied by regctl\n"}])
    source = f"{server.host_port}/{unique('regctl')}/app"
    crane(tmp_path, server).run("push", "--insecure", str(layout.path), f"{source}:v1")

    cli = Cli(REGCTL, tmp_path / "regctl")
    cli.run("registry", "set", server.host_port, "--tls", "disabled")
    wrong = cli.run("registry", "login", server.host_port, "-u", ADMIN_USER, "--pass-stdin",
                    stdin="wrong" + ADMIN_PASSWORD, ok=False)
    assert denied(wrong) or "failed" in wrong.stderr.lower(), wrong.stderr
    cli.run("registry", "login", server.host_port, "-u", ADMIN_USER, "--pass-stdin", stdin=ADMIN_PASSWORD)
    target = f"{source}-copy"
    cli.run("image", "copy", f"{source}:v1", f"{target}:v1")
    assert cli.run("image", "digest", f"{target}:v1").stdout.strip() == layout.manifest_digest
    raw = cli.run("manifest", "get", "--format", "raw-body", f"{target}:v1").stdout
    assert raw.encode() == manifest_bytes(layout)
    assert cli.run("tag", "ls", target).stdout.split() == ["v1"]
    cli.run("tag", "delete", f"{target}:v1")
    assert cli.run("tag", "ls", target).stdout.split() == []
