"""Repository pages at Gitea's paths: a repository's files and README, a file, commits, one
commit with its diff and statuses, branches, an owner's repositories, and the create form.
Reads go through git's RepoService (get, role, bare) - the API's own check: a repository the
visitor may not read answers 404, as the API does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.auth import Role
from dockyard.git import GitError, InvalidName, Repo, RepoError
from dockyard.ui.markdown import render_markdown
from dockyard.ui.web import PageError, Visitor, Web, page_number

PAGE_SIZE = 30
READMES = ("readme.md", "readme", "readme.txt")
MAX_SHOWN = 1 << 20  # larger files and diffs are cut (the raw view has them whole)
RAW_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}


@dataclass
class Place:
    """Where in a repository a page looks: a ref (branch, tag or commit), its commit, a path."""

    kind: str  # branch | tag | commit
    ref: str
    commit: str
    path: str


def _looks_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


class RepoPages:
    def __init__(self, web: Web, git: Any, base_url: Any) -> None:
        self.web = web
        self.git = git
        self.repos = git.repos
        self.base_url = base_url

    # lookups ----------------------------------------------------------------------------------
    async def _repo(self, visitor: Visitor, owner: str, name: str) -> Repo:
        repo = await asyncio.to_thread(self.repos.get, owner, name)
        if repo is None or await asyncio.to_thread(self.repos.role, visitor.principal, repo) < Role.READ:
            raise PageError(404, f"There is no repository {owner}/{name} that you may see.")
        return repo

    async def _place(self, repo: Repo, kind: str, rest: str) -> Place:
        """Split `rest` into a ref and a path; branch names may hold slashes (longest wins)."""
        bare = self.repos.bare(repo)
        rest = rest.strip("/")
        if not plain_path(rest):
            raise PageError(404, f"{repo.full_name} has nothing at {rest[:200]!r}.")
        if kind == "branch":
            branches = await bare.branches()
            for branch in sorted(branches, key=len, reverse=True):
                if rest == branch or rest.startswith(branch + "/"):
                    return Place(kind, branch, branches[branch], rest[len(branch) + 1:])
            raise PageError(404, f"{repo.full_name} has no branch at {rest!r}.")
        ref, _, path = rest.partition("/")
        prefix = "refs/tags/" if kind == "tag" else ""
        commit = await bare.resolve(prefix + ref) if ref else None
        if commit is None:
            raise PageError(404, f"{repo.full_name} has no {kind} {ref!r}.")
        return Place(kind, ref, commit, path)

    def _common(self, repo: Repo, visitor: Visitor, tab: str) -> dict[str, Any]:
        clone = f"{self.base_url()}/{repo.owner}/{repo.name}.git"
        role = self.repos.role(visitor.principal, repo)
        return {"repo": repo, "tab": tab, "clone_url": clone, "can_write": role >= Role.WRITE,
                "can_admin": role >= Role.ADMIN}

    # pages ------------------------------------------------------------------------------------
    async def home(self, request: Request, visitor: Visitor) -> Response:
        owner, name = request.path_params["owner"], request.path_params["repo"]
        if name.endswith(".git"):  # a clone URL opened in a browser
            return RedirectResponse(f"/{owner}/{name[:-4]}", status_code=301)
        repo = await self._repo(visitor, owner, name)
        bare = self.repos.bare(repo)
        branches = await bare.branches()
        if not branches:
            empty = await self._empty(request, visitor, repo, "code")
            assert empty is not None
            return empty
        branch = repo.default_branch if repo.default_branch in branches else sorted(branches)[0]
        return await self._tree_or_file(request, visitor, repo, Place("branch", branch, branches[branch], ""))

    async def _empty(self, request: Request, visitor: Visitor, repo: Repo, tab: str) -> Response | None:
        """The empty-repository page (push instructions) when nothing was pushed yet."""
        if await self.repos.bare(repo).is_empty():
            return self.web.render(request, visitor, "repo_empty.html", **self._common(repo, visitor, tab))
        return None

    async def src(self, request: Request, visitor: Visitor) -> Response:
        repo = await self._repo(visitor, request.path_params["owner"], request.path_params["repo"])
        empty = await self._empty(request, visitor, repo, "code")
        if empty is not None:
            return empty
        kind = request.path_params["kind"]
        if kind not in ("branch", "tag", "commit"):
            raise PageError(404, "Use /src/branch/, /src/tag/ or /src/commit/.")
        place = await self._place(repo, kind, request.path_params["rest"])
        return await self._tree_or_file(request, visitor, repo, place)

    async def _tree_or_file(self, request: Request, visitor: Visitor, repo: Repo, place: Place) -> Response:
        bare = self.repos.bare(repo)
        entry = await bare.entry(place.commit, place.path)
        if entry is None:
            raise PageError(404, f"{repo.full_name} has no {place.path!r} at {place.ref}.")
        last = (await bare.log([place.commit], max_count=1, paths=[place.path] if place.path else None))
        common = {**self._common(repo, visitor, "code"), "place": place, "last": last[0] if last else None,
                  "crumbs": _crumbs(place.path), "branches": sorted(await bare.branches())}
        if entry.type == "tree":
            entries = await bare.list_tree(entry.sha, place.path)
            entries.sort(key=lambda e: (e.type != "tree", e.path.lower()))
            readme_html, readme_text = None, None
            readme = next((e for e in entries if e.type == "blob"
                           and e.path.rsplit("/", 1)[-1].lower() in READMES), None)
            if readme is not None and readme.size <= MAX_SHOWN:
                body = (await bare.blob(readme.sha)).decode("utf-8", errors="replace")
                if readme.path.lower().endswith(".md"):
                    readme_html = await asyncio.to_thread(render_markdown, body)
                else:
                    readme_text = body
            statuses = await asyncio.to_thread(self.git.statuses.latest, repo.id, place.commit)
            return self.web.render(request, visitor, "repo_tree.html", entries=entries, readme=readme,
                                   readme_html=readme_html, readme_text=readme_text, statuses=statuses,
                                   **common)
        if entry.type != "blob":
            raise PageError(404, f"{place.path} is a submodule.")
        data = await bare.blob(entry.sha) if entry.size <= MAX_SHOWN else b""
        binary = entry.size > MAX_SHOWN or _looks_binary(data)
        text = None if binary else data.decode("utf-8", errors="replace")
        html = await asyncio.to_thread(render_markdown, text) if text and place.path.lower().endswith(".md") \
            else None
        return self.web.render(request, visitor, "repo_file.html", entry=entry, text=text, html=html,
                               lines=text.splitlines() if text is not None else [], **common)

    async def raw(self, request: Request, visitor: Visitor) -> Response:
        """A file's bytes, never rendered as one of our pages (sandboxed, sniffing off)."""
        repo = await self._repo(visitor, request.path_params["owner"], request.path_params["repo"])
        place = await self._place(repo, request.path_params["kind"], request.path_params["rest"])
        bare = self.repos.bare(repo)
        entry = await bare.entry(place.commit, place.path)
        if entry is None or entry.type != "blob":
            raise PageError(404, f"{repo.full_name} has no file {place.path!r} at {place.ref}.")
        data = await bare.blob(entry.sha)
        media = "text/plain; charset=utf-8" if not _looks_binary(data) else "application/octet-stream"
        return Response(data, media_type=media, headers=RAW_HEADERS)

    async def commits(self, request: Request, visitor: Visitor) -> Response:
        repo = await self._repo(visitor, request.path_params["owner"], request.path_params["repo"])
        empty = await self._empty(request, visitor, repo, "commits")
        if empty is not None:
            return empty
        place = await self._place(repo, "branch", request.path_params["rest"])
        page = page_number(request)
        bare = self.repos.bare(repo)
        found = await bare.log([place.commit], max_count=PAGE_SIZE + 1, skip=(page - 1) * PAGE_SIZE,
                               paths=[place.path] if place.path else None)
        if page > 1 and not found:
            raise PageError(404, f"{place.ref} has no page {page} of commits.")
        shas = [c.sha for c in found[:PAGE_SIZE]]
        statuses = await asyncio.to_thread(
            lambda: {sha: self.git.statuses.latest(repo.id, sha) for sha in shas})
        return self.web.render(request, visitor, "repo_commits.html", place=place, commits=found[:PAGE_SIZE],
                               more=len(found) > PAGE_SIZE, page=page, statuses=statuses,
                               **self._common(repo, visitor, "commits"))

    async def commit(self, request: Request, visitor: Visitor) -> Response:
        repo = await self._repo(visitor, request.path_params["owner"], request.path_params["repo"])
        sha = request.path_params["sha"]
        bare = self.repos.bare(repo)
        info = await bare.commit(sha) if all(c in "0123456789abcdefABCDEF" for c in sha) and sha else None
        if info is None:
            raise PageError(404, f"{repo.full_name} has no commit {sha!r}.")
        patch = await bare.diff(info.sha)
        cut = len(patch) > MAX_SHOWN
        statuses = await asyncio.to_thread(self.git.statuses.latest, repo.id, info.sha)
        return self.web.render(request, visitor, "repo_commit.html", commit=info, statuses=statuses,
                               files=_diff_files(patch[:MAX_SHOWN].decode("utf-8", errors="replace")),
                               cut=cut, **self._common(repo, visitor, "commits"))

    async def branches(self, request: Request, visitor: Visitor) -> Response:
        repo = await self._repo(visitor, request.path_params["owner"], request.path_params["repo"])
        bare = self.repos.bare(repo)
        heads = await bare.branches()
        names = sorted(heads)
        infos = await bare.log([heads[n] for n in names], no_walk=True) if names else []
        by_sha = {c.sha: c for c in infos}
        rows = [(n, by_sha.get(heads[n])) for n in names]
        return self.web.render(request, visitor, "repo_branches.html", rows=rows,
                               **self._common(repo, visitor, "branches"))

    async def owner(self, request: Request, visitor: Visitor) -> Response:
        owner = request.path_params["owner"]
        kind = await asyncio.to_thread(self.repos.owner_kind, owner)
        if kind is None:
            raise PageError(404, f"There is no user or organisation {owner!r}.")
        repos = [r for r in await asyncio.to_thread(self.repos.find, kind[1])
                 if self.repos.role(visitor.principal, r) >= Role.READ]
        return self.web.render(request, visitor, "owner.html", owner=kind[1], kind=kind[0], repos=repos)

    async def explore(self, request: Request, visitor: Visitor) -> Response:
        """Gitea's /explore/repos: every repository the visitor may read, searched by `q`."""
        query = request.query_params.get("q", "")[:100]
        repos = [r for r in await asyncio.to_thread(self.repos.find, None, query)
                 if self.repos.role(visitor.principal, r) >= Role.READ]
        return self.web.render(request, visitor, "explore.html", repos=repos[:200], q=query,
                               total=len(repos))

    async def create_form(self, request: Request, visitor: Visitor) -> Response:
        form = {"owner": visitor.principal.username, "default_branch": "main"}
        return self.web.render(request, visitor, "repo_create.html", form=form)

    async def create(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        owner = form.get("owner", "").strip() or visitor.principal.username
        try:
            repo = await self.repos.create(
                visitor.principal, owner, form.get("name", "").strip(),
                description=form.get("description", "")[:2048], private=form.get("private") == "on",
                default_branch=form.get("default_branch", "").strip()[:255] or "main",
                auto_init=form.get("auto_init") == "on")
        except (RepoError, InvalidName) as e:
            status = getattr(e, "status", 422)
            return self.web.render(request, visitor, "repo_create.html", status=status, error=str(e),
                                   form=form)
        return self.web.redirect(request, visitor, f"/{repo.owner}/{repo.name}")


def plain_path(path: str) -> bool:
    """A path git reads literally: no NUL, no `.`/`..` parts, no pathspec magic (`:(glob)`)."""
    parts = path.split("/")
    return ("\0" not in path and len(path) <= 4096 and not path.startswith(":")
            and not any(p in (".", "..") for p in parts))


def not_found_on_git_error(handler: Any) -> Any:
    """A git command that refuses its input (an odd ref or path) means there is no such page."""

    async def wrapped(request: Request, visitor: Visitor) -> Response:
        try:
            return await handler(request, visitor)
        except GitError:
            raise PageError(404, "There is no such commit, branch or path.") from None

    return wrapped


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path up to it) for each part of a path."""
    parts = [p for p in path.split("/") if p]
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def _diff_files(patch: str) -> list[dict[str, Any]]:
    """A `git show --patch` text split per file, each line tagged add/del/hunk/meta/ctx."""
    files: list[dict[str, Any]] = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            name = line.split(" b/", 1)[-1]
            files.append({"name": name, "lines": [], "added": 0, "removed": 0})
            continue
        if not files:
            continue
        current = files[-1]
        if line.startswith(("+++", "---", "index ", "new file", "deleted file", "similarity", "rename ",
                            "old mode", "new mode", "Binary files")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
            current["added"] += 1
        elif line.startswith("-"):
            kind = "del"
            current["removed"] += 1
        else:
            kind = "ctx"
        current["lines"].append((kind, line))
    return files
