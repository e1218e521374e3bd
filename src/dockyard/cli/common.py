"""Arguments and set-up that several subcommands share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dockyard.config import Settings, default_data_dir


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ["DOCKYARD_DATA_DIR"]) if os.environ.get("DOCKYARD_DATA_DIR") else None,
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
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    return Settings(
        data_dir=data_dir,
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8080),
        admin_user=getattr(args, "admin_user", "admin"),
        public_url=getattr(args, "public_url", None),
        **({"storage": args.storage} if getattr(args, "storage", None) else {}),
        **({"database_url": args.database_url} if getattr(args, "database_url", None) else {}),
    )
