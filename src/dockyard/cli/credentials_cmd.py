"""Manage CI credentials on a running Dockyard; secrets are stored encrypted.

Administrators manage system credentials (the default) and everyone's; a user manages those of
their own namespace and of orgs they administer (`--owner NAME`). A job binds its repository
owner's credentials and any granted to it (`dockyard credentials grant ID --job JOB`); a system
credential reaches a job only through a grant.

`add-docker-registry` mirrors `kubectl create secret docker-registry`: it stores a docker config
JSON (`auths.{server}.{username,password,auth}`) that builds mount as `.dockerconfigjson`.
Server connection options (--url, --user, --password, --token) go before the action when the
action has its own --password (add-docker-registry, add-username-password), or use
--dockyard-password / DOCKYARD_PASSWORD.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from dockyard.cli.remote import RemoteError, add_remote_arguments, check, remote_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_remote_arguments(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    docker = sub.add_parser("add-docker-registry", help="store registry login as a docker config JSON")
    docker.add_argument("id", help="credential id, e.g. harbor-auth")
    docker.add_argument("--server", required=True, help="registry host[:port], e.g. 10.0.24.28:30002")
    docker.add_argument("--username", required=True)
    _secret_password(docker)
    docker.add_argument("--email", default="")

    userpass = sub.add_parser("add-username-password", help="store a username and password (or token)")
    userpass.add_argument("id")
    userpass.add_argument("--username", required=True)
    _secret_password(userpass)

    secret_text = sub.add_parser("add-secret-text", help="store a secret string (API token, ...)")
    secret_text.add_argument("id")
    source = secret_text.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the secret (visible in `ps`; prefer --stdin)")
    source.add_argument("--stdin", action="store_true", help="read the secret from standard input")
    source.add_argument("--from-file", type=Path, help="read the secret from a file")

    secret_file = sub.add_parser("add-file", help="store a secret file (kubeconfig, key, ...)")
    secret_file.add_argument("id")
    secret_file.add_argument("--file", type=Path, required=True, help="file to upload")
    secret_file.add_argument("--filename", help="name the file gets in builds (default: its base name)")

    for action in (docker, userpass, secret_text, secret_file):
        action.add_argument("--description", default="")
        action.add_argument("--owner", default=None, metavar="NAMESPACE",
                            help="user or org the credential belongs to; its repositories' jobs may"
                                 " bind it (default: a system credential, administrators only)")
        action.add_argument("--replace", action="store_true", help="overwrite an existing credential")
        add_remote_arguments(action, password_flag=action in (secret_text, secret_file), nested=True)

    listing = sub.add_parser("list", help="list credentials (ids, kinds, owners, never secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--owner", default=None, help="only this user's or org's credentials")
    add_remote_arguments(listing, nested=True)
    for name, what in (("grant", "let a job bind a credential it may not otherwise"),
                       ("revoke", "withdraw a grant")):
        action = sub.add_parser(name, help=what)
        action.add_argument("id")
        action.add_argument("--job", required=True, help="the CI job's name, e.g. hello-kaniko")
        add_remote_arguments(action, nested=True)
    delete = sub.add_parser("delete", help="delete a credential")
    delete.add_argument("id")
    add_remote_arguments(delete, nested=True)


def _secret_password(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--password", dest="secret_password", metavar="PASSWORD", help="the password to store"
    )
    group.add_argument("--password-stdin", action="store_true", help="read the password to store from stdin")


def run(args: argparse.Namespace) -> int:
    try:
        remote = remote_from(args)
        if args.action == "list":
            query = {"owner": args.owner} if args.owner else None
            items = check(remote.request("GET", "/api/ci/credentials", params=query))["credentials"]
            if args.json:
                print(json.dumps(items, indent=2))
            else:
                for item in items:
                    print(f"{item['id']}\t{item['kind']}\t{_summary(item)}\t{item.get('description', '')}"
                          f"\t{_scope(item)}")
            return 0
        if args.action in ("grant", "revoke"):
            if args.action == "grant":
                path, body = f"/api/ci/credentials/{args.id}/grants", {"job": args.job}
                check(remote.request("POST", path, json=body))
                print(f"job {args.job} may bind credential {args.id}")
            else:
                check(remote.request("DELETE", f"/api/ci/credentials/{args.id}/grants/{args.job}"))
                print(f"job {args.job} may no longer bind credential {args.id} (unless its owner's)")
            return 0
        if args.action == "delete":
            check(remote.request("DELETE", f"/api/ci/credentials/{args.id}"))
            print(f"deleted credential {args.id}")
            return 0
        body = _body(args)
        if args.replace:
            info = check(remote.request("PUT", f"/api/ci/credentials/{args.id}", json=body))
        else:
            info = check(remote.request("POST", "/api/ci/credentials", json=body))
        print(f"stored credential {info['id']} ({info['kind']})")
        return 0
    except (RemoteError, OSError, ValueError) as exc:
        print(f"dockyard credentials: {exc}", file=sys.stderr)
        return 1


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"id": args.id, "description": args.description}
    if args.owner:
        body["owner"] = args.owner
    if args.action == "add-docker-registry":
        return {
            **body,
            "kind": "docker_config",
            "server": args.server,
            "username": args.username,
            "password": _password(args),
            "email": args.email,
        }
    if args.action == "add-username-password":
        return {**body, "kind": "username_password", "username": args.username, "password": _password(args)}
    if args.action == "add-secret-text":
        if args.text is not None:
            text = args.text
        elif args.stdin:
            text = sys.stdin.read().rstrip("\n")
        else:
            text = args.from_file.read_text().rstrip("\n")
        return {**body, "kind": "secret_text", "text": text}
    content = args.file.read_bytes()
    return {
        **body,
        "kind": "secret_file",
        "filename": args.filename or args.file.name,
        "content_base64": base64.b64encode(content).decode(),
    }


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.read().rstrip("\n")
    return str(args.secret_password)


def _scope(item: dict[str, Any]) -> str:
    """`system`, or `owner:NAME`; then the jobs granted it, if any."""
    scope = f"owner:{item['owner']}" if item.get("owner") else "system"
    jobs = item.get("granted_jobs") or []
    return scope + (f" (granted to {', '.join(jobs)})" if jobs else "")


def _summary(item: dict[str, Any]) -> str:
    if item["kind"] == "docker_config":
        return " ".join(f"{user}@{server}" for server, user in item.get("servers", {}).items())
    if item["kind"] == "username_password":
        return str(item.get("username", ""))
    if item["kind"] == "secret_file":
        return f"{item.get('filename')} ({item.get('size')} bytes)"
    return "-"
