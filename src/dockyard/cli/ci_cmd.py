"""`dockyard ci`: jobs and builds on a running server (create, list, build, log)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dockyard.cli.ci_client import add_connection, check, connect
from dockyard.cli.errors import CommandError, write_out
from dockyard.cli.lean_httpx import httpx
from dockyard.cli.remote import segment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a job from Jenkins job XML (like createItem)")
    create.add_argument("job")
    create.add_argument("--xml", type=Path, required=True, help="the job's config.xml")
    jobs_parser = sub.add_parser("jobs", help="list jobs")
    builds = sub.add_parser("builds", help="list a job's builds")
    builds.add_argument("job")
    build = sub.add_parser("build", help="start a build and, with --wait, follow its log")
    build.add_argument("job")
    build.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    build.add_argument("--wait", action="store_true", help="stream the console log and exit with the result")
    log = sub.add_parser("log", help="print (or --follow) a build's console log")
    log.add_argument("job")
    log.add_argument("number", type=int)
    log.add_argument("-f", "--follow", action="store_true")
    stop = sub.add_parser("stop", help="abort a running build")
    stop.add_argument("job")
    stop.add_argument("number", type=int)
    for action in (create, jobs_parser, builds, build, log, stop):
        add_connection(action, nested=True)


def run(args: argparse.Namespace) -> int:
    with connect(args) as http:
        if args.action == "create":
            check(
                http.post(
                    "/createItem",
                    params={"name": args.job},
                    content=args.xml.read_bytes(),
                    headers={"Content-Type": "application/xml"},
                )
            )
            print(f"created job {args.job}")
        elif args.action == "jobs":
            for j in check(http.get("/api/ci/jobs")).json():
                print(f"{j['name']}\t{j['scm_url'] or '(inline)'}\t{j['branch_spec']}\t{j['script_path']}")
        elif args.action == "builds":
            for b in check(http.get(f"/api/ci/jobs/{args.job}/builds")).json():
                print(
                    f"#{b['number']}\t{b['result'] or b['state']}\t{b['duration_ms'] / 1000:.2f}s\t"
                    f"{b['commit'][:12]}\t{b['cause']}"
                )
        elif args.action == "build":
            number = trigger(http, args.job, args.param)
            print(f"{args.job} #{number}", file=sys.stderr)
            if args.wait:
                return follow(http, args.job, number)
        elif args.action == "log":
            if args.follow:
                return follow(http, args.job, args.number)
            write_out(check(http.get(f"/job/{segment(args.job, 'job')}/{args.number}/consoleText")).content)
        elif args.action == "stop":
            check(http.post(f"/job/{args.job}/{args.number}/stop"))
    return 0


def trigger(http: httpx.Client, job: str, param_args: list[str]) -> int:
    """Start a build through Jenkins' API (NAME=VALUE parameters) and wait for its number."""
    params = {}
    for arg in param_args:
        name, eq, value = arg.partition("=")
        if not eq or not name:
            raise CommandError(f"-p {arg!r}: give a parameter as NAME=VALUE", code=2)
        params[name] = value
    path = f"/job/{segment(job, 'job')}/" + ("buildWithParameters" if params else "build")
    location = check(http.post(path, params=params)).headers["location"]
    queue_id = location.rstrip("/").rsplit("/", 1)[1]
    while True:
        item = check(http.get(f"/queue/item/{queue_id}/api/json")).json()
        if item.get("executable"):
            return int(item["executable"]["number"])
        if item.get("cancelled"):
            raise CommandError(f"the queued build of {job} was cancelled")
        time.sleep(0.1)


def follow(http: httpx.Client, job: str, number: int) -> int:
    """Stream progressiveText until X-More-Data stops; exit 0 only for SUCCESS."""
    job = segment(job, "job")
    start = 0
    while True:
        r = check(http.get(f"/job/{job}/{number}/logText/progressiveText", params={"start": start}))
        write_out(r.content)
        start = int(r.headers.get("x-text-size", start))
        if r.headers.get("x-more-data") != "true":
            break
        time.sleep(0.2)
    result = check(http.get(f"/job/{job}/{number}/api/json")).json()["result"]
    return 0 if result == "SUCCESS" else 1
