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
import os
import sys
from dataclasses import dataclass
from typing import Any

from dockyard.cli.lean_httpx import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


class RemoteError(Exception):
    """A request to the server failed; the message is the server's explanation or the fix."""


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
    group.add_argument(
        *flags,
        dest="remote_password",
        metavar="PASSWORD",
        default=default,
        help="that user's password (default: $DOCKYARD_PASSWORD)",
    )
    group.add_argument(
        "--token",
        dest="remote_token",
        metavar="TOKEN",
        default=default,
        help="API token instead of a password (default: $DOCKYARD_TOKEN)",
    )


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
        try:
            with self.client() as client:
                return client.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise RemoteError(
                f"cannot reach Dockyard at {self.url} ({exc}); start it with `dockyard up` "
                "or pass --url / set DOCKYARD_URL"
            ) from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"request to {self.url}{path} failed: {exc}") from None


def remote_from(args: argparse.Namespace) -> Remote:
    """Flags over environment over defaults; asks for a missing password only on a terminal."""
    url = getattr(args, "remote_url", None) or os.environ.get("DOCKYARD_URL") or DEFAULT_URL
    user = getattr(args, "remote_user", None) or os.environ.get("DOCKYARD_USER") or None
    password = getattr(args, "remote_password", None)
    if password is None:
        password = os.environ.get("DOCKYARD_PASSWORD")
    token = getattr(args, "remote_token", None) or os.environ.get("DOCKYARD_TOKEN") or None
    if user and password is None and not token:
        if sys.stdin.isatty():
            password = getpass.getpass(f"Dockyard password for {user}: ")
        else:
            raise RemoteError(
                f"user {user!r} needs a password: pass --password or --token, or set DOCKYARD_PASSWORD"
            )
    return Remote(url.rstrip("/"), user, password, token)


def check(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response; otherwise a RemoteError carrying the server's message."""
    if response.is_success:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    message = response.text.strip()
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
    if response.status_code == 401:
        hint = " (pass --user and --password or --token, or set DOCKYARD_USER/DOCKYARD_PASSWORD)"
    raise RemoteError(
        f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}: {message}{hint}"
    )
