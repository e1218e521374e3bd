"""Repository and organisation records, their directories, and who may do what with them."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dockyard.auth import AuthService, NamespaceTaken, Principal, Role, claim_namespace
from dockyard.git.bare import BareRepo, FileChange, Person
from dockyard.git.names import InvalidName, validate_owner, validate_repo
from dockyard.store import Database, update_row, utcnow


class RepoError(Exception):
    """A request about repositories that cannot be done; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Repo:
    id: int
    owner: str
    name: str
    description: str
    website: str
    private: bool
    default_branch: str
    created_at: str
    updated_at: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @classmethod
    def from_row(cls, row: Any) -> Repo:
        return cls(row.id, row.owner, row.name, row.description, row.website, bool(row.private),
                   row.default_branch, row.created_at, row.updated_at)


@dataclass(frozen=True)
class Org:
    id: int
    name: str
    full_name: str
    email: str
    description: str
    website: str
    location: str
    visibility: str
    created_at: str

    @classmethod
    def from_row(cls, row: Any) -> Org:
        return cls(row.id, row.name, row.full_name, row.email, row.description, row.website,
                   row.location, row.visibility, row.created_at)


class RepoService:
    """The only code that creates, renames or removes repository directories."""

    def __init__(self, root: Path, db: Database, auth: AuthService) -> None:
        self.root = root
        self.db = db
        self.auth = auth
        root.mkdir(parents=True, exist_ok=True)

    # paths -----------------------------------------------------------------------
    def path_of(self, owner: str, name: str) -> Path:
        """DATA/git/<owner>/<repo>.git, lower-cased; names are validated before reaching here."""
        path = self.root / owner.lower() / f"{name.lower()}.git"
        if path.resolve().parent.parent != self.root.resolve():
            raise RepoError("repository path escapes the data directory", 400)
        return path

    def bare(self, repo: Repo) -> BareRepo:
        return BareRepo(self.path_of(repo.owner, repo.name))

    # owners ----------------------------------------------------------------------
    def owner_kind(self, owner: str) -> tuple[str, str] | None:
        """("user"|"org", canonical name) for an existing owner, else None (dockyard.auth's one
        namespace answers; a stand-alone registry project owns no repositories)."""
        namespace = self.auth.namespace(owner)
        if namespace is None or namespace.kind not in ("user", "org"):
            return None
        return namespace.kind, namespace.name

    def get_org(self, name: str) -> Org | None:
        with self.db.read() as conn:
            row = conn.execute(text("SELECT * FROM git_orgs WHERE lower_name = :n"),
                               {"n": name.lower()}).first()
        return Org.from_row(row) if row else None

    def list_orgs(self) -> list[Org]:
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM git_orgs ORDER BY id")).all()
        return [Org.from_row(r) for r in rows]

    def create_org(self, creator: Principal, name: str, **fields: str) -> Org:
        try:
            validate_owner(name)
        except InvalidName as exc:
            raise RepoError(str(exc)) from exc
        visibility = fields.get("visibility") or "public"
        if visibility not in ("public", "limited", "private"):
            raise RepoError("visibility must be public, limited or private")
        with self.db.transaction() as conn:
            try:  # a name is never handed out twice; an administrator adopts a stand-alone project
                claim_namespace(conn, name, "org", adopt_project=creator.is_admin)
            except NamespaceTaken as exc:
                raise RepoError(str(exc)) from None
            conn.execute(
                text("INSERT INTO git_orgs (name, lower_name, full_name, email, description,"
                     " website, location, visibility, created_at) VALUES (:n, :l, :f, :e, :d, :w,"
                     " :loc, :v, :c)"),
                {"n": name, "l": name.lower(), "f": fields.get("full_name", ""),
                 "e": fields.get("email", ""), "d": fields.get("description", ""),
                 "w": fields.get("website", ""), "loc": fields.get("location", ""),
                 "v": visibility, "c": utcnow().isoformat()},
            )
        self.auth.grant(name, creator.username, Role.ADMIN)
        org = self.get_org(name)
        assert org is not None
        return org

    # repositories ----------------------------------------------------------------
    def get(self, owner: str, name: str) -> Repo | None:
        with self.db.read() as conn:
            row = conn.execute(
                text("SELECT * FROM git_repos WHERE lower_owner = :o AND lower_name = :n"),
                {"o": owner.lower(), "n": name.lower()},
            ).first()
        return Repo.from_row(row) if row else None

    def get_by_id(self, repo_id: int) -> Repo | None:
        with self.db.read() as conn:
            row = conn.execute(text("SELECT * FROM git_repos WHERE id = :i"),
                               {"i": repo_id}).first()
        return Repo.from_row(row) if row else None

    def find(self, owner: str | None = None, query: str = "") -> list[Repo]:
        sql = "SELECT * FROM git_repos WHERE 1 = 1"
        params: dict[str, Any] = {}
        if owner is not None:
            sql += " AND lower_owner = :o"
            params["o"] = owner.lower()
        if query:
            sql += " AND (lower_name LIKE :q ESCAPE '\\' OR lower(description) LIKE :q ESCAPE '\\')"
            params["q"] = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace(
                "_", "\\_") + "%"
        with self.db.read() as conn:
            rows = conn.execute(text(sql + " ORDER BY lower_owner, lower_name"), params).all()
        return [Repo.from_row(r) for r in rows]

    async def create(
        self,
        creator: Principal,
        owner: str,
        name: str,
        *,
        description: str = "",
        private: bool = False,
        default_branch: str = "main",
        auto_init: bool = False,
        readme_title: str | None = None,
    ) -> Repo:
        try:
            validate_owner(owner)
            validate_repo(name)
        except InvalidName as exc:
            raise RepoError(str(exc)) from exc
        default_branch = default_branch or "main"
        await check_branch_name(default_branch)
        kind = self.owner_kind(owner)
        if kind is None:
            raise RepoError(f"owner {owner!r} does not exist", 404)
        owner = kind[1]
        if self.auth.role_in(creator, owner) < Role.WRITE:
            raise RepoError(f"you may not create repositories under {owner!r}", 403)
        if self.get(owner, name) is not None:
            raise RepoError(f"The repository with the same name already exists: {owner}/{name}",
                            409)
        path = self.path_of(owner, name)
        if path.exists():
            raise RepoError(f"a directory for {owner}/{name} already exists on disk; remove it",
                            409)
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            conn.execute(
                text("INSERT INTO git_repos (owner, lower_owner, name, lower_name, description,"
                     " private, default_branch, created_at, updated_at) VALUES (:o, :lo, :n, :ln,"
                     " :d, :p, :b, :c, :c)"),
                {"o": owner, "lo": owner.lower(), "n": name, "ln": name.lower(),
                 "d": description, "p": private, "b": default_branch, "c": now},
            )
        repo = self.get(owner, name)
        assert repo is not None
        try:
            bare = await BareRepo.create(path, default_branch)
            if auto_init:
                body = f"# {readme_title or name}\n\n{description}\n" if description else \
                    f"# {readme_title or name}\n"
                who = self._person(creator)
                await bare.commit_files(default_branch, [FileChange("README.md", body.encode())],
                                        "Initial commit", who, who, None)
        except BaseException:
            self._delete_row(repo.id)
            await asyncio.to_thread(_remove_dir, path, self.root)
            raise
        return repo

    async def update(self, repo: Repo, **changes: Any) -> Repo:
        fields: dict[str, Any] = {}
        new_name = changes.get("name")
        if new_name is not None and new_name != repo.name:
            try:
                validate_repo(new_name)
            except InvalidName as exc:
                raise RepoError(str(exc)) from exc
            existing = self.get(repo.owner, new_name)
            if existing is not None and existing.id != repo.id:
                raise RepoError(f"repository {repo.owner}/{new_name} already exists", 409)
            fields["name"] = new_name
            fields["lower_name"] = new_name.lower()
        for key in ("description", "website"):
            if changes.get(key) is not None:
                fields[key] = str(changes[key])
        if changes.get("private") is not None:
            fields["private"] = bool(changes["private"])
        branch = changes.get("default_branch")
        if branch:
            await check_branch_name(branch)
            fields["default_branch"] = branch
        if not fields:
            return repo
        fields["updated_at"] = utcnow().isoformat()
        old_path = self.path_of(repo.owner, repo.name)
        with self.db.transaction() as conn:
            update_row(conn, "git_repos", {"id": repo.id}, fields)
            if "name" in fields:
                new_path = self.path_of(repo.owner, fields["name"])
                if new_path != old_path:
                    os.rename(old_path, new_path)
        updated = self.get_by_id(repo.id)
        assert updated is not None
        if "name" in fields:
            self._move_collaborators(repo, updated)
        if branch:
            await self.bare(updated).set_head(branch)
        return updated

    async def delete(self, repo: Repo) -> None:
        """Remove the record, then the directory (renamed away first so it vanishes at once)."""
        path = self.path_of(repo.owner, repo.name)
        self._delete_row(repo.id)
        for username, _role in self.auth.members(collaborator_namespace(repo)):
            self.auth.revoke(collaborator_namespace(repo), username)
        await asyncio.to_thread(_remove_dir, path, self.root)

    async def adopt_default_branch(self, repo: Repo, created_branches: list[str]) -> Repo:
        """After a first push that did not include the default branch, make the first pushed
        branch the default (as Gitea does), so HEAD and clones point at real history."""
        if not created_branches:
            return repo
        bare = self.bare(repo)
        if await bare.resolve(f"refs/heads/{repo.default_branch}") is not None:
            return repo
        return await self.update(repo, default_branch=created_branches[0])

    def _move_collaborators(self, old: Repo, new: Repo) -> None:
        for username, role in self.auth.members(collaborator_namespace(old)):
            self.auth.grant(collaborator_namespace(new), username, role)
            self.auth.revoke(collaborator_namespace(old), username)

    def _delete_row(self, repo_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM git_repos WHERE id = :i"), {"i": repo_id})

    # permissions -----------------------------------------------------------------
    def role(self, principal: Principal, repo: Repo) -> Role:
        """Owner user, org members (by role), per-repo collaborators, admins; READ when public;
        nothing on a private repository for a `public-only` API token."""
        if repo.private and principal.public_only:
            return Role.NONE
        role = max(self.auth.role_in(principal, repo.owner),
                   self.auth.role_in(principal, collaborator_namespace(repo)))
        if role == Role.NONE and not repo.private:
            return Role.READ
        return role

    def role_of(self, principal: Principal, owner: str, name: str) -> Role | None:
        """`role` by name, None when there is no such repository (CI's read check of a job)."""
        repo = self.get(owner, name)
        return None if repo is None else self.role(principal, repo)

    def _person(self, principal: Principal) -> Person:
        user = self.auth.get_user(principal.username) if not principal.is_anonymous else None
        name = user.full_name or user.username if user else "Dockyard"
        email = (user.email if user and user.email else
                 f"{principal.username or 'dockyard'}@noreply.dockyard.local")
        return Person(name, email)

    def person(self, principal: Principal) -> Person:
        """Author identity for commits made through the API."""
        return self._person(principal)


def collaborator_namespace(repo: Repo) -> str:
    """The `dockyard.auth` membership namespace of a repository's collaborators."""
    return f"git:{repo.owner.lower()}/{repo.name.lower()}"


async def check_branch_name(branch: str) -> None:
    from dockyard.git.gitcmd import GitError, run_git

    try:
        await run_git(None, "check-ref-format", "--branch", branch)
    except GitError as exc:
        raise RepoError(f"invalid branch name {branch!r}") from exc
    if branch.startswith("-"):
        raise RepoError(f"invalid branch name {branch!r}")


def _remove_dir(path: Path, root: Path) -> None:
    if not path.exists():
        return
    trash = root / f".trash-{uuid.uuid4().hex}"
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)

