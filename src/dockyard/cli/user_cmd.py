"""Manage users and API tokens directly in the data directory (works while the server runs)."""

from __future__ import annotations

import argparse
import getpass
import sys

from dockyard.cli.common import add_data_dir, settings_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--password", help="password (default: ask)")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument("--email", default="")
    sub.add_parser("list", help="list users")
    passwd = sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password")
    token = sub.add_parser("token", help="create an API token and print it once")
    token.add_argument("username")
    token.add_argument("--name", required=True)
    token.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                       help="Gitea's token scopes, repeatable: read:repository, write:package, "
                            "public-only, ... (default: all)")


def run(args: argparse.Namespace) -> int:
    from dockyard.auth import AuthError
    from dockyard.server import open_services

    services = open_services(settings_from(args))
    auth = services.auth
    try:
        if args.action == "add":
            password = args.password or getpass.getpass(f"password for {args.username}: ")
            auth.create_user(args.username, password, email=args.email, is_admin=args.admin)
            print(f"created user {args.username}")
        elif args.action == "list":
            for user in auth.list_users():
                print(f"{user.username}\t{'admin' if user.is_admin else 'user'}\t{user.created_at}")
        elif args.action == "passwd":
            auth.set_password(args.username, args.password or getpass.getpass("new password: "))
            print(f"password of {args.username} changed")
        elif args.action == "token":
            _token, secret = auth.create_token(args.username, args.name,
                                               ",".join(args.scope) or "all")
            print(secret)
    except AuthError as exc:
        print(f"dockyard user: {exc}", file=sys.stderr)
        return 1
    return 0
