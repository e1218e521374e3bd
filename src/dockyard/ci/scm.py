"""Which jobs a push concerns: repository URLs compared without scheme, credentials, default
ports or `.git`, and Jenkins branch specs (`*/main`, `main`, `refs/heads/main`, globs)."""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}


def repo_key(url: str) -> str:
    """`http://u:p@Host:80/bootcamp/notes-app.git/` -> `host/bootcamp/notes-app`.

    The port is kept unless it is the scheme's default: two servers on one host are different
    repositories. Paths compare case-sensitively, hosts do not.
    """
    url = url.strip()
    if "://" not in url and ":" in url.split("/", 1)[0]:
        user_host, _, path = url.partition(":")  # scp-like git@host:owner/repo.git
        host = user_host.rpartition("@")[2].lower()
        return f"{host}/{_clean_path(path)}"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return f"{host}/{_clean_path(parts.path)}" if host else _clean_path(parts.path)


_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def equivalent_keys(url: str) -> set[str]:
    """`repo_key(url)` plus the same repository under the other loopback names, so a job that
    says `localhost:8080` hears pushes to a server that calls itself `127.0.0.1:8080`."""
    key = repo_key(url)
    host, _, path = key.partition("/")
    name, sep, port = host.rpartition(":") if not host.startswith("[") else (host, "", "")
    if not sep:
        name, port = host, ""
    if name not in _LOOPBACK:
        return {key}
    return {f"{alias}{':' + port if port else ''}/{path}" for alias in ("127.0.0.1", "localhost", "[::1]")}


def local_repo(url: str, base_url: str) -> str | None:
    """`owner/name` of a repository URL on this Dockyard (also under the other loopback names),
    None for another server's repository."""
    hosts = {k.partition("/")[0] for k in equivalent_keys(base_url.rstrip("/") + "/o/r")}
    host, _, path = repo_key(url).partition("/")
    return path if host in hosts else None


def local_owner(url: str, base_url: str) -> str | None:
    """The owner of a repository served by this Dockyard (`http://host/bootcamp/app.git` ->
    `bootcamp`); None for another server's repository."""
    owner, sep, _ = (local_repo(url, base_url) or "").partition("/")
    return owner if owner and sep else None


def _clean_path(path: str) -> str:
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return path.rstrip("/")


# Query parameters whose name says they carry a secret (`?access_token=`, `?private_token=`,
# `?X-Amz-Signature=`): git cannot clone such a URL anyway (it appends /info/refs to the query).
SECRET_NAME = re.compile(r"token|secret|passw|pwd|key|sig|auth|credential", re.I)


def strip_credentials(url: str) -> tuple[str, str, str]:
    """(url without user:password and secret query parameters, user, password): credentials
    never reach logs, the database's job rows or `git remote`."""
    parts = urlsplit(url)
    query = "&".join(p for p in re.split("[&;]", parts.query) if not SECRET_NAME.search(p.partition("=")[0]))
    if query != parts.query:
        parts = parts._replace(query=query)
        url = parts.geturl()
    if not parts.username and not parts.password:
        return url, "", ""
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    from urllib.parse import unquote

    clean = parts._replace(netloc=netloc).geturl()
    return clean, unquote(parts.username or ""), unquote(parts.password or "")


def branch_matches(spec: str, branch: str) -> bool:
    """Jenkins BranchSpec semantics for the common forms: `*/main` (any remote), `main`,
    `refs/heads/main`, `origin/main`, `**` and globs such as `*/release-*`."""
    spec = spec.strip()
    if not spec or spec in ("**", "*/*", "*"):
        return True
    if spec.startswith("refs/heads/"):
        return fnmatch.fnmatchcase(branch, spec[len("refs/heads/") :])
    if spec.startswith("*/"):
        return fnmatch.fnmatchcase(branch, spec[2:])
    if spec.startswith("origin/"):
        return fnmatch.fnmatchcase(branch, spec[len("origin/") :])
    return fnmatch.fnmatchcase(branch, spec)


def branch_glob(pattern: str, branch: str) -> bool:
    """`when { branch 'main' }` (Ant-style glob, as Jenkins' GLOB comparator)."""
    return fnmatch.fnmatchcase(branch, pattern)
