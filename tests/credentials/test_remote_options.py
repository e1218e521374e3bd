"""Shared client options: flags over DOCKYARD_* environment over the default URL."""

from __future__ import annotations

import argparse

import pytest

from dockyard.cli.remote import DEFAULT_URL, RemoteError, add_remote_arguments, remote_from


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_remote_arguments(parser)
    sub = parser.add_subparsers(dest="action")
    action = sub.add_parser("list")
    add_remote_arguments(action, nested=True)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKYARD_URL", "DOCKYARD_USER", "DOCKYARD_PASSWORD", "DOCKYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    remote = remote_from(parse(["list"]))
    assert remote.url == DEFAULT_URL == "http://127.0.0.1:8080" and remote.auth() is None


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_URL", "http://dockyard:9000/")
    monkeypatch.setenv("DOCKYARD_USER", "admin")
    monkeypatch.setenv("DOCKYARD_PASSWORD", "bootcamp")
    remote = remote_from(parse(["list"]))
    assert remote.url == "http://dockyard:9000" and remote.auth() == ("admin", "bootcamp")


def test_flags_win_on_either_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_URL", "http://env:1")
    monkeypatch.setenv("DOCKYARD_TOKEN", "env-token")
    before = remote_from(parse(["--url", "http://flag:2", "--token", "flag-token", "list"]))
    after = remote_from(parse(["list", "--url", "http://flag:3"]))
    assert before.url == "http://flag:2" and before.headers() == {"Authorization": "token flag-token"}
    assert after.url == "http://flag:3" and after.headers() == {"Authorization": "token env-token"}


def test_user_without_password_is_an_error_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(RemoteError, match="needs a password"):
        remote_from(parse(["--user", "admin", "list"]))
