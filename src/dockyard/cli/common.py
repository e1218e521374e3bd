"""Arguments and set-up that several subcommands share."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from dockyard.config import Settings, default_data_dir


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"data directory (default: $DOCKYARD_DATA_DIR or {default_data_dir()})",
    )
    add_database(parser)  # the data directory's metadata may live in PostgreSQL instead


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="where registry blobs live: file:// (DATA/registry, the default) or s3://BUCKET[/prefix]"
             " with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION"
             " (default: $DOCKYARD_STORAGE or file://)",
    )


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="metadata database: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (needs the"
             " 'postgresql' extra: pip install 'dockyard[postgresql]'); default: $DOCKYARD_DATABASE_URL"
             " or SQLite in DATA/dockyard.db",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of a command that works on the data directory (`up`, `user`, `registry`):
    from here on the files it creates there are private (0700/0600, see store.permissions)."""
    from dockyard.store import PRIVATE_UMASK  # here: importing store loads SQLAlchemy

    os.umask(PRIVATE_UMASK)
    settings = Settings.from_environ(
        data_dir=args.data_dir,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        admin_user=getattr(args, "admin_user", None),
        admin_password=getattr(args, "admin_password", None),
        public_url=getattr(args, "public_url", None),
        ssh_port=getattr(args, "ssh_port", None),
        storage=getattr(args, "storage", None) or None,
        database_url=getattr(args, "database_url", None) or None,
    )
    return replace(settings, data_dir=settings.data_dir.expanduser().resolve())
