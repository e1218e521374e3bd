"""The caller of a request, authenticated off the event loop.

A password is checked with scrypt (~150 ms of CPU); done on the loop, a stream of wrong
passwords to any endpoint would stall every other request. Valid credentials are cached by
`AuthService`, so the thread hop costs little for real clients.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from dockyard.auth import AuthHeader, AuthService, Principal, parse_authorization


async def authenticate(auth: AuthService, creds: AuthHeader | None) -> Principal | None:
    """ANONYMOUS without credentials, the principal for valid ones, None for invalid ones."""
    return await run_in_threadpool(auth.authenticate, creds)


async def principal_of(request: Request, auth: AuthService) -> Principal | None:
    """The request's `Authorization` header (basic, token or bearer) as a principal."""
    return await authenticate(auth, parse_authorization(request.headers.get("authorization")))
