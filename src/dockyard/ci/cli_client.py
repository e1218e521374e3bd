"""Connection options every CI command shares: --url/--user/--password/--token, or DOCKYARD_URL,
DOCKYARD_USER, DOCKYARD_PASSWORD/DOCKYARD_TOKEN (default http://127.0.0.1:8080)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("DOCKYARD_URL", "http://127.0.0.1:8080"),
        help="Dockyard server (default: $DOCKYARD_URL or http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--user",
        default=os.environ.get("DOCKYARD_USER", "admin"),
        help="user name (default: $DOCKYARD_USER or admin)",
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("DOCKYARD_PASSWORD"),
        help="password (default: $DOCKYARD_PASSWORD)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("DOCKYARD_TOKEN"),
        help="API token instead of a password (default: $DOCKYARD_TOKEN)",
    )


def client(args: argparse.Namespace) -> httpx.Client:
    """API tokens go in a header (no crumb needed); passwords use Basic auth plus a crumb session."""
    base = args.url.rstrip("/")
    if args.token:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
    auth = (args.user, args.password) if args.password else None
    http = httpx.Client(base_url=base, auth=auth, timeout=30)
    if auth:
        r = http.get("/crumbIssuer/api/json")
        if r.status_code == 200:
            crumb = r.json()
            http.headers[crumb["crumbRequestField"]] = crumb["crumb"]
    return http


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[httpx.Client]:
    http = client(args)
    try:
        yield http
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
