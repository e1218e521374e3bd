"""Registry pages at Harbor's UI paths: projects, a project's repositories, a repository's
artifacts, an artifact (tags, digest, size, times, image config, layers, history, referrers,
pull lines), and deleting a tag after a confirmation page. Visibility and the delete right are
the Harbor API's own (`Registry.harbor.visible_project` / `delete_tag`)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from dockyard.auth import Role
from dockyard.registry import HarborError
from dockyard.ui.web import PageError, Visitor, Web, page_number

PAGE_SIZE = 25
TAGS_PER_PAGE = 50
MAX_JSON = 4 << 20  # manifests and configs larger than the registry's manifest limit are not read
MARKER = "/artifacts-tab/artifacts/"


def artifact_path(project_id: int, short_name: str, digest: str) -> str:
    return f"/harbor/projects/{project_id}/repositories/{quote(short_name, safe='')}{MARKER}{digest}"


class RegistryPages:
    def __init__(self, web: Web, registry: Any, base_url: Any) -> None:
        self.web = web
        self.registry = registry
        self.harbor = registry.harbor
        self.metadata = registry.metadata
        self.base_url = base_url

    def host(self) -> str:
        return urlsplit(self.base_url()).netloc

    # lookups: the Harbor API's checks ----------------------------------------------------------
    def _project(self, visitor: Visitor, ref: str) -> Any:
        project = self.harbor.visible_project(visitor.principal, ref)
        if project is None:
            raise PageError(404, f"There is no project {ref!r} that you may see.")
        return project

    def _repository(self, project: Any, short: str) -> Any:
        repository = self.metadata.get_repository(f"{project.name}/{short}")
        if repository is None or repository.project_id != project.id:
            raise PageError(404, f"Project {project.name} has no repository {short!r}.")
        return repository

    def _manifest(self, repository: Any, digest: str) -> Any:
        manifest = self.metadata.get_manifest(repository.id, digest) if digest.startswith("sha256:") else None
        if manifest is None:
            raise PageError(404, f"{repository.name} has no artifact {digest!r}.")
        return manifest

    def _json_blob(self, digest: str) -> dict[str, Any] | None:
        info = self.registry.store.stat(digest)
        if info is None or info.size > MAX_JSON:
            return None
        try:
            value = json.loads(self.registry.store.read_blob(digest))
        except (ValueError, OSError):
            return None
        return value if isinstance(value, dict) else None

    # pages ------------------------------------------------------------------------------------
    async def projects(self, request: Request, visitor: Visitor) -> Response:
        def load() -> list[tuple[Any, int]]:
            return [(p, self.metadata.project_repo_count(p.id)) for p in self.metadata.list_projects()
                    if self.harbor.visible_project(visitor.principal, p.name) is not None]

        rows = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "harbor_projects.html", rows=rows)

    async def repositories(self, request: Request, visitor: Visitor) -> Response:
        def load() -> tuple[Any, list[tuple[Any, int]], bool]:
            project = self._project(visitor, request.path_params["project"])
            repos = [(r, len(self.harbor.top_level(r))) for r in self.metadata.list_repositories(project.id)]
            return project, repos, self.harbor.role(visitor.principal, project) >= Role.ADMIN

        project, rows, can_admin = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "harbor_repositories.html", project=project, rows=rows,
                               can_admin=can_admin)

    async def set_visibility(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        project = await asyncio.to_thread(self._project, visitor, request.path_params["project"])
        try:
            await asyncio.to_thread(self.harbor.set_public, visitor.principal, project,
                                    form.get("public") == "true")
        except HarborError as e:
            raise PageError(e.status if e.status != 401 else 403, e.message) from None
        return self.web.redirect(request, visitor, f"/harbor/projects/{project.id}/repositories")

    async def repository_path(self, request: Request, visitor: Visitor) -> Response:
        rest = request.path_params["rest"]
        if MARKER in "/" + rest:
            short, _, digest = ("/" + rest).partition(MARKER)
            return await self.artifact(request, visitor, short.lstrip("/"), digest.strip("/"))
        return await self.repository(request, visitor, rest.strip("/"))

    async def repository(self, request: Request, visitor: Visitor, short: str) -> Response:
        page = page_number(request)

        def load() -> dict[str, Any]:
            project = self._project(visitor, request.path_params["project"])
            repository = self._repository(project, short)
            artifacts = sorted(self.harbor.top_level(repository), key=lambda m: m.pushed_at, reverse=True)
            shown = artifacts[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
            if page > 1 and not shown:
                raise PageError(404, f"{repository.name} has no page {page} of artifacts.")
            return {"project": project, "repository": repository, "short": short, "page": page,
                    "more": len(artifacts) > page * PAGE_SIZE, "total": len(artifacts),
                    "artifacts": [(m, [t.name for t in self.metadata.tags_of(m.id)]) for m in shown]}

        data = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "harbor_repository.html", host=self.host(),
                               artifact_path=artifact_path, **data)

    async def artifact(self, request: Request, visitor: Visitor, short: str, digest: str) -> Response:
        tags_page = page_number(request, "tags_page")

        def load() -> dict[str, Any]:
            project = self._project(visitor, request.path_params["project"])
            repository = self._repository(project, short)
            manifest = self._manifest(repository, digest)
            tags = self.metadata.tags_of(manifest.id)
            tags.sort(key=lambda t: t.pushed_at, reverse=True)
            body = self._json_blob(manifest.digest) or {}
            config_ref = body.get("config")
            config_digest = config_ref.get("digest") if isinstance(config_ref, dict) else None
            config = self._json_blob(config_digest) if isinstance(config_digest, str) else None
            layers, children = _dicts(body.get("layers")), _dicts(body.get("manifests"))
            referrers = self.metadata.referrers(repository.id, manifest.digest)
            role = self.harbor.role(visitor.principal, project)  # the API's rules: tags need
            can_delete, can_admin = role >= Role.WRITE, role >= Role.ADMIN  # write, artifacts admin
            return {"project": project, "repository": repository, "short": short, "m": manifest,
                    "tags": tags[(tags_page - 1) * TAGS_PER_PAGE: tags_page * TAGS_PER_PAGE],
                    "tag_total": len(tags), "tags_page": tags_page,
                    "tags_more": len(tags) > tags_page * TAGS_PER_PAGE,
                    "image": image_view(config or {}), "referrers": referrers,
                    "layers": [{"digest": str(x.get("digest", "")), "mediaType": str(x.get("mediaType", "")),
                                "size": _int(x.get("size"))} for x in layers],
                    "children": [{"digest": str(x.get("digest", "")), "size": _int(x.get("size")),
                                  "platform": x["platform"] if isinstance(x.get("platform"), dict) else {}}
                                 for x in children],
                    "can_delete": can_delete, "can_admin": can_admin}

        data = await asyncio.to_thread(load)
        return self.web.render(request, visitor, "harbor_artifact.html", host=self.host(),
                               artifact_path=artifact_path, **data)

    async def confirm_delete_tag(self, request: Request, visitor: Visitor) -> Response:
        q = request.query_params
        project, repository, manifest = await asyncio.to_thread(
            self._target, visitor, request.path_params["project"], q.get("repository", ""),
            q.get("digest", ""))
        return self.web.render(request, visitor, "harbor_delete_tag.html", project=project,
                               repository=repository, short=q.get("repository", ""), m=manifest,
                               tag=q.get("tag", ""), artifact_path=artifact_path)

    async def delete_tag(self, request: Request, visitor: Visitor) -> Response:
        return await self._act(request, visitor, "deleted", "delete_tag")

    async def add_tag(self, request: Request, visitor: Visitor) -> Response:
        return await self._act(request, visitor, "added", "add_tag")

    async def confirm_delete_artifact(self, request: Request, visitor: Visitor) -> Response:
        q = request.query_params
        project, repository, manifest = await asyncio.to_thread(
            self._target, visitor, request.path_params["project"], q.get("repository", ""),
            q.get("digest", ""))
        tags = await asyncio.to_thread(self.metadata.tags_of, manifest.id)
        return self.web.render(request, visitor, "harbor_delete_artifact.html", project=project,
                               repository=repository, short=q.get("repository", ""), m=manifest,
                               tags=tags, artifact_path=artifact_path)

    async def delete_artifact(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        short = form.get("repository", "")
        project, repository, manifest = await asyncio.to_thread(
            self._target, visitor, request.path_params["project"], short, form.get("digest", ""))
        try:
            await asyncio.to_thread(self.harbor.delete_artifact, visitor.principal, project, repository,
                                    manifest)
        except HarborError as e:
            raise PageError(e.status if e.status != 401 else 403, e.message) from None
        return self.web.redirect(request, visitor,
                                 f"/harbor/projects/{project.id}/repositories/{quote(short, safe='')}")

    async def _act(self, request: Request, visitor: Visitor, done: str, method: str) -> Response:
        """A tag action from a form (repository, digest, tag), through the Harbor API's own
        `method` (its role check included); back to the artifact page saying what was `done`."""
        form = await self.web.form(request, visitor)
        short, digest, tag = form.get("repository", ""), form.get("digest", ""), form.get("tag", "").strip()
        project, repository, manifest = await asyncio.to_thread(
            self._target, visitor, request.path_params["project"], short, digest)
        try:
            await asyncio.to_thread(getattr(self.harbor, method), visitor.principal, project, repository,
                                    manifest, tag)
        except HarborError as e:
            raise PageError(e.status if e.status != 401 else 403, e.message) from None
        return self.web.redirect(request, visitor, artifact_path(project.id, short, manifest.digest)
                                 + f"?{done}={quote(tag, safe='')}")

    def _target(self, visitor: Visitor, project_ref: str, short: str, digest: str) -> tuple[Any, Any, Any]:
        project = self._project(visitor, project_ref)
        repository = self._repository(project, short)
        return project, repository, self._manifest(repository, digest)

    async def image(self, request: Request, visitor: Visitor) -> Response:
        """An image reference (as a build's push names it) -> its artifact page. A build's
        trace is masked, so a secret inside the name reads `****`: such a name matches the
        visible repositories it could be, narrowed by `digest` (a prefix the trace keeps)."""
        ref = request.query_params.get("ref", "")
        prefix = request.query_params.get("digest", "")
        name, digest, tag = split_reference(ref, self.host())

        def resolve() -> str:
            pattern = re.compile("^" + ".+".join(re.escape(p) for p in name.split("****")) + "$")
            for repository in self.metadata.list_repositories():
                project_name, _, short = repository.name.partition("/")
                if not name or not pattern.match(repository.name):
                    continue
                project = self.harbor.visible_project(visitor.principal, project_name)
                if project is None:
                    continue
                manifest = (self.metadata.get_manifest(repository.id, digest) if digest
                            else self.metadata.resolve_tag(repository.id, tag or "latest"))
                if manifest is not None and manifest.digest.startswith(prefix):
                    return artifact_path(project.id, short, manifest.digest)
            raise PageError(404, f"{ref!r} names no artifact of this registry that you may see.")

        return self.web.redirect(request, visitor, await asyncio.to_thread(resolve))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value) if value is not None else ""


def image_view(config: dict[str, Any]) -> dict[str, Any]:
    """What the artifact page shows of an image config, every field checked for its type (a
    pushed config is whatever the pusher sent)."""
    cfg = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(cfg, dict)
    labels = cfg.get("Labels")
    ports = cfg.get("ExposedPorts")
    return {
        "platform": "/".join(_text(config.get(k)) for k in ("os", "architecture", "variant")
                             if config.get(k)),
        "created": _text(config.get("created")),
        "entrypoint": _text(cfg.get("Entrypoint")) if cfg.get("Entrypoint") else "",
        "cmd": _text(cfg.get("Cmd")) if cfg.get("Cmd") else "",
        "workdir": _text(cfg.get("WorkingDir")),
        "user": _text(cfg.get("User")),
        "ports": [str(p) for p in ports] if isinstance(ports, dict) else [],
        "env": [_text(e) for e in cfg.get("Env") or []] if isinstance(cfg.get("Env"), list) else [],
        "labels": [(str(k), _text(v)) for k, v in labels.items()] if isinstance(labels, dict) else [],
        "history": [{"created": _text(h.get("created"))[:19],
                     "step": _text(h.get("created_by") or h.get("comment")),
                     "empty": bool(h.get("empty_layer"))} for h in _dicts(config.get("history"))],
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a manifest's list field (a hostile manifest may hold anything there)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def split_reference(ref: str, host: str) -> tuple[str, str, str]:
    """(repository name, digest, tag) of `host/name[:tag][@digest]`; refs of other hosts give
    an empty name."""
    rest, _, digest = ref.partition("@")
    first, _, path = rest.partition("/")
    if first != host:
        return "", "", ""
    last = path.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    name = path[: len(path) - len(tag) - 1] if tag else path
    return name, digest, tag
