"""Git repositories on a running server, through its Gitea-compatible API (/api/v1).

  dockyard repos list [OWNER]          yours (and your orgs'), or one user's or org's
  dockyard repos create [OWNER/]NAME   in your namespace, an org's, or (administrators) a user's
  dockyard repos delete OWNER/NAME --yes
"""

from __future__ import annotations

import argparse

from dockyard.cli.errors import CommandError
from dockyard.cli.lean_httpx import httpx
from dockyard.cli.remote import (
    add_actions,
    check,
    owner_and_name,
    pages,
    print_json,
    segment,
    session,
    with_connection,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    listing = sub.add_parser("list", help="list repositories")
    listing.add_argument("owner", nargs="?", help="a user or org (default: the repositories you can push to)")
    with_connection(listing, json_flag="Gitea")
    create = sub.add_parser("create", help="create a repository")
    create.add_argument("name", metavar="[OWNER/]NAME", help="OWNER: an org you administer, or any user"
                        " (administrators); default: yours")
    create.add_argument("--description", default="")
    create.add_argument("--private", action="store_true")
    create.add_argument("--init", action="store_true", help="commit a README.md (Gitea's auto_init)")
    create.add_argument("--default-branch", default="main")
    delete = sub.add_parser("delete", help="delete a repository and its whole history")
    delete.add_argument("name", metavar="OWNER/NAME")
    delete.add_argument("--yes", action="store_true", help="yes, delete it (there is no undo)")
    with_connection(create, delete)


def run(args: argparse.Namespace) -> int:
    with session(args) as http:
        if args.action == "list":
            owner = segment(args.owner, "owner") if args.owner else ""
            repos = list(pages(http, f"/api/v1/users/{owner}/repos" if owner else "/api/v1/user/repos"))
            if args.json:
                return print_json(repos)
            for repo in repos:
                visibility = "private" if repo.get("private") else "public"
                branch = repo.get("default_branch", "")
                print(f"{repo['full_name']}\t{visibility}\t{branch}\t{repo['clone_url']}")
        elif args.action == "create":
            print(_create(http, args)["clone_url"])
        else:
            owner, name = owner_and_name(args.name)
            if not args.yes:
                raise CommandError(f"deleting {args.name} removes its whole history: add --yes", code=2)
            check(http.delete(f"/api/v1/repos/{owner}/{name}"))
            print(f"deleted {args.name}")
    return 0


def _create(http: httpx.Client, args: argparse.Namespace) -> dict[str, str]:
    """POST to the endpoint Gitea has for that owner: /user/repos, /orgs/O/repos or the admin one."""
    if "/" in args.name:
        owner, name = owner_and_name(args.name)
    else:
        owner, name = "", segment(args.name, "repository")
    body = {"name": name, "description": args.description, "private": args.private,
            "auto_init": args.init, "default_branch": args.default_branch}
    me = check(http.get("/api/v1/user"))["login"]
    if not owner or owner.lower() == me.lower():
        path = "/api/v1/user/repos"
    elif http.get(f"/api/v1/orgs/{owner}").status_code == 200:
        path = f"/api/v1/orgs/{owner}/repos"
    else:
        path = f"/api/v1/admin/users/{owner}/repos"
    created: dict[str, str] = check(http.post(path, json=body))
    return created
