"""The web UI: server-rendered pages on the components' own services and permission checks.

Public surface: `WebUI(services, git=, ci=, registry=)` with `.routes()` (mount after the APIs'
fixed paths and before git's smart-HTTP patterns), and `MIGRATIONS` (browser sessions).
Pages accept only the session cookie (never Basic auth); every form carries a CSRF token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dockyard.services import Services
from dockyard.ui import ci_actions
from dockyard.ui.account import Account, Tokens
from dockyard.ui.admin_orgs import OrgAdminPages
from dockyard.ui.admin_pages import AdminPages
from dockyard.ui.ci_pages import CIPages
from dockyard.ui.home import Components, Home
from dockyard.ui.migrations import MIGRATIONS
from dockyard.ui.pushes import PushLog
from dockyard.ui.registry_pages import RegistryPages
from dockyard.ui.repo_pages import RepoPages, not_found_on_git_error
from dockyard.ui.sessions import LoginLimiter, SessionStore
from dockyard.ui.settings_pages import SettingsPages
from dockyard.ui.ssh_keys import SSHKeys
from dockyard.ui.web import STATIC, Web

__all__ = ["MIGRATIONS", "WebUI"]


class WebUI:
    """The UI component (a `dockyard.services.Component`)."""

    migrations = MIGRATIONS

    def __init__(self, services: Services, *, git: Any, ci: Any, registry: Any, credentials: Any = None,
                 limiter: LoginLimiter | None = None) -> None:
        self.sessions = SessionStore(services.db)
        self.web = Web(self.sessions, lambda: services.settings.base_url)
        self.parts = Components(git, ci, registry)
        self.account = Account(self.web, services.auth, self.sessions, limiter)
        self.tokens = Tokens(self.web, services.auth)
        self.ssh_keys = SSHKeys(self.web, git)
        self.home = Home(self.web, self.parts, PushLog(services.db, services.events))
        self.ci = CIPages(self.web, ci)
        self.repos = RepoPages(self.web, git, lambda: services.settings.base_url)
        self.settings = SettingsPages(self.web, git)
        self.registry = RegistryPages(self.web, registry, lambda: services.settings.base_url)
        self.admin = AdminPages(self.web, services.auth, ci, credentials, services.settings.data_dir,
                                registry)
        self.orgs = OrgAdminPages(self.web, services.auth, git)

    def routes(self) -> list[BaseRoute]:
        page = self.web.page
        return [
            Route("/", page(self.home.home), methods=["GET", "HEAD"]),
            Route("/user/login", page(self.account.login_form), methods=["GET"]),
            Route("/user/login", page(self.account.login), methods=["POST"]),
            Route("/user/logout", page(self.account.logout, signed_in=True), methods=["POST"]),
            Route("/user/settings/applications", page(self.tokens.show, signed_in=True), methods=["GET"]),
            Route("/user/settings/applications", page(self.tokens.create, signed_in=True), methods=["POST"]),
            Route("/user/settings/applications/delete", page(self.tokens.revoke, signed_in=True),
                  methods=["POST"]),
            Route("/user/settings/keys", page(self.ssh_keys.show, signed_in=True), methods=["GET"]),
            Route("/user/settings/keys", page(self.ssh_keys.add, signed_in=True), methods=["POST"]),
            Route("/user/settings/keys/delete", page(self.ssh_keys.delete, signed_in=True),
                  methods=["POST"]),
            Mount("/assets", app=StaticFiles(directory=STATIC), name="assets"),
            Route("/repo/create", page(self.repos.create_form, signed_in=True), methods=["GET"]),
            Route("/repo/create", page(self.repos.create, signed_in=True), methods=["POST"]),
            Route("/explore", _to("/explore/repos"), methods=["GET"]),
            Route("/explore/repos", page(self.repos.explore), methods=["GET"]),
            Route("/-/admin", page(self.admin.system, signed_in=True), methods=["GET"]),
            Route("/-/admin/gc", page(self.admin.gc_dry_run, signed_in=True), methods=["POST"]),
            Route("/-/admin/users", page(self.admin.users, signed_in=True), methods=["GET"]),
            Route("/-/admin/users", page(self.admin.create_user, signed_in=True), methods=["POST"]),
            Route("/-/admin/users/edit", page(self.admin.edit_user, signed_in=True), methods=["POST"]),
            Route("/-/admin/orgs", page(self.orgs.orgs, signed_in=True), methods=["GET"]),
            Route("/-/admin/orgs", page(self.orgs.create_org, signed_in=True), methods=["POST"]),
            Route("/-/admin/orgs/{org}", page(self.orgs.org, signed_in=True), methods=["GET"]),
            Route("/-/admin/orgs/{org}/members", page(self.orgs.set_member, signed_in=True),
                  methods=["POST"]),
            Route("/-/admin/orgs/{org}/members/delete", page(self.orgs.remove_member, signed_in=True),
                  methods=["POST"]),
            Route("/-/admin/credentials", page(self.admin.credentials_page, signed_in=True), methods=["GET"]),
            *self._ci_routes(),
            *self._registry_routes(),
        ]

    def _registry_routes(self) -> list[BaseRoute]:
        """Harbor's UI paths (its API lives under /api/v2.0, so nothing here shadows it)."""
        page, rp = self.web.page, self.registry
        project = "/harbor/projects/{project}"
        return [
            Route("/harbor", _to("/harbor/projects"), methods=["GET"]),
            Route("/harbor/projects", page(rp.projects), methods=["GET"]),
            Route("/harbor/-/image", page(rp.image), methods=["GET"]),
            Route(project, _add_suffix("/repositories"), methods=["GET"]),
            Route(project + "/repositories", page(rp.repositories), methods=["GET"]),
            Route(project + "/repositories/{rest:path}", page(rp.repository_path), methods=["GET"]),
            Route(project + "/-/delete-tag", page(rp.confirm_delete_tag, signed_in=True), methods=["GET"]),
            Route(project + "/-/delete-tag", page(rp.delete_tag, signed_in=True), methods=["POST"]),
            Route(project + "/-/add-tag", page(rp.add_tag, signed_in=True), methods=["POST"]),
            Route(project + "/-/visibility", page(rp.set_visibility, signed_in=True), methods=["POST"]),
            Route(project + "/-/delete-artifact", page(rp.confirm_delete_artifact, signed_in=True),
                  methods=["GET"]),
            Route(project + "/-/delete-artifact", page(rp.delete_artifact, signed_in=True), methods=["POST"]),
        ]

    def repo_routes(self) -> list[BaseRoute]:
        """Gitea's page paths; mounted after git's routes, so /api/v1 and smart HTTP
        (/{owner}/{repo}/info/refs, git-upload-pack, git-receive-pack) always win."""
        r = self.repos

        def page(handler: Any) -> Any:
            return self.web.page(not_found_on_git_error(handler))

        repo = "/{owner}/{repo}"
        return [
            Route(repo, page(r.home), methods=["GET"]),
            Route(repo + "/src/{kind}/{rest:path}", page(r.src), methods=["GET"]),
            Route(repo + "/raw/{kind}/{rest:path}", page(r.raw), methods=["GET"]),
            Route(repo + "/commits/branch/{rest:path}", page(r.commits), methods=["GET"]),
            Route(repo + "/commit/{sha}", page(r.commit), methods=["GET"]),
            Route(repo + "/branches", page(r.branches), methods=["GET"]),
            *self._settings_routes(repo),
            Route("/{owner}", page(r.owner), methods=["GET"]),
        ]

    def _settings_routes(self, repo: str) -> list[BaseRoute]:
        def page(handler: Any) -> Any:
            return self.web.page(handler, signed_in=True)

        st, hooks = self.settings, repo + "/settings/hooks"
        return [
            Route(repo + "/settings", _add_suffix("/hooks"), methods=["GET"]),
            Route(hooks, page(st.hooks_page), methods=["GET"]),
            Route(hooks, page(st.add_hook), methods=["POST"]),
            Route(hooks + "/{id:int}", page(st.hook_page), methods=["GET"]),
            Route(hooks + "/{id:int}/test", page(st.test_hook), methods=["POST"]),
            Route(hooks + "/{id:int}/delete", page(st.delete_hook), methods=["POST"]),
            Route(repo + "/settings/collaboration", page(st.collaboration), methods=["GET"]),
            Route(repo + "/settings/collaboration", page(st.add_collaborator), methods=["POST"]),
            Route(repo + "/settings/collaboration/delete", page(st.remove_collaborator), methods=["POST"]),
            Route(repo + "/settings/branches", page(st.protections), methods=["GET"]),
            Route(repo + "/settings/branches", page(st.add_protection), methods=["POST"]),
            Route(repo + "/settings/branches/delete", page(st.delete_protection), methods=["POST"]),
        ]

    def _ci_routes(self) -> list[BaseRoute]:
        """Jenkins' page paths; the Jenkins API's own paths (api/json, build, consoleText, stop...)
        are left to it: page actions post to `-/...` and builds match numbers only."""

        def page(handler: Any) -> Any:
            return self.web.page(handler, signed_in=True)

        ci = self.ci
        job, build = "/job/{name}", "/job/{name}/{number:int}"
        return [
            Route("/view/all/", page(ci.jobs), methods=["GET"]),
            Route(job, _add_slash, methods=["GET"]),
            Route(job + "/", page(ci.job), methods=["GET"]),
            Route(job + "/build", page(ci.build_form), methods=["GET"]),
            Route(job + "/-/build", page(ci.trigger), methods=["POST"]),
            Route(build, _add_slash, methods=["GET"]),
            Route(build + "/", page(ci.build), methods=["GET"]),
            Route(build + "/console", page(ci.console_page), methods=["GET"]),
            Route(build + "/console/events", page(ci.console_events), methods=["GET"]),
            Route(build + "/console/raw", page(ci.console_raw), methods=["GET"]),
            Route(build + "/-/stop", page(ci.stop), methods=["POST"]),
            Route(build + "/-/rebuild", page(ci.rebuild), methods=["POST"]),
            Route(build + "/-/input/{input_id}", page(ci.answer_input), methods=["POST"]),
            *ci_actions.routes(page, ci),
            Route(build + "/artifacts/{path:path}", page(ci.artifact), methods=["GET"]),
            Route(job + "/{ref}/", page(ci.named_build), methods=["GET"]),
            Route(job + "/{ref}/console", _permalink_console(page(ci.named_build)), methods=["GET"]),
        ]

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing to stop."""


async def _add_slash(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=301)


def _permalink_console(endpoint: Any) -> Any:
    """/job/x/lastBuild/console -> /job/x/<n>/console."""

    async def console(request: Request) -> Response:
        request.scope["path_params"]["rest"] = "console"
        return await endpoint(request)

    return console


def _add_suffix(suffix: str) -> Any:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.url.path.rstrip("/") + suffix, status_code=302)

    return redirect


def _to(target: str) -> Any:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(target, status_code=302)

    return redirect
