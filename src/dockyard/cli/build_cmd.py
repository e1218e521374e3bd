"""`dockyard build -t IMAGE [-f Dockerfile] CONTEXT`: the executor's engine with docker-build
style arguments and a live progress display; `--push` sends the image to every `-t`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dockyard.cli.executor_cmd import add_bool, add_build_arguments, add_registry_arguments

    parser.allow_abbrev = False
    parser.add_argument("context", nargs="?", default=".", help="build context directory")
    parser.add_argument("-t", "--tag", action="append", default=[], metavar="IMAGE",
                        help="name of the image (repeatable); pushed with --push")
    parser.add_argument("-f", "--file", default=None,
                        help="Dockerfile (default: CONTEXT/Dockerfile)")
    add_build_arguments(parser, pflag=False)
    parser.add_argument("--platform", dest="custom_platform", metavar="OS/ARCH[,...]",
                        help="as --custom-platform: e.g. linux/amd64,linux/arm64 builds both "
                             "and makes one image index")
    add_registry_arguments(parser, pflag=False)
    add_bool(parser, "--push", help="push the image to every -t name", pflag=False)
    parser.add_argument("-o", "--tar-path", type=Path, help="save a docker-archive tarball here")
    parser.add_argument("--oci-layout-path", type=Path, help="save an OCI layout here")
    parser.add_argument("--digest-file", type=Path, help="write the image digest here")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the digest")


def run(args: argparse.Namespace) -> int:
    """Map docker-build style arguments onto the executor's and build with a live display."""
    import dataclasses

    from dockyard.builder import run_build
    from dockyard.cli.executor_cmd import options_from

    if args.push and not args.tag:
        print("error: --push needs at least one -t IMAGE", file=sys.stderr)
        return 2
    args.destination = list(args.tag)
    args.dockerfile = args.file or "Dockerfile"
    args.no_push = not args.push
    args.image_name_with_digest_file = None
    args.snapshot_mode = "full"
    options = dataclasses.replace(options_from(args), verbosity="warn" if args.quiet else "info")
    return run_build(options, live=True)
