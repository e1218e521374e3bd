"""The git server behind the job: smart HTTP answers for the repository (what the build's
checkout needs), SSH answers when the server advertises it (the tutorial's A.4: a port that
collides with the node's sshd), and the repository's webhooks reach where they point.

A repository of this Dockyard starts its jobs in-process on every push; a webhook pointing at
Dockyard's own CI endpoint would start every build twice."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, WARNING, Report, brief
from dockyard.doctor.server import Server

AREA = "git"
CI_HOOK_PATHS = ("/api/ci/hooks/", "/gitea-webhook/", "/github-webhook/", "/generic-webhook-trigger/")


def check_git(report: Report, server: Server, repo: str) -> None:
    import httpx

    try:
        info = server.get(f"/api/v1/repos/{repo}")
        if info.status_code != 200:
            report.add(AREA, "git.repo", PROBLEM, f"repository {repo} answers HTTP {info.status_code}"
                       " through the Gitea API", fix=f"create {repo}, or correct the job's <url>")
            return
        meta = info.json()
        refs = server.get(f"/{repo}.git/info/refs", params={"service": "git-upload-pack"})
    except httpx.HTTPError as e:
        report.add(AREA, "git.http", PROBLEM, f"git over HTTP for {repo}: {brief(e)}")
        return
    kind = refs.headers.get("content-type", "")
    if refs.status_code == 200 and kind.startswith("application/x-git-upload-pack-advertisement"):
        report.add(AREA, "git.http", OK, f"git over HTTP serves {meta.get('clone_url') or repo}")
    else:
        report.add(AREA, "git.http", PROBLEM,
                   f"git over HTTP for {repo}: HTTP {refs.status_code} ({kind or 'no content type'})",
                   fix="check `git ls-remote` against the clone URL; the build's checkout uses it")
    check_ssh(report, str(meta.get("ssh_url") or ""), server.timeout)
    check_hooks(report, server, repo)


def check_ssh(report: Report, ssh_url: str, timeout: float) -> None:
    if not ssh_url:
        report.add(AREA, "git.ssh", SKIPPED, "the server advertises no SSH clone URL: git over HTTP only"
                   " (as the tutorial does)")
        return
    if "://" in ssh_url:
        parts = urlsplit(ssh_url)
        host, port = parts.hostname or "", parts.port or 22
    else:  # scp-like git@host:owner/repo.git
        host, port = ssh_url.split("@", 1)[-1].split(":", 1)[0], 22
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        report.add(AREA, "git.ssh", PROBLEM, f"git over SSH: nothing answers at {host}:{port}: {brief(e)}",
                   fix=f"start the SSH listener, or correct the advertised SSH URL ({ssh_url})")
        return
    try:
        with sock:
            sock.settimeout(timeout)
            banner = sock.recv(256).decode(errors="replace").strip()
    except OSError:
        banner = ""  # an HTTP server, for one, waits for the client to speak first
    if not banner.startswith("SSH-2.0-"):
        said = f"says {banner[:60]!r}" if banner else f"sends no SSH banner within {timeout:g} s"
        report.add(AREA, "git.ssh", PROBLEM,
                   f"{host}:{port} accepts connections but is not an SSH server: it {said}",
                   fix="another service holds the port: give git's SSH another one (the tutorial's A.4)")
        return
    hint = f" (clients need `ssh -p {port}` or a ~/.ssh/config entry)" if port != 22 else ""
    report.add(AREA, "git.ssh", OK, f"git over SSH answers at {host}:{port}: {banner}{hint}")


def check_hooks(report: Report, server: Server, repo: str) -> None:
    hooks_r = server.get(f"/api/v1/repos/{repo}/hooks")
    if hooks_r.status_code in (403, 404):
        report.add(AREA, "git.webhook", SKIPPED, f"the webhooks of {repo} are visible to its admins only")
        return
    if hooks_r.status_code != 200:
        report.add(AREA, "git.webhook", SKIPPED,
                   f"listing the webhooks of {repo}: HTTP {hooks_r.status_code}")
        return
    report.add(AREA, "git.webhook", OK, f"pushes to {repo} start its jobs in-process (no webhook needed)")
    own = server.hosts()
    for hook in hooks_r.json():
        url = str((hook.get("config") or {}).get("url") or "")
        hook_id = hook.get("id")
        parts = urlsplit(url)
        netloc = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        if netloc in own and any(p in parts.path for p in CI_HOOK_PATHS):
            report.add(AREA, "git.webhook", WARNING,
                       f"webhook {hook_id} posts pushes of {repo} to Dockyard's own CI ({url}): every push"
                       " already starts the job in-process, so builds start twice",
                       fix=f"curl -X DELETE -u USER {server.url}/api/v1/repos/{repo}/hooks/{hook_id}")
            continue
        deliveries = server.get(f"/api/v1/repos/{repo}/hooks/{hook_id}/deliveries")
        last = (deliveries.json() or [None])[0] if deliveries.status_code == 200 else None
        if not hook.get("active", True):
            report.add(AREA, "git.webhook", WARNING, f"webhook {hook_id} to {url} is inactive")
        elif last is None:
            report.add(AREA, "git.webhook", OK, f"webhook {hook_id} to {url}: no delivery yet")
        elif last.get("is_succeed"):
            report.add(AREA, "git.webhook", OK, f"webhook {hook_id} to {url}: last delivery HTTP"
                       f" {last.get('status_code')}")
        else:
            why = last.get("error") or f"HTTP {last.get('status_code')}"
            report.add(AREA, "git.webhook", WARNING,
                       f"webhook {hook_id}: the last delivery to {url} failed: {why}",
                       fix="point the webhook at a URL the Dockyard server reaches (and the receiver's"
                           " secret), then send a test delivery:"
                           f" curl -X POST -u USER {server.url}/api/v1/repos/{repo}/hooks/{hook_id}/tests")
