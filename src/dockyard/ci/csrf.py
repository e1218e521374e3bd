"""Jenkins-style authentication and CSRF for the CI endpoints.

As in Jenkins: every request must be authenticated (Basic with password or API token, or
`Authorization: token/bearer <api token>`); a POST authenticated with a *password* must carry a
`Jenkins-Crumb` header whose value is bound to the user and to the session cookie it was issued
for (the tutorial's C.2 cookie jar). A POST authenticated with an API token needs no crumb.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import AuthService, Principal, is_write, missing_scope, parse_authorization
from dockyard.http import jenkins_error

CRUMB_FIELD = "Jenkins-Crumb"
SESSION_COOKIE = "JSESSIONID.dockyard"


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        return jenkins_error(self.status, self.message, self.headers)


class CrumbIssuer:
    def __init__(self, auth: AuthService, key: bytes | None = None) -> None:
        self.auth = auth
        self.key = key or secrets.token_bytes(32)

    def principal(self, request: Request) -> Principal:
        creds = parse_authorization(request.headers.get("authorization"))
        principal = self.auth.authenticate(creds)
        if principal is None or principal.is_anonymous:
            raise HTTPError(
                401,
                "Authentication required: use a Dockyard user and password or API token",
                {"WWW-Authenticate": 'Basic realm="Dockyard"'},
            )
        writing = is_write(request.method)  # CI builds repositories: read:/write:repository
        if not principal.allows("repository", writing):
            raise HTTPError(403, missing_scope("repository", writing))
        return principal

    def session_of(self, request: Request) -> str | None:
        return request.cookies.get(SESSION_COOKIE)

    def crumb(self, principal: Principal, session: str) -> str:
        msg = f"{principal.username}\0{session}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def issue(self, request: Request, principal: Principal) -> tuple[str, str | None]:
        """(crumb, new session id to set as cookie or None when the client already has one)."""
        session = self.session_of(request)
        new = None
        if not session:
            session = new = secrets.token_urlsafe(24)
        return self.crumb(principal, session), new

    def check_post(self, request: Request, principal: Principal) -> None:
        if principal.via != "password":
            return
        session = self.session_of(request)
        given = request.headers.get(CRUMB_FIELD) or request.query_params.get(CRUMB_FIELD)
        if not given or not session or not hmac.compare_digest(given, self.crumb(principal, session)):
            raise HTTPError(
                403,
                "No valid crumb was included in the request: GET /crumbIssuer/api/json with"
                " the same cookie jar and send the Jenkins-Crumb header, or authenticate"
                " with an API token",
            )
