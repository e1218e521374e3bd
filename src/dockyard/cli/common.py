"""Arguments and set-up that several subcommands share."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from dockyard.cli.errors import CommandError
from dockyard.config import Settings, default_data_dir


def add_data_dir(parser: argparse.ArgumentParser, *, offline: bool = False, nested: bool = False) -> None:
    """--data-dir and --database-url. `offline`: the command's maintenance mode (help says so);
    `nested`: a sub-action's parser, which keeps the values given before the action."""
    if offline:
        help_text = ("offline maintenance: work on this data directory (the one `dockyard up`"
                     " serves; it must exist) instead of through the server's API")
    else:
        help_text = f"data directory (default: $DOCKYARD_DATA_DIR or {default_data_dir()})"
    default = argparse.SUPPRESS if nested else None
    parser.add_argument("--data-dir", type=Path, metavar="DIR", default=default, help=help_text)
    add_database(parser, default)  # the data directory's metadata may live in PostgreSQL instead


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="where registry blobs live: file:// (DATA/registry, the default) or s3://BUCKET[/prefix]"
             " with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION"
             " (default: $DOCKYARD_STORAGE or file://)",
    )


def add_database(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        default=default,
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


def offline_settings(args: argparse.Namespace, command: str) -> Settings:
    """The settings of an offline maintenance command: those of an existing data directory.
    Never creates one (a mistyped path would otherwise become an empty Dockyard that silently
    answers "no users", "nothing to collect")."""
    settings = settings_from(args)
    data_dir = settings.data_dir
    if getattr(args, "data_dir", None):
        given = "--data-dir"
    elif data_dir != default_data_dir().expanduser().resolve():
        given = "from DOCKYARD_DATA_DIR"
    else:
        given = "the default; no --data-dir given"
    fix = (f"pass --data-dir DIR, the directory `dockyard up` serves (or set DOCKYARD_DATA_DIR);"
           f" `dockyard {command}` never creates one")
    if not data_dir.is_dir():
        raise CommandError(f"no data directory at {data_dir} ({given}): {fix}", code=2)
    if not settings.database_url and not (data_dir / "dockyard.db").is_file():
        raise CommandError(
            f"{data_dir} is not a Dockyard data directory (it has no dockyard.db): {fix}", code=2)
    return settings
