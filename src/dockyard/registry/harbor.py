"""Harbor-style `/api/v2.0` (subset): projects, repositories, artifacts and tags.

Field names, status codes and the double-encoded nested repository names (`a%252Fb`) follow
Harbor's swagger, so scripts written for Harbor work against Dockyard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import (
    AuthService,
    NamespaceTaken,
    Principal,
    Role,
    is_write,
    missing_scope,
    parse_authorization,
)
from dockyard.http import fields, json_object, small_int
from dockyard.registry.access import Access, create_project
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifests import INDEX_TYPES
from dockyard.registry.metadata import Manifest, Project, RegistryMetadata, Repository
from dockyard.registry.names import looks_like_digest, valid_name, valid_tag
from dockyard.registry.storage import BlobStorage

_IMAGE_CONFIG_TYPES = {
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
}
_REPO_PATH = re.compile(
    r"^(?P<repo>.+?)(?:/artifacts(?:/(?P<ref>[^/]+)(?:/(?P<sub>tags)(?:/(?P<tag>[^/]+))?)?)?)?/?$"
)
_PROJECT_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


class HarborError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return JSONResponse(
            {"errors": [{"code": self.code, "message": self.message}]}, status_code=self.status
        )


class HarborAPI:
    def __init__(
        self,
        auth: AuthService,
        access: Access,
        metadata: RegistryMetadata,
        store: BlobStorage,
    ) -> None:
        self.auth = auth
        self.access = access
        self.metadata = metadata
        self.store = store

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v2.0/projects", self._projects, methods=["GET", "HEAD", "POST"]),
            Route("/api/v2.0/projects/{project}", self._project, methods=["GET", "PUT", "DELETE"]),
            Route("/api/v2.0/projects/{project}/repositories", self._repositories, methods=["GET"]),
            Route("/api/v2.0/repositories", self._all_repositories, methods=["GET"]),
            Route(
                "/api/v2.0/projects/{project}/repositories/{rest:path}",
                self._repository_path,
                methods=["GET", "POST", "DELETE"],
            ),
        ]

    # plumbing -----------------------------------------------------------------------------------
    def endpoint(self, handler: Callable[[Request, Principal], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        """A Starlette endpoint running `handler(request, principal)` behind `_guard`: the
        Harbor API's login, `package` scope and error shape (the robot, member and system
        modules' routes use it)."""
        async def endpoint(request: Request) -> Response:
            return await self._guard(request, handler)

        return endpoint

    async def _guard(self, request: Request, handler: Any) -> Response:
        try:
            # users, and robot accounts (read-only here: the registry is where they act)
            creds = parse_authorization(request.headers.get("authorization"))
            principal = await run_in_threadpool(self.access.authenticate, creds)
            if principal is None:
                raise HarborError(401, "UNAUTHORIZED", "invalid username, password or token")
            writing = is_write(request.method)
            if writing and principal.is_robot:
                raise HarborError(403, "FORBIDDEN", f"{principal.username} is a robot account: it pushes"
                                  " and pulls in the registry and may only read this API")
            if not principal.allows("package", writing):
                raise HarborError(403, "FORBIDDEN", missing_scope("package", writing))
            return await handler(request, principal)
        except HarborError as exc:
            return exc.response()
        except RegistryError as exc:
            return HarborError(exc.status, exc.code, exc.message).response()

    def _visible_project(self, principal: Principal, ref: str) -> Project:
        project = self.metadata.get_project(ref)
        project_id = small_int(ref)
        if project is None and project_id is not None:
            project = next((p for p in self.metadata.list_projects() if p.id == project_id), None)
        if project is None or not self._can_see(principal, project):
            raise HarborError(404, "NOT_FOUND", f"project {ref} not found")
        return project

    def _role(self, principal: Principal, project: Project) -> Role:
        if principal.public_only and not project.public:
            return Role.NONE
        if principal.grants is not None:  # a robot reads the projects it holds grants in
            granted = any(name in (project.name, "*") for name, _ in principal.grants)
            return Role.READ if granted else Role.NONE
        if principal.user_id is not None and project.owner_id == principal.user_id:
            return Role.ADMIN
        return self.auth.role_in(principal, project.name)

    def _can_see(self, principal: Principal, project: Project) -> bool:
        return project.public or self._role(principal, project) >= Role.READ

    def _require_role(self, principal: Principal, project: Project, role: Role) -> None:
        if self._role(principal, project) < role:
            if principal.is_anonymous:
                raise HarborError(401, "UNAUTHORIZED", "log in to do this")
            raise HarborError(
                403,
                "FORBIDDEN",
                f"{principal.username!r} lacks the {role.name.lower()} role in project {project.name!r}",
            )

    # projects -----------------------------------------------------------------------------------
    async def _projects(self, request: Request) -> Response:
        return await self._guard(request, self._projects_impl)

    async def _projects_impl(self, request: Request, principal: Principal) -> Response:
        if request.method == "HEAD":
            # Anonymous callers (and public-only tokens) learn only of public projects: a private
            # one answers as absent. Signed-in users may check a name before creating it.
            project = self.metadata.get_project(request.query_params.get("project_name", ""))
            limited = principal.is_anonymous or principal.public_only
            exists = project is not None and (project.public or not limited)
            return Response(status_code=200 if exists else 404)
        if request.method == "POST":
            return await self._create_project(request, principal)
        projects = [p for p in self.metadata.list_projects() if self._can_see(principal, p)]
        wanted = request.query_params.get("name")
        if wanted:
            projects = [p for p in projects if wanted in p.name]
        public = request.query_params.get("public")
        if public in ("true", "false"):
            projects = [p for p in projects if p.public == (public == "true")]
        return self._page(request, [self._project_json(p) for p in projects])

    async def _create_project(self, request: Request, principal: Principal) -> Response:
        if principal.is_anonymous:
            raise HarborError(401, "UNAUTHORIZED", "log in to create a project")
        body = await json_object(request, optional=True)
        name = fields.text(body, "project_name", max_len=fields.HARBOR_PROJECT_NAME_MAX)
        if not _PROJECT_NAME.match(name):
            raise HarborError(
                400,
                "BAD_REQUEST",
                f"invalid project_name {name!r}: lowercase letters, digits, '.', '_' and '-'",
            )
        if self.metadata.get_project(name) is not None:
            raise HarborError(409, "CONFLICT", f"the project named {name} already exists")
        refusal = self.auth.project_refusal(principal, name)  # the one namespace's rule
        if refusal is not None:
            raise HarborError(403, "FORBIDDEN", refusal)
        metadata = fields.obj(body, "metadata")
        default = "true" if name == "library" else "false"  # Harbor's `library` is public
        public = str(metadata.get("public", body.get("public", default))).lower() == "true"
        try:
            project = create_project(self.auth, self.metadata, name, public=public,
                                     owner_id=principal.user_id)
        except NamespaceTaken as exc:
            raise HarborError(409, "CONFLICT", str(exc)) from None
        return Response(status_code=201, headers={"Location": f"/api/v2.0/projects/{project.id}"})

    async def _project(self, request: Request) -> Response:
        return await self._guard(request, self._project_impl)

    async def _project_impl(self, request: Request, principal: Principal) -> Response:
        project = self._visible_project(principal, request.path_params["project"])
        if request.method == "GET":
            return JSONResponse(self._project_json(project))
        self._require_role(principal, project, Role.ADMIN)
        if request.method == "PUT":
            body = await json_object(request, optional=True)
            public = fields.obj(body, "metadata").get("public")
            if public is not None:
                self.set_public(principal, project, str(public).lower() == "true")
            return Response(status_code=200)
        if self.metadata.project_repo_count(project.id):
            raise HarborError(
                412,
                "PRECONDITION",
                f"the project {project.name} contains repositories: delete them first",
            )
        self.metadata.delete_project(project.name)
        self.auth.release_namespace(project.name, "project")
        return Response(status_code=200)

    def _project_json(self, project: Project) -> dict[str, Any]:
        owner = next((u for u in self.auth.list_users() if u.id == project.owner_id), None)
        return {
            "project_id": project.id,
            "name": project.name,
            "owner_id": project.owner_id,
            "owner_name": owner.username if owner else "",
            "creation_time": project.created_at,
            "update_time": project.updated_at,
            "repo_count": self.metadata.project_repo_count(project.id),
            "deleted": False,
            "metadata": self._project_metadata(project),
        }

    def _project_metadata(self, project: Project) -> dict[str, str]:
        metadata = {"public": "true" if project.public else "false"}
        policy = self.access.retention.for_project(project.id)
        if policy is not None:  # Harbor's pointer to the project's tag retention policy
            metadata["retention_id"] = str(policy.id)
        return metadata

    # repositories -------------------------------------------------------------------------------
    async def _repositories(self, request: Request) -> Response:
        return await self._guard(request, self._repositories_impl)

    async def _repositories_impl(self, request: Request, principal: Principal) -> Response:
        project = self._visible_project(principal, request.path_params["project"])
        return self._repository_page(request, self.metadata.list_repositories(project.id))

    async def _all_repositories(self, request: Request) -> Response:
        return await self._guard(request, self._all_repositories_impl)

    async def _all_repositories_impl(self, request: Request, principal: Principal) -> Response:
        """Harbor's `GET /repositories`: every repository of the projects the caller may see."""
        repositories = [r for p in self.metadata.list_projects() if self._can_see(principal, p)
                        for r in self.metadata.list_repositories(p.id)]
        return self._repository_page(request, repositories)

    def _repository_page(self, request: Request, repositories: list[Repository]) -> Response:
        """Harbor's `q=name=~part` filter (`name=x` is matched as a substring too), then a page."""
        query = request.query_params.get("q", "")
        match = re.match(r"^name=~?(.+)$", query)
        if match:
            repositories = [r for r in repositories if match.group(1) in r.name]
        return self._page(request, [self._repository_json(r) for r in repositories])

    def _repository_json(self, repository: Repository) -> dict[str, Any]:
        return {
            "id": repository.id,
            "project_id": repository.project_id,
            "name": repository.name,
            "description": repository.description,
            "artifact_count": len(self._top_level(repository)),
            "pull_count": repository.pull_count,
            "creation_time": repository.created_at,
            "update_time": repository.updated_at,
        }

    def _top_level(self, repository: Repository) -> list[Manifest]:
        """Harbor counts artifacts, not the children of an index nor accessories (subjects)."""
        children = self.metadata.child_manifest_digests(repository.id)
        return [
            m
            for m in self.metadata.list_manifests(repository.id)
            if m.digest not in children and m.subject is None
        ]

    async def _repository_path(self, request: Request) -> Response:
        return await self._guard(request, self._repository_path_impl)

    async def _repository_path_impl(self, request: Request, principal: Principal) -> Response:
        project = self._visible_project(principal, request.path_params["project"])
        match = _REPO_PATH.match(request.path_params["rest"])
        if not match:
            raise HarborError(404, "NOT_FOUND", "no such resource")
        short = unquote(unquote(match.group("repo")))
        name = f"{project.name}/{short}"
        repository = self.metadata.get_repository(name) if valid_name(name) else None
        if repository is None:
            raise HarborError(404, "NOT_FOUND", f"repository {name} not found")
        ref, sub, tag = match.group("ref"), match.group("sub"), match.group("tag")
        method = request.method
        if ref is None and "/artifacts" not in request.path_params["rest"]:
            if method == "GET":
                return JSONResponse(self._repository_json(repository))
            if method == "DELETE":
                self._require_role(principal, project, Role.ADMIN)
                self.metadata.delete_repository(repository.id)
                return Response(status_code=200)
            raise HarborError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed here")
        if ref is None:
            if method != "GET":
                raise HarborError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed here")
            artifacts = [self._artifact_json(repository, m) for m in self._top_level(repository)]
            return self._page(request, artifacts)
        manifest = self._artifact(repository, unquote(ref))
        if sub is None:
            if method == "GET":
                return JSONResponse(self._artifact_json(repository, manifest))
            if method == "DELETE":
                self.delete_artifact(principal, project, repository, manifest)
                return Response(status_code=200)
            raise HarborError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed here")
        return await self._tags(request, principal, project, repository, manifest, tag)

    def _artifact(self, repository: Repository, reference: str) -> Manifest:
        if looks_like_digest(reference):
            manifest = self.metadata.get_manifest(repository.id, reference)
        else:
            manifest = self.metadata.resolve_tag(repository.id, reference)
        if manifest is None:
            raise HarborError(404, "NOT_FOUND", f"artifact {repository.name}@{reference} not found")
        return manifest

    async def _tags(
        self,
        request: Request,
        principal: Principal,
        project: Project,
        repository: Repository,
        manifest: Manifest,
        tag: str | None,
    ) -> Response:
        method = request.method
        if method == "GET" and tag is None:
            return self._page(
                request, [self._tag_json(repository, manifest, t) for t in self.metadata.tags_of(manifest.id)]
            )
        self._require_role(principal, project, Role.WRITE)
        if method == "POST" and tag is None:
            body = await json_object(request, optional=True)
            self.add_tag(principal, project, repository, manifest, fields.text(body, "name", max_len=128))
            return Response(status_code=201)
        if method == "DELETE" and tag is not None:
            self.delete_tag(principal, project, repository, manifest, tag)
            return Response(status_code=200)
        raise HarborError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed here")

    def add_tag(self, principal: Principal, project: Project, repository: Repository,
                manifest: Manifest, name: str) -> None:
        """Tag the artifact `name` (write role); the API's POST and the web UI's form."""
        self._require_role(principal, project, Role.WRITE)
        if not valid_tag(name):
            raise HarborError(400, "BAD_REQUEST", f"invalid tag name {name!r}")
        if not self.metadata.add_tag(repository.id, manifest.id, name):
            raise HarborError(409, "CONFLICT", f"tag {name} already exists in {repository.name}")

    def set_public(self, principal: Principal, project: Project, public: bool) -> None:
        """Project visibility (admin role); the API's PUT metadata.public and the web UI's."""
        self._require_role(principal, project, Role.ADMIN)
        self.metadata.update_project(project.name, public=public)

    def delete_artifact(self, principal: Principal, project: Project, repository: Repository,
                        manifest: Manifest) -> None:
        """Delete the artifact and its tags (admin role, or the registry's delete right, which
        Harbor's maintainers also hold); the API's DELETE and the web UI's."""
        if "delete" not in self.access.permitted(principal, repository.name):
            self._require_role(principal, project, Role.ADMIN)
        self._refuse_immutable(repository, [t.name for t in self.metadata.tags_of(manifest.id)])
        self.metadata.delete_manifest(repository.id, manifest.digest)

    def delete_tag(self, principal: Principal, project: Project, repository: Repository,
                   manifest: Manifest, tag: str) -> None:
        """Remove `tag` from the artifact (write role); the API's DELETE and the web UI's button."""
        self._require_role(principal, project, Role.WRITE)
        if tag not in {t.name for t in self.metadata.tags_of(manifest.id)}:
            raise HarborError(404, "NOT_FOUND", f"tag {tag} not found on this artifact")
        self._refuse_immutable(repository, [tag])
        self.metadata.delete_tag(repository.id, tag)

    def _refuse_immutable(self, repository: Repository, tags: list[str]) -> None:
        """Immutable tag rules' 412, as the HarborError the web UI also catches."""
        try:
            self.access.immutable.refuse(repository.name, tags)
        except RegistryError as exc:
            raise HarborError(exc.status, exc.code, exc.message) from None

    def visible_project(self, principal: Principal, ref: str) -> Project | None:
        """The project `ref` (name or id) if the principal may see it, else None."""
        try:
            return self._visible_project(principal, ref)
        except HarborError:
            return None

    def role(self, principal: Principal, project: Project) -> Role:
        return self._role(principal, project)

    def top_level(self, repository: Repository) -> list[Manifest]:
        return self._top_level(repository)

    def _tag_json(self, repository: Repository, manifest: Manifest, tag: Any) -> dict[str, Any]:
        return {
            "id": tag.id,
            "repository_id": repository.id,
            "artifact_id": manifest.id,
            "name": tag.name,
            "push_time": tag.pushed_at,
            "pull_time": tag.pulled_at,
            "immutable": self.access.immutable.immutable(repository.name, tag.name),
        }

    def _artifact_json(self, repository: Repository, manifest: Manifest) -> dict[str, Any]:
        is_index = manifest.media_type in INDEX_TYPES
        if is_index:
            kind = "IMAGE"
        else:
            kind = "IMAGE" if manifest.artifact_type in _IMAGE_CONFIG_TYPES else "UNKNOWN"
        references = self._references(repository, manifest) if is_index else []
        return {
            "id": manifest.id,
            "type": kind,
            "media_type": manifest.artifact_type or manifest.media_type,
            "manifest_media_type": manifest.media_type,
            "artifact_type": manifest.artifact_type,
            "project_id": repository.project_id,
            "repository_id": repository.id,
            "repository_name": repository.name,
            "digest": manifest.digest,
            "size": manifest.total_size,
            "push_time": manifest.pushed_at,
            "pull_time": manifest.pulled_at,
            "annotations": manifest.annotations,
            "references": references,
            "tags": [self._tag_json(repository, manifest, t) for t in self.metadata.tags_of(manifest.id)],
        }

    def _references(self, repository: Repository, manifest: Manifest) -> list[dict[str, Any]]:
        """Harbor's `references` of an index: each child with its id, platform, annotations
        and urls, read from the index as stored (its descriptors say the platform)."""
        children = {d for d, k in self.metadata.references_of(manifest.id) if k == "manifest"}
        try:
            entries = json.loads(self.store.read_blob(manifest.digest)).get("manifests") or []
        except (OSError, KeyError, ValueError, AttributeError):
            entries = [{"digest": d} for d in sorted(children)]  # the body is unreadable
        out = []
        for entry in entries:
            digest = entry.get("digest") if isinstance(entry, dict) else None
            if digest not in children:
                continue
            child = self.metadata.get_manifest(repository.id, digest)
            reference: dict[str, Any] = {"parent_id": manifest.id, "child_digest": digest,
                                         "child_id": child.id if child else None}
            for key in ("platform", "annotations", "urls"):
                if entry.get(key) is not None:
                    reference[key] = entry[key]
            out.append(reference)
        return out

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        """Harbor's page/page_size paging with X-Total-Count and a Link to the next page."""
        total = len(items)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
            size = max(1, min(100, int(request.query_params.get("page_size", "10"))))
        except ValueError:
            raise HarborError(400, "BAD_REQUEST", "page and page_size must be integers") from None
        chunk = items[(page - 1) * size : page * size]
        headers = {"X-Total-Count": str(total)}
        links = [_page_link(request, page - 1, size, "prev")] if page > 1 else []
        if page * size < total:
            links.append(_page_link(request, page + 1, size, "next"))
        if links:
            headers["Link"] = " , ".join(links)
        return JSONResponse(chunk, headers=headers)


def _page_link(request: Request, page: int, size: int, rel: str) -> str:
    """One of Harbor's `Link` entries: the same query (filters such as `name` or `q` kept, as
    clients like harborapi follow the link as given) on another page."""
    query = {k: v for k, v in request.query_params.items() if k not in ("page", "page_size")}
    query.update(page=str(page), page_size=str(size))
    return f'<{request.url.path}?{urlencode(query)}>; rel="{rel}"'
