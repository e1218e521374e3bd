"""GitOps: set image references in a deploy repository and push (what CI does after a build).

`--repo` is any git URL, or OWNER/NAME for a repository on the Dockyard server at --url.
Credentials for the repo: --user with --password or --token. The DOCKYARD_USER/PASSWORD/TOKEN
environment is used only for repositories on the Dockyard server itself, never sent elsewhere.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING

from dockyard.cli.remote import RemoteError, add_remote_arguments, remote_from

if TYPE_CHECKING:
    from dockyard.gitops import GitAuth

_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_remote_arguments(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    set_image = sub.add_parser("set-image", help="replace image references, commit and push")
    set_image.add_argument("--repo", required=True, help="deploy repo URL, or OWNER/NAME on this Dockyard")
    set_image.add_argument("--path", default=".", help="directory (or file) in the repo with the manifests")
    set_image.add_argument(
        "--image",
        action="append",
        required=True,
        metavar="NAME=REF",
        help="image to set, e.g. registry:5000/team/api=registry:5000/team/api:1a2b3c (repeatable); "
        "REF may be :TAG or @DIGEST to keep the name",
    )
    set_image.add_argument("--branch", help="branch to update (default: the repo's default branch)")
    set_image.add_argument("--message", help="commit subject")
    set_image.add_argument(
        "--source-commit",
        default=os.environ.get("GIT_COMMIT") or None,
        help="the application commit that was built (default: $GIT_COMMIT, as CI steps see it)",
    )
    set_image.add_argument("--max-attempts", type=int, default=6, help="push attempts when raced (default 6)")
    add_remote_arguments(set_image, nested=True)


def run(args: argparse.Namespace) -> int:
    from dockyard.gitops import GitOpsError, ImageReferenceError, parse_image_arg, set_image

    try:
        images = dict(parse_image_arg(arg) for arg in args.image)
        if len(images) != len(args.image):
            raise GitOpsError("the same NAME is given twice in --image")
        repo, auth = _repo_and_auth(args)
        result = set_image(
            repo,
            args.path,
            images,
            branch=args.branch,
            message=args.message,
            source_commit=args.source_commit,
            auth=auth,
            log=lambda line: print(line, file=sys.stderr),
            max_attempts=args.max_attempts,
        )
    except (GitOpsError, ImageReferenceError, RemoteError) as exc:
        print(f"dockyard gitops: {exc}", file=sys.stderr)
        return 1
    for change in result.changes:
        print(change)
    if result.commit:
        print(f"pushed {result.commit} to {result.branch} (attempt {result.attempts})")
    else:
        print("nothing to change")
    return 0


def _repo_and_auth(args: argparse.Namespace) -> tuple[str, GitAuth | None]:
    """Resolve OWNER/NAME against --url; use DOCKYARD_* credentials only for that server."""
    from dockyard.gitops import GitAuth

    explicit = any(getattr(args, name, None) for name in ("remote_user", "remote_password", "remote_token"))
    repo = args.repo
    on_dockyard = False
    url = getattr(args, "remote_url", None) or os.environ.get("DOCKYARD_URL") or "http://127.0.0.1:8080"
    if _OWNER_NAME.match(repo) and not os.path.exists(repo):
        repo = f"{url.rstrip('/')}/{repo.removesuffix('.git')}.git"
        on_dockyard = True
    elif repo.startswith(url.rstrip("/") + "/"):
        on_dockyard = True
    if not (explicit or on_dockyard):
        return repo, None
    remote = remote_from(args)
    if remote.token:
        return repo, GitAuth.token(remote.token)
    if remote.user and remote.password is not None:
        return repo, GitAuth.basic(remote.user, remote.password)
    return repo, None
