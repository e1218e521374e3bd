"""Typed fields of a JSON object with the length limits of the APIs Dockyard speaks.

A wrong type or an over-long value is a `BadRequest` naming the field and the rule, which each
API renders in its own shape (Gitea: 422, Harbor: 400) - never a 500 from code that assumed a
string. Limits are those of Gitea's `binding:"MaxSize(n)"` tags and Harbor's swagger.
"""

from __future__ import annotations

from typing import Any

from dockyard.http.body import type_name
from dockyard.http.errors import BadRequest

# Gitea, modules/structs/repo.go and org.go
GITEA_REPO_NAME_MAX = 100
GITEA_REPO_DESCRIPTION_MAX = 2048
GITEA_REPO_WEBSITE_MAX = 1024
GITEA_BRANCH_NAME_MAX = 100
GITEA_USER_NAME_MAX = 40
GITEA_FULL_NAME_MAX = 100
GITEA_ORG_DESCRIPTION_MAX = 255
GITEA_ORG_WEBSITE_MAX = 255
GITEA_LOCATION_MAX = 50
GITEA_EMAIL_MAX = 254
# Harbor, api/v2.0/swagger.yaml (ProjectReq.project_name maxLength)
HARBOR_PROJECT_NAME_MAX = 255
# Every other free-text field: bounded so nothing stored is served back megabytes at a time.
TEXT_MAX = 64 * 1024

_MISSING = object()


def text(body: dict[str, Any], key: str, *, max_len: int = TEXT_MAX, default: str = "",
         required: bool = False) -> str:
    """`body[key]` as a string of at most `max_len` characters (null means `default`)."""
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string, not {type_name(value)}")
    if len(value) > max_len:
        raise BadRequest(f"{key} is {len(value)} characters long; the limit is {max_len}")
    return value


def optional_text(body: dict[str, Any], key: str, *, max_len: int = TEXT_MAX) -> str | None:
    """Like `text`, but None when the field is absent or null (PATCH semantics)."""
    if body.get(key) is None:
        return None
    return text(body, key, max_len=max_len)


def boolean(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false, not {type_name(value)}")
    return value


def optional_boolean(body: dict[str, Any], key: str) -> bool | None:
    """Like `boolean`, but None when the field is absent or null (PATCH semantics)."""
    if body.get(key) is None:
        return None
    return boolean(body, key)


def integer(body: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer, not {type_name(value)}")
    return value


def obj(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object (absent or null means `{}`)."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key} must be an object, not {type_name(value)}")
    return value


def array(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{key} must be an array, not {type_name(value)}")
    return value
