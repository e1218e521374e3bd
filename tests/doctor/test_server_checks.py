"""`dockyard doctor` without a cluster, against a real `dockyard up`: the server-only checks, the
output formats and the exit status (1 when a build would fail, 0 otherwise, 2 for usage)."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ci.conftest import job_xml, unique
from tests.conftest import ADMIN_USER, DockyardServer, free_port, start_server
from tests.doctor.helpers import admin_http, certificate, doctor, login, repo_with_job, tutorial_jenkinsfile


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A HOME without ~/.kube/config: no cluster unless a test names one."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_the_tutorial_template_is_healthy_without_a_cluster(server: DockyardServer, tmp_path: Path,
                                                            home: Path, agent_image: str) -> None:
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(tutorial_jenkinsfile(server.host_port))
    r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), "--json",
               "--agent-image", agent_image, home=home)
    assert r.code == 0, r.out
    doc = r.json()
    assert doc["ok"] is True and doc["exit_code"] == 0
    assert set(doc) == {"ok", "exit_code", "context", "summary", "findings"}
    assert r.statuses("server.reach") == ["ok"]
    assert r.statuses("ci.crumb") == ["ok"]
    assert r.statuses("template.items") == ["ok"]
    # :${GIT_SHA} and :latest go to one repository: one token request
    assert r.statuses("registry.push") == ["ok"]
    skipped = r.finding("kubernetes.config", "skipped")
    assert "no cluster configured" in skipped["message"] and "--kubeconfig" in skipped["fix"]
    # the executor's pod: its agent container and Kaniko's container both run the agent image here
    assert f"image {agent_image} resolves" in r.finding("registry.image", "ok")["message"]
    assert "gcr.io/kaniko-project/executor:debug runs as Dockyard's executor image" in \
        r.finding("job.pod", "ok")["message"]
    assert doc["summary"]["problem"] == 0


def test_a_secret_volume_without_items_is_named_with_the_fixed_yaml(server: DockyardServer, tmp_path: Path,
                                                                   home: Path) -> None:
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(tutorial_jenkinsfile(server.host_port, items=False))
    r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), home=home)
    assert r.code == 1, r.out
    assert "PROBLEM" in r.out
    assert "/kaniko/.docker/.dockerconfigjson" in r.out and "/kaniko/.docker/config.json" in r.out
    assert "UNAUTHORIZED" in r.out
    assert "items: [{key: .dockerconfigjson, path: config.json}]" in r.out
    assert "a build would fail" in r.out.splitlines()[-1]


def test_no_credentials_skip_the_job_checks(server: DockyardServer, home: Path) -> None:
    r = doctor("--url", server.url, "--job", "anything", "--no-cluster", "--json", home=home)
    assert r.code == 0, r.out
    assert r.statuses("server.auth") == ["warning"]
    assert r.statuses("job.config") == ["skipped"]
    assert "--no-cluster" in r.finding("kubernetes.config")["message"]


def test_an_unreachable_server_is_one_clear_problem(home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = doctor("--url", url, *login(), "--no-cluster", home=home)
    assert r.code == 1
    assert f"cannot reach Dockyard at {url}" in r.out and "dockyard up" in r.out


def test_a_wrong_password_is_a_problem(server: DockyardServer, home: Path) -> None:
    r = doctor("--url", server.url, *login(ADMIN_USER, "wrong"), "--no-cluster", "--json", home=home)
    assert r.code == 1
    assert "rejects user 'admin'" in r.finding("server.auth", "problem")["message"]


def test_an_api_token_needs_no_crumb(server: DockyardServer, home: Path) -> None:
    with server.client() as c:
        token = c.post(f"/api/v1/users/{ADMIN_USER}/tokens", json={"name": unique("doctor")}).json()["sha1"]
    r = doctor("--url", server.url, "--token", token, "--no-cluster", "--json", home=home)
    assert r.code == 0, r.out
    assert "API token" in r.finding("ci.crumb", "ok")["message"]


def test_usage_errors_exit_2(server: DockyardServer, tmp_path: Path, home: Path) -> None:
    r = doctor("--url", server.url, *login(), "--job", "x", "--jenkinsfile", str(tmp_path / "J"), home=home)
    assert r.code == 2 and "not both" in r.err
    r = doctor("--url", server.url, "--user", "admin", "--no-cluster", home=home)  # no password, no tty
    assert r.code == 2 and "needs a password" in r.err


def test_a_job_is_read_through_the_servers_permission_check(server: DockyardServer, home: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    server.add_user(alice, "alice-pw")
    server.add_user(bob, "bob-pw")
    repo, job = repo_with_job(server, alice, "alice-pw", tutorial_jenkinsfile(server.host_port), private=True)

    mine = doctor("--url", server.url, *login(alice, "alice-pw"), "--job", job, "--no-cluster", "--json",
                  home=home)
    assert f"builds {repo} branch main from Jenkinsfile" in mine.finding("job.config", "ok")["message"]
    assert mine.statuses("template.items") == ["ok"]
    assert mine.statuses("git.http") == ["ok"]
    # alice's own namespace on the registry is not bootcamp: she may not push there
    push = mine.finding("registry.push", "problem")
    assert f"{alice!r}" in push["message"] and "bootcamp/hello-kaniko" in push["message"]
    assert mine.code == 1

    # bob is told exactly what /job/NAME/ tells him: no such job
    theirs = doctor("--url", server.url, *login(bob, "bob-pw"), "--job", job, "--no-cluster", "--json",
                    home=home)
    assert theirs.code == 1
    refused = theirs.finding("job.config", "problem")
    assert refused["message"] == f"no job named {job!r} that {bob} may see"
    assert "git.http" not in theirs.out and "template.items" not in theirs.out
    with server.client(bob, "bob-pw") as c:
        assert c.get(f"/job/{job}/api/json").status_code == 404
    nope = unique("nope")
    missing = doctor("--url", server.url, *login(bob, "bob-pw"), "--job", nope, "--no-cluster", "--json",
                     home=home)
    assert missing.finding("job.config", "problem")["message"] == f"no job named {nope!r} that {bob} may see"


def test_an_image_missing_from_the_registry_is_a_problem(server: DockyardServer, tmp_path: Path,
                                                         home: Path, agent_image: str) -> None:
    jenkinsfile = tmp_path / "Jenkinsfile"
    image = f"{server.host_port}/library/{unique('nothing')}:1"
    jenkinsfile.write_text(tutorial_jenkinsfile(server.host_port, image=image))
    r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), "--no-cluster", "--json",
               "--agent-image", agent_image, home=home)
    assert r.code == 1
    assert r.statuses("registry.image") == ["problem", "ok"]  # the template's image, the agent's
    problem = r.finding("registry.image", "problem")
    assert image in problem["message"] and "does not exist" in problem["message"]
    assert "skopeo copy" in problem["fix"]


def test_a_webhook_to_dockyards_own_ci_is_a_warning(tmp_path: Path, home: Path) -> None:
    server = start_server(tmp_path / "data", env={"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"})
    try:
        owner = unique("hooks")
        server.add_user(owner, "pw")
        repo, job = repo_with_job(server, owner, "pw", tutorial_jenkinsfile(server.host_port))
        with admin_http(server) as http:
            r = http.post(f"/api/v1/repos/{repo}/hooks", json={
                "type": "gitea", "active": True, "events": ["push"],
                "config": {"url": f"{server.url}/api/ci/hooks/gitea", "content_type": "json"}})
            assert r.status_code == 201, r.text
        result = doctor("--url", server.url, *login(), "--job", job, "--no-cluster", "--json", home=home)
    finally:
        server.stop()
    assert "in-process" in result.finding("git.webhook", "ok")["message"]
    warning = result.finding("git.webhook", "warning")
    assert "builds start twice" in warning["message"] and "DELETE" in warning["fix"]
    assert result.statuses("git.ssh") == ["skipped"]  # no SSH URL advertised


def test_git_over_ssh_is_checked_when_the_server_advertises_it(tmp_path: Path, home: Path) -> None:
    ssh_port = free_port()
    server = start_server(tmp_path / "data", None, "--ssh-port", str(ssh_port))
    try:
        owner = unique("ssh")
        server.add_user(owner, "pw")
        _repo, job = repo_with_job(server, owner, "pw", tutorial_jenkinsfile(server.host_port))
        r = doctor("--url", server.url, *login(owner, "pw"), "--job", job, "--no-cluster", "--json",
                   home=home)
    finally:
        server.stop()
    ok = r.finding("git.ssh", "ok")["message"]
    assert f"answers at 127.0.0.1:{ssh_port}: SSH-2.0-" in ok and f"ssh -p {ssh_port}" in ok


def test_an_ssh_port_held_by_another_service_is_named(server: DockyardServer) -> None:
    """The tutorial's A.4: the advertised SSH port answers, but it is not git's SSH server."""
    from dockyard.doctor import Report
    from dockyard.doctor.git import check_ssh

    report = Report()
    http_port = server.host_port.rsplit(":", 1)[1]
    check_ssh(report, f"ssh://git@127.0.0.1:{http_port}/o/r.git", timeout=2)  # an HTTP server says nothing
    check_ssh(report, f"ssh://git@127.0.0.1:{free_port()}/o/r.git", timeout=2)
    silent, refused = report.findings
    assert silent.status == refused.status == "problem"
    assert "is not an SSH server: it sends no SSH banner within 2 s" in silent.message
    assert "nothing answers" in refused.message


def test_a_pod_template_with_yaml_aliases_is_refused(server: DockyardServer, tmp_path: Path,
                                                    home: Path) -> None:
    """A "billion laughs": 300 bytes that are 10^7 env entries once expanded (serialising it for the
    dry-run would never end)."""
    laughs = "\n".join(["    x0: &x0 [a, a, a, a, a, a, a, a, a, a]"] + [
        f"    x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 8)])
    template = tutorial_jenkinsfile(server.host_port).replace(
        "  tolerations: [{operator: Exists}]\n",
        f"  tolerations: [{{operator: Exists}}]\n  nodeSelector:\n{laughs}\n", 1)
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(template)
    r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), "--no-cluster", "--json",
               home=home, timeout=60)
    assert r.code == 1
    assert "YAML alias *x0 is not allowed" in r.finding("job.agent", "problem")["message"]


def test_a_template_that_asks_for_the_local_executor_skips_the_build_pod_checks(
        server: DockyardServer, tmp_path: Path, home: Path) -> None:
    text = tutorial_jenkinsfile(server.host_port).replace(
        "kind: Pod\n", "kind: Pod\nmetadata:\n  annotations: {dockyard.io/executor: local}\n", 1)
    jenkinsfile = tmp_path / "Jenkinsfile"
    jenkinsfile.write_text(text)
    r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), "--no-cluster", "--json",
               home=home)
    assert r.code == 0, r.out
    assert "dockyard.io/executor: local" in r.finding("job.agent", "skipped")["message"]
    assert "registry.image" not in r.out and "template.items" not in r.out


class _Registry(BaseHTTPRequestHandler):
    """A registry that answers every request with a token challenge, counting what reaches it."""

    seen: list[tuple[str, str]] = []  # (path, Authorization header)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Registry.seen.append((self.path.split("?")[0], self.headers.get("Authorization", "")))
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="https://127.0.0.1:{self.server.server_address[1]}'
                                              '/token",service="stand-in"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_no_password_goes_to_a_registry_that_is_not_dockyards_or_not_verified(
        server: DockyardServer, tmp_path: Path, home: Path) -> None:
    """A Jenkinsfile names the registry: with verified TLS (no --skip-tls-verify) a self-signed one
    gets no request at all, and the doctor's own Dockyard password never goes to a foreign host."""
    cert_file, key_file, _pem = certificate(tmp_path)
    registry = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    registry.socket = context.wrap_socket(registry.socket, server_side=True)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{registry.server_address[1]}"
    try:
        text = tutorial_jenkinsfile(host).replace(" \\\\\n--insecure --skip-tls-verify", "")
        assert "--insecure" not in text
        jenkinsfile = tmp_path / "Jenkinsfile"
        skipping = text.replace("--context=$(pwd)", "--context=$(pwd) --skip-tls-verify")
        for source, reached in ((text, False), (skipping, True)):
            _Registry.seen.clear()
            jenkinsfile.write_text(source)
            r = doctor("--url", server.url, *login(), "--jenkinsfile", str(jenkinsfile), "--no-cluster",
                       "--json", home=home)
            problem = r.finding("registry.push", "problem")
            assert bool(_Registry.seen) is reached, (_Registry.seen, problem)
            assert all(auth == "" for _path, auth in _Registry.seen), _Registry.seen
            if reached:  # anonymous: the token service says no
                assert [path for path, _auth in _Registry.seen] == ["/v2/", "/token"]
                assert "refuses anonymous access" in problem["message"]
            else:  # the self-signed certificate is refused before a byte of HTTP
                assert "CERTIFICATE_VERIFY_FAILED" in problem["message"]
    finally:
        registry.shutdown()
        registry.server_close()


def test_a_job_of_another_server_says_how_its_pushes_arrive(server: DockyardServer, home: Path) -> None:
    job = unique("external")
    with admin_http(server) as http:
        r = http.post("/createItem", params={"name": job}, content=job_xml("https://gitea.example/o/app.git"),
                      headers={"Content-Type": "application/xml"})
        assert r.status_code == 200, r.text
    result = doctor("--url", server.url, *login(), "--job", job, "--no-cluster", "--json", home=home)
    assert result.code == 0, result.out
    skipped = result.finding("job.config", "skipped")
    assert "https://gitea.example/o/app.git" in skipped["message"]
    assert f"{server.url}/api/ci/hooks/gitea" in skipped["message"] and "--jenkinsfile" in skipped["fix"]
