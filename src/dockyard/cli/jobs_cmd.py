"""CI jobs on a running server, through its Jenkins-compatible API.

  dockyard jobs list                       name, last result, page
  dockyard jobs build JOB [-p K=V] [--wait] start a build (and follow its console)
  dockyard jobs show JOB [N|last]          one build: result, duration, commit, cause, page
                                           (exit 0 when it succeeded or still runs)
  dockyard jobs console JOB [N|last] [-f]  its console log (-f: follow while it runs)

Triggering needs write access to the job's repository (what `git push` needs); creating jobs
is `dockyard ci create` (administrators). `dockyard trace JOB N` prints a build's timeline.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from dockyard.cli.ci_client import check, connect
from dockyard.cli.ci_cmd import follow, trigger
from dockyard.cli.errors import CommandError, write_out
from dockyard.cli.lean_httpx import httpx
from dockyard.cli.remote import add_actions, print_json, segment, with_connection

# Jenkins' ball colours -> what they mean
_STATUS = {"blue": "SUCCESS", "red": "FAILURE", "yellow": "UNSTABLE", "aborted": "ABORTED",
           "notbuilt": "NOT_BUILT", "disabled": "DISABLED"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = add_actions(parser)
    listing = sub.add_parser("list", help="list the jobs you can see, with their last result")
    build = sub.add_parser("build", help="start a build; --wait follows its console")
    build.add_argument("job")
    build.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    build.add_argument("--wait", action="store_true", help="stream the console log; exit 0 only on SUCCESS")
    show = sub.add_parser("show", help="show a build (default: the last one)")
    console = sub.add_parser("console", help="print a build's console log (default: the last build's)")
    for action in (show, console):
        action.add_argument("job")
        action.add_argument("number", nargs="?", default="last", help="build number or 'last' (default)")
    console.add_argument("-f", "--follow", action="store_true", help="keep printing while the build runs")
    with_connection(listing, show, json_flag="Jenkins")
    with_connection(build, console)


def run(args: argparse.Namespace) -> int:
    with connect(args) as http:
        if args.action == "list":
            return _list(http, args.json)
        if args.action == "build":
            number = trigger(http, args.job, args.param)
            print(f"{args.job} #{number}", file=sys.stderr)
            return follow(http, args.job, number) if args.wait else 0
        info = _build_info(http, args.job, args.number)
        if args.action == "show":
            return _show(info, args.json)
        if args.follow:
            return follow(http, args.job, int(info["number"]))
        path = f"/job/{segment(args.job, 'job')}/{int(info['number'])}/consoleText"
        with http.stream("GET", path) as response:
            check(response)
            for chunk in response.iter_bytes():
                write_out(chunk)
    return 0


def _list(http: httpx.Client, as_json: bool) -> int:
    root = check(http.get("/api/json", params={"tree": "jobs[name,url,color]"})).json()
    if as_json:
        return print_json(root.get("jobs", []))
    for job in root.get("jobs", []):
        color = str(job.get("color") or "notbuilt")
        status = "RUNNING" if color.endswith("_anime") else _STATUS.get(color, color.upper())
        print(f"{job['name']}\t{status}\t{job['url']}")
    return 0


def _build_info(http: httpx.Client, job: str, number: str) -> dict[str, Any]:
    if number == "last":
        ref = "lastBuild"
    elif number.isdigit() and len(number) < 10:
        ref = number
    else:
        raise CommandError(f"build {number!r}: give a build number or 'last'", code=2)
    response = http.get(f"/job/{segment(job, 'job')}/{ref}/api/json")
    if response.status_code == 404 and ref == "lastBuild":
        check(http.get(f"/job/{segment(job, 'job')}/api/json"))  # the job itself missing: its own 404
        raise CommandError(f"job {job} has no builds yet: start one with `dockyard jobs build {job}`")
    info: dict[str, Any] = check(response).json()
    return info


def _show(info: dict[str, Any], as_json: bool) -> int:
    if as_json:
        return print_json(info)
    result = "RUNNING" if info.get("building") else (info.get("result") or "QUEUED")
    started = datetime.fromtimestamp(info.get("timestamp", 0) / 1000, UTC)
    lines = [("build", info.get("fullDisplayName", "")), ("result", result),
             ("started", started.isoformat(timespec="seconds")),
             ("duration", f"{(info.get('duration') or 0) / 1000:.1f}s" if not info.get("building") else "-")]
    for action in info.get("actions") or []:
        if not isinstance(action, dict):
            continue
        for cause in action.get("causes") or []:
            lines.append(("cause", str(cause.get("shortDescription", ""))))
        revision = action.get("lastBuiltRevision")
        if revision:
            branches = ", ".join(b.get("name", "") for b in revision.get("branch") or [])
            sha = str(revision.get("SHA1", ""))
            lines.append(("commit", f"{sha} ({branches})" if branches else sha))
    lines.append(("url", info.get("url", "")))
    for key, value in lines:
        print(f"{key}:\t{value}")
    return 0 if result in ("SUCCESS", "RUNNING") else 1

