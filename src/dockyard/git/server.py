"""GitServer: composes storage, smart HTTP, git over SSH (when on), the Gitea API, push events
and webhooks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount

from dockyard.git.api.common import ApiContext
from dockyard.git.api.contents import ContentsApi
from dockyard.git.api.hooks import HookApi, send_test_delivery
from dockyard.git.api.keys import KeysApi
from dockyard.git.api.protections import ProtectionApi
from dockyard.git.api.repos import RepoApi
from dockyard.git.api.statuses import StatusApi
from dockyard.git.api.users import UserApi
from dockyard.git.migrations import MIGRATIONS
from dockyard.git.protection import ProtectionStore, install_pre_receive
from dockyard.git.pushes import PushNotifier
from dockyard.git.pushlog import install_hooks
from dockyard.git.repos import Repo, RepoService
from dockyard.git.smarthttp import SmartHTTP
from dockyard.git.sshkeys import PublicKeyStore
from dockyard.git.sshpaths import ssh_url_base
from dockyard.git.statuses import StatusStore, record_ci_statuses
from dockyard.git.webhooks import Deliverer, Hook, HookStore
from dockyard.http import HostMatchList
from dockyard.services import Services

if TYPE_CHECKING:
    from dockyard.git.sshserver import GitSSHServer


class GitServer:
    """The git component (a `dockyard.services.Component`); its routes go last (see routes())."""

    migrations = MIGRATIONS

    def __init__(self, services: Services) -> None:
        settings, db, auth, bus = services.settings, services.db, services.auth, services.events
        root = settings.git_dir
        _remove_leftovers(root)
        self.repos = RepoService(root, db, auth)
        self.hooks = HookStore(db, HostMatchList.parse(settings.webhook_allowed_hosts))
        self.deliverer = Deliverer(self.hooks, settings.webhook_retry_delays)
        self.settings = settings
        ssh_base = ssh_url_base(settings.base_url, settings.ssh_port) if settings.ssh_port else ""
        self.notifier = PushNotifier(self.repos, self.hooks, self.deliverer, bus,
                                     lambda: settings.base_url, ssh_base)
        self.keys = PublicKeyStore(db)  # SSH keys: the API manages them, the SSH server reads them
        self.ssh: GitSSHServer | None = None
        self.protections = ProtectionStore(db)
        self.statuses = StatusStore(db)  # read by the web UI's commit badges
        record_ci_statuses(bus, self.repos, self.statuses)
        hooks_dir = install_hooks(root / ".hooks")
        install_pre_receive(hooks_dir)
        self.smart_http = SmartHTTP(self.repos, auth, self.protections, hooks_dir, root / ".tmp",
                                    self.notifier.on_push)
        self.api = ApiContext(auth, self.repos, self.hooks, self.deliverer, self.notifier, bus,
                              self.protections, settings.base_url)

    async def test_hook(self, repo: Repo, hook: Hook, username: str) -> str:
        """The API's webhook test delivery (for the web UI); ApiError(409) on an empty repo."""
        return await send_test_delivery(self.api, repo, hook, username)

    def api_routes(self) -> list[BaseRoute]:
        """The Gitea-compatible API under /api/v1."""
        routes: list[BaseRoute] = []
        for api in (UserApi(self.api), RepoApi(self.api), ContentsApi(self.api),
                    StatusApi(self.api), HookApi(self.api), ProtectionApi(self.api),
                    KeysApi(self.api, self.keys)):
            routes += api.routes()
        return [Mount("/api/v1", routes=routes)]

    def git_routes(self) -> list[BaseRoute]:
        """Smart HTTP at /{owner}/{repo}(.git)/...; mount after every fixed prefix."""
        return self.smart_http.routes()

    def routes(self) -> list[BaseRoute]:
        return [*self.api_routes(), *self.git_routes()]

    async def start(self) -> None:
        await self.deliverer.start()
        if self.settings.ssh_port:
            from dockyard.git.sshserver import HOST_KEY_NAME, GitSSHServer  # loads asyncssh

            self.ssh = GitSSHServer(self.smart_http, self.keys, self.repos.auth,
                                    self.settings.secrets_dir / HOST_KEY_NAME, self.settings.host,
                                    self.settings.ssh_port)
            await self.ssh.start()

    async def stop(self) -> None:
        if self.ssh is not None:
            await self.ssh.stop()
        await self.notifier.drain_quickly()
        await self.deliverer.stop()


def _remove_leftovers(root: Path) -> None:
    """Temp files of a previous process that died mid-request: push logs, half-initialised or
    half-deleted repositories, the quarantine of objects of a push that never finished (git
    removes `objects/tmp_objdir-incoming-*` itself unless killed). None is ever visible."""
    if not root.is_dir():
        return
    for path in [*root.glob(".trash-*"), *root.glob("*/.init-*"), *(root / ".tmp").glob("*"),
                 *root.glob("*/*.git/objects/tmp_objdir-incoming-*")]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
