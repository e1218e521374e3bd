"""dockyard.oci.http against real HTTP servers on loopback (the stdlib's http.server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dockyard.oci import http


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]]
    other: str = ""  # base URL of the other server, for cross-origin redirects

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                close: bool = False) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = close

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization", ""),
                                "port": str(self.server.server_address[1])})
        if self.path == "/same":
            self._answer(307, headers={"Location": "/echo"})
        elif self.path == "/other":
            self._answer(307, headers={"Location": f"{self.other}/echo"})
        elif self.path == "/loop":
            self._answer(302, headers={"Location": "/loop"})
        elif self.path == "/drop":
            self._answer(200, b"bye", close=True)  # closes without saying Connection: close
        else:
            self._answer(200, json.dumps({"path": self.path}).encode())

    def do_PUT(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(size)
        self._answer(201, json.dumps({"size": len(body)}).encode())


def _serve(seen: list[dict[str, str]]) -> Iterator[tuple[ThreadingHTTPServer, type]]:
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[str, str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    first = _serve(seen)
    second = _serve(seen)
    server_a, handler_a = next(first)
    server_b, _ = next(second)
    url_a = f"http://127.0.0.1:{server_a.server_address[1]}"
    url_b = f"http://127.0.0.1:{server_b.server_address[1]}"
    handler_a.other = url_b
    yield url_a, url_b, seen
    for generator in (first, second):
        generator.close()


def _client() -> http.Client:
    return http.Client(tls=lambda: pytest.fail("no TLS expected"), timeout=5, connect_timeout=5)


def test_redirect_keeps_authorization_only_on_the_same_origin(
        servers: tuple[str, str, list[dict[str, str]]]) -> None:
    url_a, _, seen = servers
    with_auth = {"Authorization": "Bearer secret"}
    client = _client()
    try:
        assert client.get(f"{url_a}/same", headers=with_auth, follow_redirects=True).json() \
            == {"path": "/echo"}
        assert [s["auth"] for s in seen] == ["Bearer secret", "Bearer secret"]
        seen.clear()
        response = client.get(f"{url_a}/other", headers=with_auth, follow_redirects=True)
        assert response.status_code == 200
        assert [s["auth"] for s in seen] == ["Bearer secret", ""]  # not sent to the other host
        assert client.get(f"{url_a}/same").status_code == 307  # not followed unless asked
    finally:
        client.close()


def test_redirect_loops_end_with_an_error(servers: tuple[str, str, list[dict[str, str]]]) -> None:
    url_a, _, _ = servers
    client = _client()
    with pytest.raises(http.HTTPError, match="redirects"):
        client.get(f"{url_a}/loop", follow_redirects=True)
    client.close()


def test_connections_are_reused_and_dead_ones_replaced(
        servers: tuple[str, str, list[dict[str, str]]]) -> None:
    url_a, _, seen = servers
    client = _client()
    try:
        for _ in range(3):
            assert client.get(f"{url_a}/x").json() == {"path": "/x"}
        assert client.get(f"{url_a}/drop").read() == b"bye"  # the server hangs up after this
        assert client.get(f"{url_a}/after").json() == {"path": "/after"}
        assert client.request("PUT", f"{url_a}/up", content=b"x" * 5000).json() == {"size": 5000}
        assert client.request("PUT", f"{url_a}/up", content=iter([b"ab", b"cd"]),
                              headers={"Content-Length": "4"}).json() == {"size": 4}
    finally:
        client.close()
    assert len(seen) == 5


def test_streamed_response_in_pieces(servers: tuple[str, str, list[dict[str, str]]]) -> None:
    url_a, _, _ = servers
    client = _client()
    response = client.get(f"{url_a}/stream-me", stream=True)
    assert b"".join(response.iter_bytes(3)) == b'{"path": "/stream-me"}'
    assert response.headers.get("CONTENT-LENGTH") == "22"
    client.close()


def test_plain_http_proxy_from_the_environment(
        servers: tuple[str, str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    url_a, url_b, seen = servers
    monkeypatch.setenv("HTTP_PROXY", url_b)  # server B plays the proxy: it sees absolute URLs
    monkeypatch.setenv("NO_PROXY", "registry.internal")
    client = _client()
    try:
        client.get("http://example.invalid:5000/v2/")
        assert seen[-1]["path"] == "http://example.invalid:5000/v2/"
        assert seen[-1]["port"] == url_b.rsplit(":", 1)[1]
    finally:
        client.close()
    assert http._proxy_for("http", "registry.internal") is None
    assert http._proxy_for("http", "a.registry.internal") is None
    assert http._proxy_for("https", "example.com") is None  # HTTPS_PROXY not set


def test_unreachable_host_is_a_transport_error() -> None:
    client = _client()
    with pytest.raises(http.TransportError, match="127.0.0.1:9"):
        client.get("http://127.0.0.1:9/v2/")
    client.close()


def test_bodies_read_whole_are_bounded(servers: tuple[str, str, list[dict[str, str]]],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url_a, _, _ = servers
    monkeypatch.setattr(http, "MAX_BODY", 10)
    client = _client()
    with pytest.raises(http.TransportError, match="larger than 10 bytes"):
        client.get(f"{url_a}/a-path-long-enough")
    assert b"".join(client.get(f"{url_a}/streamed", stream=True).iter_bytes()) \
        == b'{"path": "/streamed"}'  # streamed bodies are the caller's to bound
    client.close()
