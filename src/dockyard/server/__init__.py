"""Composes every component into one ASGI app on one port: `open_services(settings)` (data
directory, database, keys), `all_migrations()`, `compose(services)` (the components in route
order), `build_app(services)`."""

from dockyard.server.app import all_migrations, build_app, compose, open_services

__all__ = ["all_migrations", "build_app", "compose", "open_services"]
