"""The one contract between the server and its components (registry, git, credentials, CI, UI).

`Services` is what the components share, built once per process by `dockyard.server`; each
component is built from it (plus, for CI and the UI, the other components it reads) and exposes
the same `Component` shape, which the server composes in a list: migrations (applied in the
server's dependency order), routes (mounted in list order, which keeps paths apart), start/stop
(started in list order, stopped in reverse). Everything here is a type: importing this module
loads nothing (the executor's zygote imports `dockyard.ci` and must stay light).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from dockyard.auth import AuthService, TokenSigner
    from dockyard.config import Settings
    from dockyard.events import EventBus
    from dockyard.store import Database, Migration


@dataclass
class Services:
    """What the components share; built once per process (`dockyard.server.open_services`)."""

    settings: Settings
    db: Database
    auth: AuthService
    signer: TokenSigner
    events: EventBus


class Component(Protocol):
    """One part of the server: its schema, its routes and what runs in the background."""

    @property
    def migrations(self) -> Sequence[Migration]: ...

    def routes(self) -> list[BaseRoute]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class MoreRoutes:
    """More routes of a component that mount at another place in the order (the UI's
    /{owner}/{repo}/... pages go after git's patterns); no migrations, nothing runs."""

    migrations: Sequence[Migration] = ()

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = list(routes)

    def routes(self) -> list[BaseRoute]:
        return self._routes

    async def start(self) -> None:
        """Its component starts what runs."""

    async def stop(self) -> None:
        """Its component stops what runs."""
