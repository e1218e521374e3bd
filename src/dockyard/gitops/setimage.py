"""`set_image`: clone the deploy repo, patch image references, commit, push; retry when raced.

Two builds that finish together both land: a push rejected as non-fast-forward (or a ref lock
lost on the server) refetches the branch, re-applies the same change on top and pushes again,
a bounded number of times with jittered backoff.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.gitops.errors import GitOpsError
from dockyard.gitops.git import Git, GitAuth, GitCommandError, redact, split_userinfo
from dockyard.gitops.patch import ImageChange, patch_images
from dockyard.gitops.references import (
    ImageRef,
    ImageReferenceError,
    normalize_name,
    parse_reference,
    same_name,
)

DEFAULT_ATTEMPTS = 6
_RETRYABLE = (
    "non-fast-forward",
    "fetch first",
    "stale info",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
)


@dataclass
class SetImageResult:
    """What happened: the pushed commit (None when nothing changed), branch, changes, attempts."""

    repo: str
    branch: str
    commit: str | None
    changes: list[ImageChange] = field(default_factory=list)
    unchanged: list[ImageChange] = field(default_factory=list)
    attempts: int = 1

    @property
    def pushed(self) -> bool:
        return self.commit is not None and bool(self.changes)


def set_image(
    repo_url: str,
    path: str,
    images: Mapping[str, str | ImageRef],
    *,
    branch: str | None = None,
    message: str | None = None,
    source_commit: str | None = None,
    auth: GitAuth | None = None,
    log: Callable[[str], None] | None = None,
    author_name: str = "Dockyard",
    author_email: str = "dockyard@localhost",
    max_attempts: int = DEFAULT_ATTEMPTS,
    workdir: Path | None = None,
    allowed_protocols: Collection[str] | None = None,
    git_config: Mapping[str, str] | None = None,
) -> SetImageResult:
    """Set `images` (NAME -> REF) under `path` of the deploy repo at `repo_url` and push.

    REF is `name:tag`, `name@digest`, or `:tag` / `@digest` to keep the name. `log` receives
    one line per git command and per change (pass the build's masked log writer).
    `allowed_protocols` (e.g. `("http", "https")` for URLs that come from pipelines) refuses
    anything else, `file://` and plain paths included, and is enforced by git as well.
    `git_config` is added to every git command's configuration (the step pins the address).
    """
    sink = log or (lambda _line: None)
    refs = normalize_images(images)
    if max_attempts < 1:
        raise GitOpsError(f"max_attempts must be at least 1 (got {max_attempts})")
    clean_url, url_auth = split_userinfo(repo_url)
    shown = redact(repo_url)
    auth = auth or url_auth
    protocol = url_protocol(clean_url)
    if allowed_protocols is not None and protocol not in allowed_protocols:
        raise GitOpsError(
            f"deploy repo {shown} uses {protocol}, which is not allowed here; "
            f"use a {' or '.join(sorted(allowed_protocols))} URL"
        )
    with tempfile.TemporaryDirectory(prefix="dockyard-gitops-", dir=workdir) as tmp:
        work = Path(tmp) / "repo"
        git = Git(Path(tmp), auth, sink, allowed_protocols, git_config)
        clone = ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"]
        if branch:
            clone += ["--branch", branch]
        try:
            git.run(*clone, "--", clean_url, str(work))
        except GitCommandError as exc:
            raise GitOpsError(f"cannot clone deploy repo {shown}: {exc}") from None
        git = Git(work, auth, sink, allowed_protocols)
        if git.run("rev-parse", "--verify", "-q", "HEAD", check=False, quiet=True).returncode != 0:
            raise GitOpsError(f"deploy repo {shown} is empty: push an initial commit with the manifests")
        branch = branch or git.output("rev-parse", "--abbrev-ref", "HEAD")
        for attempt in range(1, max_attempts + 1):
            patched = patch_images(work, path, refs, sink)
            if not patched.changes:
                sink(f"gitops: {path} already uses {_describe(refs)}; nothing to commit")
                return SetImageResult(shown, branch, None, [], patched.unchanged, attempt)
            for change in patched.changes:
                sink(f"gitops: {change}")
            git.run("add", "--", *patched.files, quiet=True)
            message_file = _message_file(work, message, refs, source_commit, patched.changes)
            identity = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
            git.run(*identity, "commit", "--quiet", "--no-verify", "-F", str(message_file), quiet=True)
            commit = git.output("rev-parse", "HEAD")
            push = git.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", check=False)
            if push.returncode == 0:
                sink(f"gitops: pushed {commit[:12]} to {shown} {branch} (attempt {attempt})")
                return SetImageResult(shown, branch, commit, patched.changes, patched.unchanged, attempt)
            output = redact(push.stdout + push.stderr)
            if not any(marker in output for marker in _RETRYABLE):
                raise GitOpsError(f"push to {shown} {branch} was refused: {output.strip()[-1500:]}")
            sink(f"gitops: {branch} moved while we worked (attempt {attempt}); refetching and re-applying")
            time.sleep(random.uniform(0.05, 0.2) * attempt)
            git.run("fetch", "--quiet", "--depth", "1", "origin", f"refs/heads/{branch}")
            git.run("reset", "--quiet", "--hard", "FETCH_HEAD", quiet=True)
        raise GitOpsError(
            f"gave up after {max_attempts} attempts: {branch} of {shown} kept moving; retry the step"
        )


def normalize_images(images: Mapping[str, str | ImageRef]) -> dict[str, ImageRef]:
    """Parse REF strings and reject a NAME given twice (also under another spelling)."""
    if not images:
        raise GitOpsError("no image given: pass at least one --image NAME=REF")
    try:
        return _normalize(images)
    except ImageReferenceError as exc:
        raise GitOpsError(str(exc)) from None


def url_protocol(url: str) -> str:
    """git's name for the transport of `url`: http, https, ssh, git, file (plain paths too)."""
    if "://" in url:
        return url.split("://", 1)[0].lower()
    if ":" in url.split("/", 1)[0] and not url.startswith("/"):
        return "ssh"  # scp-like user@host:path
    return "file"


def _normalize(images: Mapping[str, str | ImageRef]) -> dict[str, ImageRef]:
    out: dict[str, ImageRef] = {}
    seen: dict[str, str] = {}
    for name, ref in images.items():
        parsed_name = parse_reference(name)
        if parsed_name.tag or parsed_name.digest:
            raise GitOpsError(f"image NAME {name!r} must not carry a tag or digest")
        key = normalize_name(parsed_name.name)
        if key in seen:
            raise GitOpsError(f"image {name!r} given twice (also as {seen[key]!r})")
        seen[key] = name
        parsed = ref if isinstance(ref, ImageRef) else parse_reference(ref, allow_bare=True)
        if not (parsed.tag or parsed.digest):
            raise GitOpsError(f"REF {ref!s} for {name!r} needs a tag or digest")
        out[parsed_name.name] = parsed
    return out


def _describe(refs: Mapping[str, ImageRef]) -> str:
    return ", ".join(
        str(ref) if same_name(ref.name, name) else f"{name}{ref}" if not ref.name else f"{name}={ref}"
        for name, ref in refs.items()
    )


def _message_file(
    work: Path,
    message: str | None,
    refs: Mapping[str, ImageRef],
    source: str | None,
    changes: list[ImageChange],
) -> Path:
    subject = message or f"Set image {_describe(refs)}"
    if source and source[:12] not in subject:
        subject += f" (source {source[:12]})"
    body = [subject, ""]
    body += [f"- {change}" for change in changes]
    body += ["", "Changed-By: dockyard gitops set-image"]
    if source:
        body.append(f"Source-Commit: {source}")
    path = work.parent / "COMMIT_MSG"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return path
