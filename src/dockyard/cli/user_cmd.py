"""Users and API tokens.

By default through the running server's API (Gitea's /api/v1/admin/users and
/api/v1/users/NAME/tokens), as an administrator (--user/--password or --token).

Offline maintenance: with --data-dir DIR the command works on that data
directory instead, the server running or not: the way back in when no administrator can sign
in. `passwd` is offline only (the API has no password change). A data directory that does not
exist is an error, never created.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from dockyard.cli.common import add_data_dir, offline_settings
from dockyard.cli.errors import CommandError
from dockyard.cli.remote import add_remote_arguments, check, pages, segment, session


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser, offline=True)
    add_remote_arguments(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--password", help="the new user's password (default: ask on a terminal)")
    add.add_argument("--password-stdin", action="store_true", help="read the new user's password from stdin")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument("--email", default="")
    listing = sub.add_parser("list", help="list users (administrators only)")
    passwd = sub.add_parser("passwd", help="offline maintenance: set a user's password (needs --data-dir)")
    passwd.add_argument("username")
    passwd.add_argument("--password", help="the new password (default: ask on a terminal)")
    passwd.add_argument("--password-stdin", action="store_true", help="read the new password from stdin")
    token = sub.add_parser("token", help="create an API token and print it once")
    token.add_argument("username")
    token.add_argument("--name", required=True)
    token.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                       help="Gitea's token scopes, repeatable: read:repository, write:package, "
                            "public-only, ... (default: all)")
    for action in (add, listing, passwd, token):
        add_data_dir(action, offline=True, nested=True)
        add_remote_arguments(action, password_flag=action in (listing, token), nested=True)


def run(args: argparse.Namespace) -> int:
    if args.data_dir is None:
        if args.action == "passwd":
            raise CommandError(
                "passwd changes a password in the data directory (offline maintenance; the API has"
                " no password change): pass --data-dir DIR, the directory `dockyard up` serves", code=2)
        return _online(args)
    return _offline(args)


def _new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.read().rstrip("\n")
    if args.password is not None:
        return str(args.password)
    if not sys.stdin.isatty():
        raise CommandError(f"no password for {args.username}: pass --password or --password-stdin", code=2)
    return getpass.getpass(f"password for {args.username}: ")


def _online(args: argparse.Namespace) -> int:
    with session(args) as http:
        if args.action == "list":
            for user in pages(http, "/api/v1/admin/users"):
                role = "admin" if user.get("is_admin") else "user"
                print(f"{user['login']}\t{role}\t{user.get('created', '')}")
        elif args.action == "add":
            body = {"username": args.username, "password": _new_password(args), "email": args.email,
                    "admin": args.admin, "must_change_password": False}
            created = check(http.post("/api/v1/admin/users", json=body))
            print(f"created user {created['login']}")
        elif args.action == "token":
            name = segment(args.username, "user")
            body = {"name": args.name, "scopes": args.scope or ["all"]}
            print(check(http.post(f"/api/v1/users/{name}/tokens", json=body))["sha1"])
    return 0


def _offline(args: argparse.Namespace) -> int:
    from dockyard.auth import AuthError
    from dockyard.server import open_services

    auth = open_services(offline_settings(args, "user")).auth
    try:
        if args.action == "add":
            auth.create_user(args.username, _new_password(args), email=args.email, is_admin=args.admin)
            print(f"created user {args.username}")
        elif args.action == "list":
            for user in auth.list_users():
                print(f"{user.username}\t{'admin' if user.is_admin else 'user'}\t{user.created_at}")
        elif args.action == "passwd":
            auth.set_password(args.username, _new_password(args))
            print(f"password of {args.username} changed")
        elif args.action == "token":
            _token, secret = auth.create_token(args.username, args.name, ",".join(args.scope) or "all")
            print(secret)
    except AuthError as exc:
        raise CommandError(str(exc)) from None
    return 0
