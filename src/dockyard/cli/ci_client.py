"""The CI commands' connection: the shared `dockyard.cli.remote` options (--url/--user/--password/
--token, DOCKYARD_URL/DOCKYARD_USER/DOCKYARD_PASSWORD/DOCKYARD_TOKEN), plus Jenkins' crumb for
password sessions (an API token needs none)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from dockyard.cli.remote import RemoteError, add_remote_arguments, remote_from


def add_connection(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    add_remote_arguments(parser, nested=nested)


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[httpx.Client]:
    try:
        remote = remote_from(args)
    except RemoteError as e:
        raise SystemExit(f"dockyard: {e}") from None
    http = remote.client()
    try:
        if remote.auth() is not None:
            r = http.get("/crumbIssuer/api/json")
            if r.status_code == 200:
                crumb = r.json()
                http.headers[crumb["crumbRequestField"]] = crumb["crumb"]
        yield http
    except httpx.ConnectError as e:
        raise SystemExit(
            f"dockyard: cannot reach Dockyard at {remote.url} ({e}); start it with"
            " `dockyard up` or pass --url / set DOCKYARD_URL"
        ) from None
    except httpx.HTTPError as e:
        raise SystemExit(f"dockyard: request to {remote.url} failed: {e}") from None
    finally:
        http.close()


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code == 401:
        raise SystemExit(
            "dockyard: authentication failed: pass --user/--password or --token"
            " (or DOCKYARD_USER/DOCKYARD_PASSWORD/DOCKYARD_TOKEN)"
        )
    if response.status_code >= 400:
        message = response.headers.get("x-error") or response.text.strip()
        raise SystemExit(
            f"dockyard: {response.request.method} {response.request.url.path}: "
            f"{response.status_code} {message}"
        )
    return response
