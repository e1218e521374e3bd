"""The one ASGI app: health, then each component's routes in an order that keeps paths apart."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
    render_bad_request,
    render_internal_error,
    wire_of,
)
from dockyard.http.routing import bound_int_path_params
from dockyard.server.http_policy import POLICY
from dockyard.server.keys import load_or_create_key
from dockyard.server.metrics import Metrics, MetricsMiddleware
from dockyard.store import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the components share; built once per process."""

    settings: Settings
    db: Database
    auth: AuthService
    signer: TokenSigner
    events: EventBus


def open_services(settings: Settings) -> Services:
    """Create the data directory, migrate the database and load keys."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    db.migrate(all_migrations())
    from dockyard.credentials.keycheck import check_key_file

    check_key_file(db, settings.secrets_dir, SEALED_TABLES)  # KeyFileError: `dockyard up` refuses
    signer = TokenSigner(load_or_create_key(settings.secrets_dir / "token.key"))
    return Services(settings, db, AuthService(db), signer, EventBus())


# rows sealed with DATA/secrets/credentials.key: table -> (sealed column, what a row is)
SEALED_TABLES = {
    "credentials": ("sealed", "credential(s)"),
    "ci_jobs": ("config_sealed", "CI job config(s)"),
    "ci_builds": ("secret_params", "build(s) with password parameters"),
}


def all_migrations() -> list:
    """Every component's migrations, in dependency order (auth first: others reference users)."""
    from dockyard.ci import MIGRATIONS as CI_MIGRATIONS
    from dockyard.credentials import MIGRATIONS as CREDENTIALS_MIGRATIONS
    from dockyard.git import MIGRATIONS as GIT_MIGRATIONS
    from dockyard.registry import MIGRATIONS as REGISTRY_MIGRATIONS
    from dockyard.ui import MIGRATIONS as UI_MIGRATIONS

    return [*AUTH_MIGRATIONS, *REGISTRY_MIGRATIONS, *GIT_MIGRATIONS, *CREDENTIALS_MIGRATIONS, *CI_MIGRATIONS,
            *UI_MIGRATIONS]


async def _sealed_with_another_key(request: Request, exc: Exception) -> Response:
    """A secret sealed with a key other than the loaded one (the start-up check passed, so the
    database or key changed under a running server): 503 with the reason, never a bare 500."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return wire_of(request).render(BadRequest(f"{exc}; restart Dockyard to have the key file checked",
                                              status=503, code="UNAVAILABLE"))


def build_app(services: Services) -> Starlette:
    from dockyard.ci import CIComponent, executor_backend, open_ci
    from dockyard.credentials import CredentialStore, KeyMismatch
    from dockyard.credentials.api import CredentialsAPI
    from dockyard.git import GitServer
    from dockyard.registry import Registry
    from dockyard.ui import WebUI

    bound_int_path_params()
    metrics = Metrics()
    registry = Registry(services.settings, services.db, services.auth, services.signer)
    git = GitServer(services.settings, services.db, services.auth, services.events)
    credentials = CredentialStore.open(services.db, services.settings.secrets_dir)
    ci: CIComponent = open_ci(
        services,
        credentials,
        repo_role=git.repos.role_of,  # CI reads follow git's
        executor=executor_backend("local", services.settings.data_dir),  # steps never see DATA
    )
    ui = WebUI(services, git=git, ci=ci, registry=registry, credentials=credentials)
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/version", _version, methods=["GET"]),
        *registry.routes(),
        *CredentialsAPI(credentials, services.auth).routes(),
        *ci.routes(),
        *ui.routes(),  # pages on fixed paths (/, /user/..., /job/...), after the APIs'
        *git.routes(),  # its /{owner}/{repo}.git/... patterns must not shadow fixed paths
        *ui.repo_routes(),  # last: /{owner}/{repo}/... pages, after git's /api/v1 and smart HTTP
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await registry.start()
        await git.start()
        await ci.start()
        log.info("dockyard %s ready on %s", __version__, services.settings.base_url)
        try:
            yield
        finally:
            await ci.stop()
            await git.stop()
            await registry.stop()
            services.db.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(BoundedBodyMiddleware, policy=POLICY),
        ],
        exception_handlers={BadRequest: render_bad_request, KeyMismatch: _sealed_with_another_key,
                            Exception: render_internal_error},
    )
    app.state.services = services
    return app


async def _healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def _version(_request: Request) -> Response:
    return JSONResponse({"version": __version__})
