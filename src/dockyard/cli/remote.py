"""Options shared by every command that talks to a running Dockyard: where it is and who we are.

    --url        DOCKYARD_URL        default http://127.0.0.1:8080
    --user       DOCKYARD_USER
    --password   DOCKYARD_PASSWORD   (also spelled --dockyard-password, for commands whose own
                                      --password means something else, e.g. a stored secret)
    --token      DOCKYARD_TOKEN      an API token (`dockyard user token`), sent as `token <t>`

A flag wins over the environment. Commands with sub-actions add the options on both levels:
`dockyard credentials --user admin list` and `dockyard credentials list --user admin` both work.

Use in a command module:

    def add_arguments(parser):
        add_remote_arguments(parser)                      # sub-action parsers: nested=True
    def run(args):
        try:
            remote = remote_from(args)                    # Remote(url, user, password, token)
            data = check(remote.request("GET", "/api/ci/credentials"))   # JSON or RemoteError
        except RemoteError as exc:
            print(f"dockyard x: {exc}", file=sys.stderr); return 1

`remote.client()` gives an authenticated `httpx.Client` for longer conversations.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from dockyard.cli.errors import CommandError
from dockyard.cli.lean_httpx import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class RemoteError(CommandError):
    """A request to the server failed; the message is the server's explanation or the fix."""


# what one path segment (an owner, a repository, a job, a tag) may be: Gitea's and the
# registry's name characters; `.`/`..` and anything with `/` never reach a URL
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def segment(value: str, what: str) -> str:
    """`value` quoted for a URL path, or a CommandError (exit 2) naming what is wrong with it."""
    if not _SEGMENT.match(value) or len(value) > 255:
        raise CommandError(
            f"{what} {value!r} is not a valid name: letters, digits, '_', '-' and '.', not"
            " starting with '.' or '-', no '/'", code=2)
    return quote(value, safe="")


def owner_and_name(value: str, what: str = "repository") -> tuple[str, str]:
    """OWNER/NAME, each part checked by `segment`."""
    owner, slash, name = value.partition("/")
    if not slash:
        raise CommandError(f"{what} {value!r}: give it as OWNER/NAME", code=2)
    return segment(owner, "owner"), segment(name, what)


def add_remote_arguments(
    parser: argparse.ArgumentParser, *, password_flag: bool = True, nested: bool = False
) -> None:
    """Add --url/--user/--password/--token. `nested` (a sub-action's parser) keeps the parent's values."""
    default = argparse.SUPPRESS if nested else None
    group = parser.add_argument_group("server connection")
    group.add_argument(
        "--url",
        dest="remote_url",
        metavar="URL",
        default=default,
        help=f"Dockyard base URL (default: $DOCKYARD_URL or {DEFAULT_URL})",
    )
    group.add_argument(
        "--user",
        dest="remote_user",
        metavar="USER",
        default=default,
        help="user to authenticate as (default: $DOCKYARD_USER)",
    )
    flags = ["--password", "--dockyard-password"] if password_flag else ["--dockyard-password"]
    # the flag that error messages name; where an action's own --password is something else (a
    # secret to store, a new user's password) that is --dockyard-password
    parser.set_defaults(_password_flag="--password" if password_flag else "--dockyard-password")
    group.add_argument(
        *flags,
        dest="remote_password",
        metavar="PASSWORD",
        default=default,
        help="that user's password on the server (default: $DOCKYARD_PASSWORD)",
    )
    group.add_argument(
        "--token",
        dest="remote_token",
        metavar="TOKEN",
        default=default,
        help="API token instead of a password (default: $DOCKYARD_TOKEN)",
    )


def add_actions(parser: argparse.ArgumentParser) -> Any:
    """The sub-action parsers of a command that talks to the server (the connection options on
    the command; `with_connection` repeats them on each action)."""
    add_remote_arguments(parser)
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def with_connection(*actions: argparse.ArgumentParser, json_flag: str = "") -> None:
    """Connection options on each action; `json_flag`: also --json, printing that API's JSON."""
    for action in actions:
        if json_flag:
            action.add_argument("--json", action="store_true", help=f"print {json_flag}'s JSON")
        add_remote_arguments(action, nested=True)


def print_json(data: Any) -> int:
    print(json.dumps(data, indent=2))
    return 0


@dataclass(frozen=True)
class Remote:
    """A resolved connection: base URL and at most one way to authenticate."""

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"token {self.token}"}
        return {}

    def auth(self) -> tuple[str, str] | None:
        if not self.token and self.user and self.password is not None:
            return (self.user, self.password)
        return None

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth(), headers=self.headers(), timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; connection failures become a RemoteError that says how to fix them."""
        with transport_errors(self.url), self.client() as client:
            return client.request(method, path, **kwargs)


@contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """httpx's connection and protocol failures as RemoteErrors naming the server and the fix."""
    try:
        yield
    except httpx.ConnectError as exc:
        raise RemoteError(
            f"cannot reach Dockyard at {url} ({exc}); start it with `dockyard up` "
            "or pass --url / set DOCKYARD_URL"
        ) from None
    except httpx.HTTPError as exc:
        where = f"{exc.request.method} {exc.request.url}" if _has_request(exc) else url
        raise RemoteError(f"request {where} failed: {type(exc).__name__}: {exc}") from None


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def remote_from(args: argparse.Namespace) -> Remote:
    """Flags over environment over defaults; asks for a missing password only on a terminal."""
    url = getattr(args, "remote_url", None) or os.environ.get("DOCKYARD_URL") or DEFAULT_URL
    url, url_user, url_password = split_credentials(url)
    user = getattr(args, "remote_user", None) or os.environ.get("DOCKYARD_USER") or url_user
    password = getattr(args, "remote_password", None)
    if password is None:
        password = os.environ.get("DOCKYARD_PASSWORD", url_password)
    token = getattr(args, "remote_token", None) or os.environ.get("DOCKYARD_TOKEN") or None
    if user and password is None and not token:
        flag = getattr(args, "_password_flag", "--password")
        if sys.stdin.isatty():
            password = getpass.getpass(f"Dockyard password for {user}: ")
        else:
            own = " (this command's --password is the secret it stores)" if flag != "--password" else ""
            raise RemoteError(
                f"user {user!r} needs a password for {url}: pass {flag} or --token, or set"
                f" DOCKYARD_PASSWORD{own}"
            )
    return Remote(url.rstrip("/"), user, password, token)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`http://user:pw@host` -> (`http://host`, user, pw), as curl and git read such a URL, so
    the password is used but never printed in an error message naming the server."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if colon else None


@contextmanager
def session(args: argparse.Namespace, *, crumb: bool = False) -> Iterator[httpx.Client]:
    """An authenticated client for a whole command; connection failures become RemoteErrors.
    `crumb`: fetch Jenkins' CSRF crumb first (POSTs to the Jenkins API with a password)."""
    remote = remote_from(args)
    with transport_errors(remote.url), remote.client() as http:
        if crumb and remote.auth() is not None:
            r = http.get("/crumbIssuer/api/json")
            if r.status_code == 200:
                issued = r.json()
                http.headers[issued["crumbRequestField"]] = issued["crumb"]
        yield http


def pages(http: httpx.Client, path: str, *, size_param: str = "limit", size: int = 50,
          params: dict[str, Any] | None = None) -> Iterator[Any]:
    """Every item of a paged list (Gitea's page/limit, Harbor's page/page_size): pages are
    fetched until one comes back short."""
    page = 1
    while True:
        batch = check(http.get(path, params={**(params or {}), "page": page, size_param: size}))
        if not isinstance(batch, list):
            raise RemoteError(f"GET {path}: expected a JSON list, got {type(batch).__name__}")
        yield from batch
        if len(batch) < size:
            return
        page += 1


def check(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response; otherwise a RemoteError carrying the server's message."""
    if response.is_success:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    raise error_of(response)


def error_of(response: httpx.Response) -> RemoteError:
    """A failed response as one line: method, path, status, the server's message (Gitea's
    `message`, Harbor's `errors`, Jenkins' X-Error) and, for a 401, how to sign in."""
    message = response.headers.get("x-error") or " ".join(response.text.split())[:500]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            message = body["error"]
        elif isinstance(body.get("message"), str):
            message = body["message"]
        elif isinstance(body.get("errors"), list) and body["errors"]:
            message = "; ".join(str(e.get("message", e)) for e in body["errors"] if isinstance(e, dict))
    hint = ""
    if response.status_code == 401 and "authorization" in response.request.headers:
        hint = " (check --user and --password or --token, or DOCKYARD_USER/DOCKYARD_PASSWORD/DOCKYARD_TOKEN)"
    elif response.status_code == 401:
        hint = " (pass --user and --password or --token, or set DOCKYARD_USER/DOCKYARD_PASSWORD)"
    return RemoteError(
        f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}: {message}{hint}"
    )
