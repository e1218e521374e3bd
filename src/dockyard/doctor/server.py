"""The running Dockyard the doctor talks to, and its own checks: it answers, the credentials work,
and Jenkins' crumb + session flow (the tutorial's C.2 pitfall) works for password users.

Every request has a timeout; a server that does not answer is one PROBLEM, never a hang."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dockyard.doctor.findings import OK, PROBLEM, WARNING, Report, brief

if TYPE_CHECKING:
    import httpx

AREA = "server"
CRUMB_XPATH = 'concat(//crumbRequestField,":",//crumb)'


@dataclass
class Server:
    """Where Dockyard is and who the doctor is there (at most one of password and token)."""

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    timeout: float = 10.0
    base_url: str = ""  # the URL the server gives itself (its public URL), learnt by `check_server`
    username: str = ""  # who the credentials belong to, learnt by `check_server`
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def authenticated(self) -> bool:
        return bool(self.token or (self.user and self.password is not None))

    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            auth = (self.user, self.password) if self.user and self.password is not None and not self.token \
                else None
            headers = {"Authorization": f"token {self.token}"} if self.token else {}
            self._client = httpx.Client(base_url=self.url.rstrip("/"), auth=auth, headers=headers,
                                        timeout=self.timeout)
        return self._client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client().get(path, **kwargs)

    def hosts(self) -> set[str]:
        """host:port names this Dockyard answers to (the doctor's URL and the server's own)."""
        return {h for h in (_netloc(self.url), _netloc(self.base_url)) if h}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def check_server(report: Report, server: Server) -> bool:
    """Whether the server answers (and, when credentials are given, accepts them)."""
    import httpx

    try:
        r = server.get("/api/v1/version")
        version = str(r.json().get("version") or "") if r.status_code == 200 else ""
    except httpx.HTTPError as e:
        report.add(AREA, "server.reach", PROBLEM, f"cannot reach Dockyard at {server.url}: {brief(e)}",
                   fix="start it with `dockyard up`, or pass --url URL (or set DOCKYARD_URL)")
        return False
    except (ValueError, AttributeError):
        version = ""
    if "+dockyard-" not in version:
        report.add(AREA, "server.reach", PROBLEM,
                   f"{server.url} does not answer as a Dockyard server"
                   f" (/api/v1/version: HTTP {r.status_code})",
                   fix="pass --url with the address `dockyard up` prints")
        return False
    version = version.split("+dockyard-", 1)[1]
    if not server.authenticated:
        report.add(AREA, "server.reach", OK, f"Dockyard {version} answers at {server.url}")
        report.add(AREA, "server.auth", WARNING,
                   "no credentials given: the job, git and CSRF checks are skipped",
                   fix="pass --user USER --password PASSWORD or --token TOKEN"
                       " (or set DOCKYARD_USER/DOCKYARD_PASSWORD/DOCKYARD_TOKEN)")
        return True
    try:
        me = server.get("/me/api/json")
    except httpx.HTTPError as e:
        report.add(AREA, "server.auth", PROBLEM, f"request to {server.url}/me/api/json failed: {brief(e)}")
        return False
    if me.status_code == 401:
        who = f"user {server.user!r}" if server.user and not server.token else "the API token"
        report.add(AREA, "server.auth", PROBLEM, f"Dockyard at {server.url} rejects {who}",
                   fix="pass the right --password or --token (`dockyard user token USER` makes a token)")
        return False
    if me.status_code != 200:
        report.add(AREA, "server.auth", PROBLEM,
                   f"/me/api/json answered HTTP {me.status_code}: {me.text[:200]}")
        return False
    body = me.json()
    server.username = str(body.get("id") or "")
    absolute = str(body.get("absoluteUrl") or "")
    server.base_url = absolute.rsplit("/user/", 1)[0] if "/user/" in absolute else ""
    report.context["user"] = server.username
    extra = f" (it calls itself {server.base_url})" if server.base_url and \
        server.base_url.rstrip("/") != server.url.rstrip("/") else ""
    report.add(AREA, "server.reach", OK, f"Dockyard {version} answers at {server.url}{extra},"
               f" signed in as {server.username}")
    return True


def check_crumb(report: Report, server: Server) -> None:
    """The tutorial's C.2: a POST authenticated with a password needs a Jenkins-Crumb that belongs
    to the session cookie it came with; an API token needs none."""
    import httpx

    area, check = "ci", "ci.crumb"
    if server.token:
        report.add(area, check, OK, "API token: Jenkins API POSTs need no crumb (as in Jenkins)")
        return
    assert server.user is not None and server.password is not None
    probe = "/queue/cancelItem?id=0"  # a POST that changes nothing: queue item 0 never exists
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), auth=(server.user, server.password),
                          timeout=server.timeout) as jar:  # one session, as curl -c/-b JAR
            xml = jar.get("/crumbIssuer/api/xml", params={"xpath": CRUMB_XPATH})
            field_name, _, crumb = xml.text.strip().partition(":")
            if xml.status_code != 200 or not crumb:
                report.add(area, check, PROBLEM,
                           f"/crumbIssuer/api/xml answered HTTP {xml.status_code}: {xml.text.strip()[:200]}")
                return
            with_crumb = jar.post(probe, headers={field_name: crumb})
        without = server.client().post(probe)  # a new session (curl without a cookie jar)
    except httpx.HTTPError as e:
        report.add(area, check, PROBLEM, f"crumb check against {server.url} failed: {brief(e)}")
        return
    if with_crumb.status_code == 403:
        report.add(area, check, PROBLEM,
                   "a POST with the crumb and its session cookie was refused:"
                   f" {with_crumb.text.strip()[:200]}",
                   fix="report this: the crumb of /crumbIssuer must be accepted in the same session")
        return
    if without.status_code != 403:
        report.add(area, check, WARNING,
                   f"a password POST without a crumb was not refused (HTTP {without.status_code}):"
                   " CSRF protection looks off")
        return
    report.add(area, check, OK,
               "CSRF: password POSTs need the Jenkins-Crumb header from /crumbIssuer with the same"
               " session cookie (curl -c JAR -b JAR, the tutorial's C.2) and are refused without;"
               " API tokens need no crumb")

