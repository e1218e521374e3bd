"""Offline maintenance of a server's data directory: garbage collection of the registry's blobs
that no manifest references.

It works on the data directory (and --database-url, --storage) that `dockyard up` serves, safe
while the server runs. A data directory that does not exist is an error, never created."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.common import add_data_dir, add_storage, offline_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    add_storage(parser)
    sub = parser.add_subparsers(dest="action", required=True)
    gc = sub.add_parser("gc", help="delete unreferenced blobs (safe while the server runs)")
    gc.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    gc.add_argument(
        "--grace",
        type=float,
        default=3600.0,
        help="seconds: never delete a blob written or linked more recently (default 3600)",
    )
    gc.add_argument("--delete-untagged", action="store_true", help="also delete manifests that no tag names")
    gc.add_argument("--cache-ttl", metavar="DURATION",
                    help="also delete layer-cache entries (--cache-repo images) older than this,"
                         " a Go duration like 336h (the executor's default --cache-ttl)")


def run(args: argparse.Namespace) -> int:
    from dockyard.cli.executor_cmd import parse_duration
    from dockyard.registry import RegistryMetadata, StorageError, collect_garbage, open_blob_storage
    from dockyard.server import open_services

    try:
        cache_ttl = parse_duration(args.cache_ttl) if args.cache_ttl else None
    except argparse.ArgumentTypeError as exc:
        print(f"dockyard registry gc: --cache-ttl: {exc}", file=sys.stderr)
        return 2
    services = open_services(offline_settings(args, "registry"))
    settings = services.settings
    try:
        report = collect_garbage(
            open_blob_storage(settings.storage, settings.registry_dir, settings.aws_environment),
            RegistryMetadata(services.db),
            grace_seconds=args.grace,
            dry_run=args.dry_run,
            delete_untagged=args.delete_untagged,
            cache_ttl_seconds=cache_ttl,
        )
    except StorageError as exc:
        print(f"dockyard registry gc: --storage {settings.storage}: {exc}", file=sys.stderr)
        return 2
    for entry in report.expired:
        print(f"expired cache entry {entry}")
    for digest in report.manifests:
        print(f"manifest {digest}")
    for digest in report.blobs:
        print(f"blob {digest}")
    print(report.summary())
    return 0
