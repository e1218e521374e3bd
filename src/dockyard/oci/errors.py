"""What a registry request raises: the HTTP status and the registry's error JSON, never
credentials. Shared by the session (`transport`), the token flow (`auth`) and `remote`."""

from __future__ import annotations

import json
from typing import Any

from dockyard.oci import http


class RegistryError(Exception):
    """A registry request failed; `status` and the registry's `errors` list when it answered."""

    def __init__(
        self, message: str, status: int | None = None, errors: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.errors = errors or []

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code", "")) for e in self.errors]


class RegistryAuthError(RegistryError):
    """Missing or refused credentials."""


class NotFoundError(RegistryError):
    """The manifest, tag, blob or repository does not exist."""


def error_from(response: http.Response, what: str) -> RegistryError:
    """The error for a registry answer that is not the expected one (`what` names the object)."""
    errors: list[dict[str, Any]] = []
    try:
        body = json.loads(response.read() or b"{}")
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            errors = [e for e in body["errors"] if isinstance(e, dict)]
    except (ValueError, http.HTTPError):
        pass
    detail = "; ".join(
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors
    ) or (response.reason_phrase or "")
    status = response.status_code
    message = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status == 401:
        return RegistryAuthError(
            message + "; check the credentials for this registry (config.json)", status, errors
        )
    if status == 403:
        return RegistryAuthError(
            message + "; the credentials lack permission for this repository", status, errors
        )
    if status == 404:
        return NotFoundError(message, status, errors)
    return RegistryError(message, status, errors)
