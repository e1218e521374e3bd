"""Bounded, typed request bodies: the one way an API handler reads what a client sent.

Bodies are read in chunks and refused the moment they pass the limit (never buffered whole
first); JSON must say `application/json` (a cross-site HTML form can only send
`text/plain`, urlencoded or multipart, so strictness here is CSRF protection); nesting is
limited so neither the parser nor code walking the result can exhaust the stack.
"""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from dockyard.http.errors import UNSUPPORTED_TYPE, BadRequest, too_large

KiB = 1024
MiB = 1024 * KiB
JSON_LIMIT = 1 * MiB
WEBHOOK_LIMIT = 25 * MiB  # GitHub's own cap on a webhook payload
JOB_XML_LIMIT = 4 * MiB  # a job's config.xml may embed a 1 MiB Jenkinsfile, XML-escaped
MAX_DEPTH = 64
BODY_CACHE_KEY = "dockyard_http_body"


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int = JSON_LIMIT) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` bytes."""
    cached = request.scope.get(BODY_CACHE_KEY)
    if cached is not None:
        if len(cached) > limit:
            raise too_large(limit)
        return bytes(cached)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit)
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        parts.append(chunk)
    body = b"".join(parts)
    request.scope[BODY_CACHE_KEY] = body
    return body


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text -> value, refusing invalid UTF-8/JSON and nesting deeper than `max_depth`."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"JSON is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise BadRequest(f"JSON is nested deeper than {max_depth} levels")
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def require_json_type(request: Request) -> None:
    """415 unless the body is declared `application/json` (charset allowed)."""
    if media_type(request) != "application/json":
        got = media_type(request) or "no Content-Type"
        raise BadRequest(
            f"send the body as JSON with Content-Type: application/json (got {got})",
            status=415,
            code=UNSUPPORTED_TYPE,
        )


async def json_body(request: Request, limit: int = JSON_LIMIT, *, empty: Any = None) -> Any:
    """The JSON body of any shape; an empty body gives `empty` (when not None) before the
    Content-Type check, so a bodiless POST stays valid where the API allows it."""
    raw = await read_body(request, limit)
    if empty is not None and not raw.strip():
        return empty
    require_json_type(request)
    return parse_json(raw)


async def json_object(request: Request, limit: int = JSON_LIMIT, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; `optional` lets an empty body mean `{}`."""
    value = await json_body(request, limit, empty={} if optional else None)
    if not isinstance(value, dict):
        raise BadRequest(f"request body must be a JSON object, not {type_name(value)}")
    return value


async def form_body(request: Request, limit: int = JSON_LIMIT) -> dict[str, str]:
    """The text fields of an urlencoded or `multipart/form-data` body (first value of each;
    file parts are skipped). Parsed with the standard library: no python-multipart."""
    raw = await read_body(request, limit)
    if media_type(request) == "multipart/form-data":
        return _multipart_fields(request.headers.get("content-type", ""), raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("form body is not valid UTF-8") from None
    form: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(key, value)
    return form


def _multipart_fields(content_type: str, raw: bytes) -> dict[str, str]:
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    if not message.is_multipart() or message.defects:
        raise BadRequest("multipart/form-data body is malformed (boundary or part headers)")
    form: dict[str, str] = {}
    for part in message.iter_parts():
        if part.get_param("filename", header="content-disposition") is not None:
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        try:
            form.setdefault(name, payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"form field {name!r} is not valid UTF-8") from None
    return form


def type_name(value: Any) -> str:
    """JSON's name for a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
