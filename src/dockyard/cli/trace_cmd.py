"""`dockyard trace JOB N`: a build's timeline (queued, agent ready, checkout, stages, steps,
pushes) as the tutorial's C.5 table."""

from __future__ import annotations

import argparse
import json

from dockyard.ci import format_trace
from dockyard.cli.ci_client import add_connection, check, connect
from dockyard.cli.errors import CommandError
from dockyard.cli.remote import segment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection(parser)
    parser.add_argument("job", help="job name")
    parser.add_argument("number", help="build number, or 'last'")
    parser.add_argument("--json", action="store_true", help="print the raw trace JSON")


def run(args: argparse.Namespace) -> int:
    job = segment(args.job, "job")
    number = args.number
    if number != "last" and not (number.isdigit() and len(number) < 10):
        raise CommandError(f"build {number!r}: give a build number or 'last'", code=2)
    with connect(args) as http:
        if number == "last":
            builds = check(http.get(f"/api/ci/jobs/{job}/builds")).json()
            if not builds:
                raise CommandError(f"job {args.job} has no builds yet: start one with"
                                   f" `dockyard jobs build {args.job}`")
            number = builds[0]["number"]
        trace = check(http.get(f"/api/ci/jobs/{job}/builds/{number}/trace")).json()
    if args.json:
        print(json.dumps(trace, indent=2))
        return 0
    total = ""
    if trace.get("finished_at") and trace.get("queued_at"):
        total = f", {trace['finished_at'] - trace['queued_at']:.2f}s from queue to end"
    print(f"{args.job} #{number}: {trace.get('result') or trace.get('state')}{total}")
    if trace.get("commit"):
        print(f"commit {trace['commit']} ({trace.get('branch')})")
    print(format_trace(trace))
    return 0 if trace.get("result") in (None, "SUCCESS") else 1
