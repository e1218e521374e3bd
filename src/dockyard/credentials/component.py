"""The credentials component: the encrypted store and its HTTP API, composed by the server."""

from __future__ import annotations

from starlette.routing import BaseRoute

from dockyard.credentials.api import CredentialsAPI
from dockyard.credentials.migrations import MIGRATIONS
from dockyard.credentials.store import CredentialStore
from dockyard.services import Services


class CredentialsComponent:
    """A `dockyard.services.Component`; `.store` is what CI binds credentials from."""

    migrations = MIGRATIONS

    def __init__(self, services: Services) -> None:
        self.store = CredentialStore.open(services.db, services.settings.secrets_dir)
        self.api = CredentialsAPI(self.store, services.auth)

    def routes(self) -> list[BaseRoute]:
        return self.api.routes()

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing to stop."""
