"""The one ASGI app: health, then each component's routes in an order that keeps paths apart.

The components share `dockyard.services.Services` and each is a `dockyard.services.Component`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard import __version__
from dockyard.auth import MIGRATIONS as AUTH_MIGRATIONS
from dockyard.auth import AuthService, TokenSigner
from dockyard.config import Settings
from dockyard.events import EventBus
from dockyard.http import (
    BadRequest,
    BoundedBodyMiddleware,
    bound_int_path_params,
    render_bad_request,
    render_internal_error,
    wire_of,
)
from dockyard.server.http_policy import POLICY
from dockyard.server.keys import load_or_create_key
from dockyard.server.metrics import Metrics, MetricsMiddleware
from dockyard.services import Component, MoreRoutes, Services
from dockyard.store import Database, InvalidText, Migration

log = logging.getLogger(__name__)


def open_services(settings: Settings) -> Services:
    """Create the data directory, migrate the database and load keys."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    db.migrate(all_migrations())
    from dockyard.credentials import check_key_file

    check_key_file(db, settings.secrets_dir, SEALED_TABLES)  # KeyFileError: `dockyard up` refuses
    signer = TokenSigner(load_or_create_key(settings.secrets_dir / "token.key"))
    return Services(settings, db, AuthService(db), signer, EventBus())


# rows sealed with DATA/secrets/credentials.key: table -> (sealed column, what a row is)
SEALED_TABLES = {
    "credentials": ("sealed", "credential(s)"),
    "ci_jobs": ("config_sealed", "CI job config(s)"),
    "ci_builds": ("secret_params", "build(s) with password parameters"),
}


def all_migrations() -> list[Migration]:
    """Every component's migrations, in dependency order (auth first: others reference users)."""
    return [*AUTH_MIGRATIONS, *(m for kind in _component_types() for m in kind.migrations)]


def _component_types() -> list[Any]:
    """The component classes in migration order (the components import Starlette: on first use)."""
    from dockyard.ci import CIService
    from dockyard.credentials import CredentialsComponent
    from dockyard.git import GitServer
    from dockyard.registry import Registry
    from dockyard.ui import WebUI

    return [Registry, GitServer, CredentialsComponent, CIService, WebUI]


async def _sealed_with_another_key(request: Request, exc: Exception) -> Response:
    """A secret sealed with a key other than the loaded one (the start-up check passed, so the
    database or key changed under a running server): 503 with the reason, never a bare 500."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return wire_of(request).render(BadRequest(f"{exc}; restart Dockyard to have the key file checked",
                                              status=503, code="UNAVAILABLE"))


async def _invalid_text(request: Request, exc: Exception) -> Response:
    """Text the database cannot hold (PostgreSQL and NUL): the client's input, a 400."""
    return wire_of(request).render(BadRequest(str(exc)))


def compose(services: Services) -> list[Component]:
    """Every component built from `services`, in route order: fixed paths first, the pages after
    the APIs', then git (its /{owner}/{repo}.git/... patterns must not shadow fixed paths), then
    the repository pages."""
    from dockyard.ci import executor_backend, open_ci
    from dockyard.credentials import CredentialsComponent
    from dockyard.git import GitServer
    from dockyard.registry import Registry
    from dockyard.ui import WebUI

    registry = Registry(services)
    git = GitServer(services)
    credentials = CredentialsComponent(services)
    ci = open_ci(
        services,
        credentials.store,
        repo_role=git.repos.role_of,  # CI reads follow git's
        executor=executor_backend(services.settings.ci_executor, services.settings),  # steps never see DATA
    )
    ui = WebUI(services, git=git, ci=ci, registry=registry, credentials=credentials.store)
    # the UI's pages on fixed paths (/, /user/..., /job/...) after the APIs'; git's
    # /{owner}/{repo}.git/... patterns after every fixed path; the UI's /{owner}/{repo}/... pages
    # last, so /api/v1 and smart HTTP (/{owner}/{repo}/info/refs, ...) always win
    return [registry, credentials, ci, ui, git, MoreRoutes(ui.repo_routes())]


def build_app(services: Services) -> Starlette:
    from dockyard.credentials import KeyMismatch

    bound_int_path_params()
    metrics = Metrics()
    components = compose(services)
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        *(route for component in components for route in component.routes()),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
            log.info("dockyard %s ready on %s", __version__, services.settings.base_url)
            yield
        finally:
            for component in reversed(started):
                await component.stop()
            services.db.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(BoundedBodyMiddleware, policy=POLICY),
        ],
        exception_handlers={BadRequest: render_bad_request, KeyMismatch: _sealed_with_another_key,
                            InvalidText: _invalid_text, Exception: render_internal_error},
    )
    app.state.services = services
    return app


async def _healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def _version(_request: Request) -> Response:
    return JSONResponse({"version": __version__})
