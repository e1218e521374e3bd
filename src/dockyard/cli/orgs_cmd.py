"""Organisations on a running server, through its Gitea-compatible API (/api/v1).

  dockyard orgs list [--all]           yours; --all: every org (administrators)
  dockyard orgs create NAME            you become its owner; --owner USER (administrators)

Users, orgs and registry projects share one namespace: an org NAME is also the registry
project NAME (images push to HOST/NAME/...).
"""

from __future__ import annotations

import argparse

from dockyard.cli.remote import add_actions, check, pages, print_json, segment, session, with_connection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    listing = sub.add_parser("list", help="list the orgs you belong to")
    listing.add_argument("--all", action="store_true", help="every org (administrators)")
    with_connection(listing, json_flag="Gitea")
    create = sub.add_parser("create", help="create an org")
    create.add_argument("name")
    create.add_argument("--full-name", default="")
    create.add_argument("--description", default="")
    create.add_argument("--visibility", choices=["public", "limited", "private"], default="public")
    create.add_argument("--owner", metavar="USER", help="the user who owns it (administrators; default: you)")
    with_connection(create)


def run(args: argparse.Namespace) -> int:
    with session(args) as http:
        if args.action == "list":
            orgs = list(pages(http, "/api/v1/admin/orgs" if args.all else "/api/v1/user/orgs"))
            if args.json:
                return print_json(orgs)
            for org in orgs:
                print(f"{org['username']}\t{org.get('visibility', '')}\t{org.get('description', '')}")
            return 0
        body = {"username": segment(args.name, "org"), "full_name": args.full_name,
                "description": args.description, "visibility": args.visibility}
        path = f"/api/v1/admin/users/{segment(args.owner, 'user')}/orgs" if args.owner else "/api/v1/orgs"
        created = check(http.post(path, json=body))
        print(f"created org {created['username']}")
    return 0
