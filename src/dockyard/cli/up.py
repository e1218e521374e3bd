"""Serve the registry, git server and CI on one port, from one data directory."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from dockyard.cli.common import add_data_dir, add_storage, settings_from
from dockyard.store import PRIVATE_UMASK, atomic_write_text, check_data_dir

log = logging.getLogger("dockyard")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--admin-user", default="admin", help="administrator's name")
    parser.add_argument(
        "--admin-password",
        help="administrator's password (default: $DOCKYARD_ADMIN_PASSWORD, else generated on first"
             " start and stored in the data dir)",
    )
    parser.add_argument("--public-url", help="URL clients use to reach this server")
    parser.add_argument("--ssh-port", type=int, metavar="PORT",
                        help="serve git over SSH on this port (default: $DOCKYARD_SSH_PORT, else off)")
    add_storage(parser)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    # First of all: every file and directory this process (and git under it) creates from now
    # on is private to the server's user (DATA is 0700/0600; see dockyard.store.permissions).
    os.umask(PRIVATE_UMASK)
    import uvicorn

    from dockyard.server import build_app, open_services

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; webhook and registry URLs may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # asyncssh (git over SSH) logs every connection, channel and auth step at INFO
    logging.getLogger("asyncssh").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings = settings_from(args)
    except ValueError as exc:  # a bad DOCKYARD_* value, named in the message
        print(f"dockyard up: {exc}", file=sys.stderr)
        return 2
    for warning in check_data_dir(settings.data_dir):
        log.warning("%s", warning)
    from dockyard.credentials import KeyFileError
    from dockyard.store import DatabaseUnavailable

    try:
        services = open_services(settings)
    except DatabaseUnavailable as exc:
        print(f"dockyard up: --database-url: {exc}", file=sys.stderr)
        return 2
    except KeyFileError as exc:
        print(f"dockyard up: {exc}", file=sys.stderr)
        return 2
    generated = services.auth.ensure_admin(settings.admin_user, settings.admin_password or None)
    if generated:
        path = settings.secrets_dir / "admin-password"
        atomic_write_text(path, generated + "\n", mode=0o600)
        print(
            f"dockyard: created administrator {settings.admin_user!r} with password {generated}\n"
            f"dockyard: (stored in {path}; it is not printed again)",
            file=sys.stderr,
            flush=True,
        )
    from dockyard.registry import StorageError

    try:
        app = build_app(services)
    except StorageError as exc:
        print(f"dockyard up: --storage {settings.storage}: {exc}", file=sys.stderr)
        return 2
    from dockyard.http import BoundedHeadProtocol

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=1 << 20,
        http=BoundedHeadProtocol,  # httptools, with the head bound h11 has above
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to whatever
    # handler was there before it; make that handler a clean exit so SIGTERM ends with status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    server.run()
    return 0


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)
