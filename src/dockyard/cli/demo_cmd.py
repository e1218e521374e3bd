"""Run the tutorial end to end on a fresh Dockyard: start `dockyard up` on a free loopback port,
create the repos through the Gitea API, import a busybox base image, push the tutorial's
Dockerfile and Jenkinsfile, create the job through Jenkins' createItem, push a change, wait for
the image, check it with the Harbor API, run it with runc, show the GitOps commit and the trace."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="fresh (empty) data directory (default: a new temp dir)"
    )
    parser.add_argument("--port", type=int, help="loopback port for the server (default: a free one)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the server running and keep the data dir afterwards")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the build after the push (default 300)")


def run(args: argparse.Namespace) -> int:
    from dockyard.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(data_dir=args.data_dir, port=args.port, keep=args.keep,
                                timeout=args.timeout))
