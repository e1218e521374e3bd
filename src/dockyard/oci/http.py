"""A small HTTP/1.1 client on `http.client` for the registry client: pooled keep-alive
connections, streamed bodies both ways, redirects, proxies from the environment.

Why not httpx here: `dockyard executor` starts in a fresh process for every build (a new pod),
and importing httpx costs about a tenth of a second, a third of the whole budget of a
no-change rebuild. The registry protocol needs little: this module gives exactly that, with
httpx's habits where they matter (Authorization dropped on a redirect to another origin,
HTTP(S)_PROXY / NO_PROXY honoured, idle connections closed by the server detected before
reuse).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

CHUNK = 1 << 20
MAX_REDIRECTS = 5
MAX_BODY = 16 << 20  # a body read whole (not streamed): tokens, errors, small JSON
_IDLE_PER_ORIGIN = 8
_REDIRECT_STATUS = (301, 302, 303, 307, 308)
# a kept-alive connection the server closed meanwhile: the request never reached it
_DROPPED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class HTTPError(Exception):
    """Any failure below HTTP semantics (the message names the cause)."""


class TransportError(HTTPError):
    """The request did not get an answer: connect, TLS, timeout, connection reset."""


Body = bytes | Iterable[bytes] | None


class Headers:
    """Case-insensitive, read-only view of response headers (repeated ones joined)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in items:  # repeated headers joined, as httpx does
            key = name.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


class Response:
    """Status, headers and the body, read whole (`read`, `json`) or in pieces (`iter_bytes`)."""

    def __init__(self, url: str, raw: http.client.HTTPResponse, release: Callable[[bool], None]
                 ) -> None:
        self.url = url
        self.status_code = raw.status
        self.reason_phrase = raw.reason
        self.headers = Headers(raw.getheaders())
        self._raw = raw
        self._release = release
        self._content: bytes | None = None
        self._done = False

    def read(self) -> bytes:
        """The whole body, at most `MAX_BODY` bytes (JSON answers and errors; blobs stream)."""
        if self._content is None:
            try:
                content = self._raw.read(MAX_BODY + 1)
            except (OSError, http.client.HTTPException) as exc:
                self._finish(reusable=False)
                raise TransportError(f"reading the response from {self.url}: {exc}") from None
            if len(content) > MAX_BODY:
                self._finish(reusable=False)
                raise TransportError(f"the response from {self.url} is larger than {MAX_BODY}"
                                     " bytes; refusing it")
            self._content = content
            self._finish(reusable=True)
        return self._content

    def json(self) -> Any:
        return json.loads(self.read())

    def iter_bytes(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        try:
            while data := self._raw.read(chunk_size):
                yield data
        except (OSError, http.client.HTTPException) as exc:
            self._finish(reusable=False)
            raise TransportError(f"reading the response from {self.url}: {exc}") from None
        self._finish(reusable=True)

    def close(self) -> None:
        """Release the connection: kept for reuse only when the body was read to the end."""
        self._finish(reusable=self._content is not None)

    def _finish(self, reusable: bool) -> None:
        if self._done:
            return
        self._done = True
        self._release(reusable and not self._raw.will_close and self._raw.isclosed())


class _Connection(http.client.HTTPConnection):
    """Separate connect and read timeouts (a registry may take long to answer a PUT)."""

    def __init__(self, host: str, port: int | None, connect_timeout: float, timeout: float
                 ) -> None:
        super().__init__(host, port, timeout=timeout, blocksize=CHUNK)
        self.connect_timeout = connect_timeout
        self.proxy_headers: dict[str, str] = {}  # for requests sent to a plain-HTTP proxy

    def connect(self) -> None:
        # an ASCII name as bytes: a str host makes getaddrinfo load the idna codec (~5 ms)
        host: str | bytes = self.host.encode("ascii") if self.host.isascii() else self.host
        self.sock = socket.create_connection((host, self.port), self.connect_timeout)  # type: ignore[arg-type]
        self.sock.settimeout(self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if getattr(self, "_tunnel_host", None):
            self._tunnel()  # type: ignore[attr-defined]


class _TLSConnection(_Connection):
    default_port = 443  # so that the Host header of https://host/ has no ":443"

    def __init__(self, host: str, port: int | None, connect_timeout: float, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port or 443, connect_timeout, timeout)
        self.context = context

    def connect(self) -> None:
        super().connect()
        server_hostname = getattr(self, "_tunnel_host", None) or self.host
        self.sock = self.context.wrap_socket(self.sock, server_hostname=server_hostname)


def _proxy_for(scheme: str, host: str) -> str | None:
    """HTTP(S)_PROXY / ALL_PROXY unless NO_PROXY names the host (suffix match, `*` = all)."""
    env = {k.lower(): v for k, v in os.environ.items() if k.lower().endswith("_proxy")}
    proxy = env.get(f"{scheme}_proxy") or env.get("all_proxy")
    if not proxy:
        return None
    name = host.lower()
    for entry in (env.get("no_proxy") or "").split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry == "*" or (entry and (name == entry or name.endswith("." + entry))):
            return None
    return proxy if "://" in proxy else f"http://{proxy}"


class Client:
    """Thread-safe: each request takes an idle connection of its origin or opens one."""

    def __init__(self, *, tls: ssl.SSLContext | Callable[[], ssl.SSLContext],
                 timeout: float, connect_timeout: float,
                 headers: Mapping[str, str] | None = None) -> None:
        self._tls = tls
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._headers = dict(headers or {})
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        return self._tls if isinstance(self._tls, ssl.SSLContext) else self._tls()

    def _open(self, scheme: str, host: str, port: int) -> _Connection:
        proxy = _proxy_for(scheme, host)
        target_host, target_port = host, port
        if proxy:
            parts = urlsplit(proxy)
            target_host, target_port = parts.hostname or "", parts.port or 80
        connection: _Connection
        if scheme == "https":
            connection = _TLSConnection(target_host, target_port, self._connect_timeout,
                                        self._timeout, self._tls_context())
        else:
            connection = _Connection(target_host, target_port, self._connect_timeout,
                                     self._timeout)
        if proxy:
            parts = urlsplit(proxy)
            headers = {}
            if parts.username:
                raw = f"{parts.username}:{parts.password or ''}".encode()
                headers["Proxy-Authorization"] = "Basic " + base64.b64encode(raw).decode()
            if scheme == "https":
                connection.set_tunnel(host, port, headers)
            else:
                connection.proxy_headers = headers or {"Proxy-Connection": "keep-alive"}
        return connection

    def _take(self, key: tuple[str, str, int]) -> tuple[_Connection, bool]:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection = idle.pop()
                if _still_open(connection):
                    return connection, True
                connection.close()
        return self._open(*key), False

    def _give_back(self, key: tuple[str, str, int], connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _IDLE_PER_ORIGIN:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()

    # -- requests --------------------------------------------------------------------------
    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                content: Body = None, params: Iterable[tuple[str, Any]] | None = None,
                data: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None,
                stream: bool = False, follow_redirects: bool = False) -> Response:
        """One request; the body of a non-stream response is read before returning."""
        all_headers = {**self._headers, **(headers or {})}
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(
                [(k, v) for k, v in params if v is not None])
        if data is not None:
            content = urlencode(dict(data)).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth is not None:
            raw = f"{auth[0]}:{auth[1]}".encode()
            all_headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, all_headers, content)
            if not (follow_redirects and response.status_code in _REDIRECT_STATUS
                    and response.headers.get("location")):
                break
            response.close()
            target = urljoin(url, response.headers["location"])
            if _origin(target) != _origin(url):
                all_headers = {k: v for k, v in all_headers.items()
                               if k.lower() != "authorization"}
            if response.status_code == 303 or (response.status_code in (301, 302)
                                               and method == "POST"):
                method, content = "GET", None
            url = target
        else:
            raise HTTPError(f"more than {MAX_REDIRECTS} redirects from {url}")
        if not stream:
            response.read()
        return response

    def _send(self, method: str, url: str, headers: dict[str, str], content: Body) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HTTPError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        connection, reused = self._take(key)
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if parts.query:
            path += "?" + parts.query
        request_headers = dict(headers)
        if connection.proxy_headers:  # a plain-HTTP proxy takes the absolute URL
            path = f"{parts.scheme}://{parts.netloc}{path}"
            request_headers.update(connection.proxy_headers)
        if isinstance(content, (bytes, bytearray)):
            request_headers["Content-Length"] = str(len(content))
        elif content is None and method in ("POST", "PUT", "PATCH"):
            request_headers["Content-Length"] = "0"
        chunked = content is not None and not isinstance(content, (bytes, bytearray)) \
            and "content-length" not in {k.lower() for k in request_headers}
        try:
            connection.request(method, path, body=content, headers=request_headers,
                               encode_chunked=chunked)
            raw = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if reused and isinstance(exc, _DROPPED) \
                    and isinstance(content, (bytes, bytearray, type(None))):
                return self._send(method, url, headers, content)  # the server closed it idle
            raise TransportError(_describe(exc, parts.netloc)) from None
        if method == "HEAD":
            raw.read()

        def release(reusable: bool) -> None:
            if reusable:
                self._give_back(key, connection)
            else:
                connection.close()

        response = Response(url, raw, release)
        if method == "HEAD" or raw.status in (204, 304):
            response.read()
        return response


def _describe(exc: BaseException, where: str) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out talking to {where}"
    return f"{exc.__class__.__name__}: {text} ({where})"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port


def _still_open(connection: _Connection) -> bool:
    """An idle keep-alive socket that is readable has been closed (or spoken to) by the
    server: it must not carry the next request."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
