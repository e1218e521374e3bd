"""A repository's outgoing webhooks on a running server, through its Gitea-compatible API.

  dockyard webhooks list OWNER/REPO
  dockyard webhooks add OWNER/REPO URL [--secret-stdin] [--event push ...] [--branch-filter GLOB]
  dockyard webhooks delete OWNER/REPO ID

Deliveries carry Gitea's headers and X-Hub-Signature-256 over the exact body. Hooks are added
active (Gitea's API default is inactive: pass --inactive for that). Where a hook may deliver is
the server's DOCKYARD_WEBHOOK_ALLOWED_HOSTS (a receiver on the same machine needs `loopback`).
"""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.errors import CommandError
from dockyard.cli.remote import add_actions, check, owner_and_name, print_json, session, with_connection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    listing = sub.add_parser("list", help="list a repository's webhooks")
    listing.add_argument("repo", metavar="OWNER/REPO")
    with_connection(listing, json_flag="Gitea")
    add = sub.add_parser("add", help="add a webhook")
    add.add_argument("repo", metavar="OWNER/REPO")
    add.add_argument("url", help="where deliveries go (http or https)")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--secret", help="signing secret (visible in `ps`; prefer --secret-stdin)")
    secret.add_argument("--secret-stdin", action="store_true", help="read the signing secret from stdin")
    add.add_argument("--event", action="append", default=[], metavar="EVENT",
                     help="event to deliver, repeatable (default: push)")
    add.add_argument("--content-type", choices=["json", "form"], default="json")
    add.add_argument("--branch-filter", default="", metavar="GLOB", help="only pushes to these branches")
    add.add_argument("--type", default="gitea", choices=["gitea", "gogs", "forgejo"])
    add.add_argument("--inactive", action="store_true", help="add it switched off")
    delete = sub.add_parser("delete", help="delete a webhook")
    delete.add_argument("repo", metavar="OWNER/REPO")
    delete.add_argument("id", help="the hook's id (`dockyard webhooks list`)")
    with_connection(add, delete)


def run(args: argparse.Namespace) -> int:
    owner, name = owner_and_name(args.repo)
    base = f"/api/v1/repos/{owner}/{name}/hooks"
    with session(args) as http:
        if args.action == "list":
            hooks = check(http.get(base))
            if args.json:
                return print_json(hooks)
            for hook in hooks:
                state = "active" if hook.get("active") else "inactive"
                events = ",".join(hook.get("events") or [])
                print(f"{hook['id']}\t{hook['config'].get('url', '')}\t{events}\t{state}")
        elif args.action == "add":
            secret = sys.stdin.read().rstrip("\n") if args.secret_stdin else (args.secret or "")
            body = {"type": args.type, "active": not args.inactive, "events": args.event or ["push"],
                    "branch_filter": args.branch_filter,
                    "config": {"url": args.url, "content_type": args.content_type, "secret": secret}}
            hook = check(http.post(base, json=body))
            print(f"added webhook {hook['id']} -> {hook['config'].get('url', args.url)}")
        else:
            if not args.id.isdigit() or len(args.id) > 18:
                raise CommandError(f"webhook id {args.id!r} is not a number (see `dockyard webhooks list`)",
                                   code=2)
            check(http.delete(f"{base}/{int(args.id)}"))
            print(f"deleted webhook {args.id} of {args.repo}")
    return 0
