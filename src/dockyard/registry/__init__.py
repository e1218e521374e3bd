"""OCI distribution v1.1 server and Harbor-style API (being built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from dockyard.store import Migration

MIGRATIONS: list[Migration] = []


class Registry:
    def __init__(self, settings: object, db: object, auth: object, signer: object) -> None:
        self.settings = settings

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
