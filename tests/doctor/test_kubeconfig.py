"""Hostile cluster configurations: a malformed kubeconfig, an API server that refuses
connections and one that accepts them and never answers. Each is one clear PROBLEM, with no
traceback and no hang (every API call has the doctor's timeout), and the server checks still run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DockyardServer, free_port
from tests.doctor.helpers import doctor, login

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}", insecure-skip-tls-verify: true}}
users:
- name: u
  user: {{token: abc}}
contexts:
- name: x
  context: {{cluster: c, user: u, namespace: builds}}
current-context: x
"""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("text", ["not: [valid", "apiVersion: v1\nkind: Config\nclusters: 5\n", ""])
def test_a_malformed_kubeconfig_is_named(server: DockyardServer, tmp_path: Path, text: str) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(text)
    r = doctor("--url", server.url, *login(), "--kubeconfig", str(config), "--json", home=tmp_path)
    assert r.code == 1
    problem = r.finding("kubernetes.config", "problem")
    assert f"the kubeconfig {config} cannot be used" in problem["message"]
    assert "kubectl --kubeconfig" in problem["fix"]
    assert r.statuses("server.reach") == ["ok"]  # the server checks did not depend on it


def test_a_missing_kubeconfig_file_is_named(server: DockyardServer, tmp_path: Path) -> None:
    r = doctor("--url", server.url, *login(), "--json", home=tmp_path,
               env={"KUBECONFIG": str(tmp_path / "nope")})
    assert r.code == 1
    assert "does not exist" in r.finding("kubernetes.config", "problem")["message"]


def test_an_api_server_that_refuses_connections(server: DockyardServer, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.format(server=f"https://127.0.0.1:{free_port()}"))
    r = doctor("--url", server.url, *login(), "--kubeconfig", str(config), "--json", home=tmp_path)
    assert r.code == 1
    problem = r.finding("kubernetes.reach", "problem")
    assert "cannot reach the Kubernetes API server" in problem["message"]
    assert "cluster-info" in problem["fix"]
    assert r.json()["context"]["namespace"] == "builds"  # the context's namespace
    assert "rbac" not in {f["area"] for f in r.json()["findings"]}


def test_an_api_server_that_never_answers_costs_one_timeout(server: DockyardServer, tmp_path: Path,
                                                            silent_port: int) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG.format(server=f"https://127.0.0.1:{silent_port}"))
    # the subprocess guard is far above one 2 s timeout: a hang fails the test instead of blocking it
    r = doctor("--url", server.url, *login(), "--kubeconfig", str(config), "--timeout", "2",
               "--namespace", "other", "--json", home=tmp_path, timeout=60)
    assert r.code == 1
    problem = r.finding("kubernetes.reach", "problem")
    assert "within 2 s" in problem["message"]
    assert r.json()["context"]["namespace"] == "other"
