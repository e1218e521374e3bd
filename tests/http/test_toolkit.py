"""The toolkit's readers in process: depth limit, strict types, forms (including curl -F's
multipart), typed fields and each wire format's error shape."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest
from starlette.requests import Request

from dockyard.http import (
    GITEA,
    HARBOR,
    JENKINS,
    NATIVE,
    OCI,
    TOKEN,
    BadRequest,
    WireFormat,
    fields,
    form_body,
    json_object,
    parse_json,
    too_large,
)
from tests.conftest import require_tool


def _request(body: bytes, content_type: str | None) -> Request:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": headers}
    return Request(scope, receive)


def test_depth_limit_counts_arrays_and_objects() -> None:
    assert parse_json("[" * 64 + "]" * 64) is not None
    for deep in ("[" * 65 + "]" * 65, '{"a":' * 65 + "1" + "}" * 65, "[" * 200_000 + "]" * 200_000):
        with pytest.raises(BadRequest, match="nested deeper"):
            parse_json(deep)


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{", b"NaN-ish", b'{"a":1}x'])
def test_malformed_json_is_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(raw)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_json_needs_application_json(content_type: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        asyncio.run(json_object(_request(b"{}", content_type)))
    assert caught.value.status == 415


def test_json_object_shapes() -> None:
    ok = asyncio.run(json_object(_request(b'{"a": 1}', "application/json; charset=UTF-8")))
    assert ok == {"a": 1}
    assert asyncio.run(json_object(_request(b"", None), optional=True)) == {}
    with pytest.raises(BadRequest, match="not an array"):
        asyncio.run(json_object(_request(b"[]", "application/json")))
    with pytest.raises(BadRequest) as caught:
        asyncio.run(json_object(_request(b"{}" + b" " * 100, "application/json"), limit=10))
    assert caught.value.status == 413


def test_curl_multipart_form_is_parsed(tmp_path: Any) -> None:
    """The bytes curl -F really sends (caught by a one-shot local socket) parse into the text
    fields; file parts are skipped."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    captured: dict[str, bytes] = {}

    def accept() -> None:
        conn, _ = server.accept()
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data or not data.endswith(b"--\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        conn.close()
        captured["raw"] = data

    require_tool("curl")
    thread = threading.Thread(target=accept)
    thread.start()
    upload = tmp_path / "f.txt"
    upload.write_text("file content")
    subprocess.run(["curl", "-sS", "-F", "NAME=v\u2603", "-F", "OTHER=", "-F", f"file=@{upload}",
                    f"http://127.0.0.1:{server.getsockname()[1]}/"], check=True, timeout=10,
                   capture_output=True)
    thread.join()
    server.close()
    head, _, body = captured["raw"].partition(b"\r\n\r\n")
    content_type = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-type:"))
    assert asyncio.run(form_body(_request(body, content_type))) == {"NAME": "v\u2603", "OTHER": ""}


def test_malformed_multipart_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="multipart"):
        asyncio.run(form_body(_request(b"abcd", "multipart/form-data; boundary=xyz")))


def test_fields_name_the_field_and_the_rule() -> None:
    body = {"name": 123, "description": "x" * 2049, "private": "yes", "metadata": "x"}
    with pytest.raises(BadRequest, match="name must be a string, not a number"):
        fields.text(body, "name")
    with pytest.raises(BadRequest, match="limit is 2048"):
        fields.text(body, "description", max_len=fields.GITEA_REPO_DESCRIPTION_MAX)
    with pytest.raises(BadRequest, match="true or false"):
        fields.boolean(body, "private")
    with pytest.raises(BadRequest, match="must be an object"):
        fields.obj(body, "metadata")
    assert fields.optional_text({"website": None}, "website") is None


@pytest.mark.parametrize("wire,status,check", [
    (OCI, 400, lambda b: b["errors"][0]["code"] == "BAD_REQUEST"),
    (TOKEN, 400, lambda b: b["error"] == "invalid_request"),
    (HARBOR, 400, lambda b: b["errors"][0] == {"code": "BAD_REQUEST", "message": "bad"}),
    (GITEA, 422, lambda b: b == {"message": "bad", "url": "https://docs.gitea.com/api/"}),
    (NATIVE, 400, lambda b: b["message"] == "bad"),
])
def test_each_wire_format_has_its_shape(wire: WireFormat, status: int, check: Any) -> None:
    response = wire.render(BadRequest("bad"))
    assert response.status_code == status
    assert check(json.loads(bytes(response.body)))
    assert wire.render(too_large(10)).status_code == 413
    assert wire.internal().status_code == 500


def test_jenkins_errors_are_plain_text_with_a_sendable_header() -> None:
    response = JENKINS.render(BadRequest("job \u2603\x00 not found"))
    assert response.status_code == 400 and response.media_type == "text/plain"
    assert response.headers["x-error"] == "job \\u2603? not found"
