"""The distribution spec's error codes as an exception that renders the spec's JSON body."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

_STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "RANGE_INVALID": 416,
    "PAYLOAD_TOO_LARGE": 413,
}


class RegistryError(Exception):
    """Raised anywhere in a request; the app turns it into the spec's error response."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: Any = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status or _STATUS.get(code, 400)
        self.headers = headers or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return JSONResponse({"errors": [error]}, status_code=self.status, headers=self.headers)
