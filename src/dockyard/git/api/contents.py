"""Branches, file contents (read, create, update, delete) and commit history of a repository."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dockyard.auth import Principal, Role
from dockyard.git.api.common import (
    ApiContext,
    ApiError,
    endpoint,
    json_body,
    page_params,
    str_field,
)
from dockyard.git.bare import BareRepo, CommitInfo, FileChange, Person, StaleRef, TreeEntry
from dockyard.git.gitcmd import ZERO_SHA, GitError
from dockyard.git.payloads import api_commit_json, branch_json, commit_time
from dockyard.git.pushlog import RefUpdate
from dockyard.git.repos import Repo, check_branch_name
from dockyard.http import fields, type_name


def clean_path(raw: str) -> str:
    """A repository-relative file path; refuses anything git or a checkout would not accept."""
    path = raw.strip("/")
    parts = path.split("/") if path else []
    for part in parts:
        if part in ("", ".", "..") or part.lower() == ".git" or "\0" in part or "\\" in part:
            raise ApiError(422, f"invalid file path {raw!r}: no empty, '.', '..' or .git parts")
    return "/".join(parts)


class ContentsApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/repos/{owner}/{repo}/branches", endpoint(self.branches), methods=["GET"]),
            Route("/repos/{owner}/{repo}/branches", endpoint(self.create_branch),
                  methods=["POST"]),
            Route("/repos/{owner}/{repo}/branches/{branch:path}", endpoint(self.branch),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/branches/{branch:path}", endpoint(self.delete_branch),
                  methods=["DELETE"]),
            Route("/repos/{owner}/{repo}/commits", endpoint(self.commits), methods=["GET"]),
            Route("/repos/{owner}/{repo}/git/commits/{sha}", endpoint(self.commit),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/contents", endpoint(self.get_contents),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/contents/{path:path}", endpoint(self.get_contents),
                  methods=["GET"]),
            Route("/repos/{owner}/{repo}/contents/{path:path}", endpoint(self.create_file),
                  methods=["POST"]),
            Route("/repos/{owner}/{repo}/contents/{path:path}", endpoint(self.update_file),
                  methods=["PUT"]),
            Route("/repos/{owner}/{repo}/contents/{path:path}", endpoint(self.delete_file),
                  methods=["DELETE"]),
            Route("/repos/{owner}/{repo}/raw/{path:path}", endpoint(self.raw), methods=["GET"]),
        ]

    # branches ----------------------------------------------------------------------
    async def branches(self, request: Request) -> Response:
        repo, principal, role = await self.ctx.repo(request)
        bare = self.ctx.repos.bare(repo)
        result = []
        for name, sha in sorted((await bare.branches()).items()):
            commit = await bare.commit(sha)
            if commit is not None:
                result.append(self._branch_json(repo, name, commit, principal, role))
        return JSONResponse(result)

    def _branch_json(self, repo: Repo, name: str, commit: CommitInfo, principal: Principal,
                     role: Role) -> dict[str, Any]:
        refused = self.ctx.protections.check(repo.id, principal, name)
        protected = self.ctx.protections.check(repo.id, principal, name, deleting=True)
        data = branch_json(name, commit, repo, self.ctx.base_url,
                           role >= Role.WRITE and refused is None)
        data["protected"] = protected is not None
        return data

    async def branch(self, request: Request) -> Response:
        repo, principal, role = await self.ctx.repo(request)
        name = request.path_params["branch"]
        bare = self.ctx.repos.bare(repo)
        sha = (await bare.branches()).get(name)
        commit = await bare.commit(sha) if sha else None
        if commit is None:
            raise ApiError(404, f"branch {name!r} does not exist")
        return JSONResponse(self._branch_json(repo, name, commit, principal, role))

    async def create_branch(self, request: Request) -> Response:
        """Gitea's `CreateBranchRepoOption`: `new_branch_name` from `old_ref_name` (a branch,
        tag or commit) or the deprecated `old_branch_name`, default the default branch. 201 with
        the `Branch`, 404 no such start, 409 the branch exists; protected names as for a push."""
        repo, principal, role = await self.ctx.repo(request, Role.WRITE)
        body = await json_body(request)
        name = str_field(body, "new_branch_name", max_len=fields.GITEA_BRANCH_NAME_MAX)
        if not name:
            raise ApiError(422, "new_branch_name is required")
        await check_branch_name(name)
        start = (str_field(body, "old_ref_name", max_len=fields.GITEA_BRANCH_NAME_MAX)
                 or str_field(body, "old_branch_name", max_len=fields.GITEA_BRANCH_NAME_MAX)
                 or repo.default_branch)
        bare = self.ctx.repos.bare(repo)
        if name in await bare.branches():
            raise ApiError(409, f"branch {name!r} already exists in {repo.full_name}")
        sha = await bare.resolve(start)
        commit = await bare.commit(sha) if sha else None
        if commit is None:
            raise ApiError(404, f"no branch, tag or commit named {start!r}")
        refused = self.ctx.protections.check(repo.id, principal, name)
        if refused:
            raise ApiError(403, refused)
        try:
            await bare.create_branch(name, commit.sha)
        except GitError:
            raise ApiError(409, f"branch {name!r} already exists in {repo.full_name}") from None
        await self.ctx.notifier.on_push(repo, principal,
                                        [RefUpdate(f"refs/heads/{name}", ZERO_SHA, commit.sha)],
                                        "api")
        return JSONResponse(self._branch_json(repo, name, commit, principal, role),
                            status_code=201)

    async def delete_branch(self, request: Request) -> Response:
        repo, principal, _ = await self.ctx.repo(request, Role.WRITE)
        name = request.path_params["branch"]
        if name == repo.default_branch:
            raise ApiError(403, f"the default branch {name!r} cannot be deleted")
        bare = self.ctx.repos.bare(repo)
        sha = (await bare.branches()).get(name)
        if sha is None:
            raise ApiError(404, f"branch {name!r} does not exist")
        refused = self.ctx.protections.check(repo.id, principal, name, deleting=True)
        if refused:
            raise ApiError(403, refused)
        await bare.delete_branch(name, sha)
        await self.ctx.notifier.on_push(repo, principal,
                                        [RefUpdate(f"refs/heads/{name}", sha, ZERO_SHA)], "api")
        return Response(status_code=204)

    # commits -----------------------------------------------------------------------
    async def commits(self, request: Request) -> Response:
        """GET commits?sha=&path=&page=&limit=, newest first, with X-Total-Count."""
        repo, _principal, _ = await self.ctx.repo(request)
        bare = self.ctx.repos.bare(repo)
        if await bare.is_empty():
            raise ApiError(409, "Git Repository is empty.")
        rev = request.query_params.get("sha") or repo.default_branch
        sha = await bare.resolve(rev)
        if sha is None:
            raise ApiError(404, f"no branch, tag or commit named {rev!r}")
        path = request.query_params.get("path", "")
        paths = [clean_path(path)] if path else None
        page, limit = page_params(request)
        total = await bare.count([sha], paths)
        found = await bare.log([sha], max_count=limit, skip=(page - 1) * limit, paths=paths,
                               with_files=request.query_params.get("files", "true") != "false")
        data = [api_commit_json(c, repo, self.ctx.base_url) for c in found]
        return JSONResponse(data, headers={
            "X-Total-Count": str(total), "X-HasMore": str(page * limit < total).lower(),
            "X-Page": str(page), "X-PerPage": str(limit),
        })

    async def commit(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request)
        bare = self.ctx.repos.bare(repo)
        sha = await bare.resolve(request.path_params["sha"])
        found = await bare.log([sha], max_count=1, with_files=True, no_walk=True) if sha else []
        if not found:
            raise ApiError(404, "commit does not exist")
        return JSONResponse(api_commit_json(found[0], repo, self.ctx.base_url))

    # contents ----------------------------------------------------------------------
    async def _ref(self, request: Request, repo: Repo, bare: BareRepo) -> str:
        ref = request.query_params.get("ref") or repo.default_branch
        sha = await bare.resolve(ref)
        if sha is None:
            raise ApiError(404, f"no branch, tag or commit named {ref!r}")
        return sha

    async def get_contents(self, request: Request) -> Response:
        """A file's `ContentsResponse` (base64 content), or a directory's list of entries."""
        repo, _principal, _ = await self.ctx.repo(request)
        bare = self.ctx.repos.bare(repo)
        path = clean_path(request.path_params.get("path", ""))
        commit = await self._ref(request, repo, bare)
        entry = await bare.entry(commit, path)
        if entry is None:
            raise ApiError(404, f"file {path!r} does not exist at {commit[:12]}")
        ref = request.query_params.get("ref") or repo.default_branch
        if entry.kind == "dir":
            entries = await bare.list_tree(entry.sha, path)
            return JSONResponse([await self._content_json(repo, bare, commit, ref, e, False)
                                 for e in entries])
        return JSONResponse(await self._content_json(repo, bare, commit, ref, entry, True))

    async def raw(self, request: Request) -> Response:
        repo, _principal, _ = await self.ctx.repo(request)
        bare = self.ctx.repos.bare(repo)
        path = clean_path(request.path_params["path"])
        entry = await bare.entry(await self._ref(request, repo, bare), path)
        if entry is None or entry.kind != "file":
            raise ApiError(404, f"file {path!r} does not exist")
        return Response(await bare.blob(entry.sha), media_type="application/octet-stream")

    async def _content_json(self, repo: Repo, bare: BareRepo, commit: str, ref: str,
                            entry: TreeEntry, with_content: bool) -> dict[str, Any]:
        base = self.ctx.base_url
        api = f"{base}/api/v1/repos/{repo.full_name}"
        self_url = f"{api}/contents/{entry.path}?ref={ref}"
        git_url = f"{api}/git/{'trees' if entry.kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = f"{base}/{repo.full_name}/src/branch/{ref}/{entry.path}"
        download = f"{base}/{repo.full_name}/raw/branch/{ref}/{entry.path}" \
            if entry.kind == "file" else None
        content = encoding = target = None
        if with_content and entry.kind in ("file", "symlink"):
            data = await bare.blob(entry.sha)
            if entry.kind == "file":
                content, encoding = base64.b64encode(data).decode(), "base64"
            else:
                target = data.decode(errors="replace")
        return {
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "last_commit_sha": await bare.last_commit_for(commit, entry.path),
            "type": entry.kind,
            "size": entry.size,
            "encoding": encoding,
            "content": content,
            "target": target,
            "url": self_url,
            "html_url": html_url,
            "git_url": git_url,
            "download_url": download,
            "submodule_git_url": None,
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }

    async def create_file(self, request: Request) -> Response:
        return await self._change_file(request, "create")

    async def update_file(self, request: Request) -> Response:
        return await self._change_file(request, "update")

    async def delete_file(self, request: Request) -> Response:
        return await self._change_file(request, "delete")

    async def _change_file(self, request: Request, action: str) -> Response:
        """Gitea's Create/Update/DeleteFileOptions: content (base64), sha of the blob being
        replaced (so a concurrent edit is refused, not lost), branch, new_branch, message."""
        repo, principal, _ = await self.ctx.repo(request, Role.WRITE)
        bare = self.ctx.repos.bare(repo)
        path = clean_path(request.path_params["path"])
        if not path:
            raise ApiError(422, "a file path is required")
        body = await json_body(request)
        branch = str_field(body, "branch") or repo.default_branch
        new_branch = str_field(body, "new_branch")
        parent = await bare.resolve(f"refs/heads/{branch}")
        if parent is None and not (await bare.is_empty() and branch == repo.default_branch):
            raise ApiError(404, f"branch {branch!r} does not exist")
        target = new_branch or branch
        refused = self.ctx.protections.check(repo.id, principal, target)
        if refused:
            raise ApiError(403, refused)
        if new_branch and await bare.resolve(f"refs/heads/{new_branch}") is not None:
            raise ApiError(422, f"branch {new_branch!r} already exists")
        if new_branch:
            from dockyard.git.repos import check_branch_name

            await check_branch_name(new_branch)
        existing = await bare.entry(parent, path) if parent else None
        content: bytes | None = None
        if action in ("create", "update"):
            raw = body.get("content")
            if not isinstance(raw, str):
                raise ApiError(422, "content (the file's bytes in base64) is required")
            try:
                content = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApiError(422, f"content is not valid base64: {exc}") from exc
        sha = str_field(body, "sha")
        if action == "create" and existing is not None:
            raise ApiError(422, f"repository file already exists [path: {path}]")
        if action in ("update", "delete"):
            if existing is None:
                if action == "delete":
                    raise ApiError(404, f"file {path!r} does not exist")
                if sha:
                    raise ApiError(404, f"file {path!r} does not exist; create it with POST")
            elif not sha:
                raise ApiError(422, "sha (the blob SHA of the file being replaced) is required")
            elif existing.sha != sha:
                raise ApiError(409, f"sha does not match [given: {sha}, expected: {existing.sha}]")
        if existing is not None and existing.kind == "dir":
            raise ApiError(422, f"{path!r} is a directory")
        default_message = {"create": "Add", "update": "Update", "delete": "Delete"}[action]
        message = str_field(body, "message") or f"{default_message} {path}"
        author = self._identity(body.get("author"), principal, "author")
        committer = self._identity(body.get("committer"), principal, "committer", author)
        dates = fields.obj(body, "dates")
        author = Person(author.name, author.email, _git_date(dates, "author"))
        committer = Person(committer.name, committer.email, _git_date(dates, "committer"))
        if body.get("signoff"):
            message = f"{message.rstrip()}\n\nSigned-off-by: {committer.name} <{committer.email}>"
        try:
            new_sha = await bare.commit_files(target, [FileChange(path, content)], message,
                                              author, committer, parent,
                                              new_branch=bool(new_branch))
        except StaleRef as exc:
            raise ApiError(409, str(exc)) from exc
        before = ZERO_SHA if new_branch or parent is None else parent
        await self.ctx.notifier.on_push(repo, principal,
                                        [RefUpdate(f"refs/heads/{target}", before, new_sha)],
                                        "api")
        return JSONResponse(await self._file_response(repo, bare, new_sha, target, path),
                            status_code=200 if action != "create" else 201)

    def _identity(self, raw: Any, principal: Principal, field: str,
                  fallback: Person | None = None) -> Person:
        if isinstance(raw, dict) and (raw.get("name") or raw.get("email")):
            name, email = str(raw.get("name") or ""), str(raw.get("email") or "")
            if "<" in name or ">" in name or "<" in email or ">" in email or "\n" in name + email:
                raise ApiError(422, f"{field} name and email must not contain '<', '>' or newlines")
            return Person(name or email, email)
        return fallback or self.ctx.repos.person(principal)

    async def _file_response(self, repo: Repo, bare: BareRepo, sha: str, branch: str,
                             path: str) -> dict[str, Any]:
        """Gitea's `FileResponse`: the file's contents entry and the new commit."""
        commit = (await bare.log([sha], max_count=1, no_walk=True))[0]
        entry = await bare.entry(sha, path)
        base = self.ctx.base_url
        api = f"{base}/api/v1/repos/{repo.full_name}/git"
        content = (await self._content_json(repo, bare, sha, branch, entry, False)
                   if entry else None)
        return {
            "content": content,
            "commit": {
                "url": f"{api}/commits/{sha}",
                "sha": sha,
                "created": commit_time(commit.committer.date),
                "html_url": f"{base}/{repo.full_name}/commit/{sha}",
                "author": {"name": commit.author.name, "email": commit.author.email,
                           "date": commit_time(commit.author.date)},
                "committer": {"name": commit.committer.name, "email": commit.committer.email,
                              "date": commit_time(commit.committer.date)},
                "parents": [{"url": f"{api}/commits/{p}", "sha": p} for p in commit.parents],
                "message": commit.message,
                "tree": {"url": f"{api}/trees/{commit.tree}", "sha": commit.tree},
            },
            "verification": {"verified": False, "reason": "gpg.error.not_signed_commit",
                             "signature": "", "signer": None, "payload": ""},
        }


def _git_date(dates: dict[str, Any], key: str) -> str:
    """`dates.<key>` (Gitea: an RFC 3339 time) as the ISO 8601 date git accepts, or ''."""
    value = dates.get(key)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ApiError(422, f"dates.{key} must be an RFC 3339 time string, not {type_name(value)}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, f"dates.{key} must be an RFC 3339 time such as "
                            f"2024-05-01T12:00:00Z, not {value!r}") from None
    if when.tzinfo is None:
        raise ApiError(422, f"dates.{key} needs a time zone (Z or +hh:mm): {value!r}")
    if not 1970 <= when.astimezone(UTC).year <= 2099:
        raise ApiError(422, f"dates.{key} must lie between 1970 and 2099: {value!r}")
    return when.isoformat()
