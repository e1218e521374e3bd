"""Docker config.json parsing and auth challenge parsing (no network)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dockyard.oci import Logins, parse_challenge


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_keys_in_every_spelling(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hub:pass")},
                "harbor.local": {"username": "robot$ci", "password": "p1"},
                "https://registry.example:5000/v2/": {"auth": b64("u:p2")},
                "token.example": {"identitytoken": "refresh-me"},
                "empty.example": {},
            }
        },
    )
    store = Logins.load([config])
    hub = store.lookup("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "hub:pass")
    assert store.lookup("index.docker.io") == hub
    harbor = store.lookup("harbor.local")
    assert harbor is not None and harbor.username == "robot$ci"
    port = store.lookup("registry.example:5000")
    assert port is not None and port.password == "p2"
    assert store.lookup("registry.example") is None
    token = store.lookup("token.example")
    assert token is not None and token.identity_token == "refresh-me"
    assert store.lookup("empty.example") is None
    assert "hub:pass" not in repr(store) and "hub:pass" not in repr(hub)


def test_search_order_docker_config_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "kaniko"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    write(tmp_path / "kaniko" / "config.json", {"auths": {"h": {"auth": b64("first:1")}}})
    write(
        tmp_path / "home" / ".docker" / "config.json",
        {"auths": {"h": {"auth": b64("second:2")}, "other": {"auth": b64("o:3")}}},
    )
    store = Logins.load()
    h = store.lookup("h")
    other = store.lookup("other")
    assert h is not None and h.username == "first"
    assert other is not None and other.username == "o"


def test_containers_auth_files_after_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """podman/skopeo's files, in containers/image's order, after docker's: the runtime file
    (`/run/containers/<uid>/auth.json` without XDG_RUNTIME_DIR), then ~/.config's; a set
    REGISTRY_AUTH_FILE replaces both, as it does for podman."""
    from dockyard.oci.logins import default_config_paths

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("os.getuid", lambda: 1234)
    assert default_config_paths() == [
        home / ".docker" / "config.json", Path("/kaniko/.docker/config.json"),
        Path("/run/containers/1234/auth.json"), home / ".config" / "containers" / "auth.json"]

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_config_paths()[2:] == [tmp_path / "run" / "containers" / "auth.json",
                                          tmp_path / "cfg" / "containers" / "auth.json"]
    write(home / ".docker" / "config.json", {"auths": {"h": {"auth": b64("docker:1")}}})
    write(tmp_path / "run" / "containers" / "auth.json",
          {"auths": {"h": {"auth": b64("podman:2")}, "p": {"auth": b64("podman:3")}}})
    write(tmp_path / "cfg" / "containers" / "auth.json",
          {"auths": {"p": {"auth": b64("cfg:4")}, "c": {"auth": b64("cfg:5")}}})
    store = Logins.load()
    assert [(x.username, x.password) for x in
            (store.lookup("h"), store.lookup("p"), store.lookup("c")) if x] == [
        ("docker", "1"), ("podman", "3"), ("cfg", "5")]

    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "ci.json"))
    assert default_config_paths()[2:] == [tmp_path / "ci.json"]


def test_bad_config_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=str(bad)):
        Logins.load([bad])
    write(bad, {"auths": {"h": {"auth": b64("no-colon")}}})
    with pytest.raises(ValueError, match="user:password"):
        Logins.load([bad])


def test_credential_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        '#!/bin/sh\nread host\necho "{\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"s3\\"}"\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config = write(tmp_path / "config.json", {"credHelpers": {"ecr.example": "fake"}})
    cred = Logins.load([config]).lookup("ecr.example")
    assert cred is not None and (cred.username, cred.password) == ("helper-user", "s3")


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push",error="insufficient_scope"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
        "error": "insufficient_scope",
    }
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
