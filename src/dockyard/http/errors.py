"""One error path: a validation failure raised anywhere becomes the 4xx of the API it hit.

Handlers raise `BadRequest` (or let the toolkit's readers raise it); the server renders it with
the `WireFormat` of the path's API, so a Gitea client gets Gitea's `{"message", "url"}`, docker
gets the distribution spec's `{"errors": [{"code"}]}`, python-jenkins gets plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse, PlainTextResponse, Response

# Generic codes; a wire format maps them to its own vocabulary.
INVALID = "INVALID"
TOO_LARGE = "TOO_LARGE"
UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
INTERNAL = "INTERNAL"


class BadRequest(Exception):
    """Input the server refuses; `code` is a generic code or the wire format's own."""

    def __init__(self, message: str, *, status: int = 400, code: str = INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def too_large(limit: int) -> BadRequest:
    return BadRequest(
        f"request body is larger than the limit of {limit} bytes for this endpoint",
        status=413,
        code=TOO_LARGE,
    )


@dataclass(frozen=True)
class WireFormat:
    """How one API spells an error: `render(status, code, message)` -> response."""

    name: str
    render_fn: Callable[[int, str, str], Response]
    validation_status: int = 400  # what the API answers for a body it cannot bind (Gitea: 422)

    def render(self, exc: BadRequest) -> Response:
        status = self.validation_status if exc.status == 400 and exc.code == INVALID else exc.status
        return self.render_fn(status, exc.code, exc.message)

    def internal(self) -> Response:
        message = "internal server error: the server log has the details"
        return self.render_fn(500, INTERNAL, message)


_OCI_CODES = {INVALID: "BAD_REQUEST", TOO_LARGE: "SIZE_INVALID",
              UNSUPPORTED_TYPE: "UNSUPPORTED", INTERNAL: "UNKNOWN"}
_HARBOR_CODES = {INVALID: "BAD_REQUEST", TOO_LARGE: "PAYLOAD_TOO_LARGE",
                 UNSUPPORTED_TYPE: "UNSUPPORTED_MEDIA_TYPE", INTERNAL: "UNKNOWN"}
_TOKEN_CODES = {INVALID: "invalid_request", TOO_LARGE: "invalid_request",
                UNSUPPORTED_TYPE: "invalid_request", INTERNAL: "server_error"}


def _oci(status: int, code: str, message: str) -> Response:
    body = {"errors": [{"code": _OCI_CODES.get(code, code), "message": message}]}
    return JSONResponse(body, status_code=status,
                        headers={"Docker-Distribution-API-Version": "registry/2.0"})


def _token(status: int, code: str, message: str) -> Response:
    oauth = _TOKEN_CODES.get(code, code)
    body = {"errors": [{"code": oauth, "message": message}], "error": oauth,
            "error_description": message}
    return JSONResponse(body, status_code=status)


def _harbor(status: int, code: str, message: str) -> Response:
    body = {"errors": [{"code": _HARBOR_CODES.get(code, code), "message": message}]}
    return JSONResponse(body, status_code=status)


def _gitea(status: int, _code: str, message: str) -> Response:
    return JSONResponse({"message": message, "url": "https://docs.gitea.com/api/"},
                        status_code=status)


def _jenkins(status: int, _code: str, message: str) -> Response:
    return jenkins_error(status, message)


def jenkins_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Jenkins' plain-text error with its `X-Error` header (kept Latin-1 safe: header values are
    bytes, and a job name in a message may be any Unicode)."""
    first = message.splitlines()[0][:200] if message else ""
    safe = re.sub(r"[\x00-\x1f\x7f]", "?", first.encode("ascii", "backslashreplace").decode("ascii"))
    return PlainTextResponse(message + "\n", status, headers={"X-Error": safe, **(headers or {})})


def _native(status: int, _code: str, message: str) -> Response:
    # `message` as the CI endpoints answer, `error` as the credentials API does.
    return JSONResponse({"message": message, "error": message}, status_code=status)


OCI = WireFormat("oci", _oci)
TOKEN = WireFormat("token", _token)
HARBOR = WireFormat("harbor", _harbor)
GITEA = WireFormat("gitea", _gitea, validation_status=422)
JENKINS = WireFormat("jenkins", _jenkins)
NATIVE = WireFormat("native", _native)
