"""Issue 10 #9: with Gitea's default allow-list (`external`) no webhook reaches loopback, private,
link-local or metadata addresses, however the address is spelt or resolved; the allow-list
follows Gitea's `[webhook] ALLOWED_HOST_LIST` keywords."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from dockyard.git.webhooks import TargetRefused, resolve_targets
from dockyard.http import HostMatchList, parse_address
from tests.conftest import DockyardServer
from tests.git.conftest import Account, client, create_repo
from tests.git.receiver import Receiver

SETTING = "DOCKYARD_WEBHOOK_ALLOWED_HOSTS"
REFUSED_LITERALS = [
    "127.0.0.1", "127.9.9.9", "10.0.0.5", "172.16.3.4", "192.168.1.1", "100.64.0.1",
    "169.254.169.254",  # the cloud metadata service
    "168.63.129.16",  # Azure's
    "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:169.254.169.254]",
    "[fd00::1]", "[fe80::1]", "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "017700000001",  # decimal, octal, hex
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def owner(server: DockyardServer) -> Account:
    from tests.git.conftest import create_user

    return create_user(server, "ssrf")


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_creating_a_hook_to_a_refused_literal_address_is_422(
        server: DockyardServer, owner: Account, host: str) -> None:
    name = create_repo(server, owner)["full_name"]
    with client(server, owner) as c:
        response = c.post(f"/api/v1/repos/{name}/hooks", json={
            "type": "gitea", "active": True,
            "config": {"url": f"http://{host}:8080/hook", "content_type": "json"}})
        assert response.status_code == 422, response.text
        assert SETTING in response.json()["message"]
        assert c.get(f"/api/v1/repos/{name}/hooks").json() == []


def test_editing_a_hook_to_a_refused_address_is_422(server: DockyardServer,
                                                     owner: Account) -> None:
    name = create_repo(server, owner)["full_name"]
    with client(server, owner) as c:
        hook = c.post(f"/api/v1/repos/{name}/hooks", json={
            "type": "gitea", "config": {"url": "http://hooks.example.com/h",
                                        "content_type": "json"}})
        assert hook.status_code == 201, hook.text
        edit = c.patch(f"/api/v1/repos/{name}/hooks/{hook.json()['id']}",
                       json={"config": {"url": "http://169.254.169.254/latest/meta-data/"}})
        assert edit.status_code == 422 and SETTING in edit.json()["message"]
        bad_port = c.patch(f"/api/v1/repos/{name}/hooks/{hook.json()['id']}",
                           json={"config": {"url": "http://hooks.example.com:99999/h"}})
        assert bad_port.status_code == 422 and "config.url" in bad_port.json()["message"]
        kept = c.get(f"/api/v1/repos/{name}/hooks/{hook.json()['id']}").json()
        assert kept["config"]["url"] == "http://hooks.example.com/h"


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
        server: DockyardServer, owner: Account, receiver: Receiver) -> None:
    """`localhost` passes creation (a name), but its resolved address is checked when sent."""
    name = create_repo(server, owner)["full_name"]
    with client(server, owner) as c:
        hook = c.post(f"/api/v1/repos/{name}/hooks", json={
            "type": "gitea", "active": True,
            "config": {"url": f"http://localhost:{receiver.port}/hook", "content_type": "json"}})
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
        assert c.post(f"/api/v1/repos/{name}/hooks/{hook_id}/tests").status_code == 204
        deliveries = f"/api/v1/repos/{name}/hooks/{hook_id}/deliveries"
        deadline = time.monotonic() + 10
        while not c.get(deliveries).json() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # the first retry would come after 1 s: a refusal is final
        log = c.get(deliveries).json()
    assert receiver.requests == []
    assert len(log) == 1 and log[0]["is_succeed"] is False and log[0]["status_code"] is None
    error = log[0]["error"]
    assert error.startswith("refused:") and "resolved from localhost" in error
    assert "loopback" in error and SETTING in error
    assert log[0]["response"]["body"] == ""


# the allow-list itself (Gitea's hostmatcher semantics) ------------------------------------------
def _allows(value: str, host: str, address: str | None = None) -> bool:
    ip = parse_address(address or host)
    assert ip is not None
    return HostMatchList.parse(value).allows(host, ip)


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_external_refuses_every_internal_spelling(host: str) -> None:
    assert not _allows("external", host.strip("[]"))


def test_keywords_cidrs_and_globs() -> None:
    assert _allows("external", "93.184.216.34") and _allows("external", "2606:4700::1111")
    assert _allows("loopback", "127.0.0.1") and _allows("loopback", "::1")
    assert _allows("loopback", "::ffff:127.0.0.1") and _allows("loopback", "2130706433")
    assert not _allows("loopback", "10.0.0.1") and not _allows("loopback", "93.184.216.34")
    assert _allows("private", "10.0.0.1") and _allows("private", "fd12::1")
    assert not _allows("private", "127.0.0.1")
    # link-local (metadata) and 0.0.0.0 only by `*` or a CIDR, as in Gitea
    assert not _allows("external,private,loopback", "169.254.169.254")
    assert not _allows("external,private,loopback", "0.0.0.0")
    assert _allows("*", "169.254.169.254") and _allows("169.254.0.0/16", "169.254.169.254")
    assert _allows("10.1.0.0/16", "10.1.2.3") and not _allows("10.1.0.0/16", "10.2.0.1")
    assert _allows(" External , LOOPBACK ", "127.0.0.1")
    # host globs match the name written in the URL, whatever it resolves to
    assert _allows("*.corp.example", "ci.corp.example", "10.0.0.7")
    assert not _allows("*.corp.example", "ci.other.example", "10.0.0.7")


def test_parse_address_reads_what_the_resolver_reads() -> None:
    assert parse_address("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_address("0x7f.1") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_address("[::ffff:169.254.169.254]") == ipaddress.IPv4Address("169.254.169.254")
    assert parse_address("hooks.example.com") is None


def test_resolve_target_connects_to_the_address_it_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: one lookup per attempt; the request goes to the checked addresses only,
    with the original Host header and TLS name."""
    answers = [["127.0.0.1", "93.184.216.34", "10.0.0.1", "2606:4700::1111"], ["127.0.0.1"]]
    calls: list[str] = []

    async def getaddrinfo(_self: object, host: str, port: int, **_kw: object) -> list:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers.pop(0)]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    external = HostMatchList.parse("external")
    targets = asyncio.run(resolve_targets("https://u:p@hooks.example.com:8443/x?y=1", external))
    assert [t.url for t in targets] == ["https://u:p@93.184.216.34:8443/x?y=1",
                                        "https://u:p@[2606:4700::1111]:8443/x?y=1"]
    assert {(t.host_header, t.server_name) for t in targets} == {
        ("hooks.example.com:8443", "hooks.example.com")}
    with pytest.raises(TargetRefused, match="127.0.0.1 \\(resolved from hooks.example.com\\)"):
        asyncio.run(resolve_targets("http://hooks.example.com/x", external))
    assert calls == ["hooks.example.com", "hooks.example.com"]  # once per attempt, no more
