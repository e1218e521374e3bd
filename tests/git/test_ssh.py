"""git over SSH (issue 15, acceptance 3): the real OpenSSH client and git against a real
`dockyard up --ssh-port`, with keys added through Gitea's `/api/v1/user/keys`."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.auth import AuthService
from dockyard.store import Database
from tests.conftest import DockyardServer, free_port, require_tool, start_server
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url
from tests.git.receiver import Receiver

SSH_FINGERPRINT = re.compile(r"host key (SHA256:[A-Za-z0-9+/]{43}) \(ED25519\)")


@dataclass
class SSHServer:
    server: DockyardServer
    port: int

    def url(self, full_name: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{full_name}.git"


@dataclass
class Key:
    path: Path
    public: str

    @property
    def fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-lf", f"{self.path}.pub"], check=True,
                             capture_output=True, text=True).stdout
        return out.split()[1]


def start_ssh_server(data_dir: Path) -> SSHServer:
    port = free_port()
    server = start_server(data_dir, None, "--ssh-port", str(port),
                          env={"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"})
    return SSHServer(server, port)


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    require_tool("ssh")
    srv = start_ssh_server(tmp_path_factory.mktemp("ssh") / "data")
    yield srv
    srv.server.stop()


@pytest.fixture
def server(ssh_server: SSHServer) -> DockyardServer:
    """The conftest fixtures (alice, bob) create their users on this module's server."""
    return ssh_server.server


def new_key(directory: Path, kind: str = "ed25519", bits: int | None = None) -> Key:
    path = directory / f"key-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *(["-b", str(bits)] if bits else []), "-N", "",
                    "-C", "test@example.com", "-f", str(path)], check=True)
    return Key(path, Path(f"{path}.pub").read_text().strip())


def ssh_options(tmp: Path, *keys: Key) -> list[str]:
    """OpenSSH that offers exactly `keys`, never prompts and keeps its known_hosts in `tmp`."""
    options = ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20",
               "-o", f"UserKnownHostsFile={tmp / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new",
               "-F", "/dev/null"]
    for key in keys:
        options += ["-i", str(key.path)]
    return options or ["-o", "IdentityFile=/dev/null"]


def git_ssh(tmp: Path, *keys: Key) -> dict[str, str]:
    """The environment that makes git use `ssh` with `keys`."""
    return {"GIT_SSH_COMMAND": " ".join(["ssh", *ssh_options(tmp, *keys)]), "GIT_SSH_VARIANT": "ssh"}


def ssh(ssh_server: SSHServer, tmp: Path, *args: str, keys: tuple[Key, ...] = (),
        user: str = "git") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", *ssh_options(tmp, *keys), "-p", str(ssh_server.port),
                           f"{user}@127.0.0.1", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def add_key(server: DockyardServer, account: Account | None, key: Key, title: str = "") -> dict:
    with client(server, account) if account else server.client() as c:
        response = c.post("/api/v1/user/keys", json={"title": title or uuid.uuid4().hex[:8],
                                                      "key": key.public})
    assert response.status_code == 201, response.text
    return response.json()


# the keys API ---------------------------------------------------------------------------
def test_keys_api_follows_gitea(ssh_server: SSHServer, alice: Account, bob: Account,
                                tmp_path: Path) -> None:
    server = ssh_server.server
    key = new_key(tmp_path)
    created = add_key(server, alice, key, "laptop")
    assert created["title"] == "laptop" and created["key_type"] == "user"
    assert created["key"] == " ".join(key.public.split()[:2])  # type and base64, no comment
    assert created["fingerprint"] == key.fingerprint
    assert created["read_only"] is False and created["user"]["login"] == alice.username
    assert created["url"] == f"{server.url}/api/v1/user/keys/{created['id']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["created_at"])

    with client(server, alice) as a, client(server, bob) as b, server.client(user=None) as anon:
        assert [k["id"] for k in a.get("/api/v1/user/keys").json()] == [created["id"]]
        assert a.get(f"/api/v1/user/keys/{created['id']}").json()["fingerprint"] == key.fingerprint
        assert a.get("/api/v1/user/keys", params={"fingerprint": key.fingerprint}).json()[0]["id"] \
            == created["id"]
        assert a.get("/api/v1/user/keys", params={"fingerprint": "SHA256:x"}).json() == []
        # public keys are public, as in Gitea
        assert [k["id"] for k in anon.get(f"/api/v1/users/{alice.username}/keys").json()] == \
            [created["id"]]
        assert anon.post("/api/v1/user/keys", json={"title": "t", "key": key.public}).status_code \
            == 401
        # the same key twice (by anyone), the same title twice: Gitea's 422
        for c, title in ((a, "other"), (b, "bobs")):
            again = c.post("/api/v1/user/keys", json={"title": title, "key": key.public})
            assert again.status_code == 422 and "has been used" in again.json()["message"]
        same_title = a.post("/api/v1/user/keys", json={"title": "laptop",
                                                        "key": new_key(tmp_path).public})
        assert same_title.status_code == 422 and "title" in same_title.json()["message"]
        # another user's key id: 404 whether it exists or not, and it stays
        assert b.get(f"/api/v1/user/keys/{created['id']}").status_code == 404
        assert b.delete(f"/api/v1/user/keys/{created['id']}").status_code == 404
        assert b.delete("/api/v1/user/keys/999999999").status_code == 404
        assert a.get(f"/api/v1/user/keys/{created['id']}").status_code == 200
        # an administrator adds and removes a key for a user; others may not
        other = new_key(tmp_path)
        assert b.post(f"/api/v1/admin/users/{alice.username}/keys",
                      json={"title": "x", "key": other.public}).status_code == 403
    with server.client() as admin:
        made = admin.post(f"/api/v1/admin/users/{alice.username}/keys",
                          json={"title": "ci", "key": other.public})
        assert made.status_code == 201 and made.json()["user"]["login"] == alice.username
        assert admin.post("/api/v1/admin/users/nobody-here/keys",
                          json={"title": "x", "key": new_key(tmp_path).public}).status_code == 404
        assert admin.delete(f"/api/v1/admin/users/{bob.username}/keys/{made.json()['id']}"
                            ).status_code == 404
        assert admin.delete(f"/api/v1/admin/users/{alice.username}/keys/{made.json()['id']}"
                            ).status_code == 204
    with client(server, alice) as a:
        assert a.delete(f"/api/v1/user/keys/{created['id']}").status_code == 204
        assert a.get(f"/api/v1/user/keys/{created['id']}").status_code == 404
        assert a.get("/api/v1/user/keys").json() == []


@pytest.mark.parametrize("text, says", [
    ("", "required"),
    ("ssh-ed25519", "invalid key content"),
    ("ssh-ed25519 AAAA!!!! me@host", "invalid key content"),
    ("ssh-ed25519 " + "A" * 200_000, "the limit is"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "private key"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIMnbo3M7AM5Ol8vo97FaeymA5wEvVK6wgSvOlqCNn; rm -rf /",
     "invalid key content"),
])
def test_malformed_keys_are_422(ssh_server: SSHServer, alice: Account, text: str, says: str) -> None:
    with client(ssh_server.server, alice) as a:
        response = a.post("/api/v1/user/keys", json={"title": "bad", "key": text})
        assert response.status_code == 422, response.text
        assert says in response.json()["message"]
        assert a.post("/api/v1/user/keys", json={"title": "bad", "key": 42}).status_code == 422
        assert a.get("/api/v1/user/keys").json() == []


def test_small_rsa_keys_are_refused(ssh_server: SSHServer, alice: Account,
                                            tmp_path: Path) -> None:
    small = new_key(tmp_path, "rsa", 2048)
    with client(ssh_server.server, alice) as a:
        response = a.post("/api/v1/user/keys", json={"title": "rsa", "key": small.public})
        assert response.status_code == 422 and "3071" in response.json()["message"]
        assert a.post("/api/v1/user/keys", json={"title": "rsa4096", "key": new_key(
            tmp_path, "rsa", 4096).public}).status_code == 201


# clone and push ---------------------------------------------------------------------------
def test_clone_and_push_over_ssh_fire_what_http_pushes_fire(
        ssh_server: SSHServer, git: Git, work: Path, alice: Account, tmp_path: Path) -> None:
    gitea = pytest.importorskip("gitea")
    server = ssh_server.server
    repo = create_repo(server, alice, private=True)
    name = repo["full_name"]
    receiver = Receiver().start()
    try:
        with client(server, alice) as c:
            hook = c.post(f"/api/v1/repos/{name}/hooks", json={
                "type": "gitea", "active": True, "events": ["push"],
                "config": {"url": receiver.url, "content_type": "json"}})
            assert hook.status_code == 201, hook.text
        key = new_key(tmp_path)
        add_key(server, alice, key)
        # py-gitea's view of the repository carries the SSH clone URL
        me = gitea.Gitea(server.url, auth=(alice.username, alice.password))
        assert gitea.Repository.request(me, alice.username, repo["name"]).ssh_url == \
            ssh_server.url(name)
        env = git_ssh(tmp_path, key)
        checkout = work / "c"
        git.run("clone", "-q", ssh_server.url(name), str(checkout), env=env)
        sha = git.commit_file(checkout, "ssh.txt", "over ssh\n", "pushed over SSH")
        git.run("push", "-q", "origin", "main", cwd=checkout, env=env)
        payload = json.loads(receiver.wait_for(1)[0].body)
        assert payload["after"] == sha and payload["pusher"]["login"] == alice.username
        assert payload["repository"]["ssh_url"] == ssh_server.url(name)
        http = repo_url(server, name, alice.username, alice.password)
        assert git.out("ls-remote", http, "refs/heads/main").split()[0] == sha
        # without .git, protocol v0, and the scp form's path (no leading slash) work as well
        v0 = git.run("-c", "protocol.version=0", "ls-remote", f"ssh://git@127.0.0.1:{ssh_server.port}"
                     f"/{name}", env=env)
        assert sha in v0.stdout
        plain = ssh(ssh_server, tmp_path, f"git-upload-pack {name}", keys=(key,))
        assert f"{sha} refs/heads/main" in plain.stdout  # (then EOF: git ends, "hung up")
    finally:
        receiver.stop()


def test_permissions_are_those_of_http(ssh_server: SSHServer, git: Git, work: Path, alice: Account,
                                       bob: Account, tmp_path: Path) -> None:
    server = ssh_server.server
    private = create_repo(server, alice, private=True)["full_name"]
    public = create_repo(server, alice)["full_name"]
    bob_key = new_key(tmp_path)
    add_key(server, bob, bob_key)
    env = git_ssh(tmp_path, bob_key)
    # a private repository of someone else: not found, as over HTTP
    hidden = git.run("clone", ssh_server.url(private), str(work / "p"), env=env, check=False)
    assert hidden.returncode != 0
    assert f"Dockyard: Repository {private} not found." in hidden.stderr
    # a public one: clone works, push is refused with the reason
    checkout = work / "pub"
    git.run("clone", "-q", ssh_server.url(public), str(checkout), env=env)
    git.commit_file(checkout, "b.txt", "bob\n", "bob's change")
    refused = git.run("push", "origin", "main", cwd=checkout, env=env, check=False)
    assert refused.returncode != 0
    assert f"User {bob.username} has no write permission on {public}." in refused.stderr
    # as a collaborator with write, bob pushes; a protected branch refuses him like over HTTP
    with client(server, alice) as c:
        assert c.put(f"/api/v1/repos/{public}/collaborators/{bob.username}",
                     json={"permission": "write"}).status_code == 204
    git.run("push", "-q", "origin", "main", cwd=checkout, env=env)
    with client(server, alice) as c:
        assert c.post(f"/api/v1/repos/{public}/branch_protections", json={
            "rule_name": "main", "enable_push": True, "enable_push_whitelist": True,
            "push_whitelist_usernames": [alice.username]}).status_code == 201
    git.commit_file(checkout, "c.txt", "again\n", "protected now")
    blocked = git.run("push", "origin", "main", cwd=checkout, env=env, check=False)
    assert "! [remote rejected] main -> main (pre-receive hook declined)" in blocked.stderr
    assert f"branch main is protected: {bob.username} is not allowed to push" in blocked.stderr


def test_unknown_deleted_and_disabled_keys(ssh_server: SSHServer, git: Git, alice: Account,
                                           tmp_path: Path) -> None:
    server = ssh_server.server
    name = create_repo(server, alice)["full_name"]
    stranger = new_key(tmp_path)
    unknown = ssh(ssh_server, tmp_path, f"git-upload-pack '{name}.git'", keys=(stranger,))
    assert unknown.returncode == 255 and "Permission denied (publickey)" in unknown.stderr

    key = new_key(tmp_path)
    key_id = add_key(server, alice, key)["id"]
    env = git_ssh(tmp_path, key)
    # one master connection, kept open: a deleted key stops working there too
    control = ["-o", "ControlMaster=auto", "-o", f"ControlPath={tmp_path / 'mux'}",
               "-o", "ControlPersist=60"]
    env["GIT_SSH_COMMAND"] += " " + " ".join(control)
    try:
        assert git.run("ls-remote", ssh_server.url(name), env=env).stdout
        with client(server, alice) as c:
            assert c.delete(f"/api/v1/user/keys/{key_id}").status_code == 204
        reused = git.run("ls-remote", ssh_server.url(name), env=env, check=False)
        assert reused.returncode != 0
        assert "the key this connection authenticated with has been deleted" in reused.stderr
    finally:
        subprocess.run(["ssh", *control, "-O", "exit", "-p", str(ssh_server.port), "git@127.0.0.1"],
                       capture_output=True, timeout=30)
    fresh = git.run("ls-remote", ssh_server.url(name), env=git_ssh(tmp_path, key), check=False)
    assert fresh.returncode != 0 and "Permission denied (publickey)" in fresh.stderr

    # a disabled user's key is refused at once too
    user = create_user(server, "carol")
    carol_key = new_key(tmp_path)
    add_key(server, user, carol_key)
    allowed = ssh(ssh_server, tmp_path, f"git-upload-pack '{name}.git'", keys=(carol_key,))
    assert "refs/heads/main" in allowed.stdout
    db = Database(server.database())  # as an administrator does on /-/admin/users
    try:
        AuthService(db).set_disabled(user.username, True)
    finally:
        db.close()
    denied = ssh(ssh_server, tmp_path, f"git-upload-pack '{name}.git'", keys=(carol_key,))
    assert denied.returncode == 255 and "Permission denied (publickey)" in denied.stderr


# hostile input ---------------------------------------------------------------------------
def test_only_git_commands_run(ssh_server: SSHServer, alice: Account, tmp_path: Path) -> None:
    server = ssh_server.server
    name = create_repo(server, alice)["full_name"]
    key = new_key(tmp_path)
    add_key(server, alice, key)
    marker = tmp_path / "pwned"

    def refused(*args: str) -> str:
        result = ssh(ssh_server, tmp_path, *args, keys=(key,))
        assert result.returncode != 0, result
        assert not marker.exists()
        return result.stderr

    assert "does not provide shell access" in refused("-T")
    assert "is not allowed" in refused(f"touch {marker}")
    assert "is not allowed" in refused(f"git-upload-archive '{name}.git'")
    for path in (f"'/{name}.git; touch {marker}'", f"'/{name}.git' ; touch {marker}",
                 f"'/{name}.git$(touch {marker})'", f"'/{name}.git`touch {marker}`'"):
        stderr = refused(f"git-upload-pack {path}")
        assert "Dockyard:" in stderr
    assert "invalid owner name '..'" in refused("git-upload-pack '../../etc/passwd'")
    assert "invalid repository name" in refused(f"git-upload-pack '{alice.username}/../x'")
    assert "invalid repository path" in refused("git-receive-pack '/just-one'")
    assert "takes exactly one repository path" in refused("git-upload-pack")
    assert "No closing quotation" in refused(f"git-upload-pack '{name}")
    assert "too long" in refused("git-upload-pack '" + "a" * 5000 + "'")
    # subsystems (sftp), port forwarding and other users' names are refused too
    assert "subsystem request failed" in refused("-s", "sftp")  # no sftp, no scp
    forward = ssh(ssh_server, tmp_path, "-W", "127.0.0.1:22", keys=(key,))
    assert forward.returncode != 0 and "port forwarding is not allowed" in forward.stderr
    wrong_user = ssh(ssh_server, tmp_path, "-T", keys=(key,), user=alice.username)
    assert wrong_user.returncode == 255 and "connect as git@" in wrong_user.stderr


def test_passwords_and_many_keys_are_refused(ssh_server: SSHServer, tmp_path: Path) -> None:
    password = subprocess.run(
        ["ssh", *ssh_options(tmp_path), "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "PubkeyAuthentication=no", "-p", str(ssh_server.port), "git@127.0.0.1", "-T"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert password.returncode == 255 and "Permission denied (publickey)" in password.stderr
    keys = tuple(new_key(tmp_path) for _ in range(14))
    many = ssh(ssh_server, tmp_path, "-T", keys=keys)
    assert many.returncode == 255
    assert "too many authentication attempts" in many.stderr.lower()


def test_host_key_is_made_once_and_private(tmp_path: Path) -> None:
    require_tool("ssh")
    data = tmp_path / "data"
    first = start_ssh_server(data)
    try:
        printed = SSH_FINGERPRINT.search(first.server.log())
        assert printed, first.server.log()
    finally:
        first.server.stop()
    key_file = data / "secrets" / "ssh_host_ed25519_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], check=True,
                            capture_output=True, text=True).stdout
    (tmp_path / "host.pub").write_text(public)
    listed = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "host.pub")], check=True,
                            capture_output=True, text=True).stdout
    assert listed.split()[1] == printed.group(1) and "(ED25519)" in listed
    second = start_ssh_server(data)
    try:
        again = SSH_FINGERPRINT.findall(second.server.log())
        assert again[-1] == printed.group(1)
        # the SSH server's key is what a client sees
        scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(second.port), "127.0.0.1"],
                              capture_output=True, text=True, timeout=30)
        assert public.split()[1] in scan.stdout
    finally:
        second.server.stop()


def test_ssh_url_is_empty_without_ssh(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        with server.client() as c:
            made = c.post("/api/v1/user/repos", json={"name": "plain"}).json()
        assert made["ssh_url"] == "" and made["clone_url"].endswith("/admin/plain.git")
    finally:
        server.stop()


def test_ssh_url_forms() -> None:
    from dockyard.git.sshpaths import ssh_url_base

    assert ssh_url_base("http://127.0.0.1:8080", 2222) == "ssh://git@127.0.0.1:2222/"
    assert ssh_url_base("https://git.example.com", 22) == "git@git.example.com:"
    assert ssh_url_base("http://[::1]:8080", 2222) == "ssh://git@[::1]:2222/"



def test_ssh_port_setting() -> None:
    from dockyard.config import Settings

    assert Settings.from_environ({}).ssh_port is None
    assert Settings.from_environ({"DOCKYARD_SSH_PORT": "2222"}).ssh_port == 2222
    assert Settings.from_environ({"DOCKYARD_SSH_PORT": "off"}).ssh_port is None
    assert Settings.from_environ({"DOCKYARD_SSH_PORT": "2222"}, ssh_port=3333).ssh_port == 3333
    for bad in ("70000", "-1", "ssh"):
        with pytest.raises(ValueError, match="DOCKYARD_SSH_PORT"):
            Settings.from_environ({"DOCKYARD_SSH_PORT": bad})


def test_keys_in_the_web_ui(ssh_server: SSHServer, git: Git, alice: Account, tmp_path: Path) -> None:
    from tests.ui.helpers import post_form, sign_in

    server = ssh_server.server
    name = create_repo(server, alice)["full_name"]
    key = new_key(tmp_path)
    browser = sign_in(server, alice.username, alice.password)
    try:
        page = "/user/settings/keys"
        assert "No keys." in browser.get(page).text and ssh_server.url("")[:-5] in browser.get(page).text
        bad = post_form(browser, page, page, {"title": "bad", "content": "ssh-rsa nonsense"})
        assert bad.status_code == 422 and "invalid key content" in bad.text
        assert post_form(browser, page, page, {"title": "laptop", "content": key.public}).status_code == 303
        listed = browser.get(page).text
        assert "laptop" in listed and key.fingerprint in listed
        assert git.run("ls-remote", ssh_server.url(name), env=git_ssh(tmp_path, key)).stdout
        with client(server, alice) as c:
            key_id = c.get("/api/v1/user/keys").json()[0]["id"]
        assert post_form(browser, page, "/user/settings/keys/delete",
                         {"id": str(key_id)}).status_code == 303
        assert "No keys." in browser.get(page).text
    finally:
        browser.close()
    gone = git.run("ls-remote", ssh_server.url(name), env=git_ssh(tmp_path, key), check=False)
    assert gone.returncode != 0 and "Permission denied (publickey)" in gone.stderr
