"""What every `/api/v1` endpoint shares: the caller, the repository it names, Gitea's errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.auth import (
    AuthHeader,
    AuthService,
    Principal,
    Role,
    is_write,
    missing_scope,
    parse_authorization,
)
from dockyard.events import EventBus
from dockyard.git.gitcmd import GitError
from dockyard.git.names import strip_git_suffix
from dockyard.git.protection import ProtectionStore
from dockyard.git.pushes import PushNotifier
from dockyard.git.repos import Repo, RepoError, RepoService
from dockyard.git.webhooks import Deliverer, HookStore
from dockyard.http import fields, json_object, small_int

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ApiContext:
    """The services the API handlers use, built once by GitServer."""

    auth: AuthService
    repos: RepoService
    hooks: HookStore
    deliverer: Deliverer
    notifier: PushNotifier
    bus: EventBus
    protections: ProtectionStore
    base_url_value: str

    @property
    def base_url(self) -> str:
        return self.base_url_value

    async def principal(self, request: Request) -> Principal:
        """The caller: basic, `token <t>`, `bearer <t>`, `?token=` or `?access_token=`."""
        creds: AuthHeader | None = parse_authorization(request.headers.get("authorization"))
        if creds is None:
            query_token = request.query_params.get("token") or request.query_params.get(
                "access_token")
            if query_token:
                creds = AuthHeader("token", query_token)
        principal = await run_in_threadpool(self.auth.authenticate, creds)
        if principal is None:
            raise ApiError(401, "user does not exist or password/token is invalid")
        category = api_scope_category(request.url.path, request.method)
        writing = is_write(request.method)
        if category is not None and not principal.allows(category, writing):
            raise ApiError(403, missing_scope(category, writing))
        return principal

    @staticmethod
    def acting_as(user: Any) -> Principal:
        """A principal for a stored user who is not the caller: the subject of a permission
        query, or the owner an administrator creates an organisation for."""
        return Principal(user_id=user.id, username=user.username, is_admin=bool(user.is_admin),
                         via="password")

    async def user(self, request: Request) -> Principal:
        principal = await self.principal(request)
        if principal.is_anonymous:
            raise ApiError(401, "token is required")
        return principal

    async def repo(self, request: Request, need: Role = Role.READ) -> tuple[Repo, Principal, Role]:
        """The repository in the path; hidden (404) from whoever may not read it."""
        principal = await self.principal(request)
        owner = request.path_params["owner"]
        name = strip_git_suffix(request.path_params["repo"])
        repo = self.repos.get(owner, name)
        role = self.repos.role(principal, repo) if repo else Role.NONE
        if repo is None or role < Role.READ:
            raise ApiError(404, "The target couldn't be found.")
        if role < need:
            if principal.is_anonymous:
                raise ApiError(401, "token is required")
            raise ApiError(403, f"user {principal.username} needs {need.name.lower()} "
                                f"permission on {repo.full_name}")
        return repo, principal, role


_TOP_CATEGORIES = {"users": "user", "orgs": "organization", "admin": "admin",
                   "notifications": "notification", "packages": "package"}
_ISSUE_PARTS = ("issues", "pulls", "labels", "milestones")


def api_scope_category(path: str, method: str = "GET") -> str | None:
    """The token scope category of an `/api/v1` request, as Gitea groups its endpoints."""
    _, found, rest = path.partition("/api/v1/")
    if not found:
        return None
    parts = rest.split("/")
    if parts[0] == "repos":
        return "issue" if len(parts) > 3 and parts[3] in _ISSUE_PARTS else "repository"
    if parts[0] == "user":
        return "repository" if parts[1:2] == ["repos"] else "user"
    if parts[0] == "users" and parts[2:3] == ["tokens"] and method.upper() == "POST":
        return None  # creating a token has its own rule: it needs the password
    if parts[0] in ("users", "orgs") and parts[2:3] == ["repos"]:
        return "repository"
    return _TOP_CATEGORIES.get(parts[0])


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """Turn ApiError/RepoError into Gitea's `{"message", "url"}` error bodies."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error(exc.status, exc.message)
        except RepoError as exc:
            return error(exc.status, str(exc))
        except GitError as exc:
            log.exception("git failed in %s %s", request.method, request.url.path)
            return error(500, f"git failed: {exc.stderr.strip() or exc}")

    return wrapper


def error(status: int, message: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="Dockyard"'} if status == 401 else None
    return JSONResponse({"message": message, "url": "https://docs.gitea.com/api/"},
                        status_code=status, headers=headers)


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object the client sent (an empty body is `{}`); bad input is Gitea's 422."""
    return await json_object(request, optional=True)


def page_params(request: Request, default_limit: int = 30) -> tuple[int, int]:
    """Gitea's `page` (1-based) and `limit` query parameters, limit capped at 50 as in Gitea."""
    # 18 digits at most: a 20-digit page reached `git log --skip` (which refuses it) as a 500
    page, limit = (_signed_small_int(request.query_params.get(key, default))
                   for key, default in (("page", "1"), ("limit", str(default_limit))))
    if page is None or limit is None:
        raise ApiError(422, "page and limit must be integers of at most 18 digits")
    return max(1, page), min(max(limit, 1), 50)


def _signed_small_int(value: str) -> int | None:
    number = small_int(value.removeprefix("-"))
    return None if number is None else -number if value.startswith("-") else number


def paged(request: Request, items: list[Any]) -> Response:
    """One page of `items` (Gitea's `page`/`limit`) with the total in X-Total-Count."""
    page, limit = page_params(request)
    return JSONResponse(items[(page - 1) * limit: page * limit],
                        headers={"X-Total-Count": str(len(items))})


def str_field(body: dict[str, Any], key: str, default: str = "",
              max_len: int = fields.TEXT_MAX) -> str:
    return fields.text(body, key, default=default, max_len=max_len)


def bool_field(body: dict[str, Any], key: str, default: bool = False) -> bool:
    return fields.boolean(body, key, default)
