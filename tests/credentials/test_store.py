"""The credential store: typed round trips, encryption at rest, clear errors; secret volumes."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from dockyard.credentials import (
    CredentialError,
    CredentialExists,
    CredentialNotFound,
    CredentialStore,
    DockerConfig,
    KeyMismatch,
    SecretFile,
    SecretText,
    UsernamePassword,
    materialize_secret_volume,
)
from dockyard.credentials.crypto import load_or_create_key
from dockyard.server.app import all_migrations
from dockyard.store import Database

PASSWORD = "Bootcamp-Pa55word-7f3a"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "dockyard.db")
    database.migrate(all_migrations())
    return database


@pytest.fixture
def store(db: Database, tmp_path: Path) -> CredentialStore:
    return CredentialStore.open(db, tmp_path / "secrets")


def test_round_trip_of_every_kind(store: CredentialStore) -> None:
    docker = DockerConfig.for_registry("harbor-auth", "10.0.24.28:30002", "admin", PASSWORD)
    creds = [
        docker,
        UsernamePassword("gitea-login", username="bootcamp", password=PASSWORD, description="git"),
        SecretText("gitea-token", text="tok-" + PASSWORD),
        SecretFile("kubeconfig", filename="config", content=b"\x00binary\xff" + PASSWORD.encode()),
    ]
    for cred in creds:
        store.put(cred, created_by="admin")
    for cred in creds:
        assert store.get(cred.id) == cred
        assert type(store.get(cred.id)) is type(cred)
    assert [info.id for info in store.list()] == ["gitea-login", "gitea-token", "harbor-auth", "kubeconfig"]
    listing = json.dumps([info.to_json() for info in store.list()])
    assert PASSWORD not in listing
    assert store.info("harbor-auth").public == {"servers": {"10.0.24.28:30002": "admin"}}  # type: ignore[union-attr]
    assert store.info("gitea-login").created_by == "admin"  # type: ignore[union-attr]


def test_docker_config_is_what_kubectl_writes(store: CredentialStore) -> None:
    store.put(DockerConfig.for_registry("harbor-auth", "10.0.24.28:30002", "admin", "bootcamp"))
    cred = store.get("harbor-auth")
    assert isinstance(cred, DockerConfig)
    config = json.loads(cred.data()[".dockerconfigjson"])
    assert config == {
        "auths": {
            "10.0.24.28:30002": {
                "username": "admin",
                "password": "bootcamp",
                "auth": base64.b64encode(b"admin:bootcamp").decode(),
            }
        }
    }
    assert cred.login_for("10.0.24.28:30002") == ("admin", "bootcamp")
    assert cred.login_for("elsewhere") is None


def test_encrypted_at_rest(db: Database, store: CredentialStore, tmp_path: Path) -> None:
    store.put(UsernamePassword("u", username="bootcamp", password=PASSWORD))
    store.put(SecretText("t", text=PASSWORD[::-1]))
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("dockyard.db*"))
    assert raw, "database files exist"
    for needle in (PASSWORD, PASSWORD[::-1], base64.b64encode(PASSWORD.encode()).decode()):
        assert needle.encode() not in raw
    assert b"bootcamp" in raw  # the username is metadata, listed in clear on purpose
    key = tmp_path / "secrets" / "credentials.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(key.read_bytes()) == 32


def test_a_different_key_is_reported(db: Database, store: CredentialStore, tmp_path: Path) -> None:
    store.put(SecretText("t", text=PASSWORD))
    other = CredentialStore(db, b"k" * 32)
    with pytest.raises(KeyMismatch, match="different key"):
        other.get("t")


def test_a_ciphertext_moved_to_another_id_does_not_open(db: Database, store: CredentialStore) -> None:
    store.put(SecretText("a", text=PASSWORD))
    store.put(SecretText("b", text="other-secret"))
    with db.transaction() as conn:
        sealed = conn.execute(text("SELECT sealed FROM credentials WHERE id = 'a'")).scalar_one()
        conn.execute(text("UPDATE credentials SET sealed = :s WHERE id = 'b'"), {"s": sealed})
    with pytest.raises(KeyMismatch, match="failed authentication"):
        store.get("b")


def test_key_is_stable_across_opens(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path / "s") == load_or_create_key(tmp_path / "s")


def test_errors_name_the_id_and_the_fix(store: CredentialStore) -> None:
    with pytest.raises(CredentialNotFound) as info:
        store.get("harbor-auth")
    assert "'harbor-auth' not found" in str(info.value) and "dockyard credentials" in str(info.value)
    store.put(SecretText("x", text="secret-1"))
    with pytest.raises(CredentialExists, match="already exists"):
        store.put(SecretText("x", text="secret-2"))
    store.put(SecretText("x", text="secret-2"), replace=True)
    assert store.get("x") == SecretText("x", text="secret-2")
    assert store.delete("x") and not store.delete("x")
    with pytest.raises(CredentialError, match="invalid credential id"):
        store.put(SecretText("../etc", text="secret"))


def test_repr_never_shows_the_secret() -> None:
    cred = UsernamePassword("u", username="me", password=PASSWORD)
    assert PASSWORD not in repr(cred) and PASSWORD not in str(cred) and PASSWORD not in f"{cred!r}"


def test_secret_volume_with_items_as_in_the_tutorial(tmp_path: Path) -> None:
    cred = DockerConfig.for_registry("harbor-auth", "10.0.24.28:30002", "admin", "bootcamp")
    target = tmp_path / "kaniko" / ".docker"
    written = materialize_secret_volume(cred, [{"key": ".dockerconfigjson", "path": "config.json"}], target)
    assert written == [target / "config.json"]
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert (
        json.loads((target / "config.json").read_text())["auths"]["10.0.24.28:30002"]["username"] == "admin"
    )
    assert stat.S_IMODE((target / "config.json").stat().st_mode) == 0o600


def test_secret_volume_without_items_and_nested_paths(tmp_path: Path) -> None:
    cred = UsernamePassword("git", username="bootcamp", password=PASSWORD)
    materialize_secret_volume(cred, None, tmp_path / "all")
    assert (tmp_path / "all" / "username").read_text() == "bootcamp"
    assert (tmp_path / "all" / "password").read_text() == PASSWORD
    materialize_secret_volume(
        cred, [{"key": "password", "path": "sub/dir/pw", "mode": 0o400}], tmp_path / "n"
    )
    assert stat.S_IMODE((tmp_path / "n/sub/dir/pw").stat().st_mode) == 0o400


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_secret_volume_paths_cannot_escape(tmp_path: Path, path: str) -> None:
    cred = SecretText("t", text=PASSWORD)
    with pytest.raises(CredentialError, match="must be relative"):
        materialize_secret_volume(cred, [{"key": "text", "path": path}], tmp_path / "v")
    assert not (tmp_path / "escape").exists()


def test_secret_volume_missing_key_names_the_keys(tmp_path: Path) -> None:
    cred = DockerConfig.for_registry("harbor-auth", "h:1", "admin", "bootcamp")
    with pytest.raises(CredentialError) as info:
        materialize_secret_volume(cred, [{"key": "config.json", "path": "config.json"}], tmp_path)
    assert "has no key 'config.json'" in str(info.value) and ".dockerconfigjson" in str(info.value)


def test_bad_docker_config_json_is_rejected() -> None:
    with pytest.raises(CredentialError, match="auths"):
        DockerConfig("x", config_json='{"credsStore": "desktop"}')
    with pytest.raises(CredentialError, match="not valid JSON"):
        DockerConfig("x", config_json="{")


def test_bind_environment_follows_jenkins(tmp_path: Path) -> None:
    from dockyard.credentials import bind_environment

    up = bind_environment(UsernamePassword("u", username="bob", password="pw-1234"), "GIT", tmp_path)
    assert up == {"GIT": "bob:pw-1234", "GIT_USR": "bob", "GIT_PSW": "pw-1234"}
    assert bind_environment(SecretText("t", text="tok-1234"), "TOKEN", tmp_path) == {"TOKEN": "tok-1234"}
    file_env = bind_environment(
        SecretFile("k", filename="kubeconfig", content=b"cfg"), "KUBECONFIG", tmp_path
    )
    path = Path(file_env["KUBECONFIG"])
    assert path.name == "kubeconfig" and path.read_bytes() == b"cfg" and tmp_path in path.parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    docker = DockerConfig.for_registry("harbor-auth", "h:1", "admin", "bootcamp")
    config = Path(bind_environment(docker, "DOCKER_CFG", tmp_path)["DOCKER_CFG"])
    assert (
        config.name == "config.json" and json.loads(config.read_text())["auths"]["h:1"]["username"] == "admin"
    )
    with pytest.raises(CredentialError, match="invalid environment variable"):
        bind_environment(SecretText("t", text="tok-1234"), "BAD-NAME", tmp_path)


def test_mask_values_are_every_stored_secrets(store: CredentialStore) -> None:
    """What a build's log masker starts from: all credentials, each decrypted with its own row."""
    assert store.mask_values() == []
    store.put(UsernamePassword("b-login", username="bootcamp", password=PASSWORD))
    store.put(SecretText("a-token", text="tok-" + PASSWORD))
    values = store.mask_values()
    assert values == [*store.get("a-token").mask_values(), *store.get("b-login").mask_values()]
    assert {"tok-" + PASSWORD, PASSWORD} <= set(values)
