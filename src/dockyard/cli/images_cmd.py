"""The registry's contents on a running server, through its Harbor-style API (/api/v2.0).

  dockyard images list [PROJECT]             repositories (all you can see, or one project's)
  dockyard images tags PROJECT/REPO          its tags, with digest, size and push time
  dockyard images artifacts PROJECT/REPO     its artifacts (manifests and indexes), with their tags
  dockyard images delete-tag PROJECT/REPO:TAG
                                             untag (the artifact stays; `dockyard registry gc
                                             --delete-untagged` collects what no tag names)

Making images: `dockyard build`, `dockyard executor`, `dockyard image import` (offline bases).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dockyard.cli.errors import CommandError
from dockyard.cli.remote import add_actions, check, pages, print_json, segment, session, with_connection

# the distribution spec's repository path component and tag grammars
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    listing = sub.add_parser("list", help="list repositories")
    listing.add_argument("project", nargs="?", help="only this project's (a user's or org's name)")
    tags = sub.add_parser("tags", help="list a repository's tags")
    artifacts = sub.add_parser("artifacts", help="list a repository's artifacts")
    for action in (tags, artifacts):
        action.add_argument("repository", metavar="PROJECT/REPO")
    with_connection(listing, tags, artifacts, json_flag="Harbor")
    delete = sub.add_parser("delete-tag", help="remove a tag")
    delete.add_argument("reference", metavar="PROJECT/REPO:TAG")
    with_connection(delete)


def run(args: argparse.Namespace) -> int:
    with session(args) as http:
        if args.action == "list":
            path = (f"/api/v2.0/projects/{segment(args.project, 'project')}/repositories" if args.project
                    else "/api/v2.0/repositories")
            repos = list(pages(http, path, size_param="page_size", size=100))
            if args.json:
                return print_json(repos)
            for repo in repos:
                counts = f"{repo.get('artifact_count', 0)} artifacts\t{repo.get('pull_count', 0)} pulls"
                print(f"{repo['name']}\t{counts}")
            return 0
        if args.action == "delete-tag":
            name, colon, tag = args.reference.rpartition(":")
            if not colon or "/" in tag or not _TAG.match(tag):
                raise CommandError(f"{args.reference!r}: give the tag as PROJECT/REPO:TAG", code=2)
            project, repo = _repository(name)
            tag_q = quote(tag, safe="")
            check(http.delete(f"{_base(project, repo)}/artifacts/{tag_q}/tags/{tag_q}"))
            print(f"deleted tag {args.reference}")
            return 0
        project, repo = _repository(args.repository)
        artifacts = list(pages(http, f"{_base(project, repo)}/artifacts", size_param="page_size",
                               size=100, params={"with_tag": "true"}))
        if args.json:
            return print_json(artifacts)
        for artifact in artifacts:
            tag_names = [t["name"] for t in artifact.get("tags") or []]
            facts = f"{_size(artifact)}\t{_time(artifact)}"
            if args.action == "tags":
                for tag in tag_names:
                    print(f"{args.repository}:{tag}\t{artifact['digest']}\t{facts}")
            else:
                tags = ",".join(tag_names) or "-"
                print(f"{artifact['digest']}\t{artifact.get('type', '')}\t{facts}\t{tags}")
    return 0


def _repository(value: str) -> tuple[str, str]:
    """PROJECT/REPO (REPO may have more components), each checked against the spec's grammar."""
    parts = value.split("/")
    if len(parts) < 2 or not all(_COMPONENT.match(p) for p in parts):
        raise CommandError(f"repository {value!r}: give it as PROJECT/REPO, lower-case letters, digits"
                           " and separators (., _, __, -) between them", code=2)
    return parts[0], "/".join(parts[1:])


def _base(project: str, repo: str) -> str:
    # Harbor takes a repository name with '/' URL-encoded twice (a%252Fb)
    return f"/api/v2.0/projects/{project}/repositories/{quote(quote(repo, safe=''), safe='')}"


def _size(artifact: dict[str, Any]) -> str:
    size = float(artifact.get("size") or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _time(artifact: dict[str, Any]) -> str:
    value = artifact.get("push_time")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    return str(value or "")
