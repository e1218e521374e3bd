"""The CI commands' connection: the shared `dockyard.cli.remote` options (--url/--user/--password/
--token, DOCKYARD_URL/DOCKYARD_USER/DOCKYARD_PASSWORD/DOCKYARD_TOKEN), plus Jenkins' crumb for
password sessions (an API token needs none)."""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager

from dockyard.cli.lean_httpx import httpx
from dockyard.cli.remote import add_remote_arguments, error_of, session


def add_connection(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    add_remote_arguments(parser, nested=nested)


def connect(args: argparse.Namespace) -> AbstractContextManager[httpx.Client]:
    """A client for the Jenkins and native CI APIs, with a crumb when it signs in with a password."""
    return session(args, crumb=True)


def check(response: httpx.Response) -> httpx.Response:
    """The response when it succeeded; else the RemoteError of `remote.error_of`."""
    if not response.is_success:
        response.read()  # a streamed response's body, for the message
        raise error_of(response)
    return response
