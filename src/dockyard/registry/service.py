"""Wires storage, metadata, access control and both APIs into routes with a lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from starlette.routing import BaseRoute, Route

from dockyard.registry.access import Access
from dockyard.registry.api_v2 import DistributionAPI
from dockyard.registry.harbor import HarborAPI
from dockyard.registry.harbor_immutable import ImmutableAPI
from dockyard.registry.harbor_members import MemberAPI
from dockyard.registry.harbor_retention import RetentionAPI
from dockyard.registry.harbor_robots import RobotAPI
from dockyard.registry.harbor_system import SystemAPI
from dockyard.registry.metadata import RegistryMetadata
from dockyard.registry.migrations import MIGRATIONS
from dockyard.registry.storage_select import open_blob_storage
from dockyard.registry.token_service import token_endpoint
from dockyard.services import Services

log = logging.getLogger(__name__)
_V2_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class Registry:
    """The registry component (a `dockyard.services.Component`)."""

    migrations = MIGRATIONS

    def __init__(self, services: Services) -> None:
        settings = self.settings = services.settings
        auth = services.auth
        self.store = open_blob_storage(settings.storage, settings.registry_dir, settings.aws_environment)
        self.metadata = RegistryMetadata(services.db)
        self.access = Access(auth, services.signer, self.metadata)
        self.v2 = DistributionAPI(self.store, self.metadata, self.access, settings.public_url)
        self.harbor = HarborAPI(auth, self.access, self.metadata, self.store)
        self.robots = RobotAPI(self.harbor, self.access.robots)
        self.members = MemberAPI(self.harbor, self.access.member_roles)
        self.immutable = ImmutableAPI(self.harbor, self.access.immutable)
        self.retention = RetentionAPI(self.harbor, self.access.retention)
        self.system = SystemAPI(self.harbor, settings.public_url, settings.storage)
        self._expiry: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v2", self.v2.dispatch, methods=_V2_METHODS),
            Route("/v2/{rest:path}", self.v2.dispatch, methods=_V2_METHODS),
            Route("/service/token", token_endpoint(self.access), methods=["GET", "POST"]),
            *self.harbor.routes(),
            *self.robots.routes(),
            *self.members.routes(),
            *self.system.routes(),
            *self.immutable.routes(),
            *self.retention.routes(),
        ]

    async def start(self) -> None:
        self._expiry = asyncio.create_task(self._expire_uploads_forever())
        self._retention = asyncio.create_task(self._retention_schedules_forever())

    async def stop(self) -> None:
        for task in (self._expiry, self._retention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _retention_schedules_forever(self) -> None:
        """Harbor's scheduled tag retention: at the start of each minute, the policies whose
        cron names it run (Retention.run_due); a failing run is logged, the loop goes on."""
        while True:
            now = dt.datetime.now(dt.UTC)
            await asyncio.sleep(60 - now.second - now.microsecond / 1e6 + 0.5)
            minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
            try:
                ran = await asyncio.to_thread(self.access.retention.run_due, minute, self.harbor.top_level)
            except Exception:
                log.exception("scheduled tag retention failed")
                continue
            if ran:
                log.info("ran %d scheduled tag retention policies", ran)

    async def _expire_uploads_forever(self) -> None:
        """Upload sessions abandoned by clients are removed after settings.upload_ttl seconds."""
        while True:
            removed = await asyncio.to_thread(self.store.expire_uploads, self.settings.upload_ttl)
            if removed:
                log.info("expired %d abandoned upload sessions", removed)
            await asyncio.sleep(min(600.0, self.settings.upload_ttl / 2))
