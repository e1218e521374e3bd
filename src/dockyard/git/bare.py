"""One bare repository on disk, read and written through git plumbing commands."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.git.gitcmd import ZERO_SHA, GitError, run_git, try_git

# One record per commit: fields separated by NUL, records by RS; the message comes last.
_LOG_FORMAT = "%x1e%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x00"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str = ""


@dataclass
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Person
    committer: Person
    message: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # blob, tree, commit (a submodule)
    sha: str
    size: int
    path: str

    @property
    def kind(self) -> str:
        """Gitea's content type: file, dir, symlink or submodule."""
        if self.type == "tree":
            return "dir"
        if self.type == "commit":
            return "submodule"
        return "symlink" if self.mode == "120000" else "file"


@dataclass(frozen=True)
class FileChange:
    """Write `content` at `path`, or delete `path` when content is None."""

    path: str
    content: bytes | None


class StaleRef(Exception):
    """The branch moved since the caller looked at it (optimistic concurrency)."""


class BareRepo:
    def __init__(self, path: Path) -> None:
        self.path = path

    # lifecycle -----------------------------------------------------------------
    @classmethod
    async def create(cls, path: Path, default_branch: str) -> BareRepo:
        """`git init --bare` in a temp dir beside `path`, then rename: never a half-made repo."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".init-"))
        try:
            await run_git(None, "init", "--quiet", "--bare", f"--initial-branch={default_branch}",
                          str(tmp))
            os.rename(tmp, path)
        except BaseException:
            _rmtree(tmp)
            raise
        return cls(path)

    # refs ----------------------------------------------------------------------
    async def refs(self, prefix: str = "refs/") -> dict[str, str]:
        out = await run_git(self.path, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
        result = {}
        for line in out.decode().splitlines():
            name, _, sha = line.partition(" ")
            result[name] = sha
        return result

    async def branches(self) -> dict[str, str]:
        heads = await self.refs("refs/heads/")
        return {k.removeprefix("refs/heads/"): v for k, v in heads.items()}

    async def resolve(self, rev: str) -> str | None:
        """The commit a branch, tag or sha names, or None."""
        if rev.startswith("-"):
            return None
        out = await try_git(self.path, "rev-parse", "--verify", "--quiet", "--end-of-options",
                            f"{rev}^{{commit}}")
        return out.decode().strip() if out else None

    async def is_empty(self) -> bool:
        return not await self.refs("refs/heads/")

    async def set_head(self, branch: str) -> None:
        await run_git(self.path, "symbolic-ref", "HEAD", f"refs/heads/{branch}")

    async def delete_branch(self, branch: str, expected: str) -> None:
        await run_git(self.path, "update-ref", "-d", f"refs/heads/{branch}", expected)

    async def create_branch(self, branch: str, sha: str) -> None:
        await run_git(self.path, "update-ref", f"refs/heads/{branch}", sha, ZERO_SHA)

    # history -------------------------------------------------------------------
    async def log(
        self,
        revs: list[str],
        *,
        max_count: int | None = None,
        skip: int = 0,
        paths: list[str] | None = None,
        with_files: bool = False,
        no_walk: bool = False,
    ) -> list[CommitInfo]:
        args = ["log", f"--format={_LOG_FORMAT}", "--no-color"]
        if max_count is not None:
            args.append(f"--max-count={max_count}")
        if skip:
            args.append(f"--skip={skip}")
        if no_walk:
            args.append("--no-walk")
        if with_files:
            args += ["--name-status", "--no-renames", "-z", "--root", "-m", "--first-parent"]
        args += ["--end-of-options", *revs, "--", *(paths or [])]
        out = await run_git(self.path, *args)
        return [_parse_commit(rec) for rec in out.decode(errors="replace").split("\x1e")[1:]]

    async def count(self, revs: list[str], paths: list[str] | None = None) -> int:
        out = await run_git(self.path, "rev-list", "--count", "--end-of-options", *revs, "--",
                            *(paths or []))
        return int(out.strip() or 0)

    async def commit(self, sha: str) -> CommitInfo | None:
        if await self.resolve(sha) is None:
            return None
        found = await self.log([sha], max_count=1, no_walk=True)
        return found[0] if found else None

    # trees and blobs -----------------------------------------------------------
    async def entry(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in `commit` ("" is the root tree)."""
        if not path:
            tree = (await run_git(self.path, "rev-parse", f"{commit}^{{tree}}")).decode().strip()
            return TreeEntry("040000", "tree", tree, 0, "")
        out = await run_git(self.path, "ls-tree", "-z", "-l", "--full-tree", commit, "--", path)
        for record in out.decode(errors="surrogateescape").split("\0"):
            entry = _parse_tree_entry(record)
            if entry is not None and entry.path == path:
                return entry
        return None

    async def list_tree(self, tree_sha: str, prefix: str) -> list[TreeEntry]:
        out = await run_git(self.path, "ls-tree", "-z", "-l", tree_sha)
        entries = []
        for record in out.decode(errors="surrogateescape").split("\0"):
            entry = _parse_tree_entry(record)
            if entry is not None:
                full = f"{prefix}/{entry.path}" if prefix else entry.path
                entries.append(TreeEntry(entry.mode, entry.type, entry.sha, entry.size, full))
        return entries

    async def blob(self, sha: str) -> bytes:
        return await run_git(self.path, "cat-file", "blob", sha)

    async def diff(self, sha: str) -> bytes:
        """The patch `sha` brings against its first parent (a root commit: all its files)."""
        return await run_git(self.path, "show", "--format=", "--patch", "--no-color", "--no-ext-diff",
                             "--no-textconv", "--diff-merges=first-parent", "--end-of-options", sha)

    async def last_commit_for(self, commit: str, path: str) -> str:
        out = await run_git(self.path, "log", "-1", "--format=%H", commit, "--", path or ".")
        return out.decode().strip()

    # writing commits -----------------------------------------------------------
    async def commit_files(
        self,
        branch: str,
        changes: list[FileChange],
        message: str,
        author: Person,
        committer: Person,
        parent: str | None,
        new_branch: bool = False,
    ) -> str:
        """Commit `changes` on top of `parent` and move `branch` from `parent` to it atomically
        (or create `branch` when `new_branch`, failing if it appeared meanwhile).

        A temporary index keeps this independent of any other writer; `update-ref` with the
        old value makes a concurrent push or edit win cleanly (StaleRef) instead of being lost.
        """
        fd, index = tempfile.mkstemp(dir=self.path, prefix=".index-")
        os.close(fd)
        os.unlink(index)  # git wants to create it itself
        env = {"GIT_INDEX_FILE": index}
        try:
            if parent:
                await run_git(self.path, "read-tree", parent, env=env)
            # --index-info works without a work tree; mode 0 removes an entry.
            lines = []
            for change in changes:
                if change.content is None:
                    lines.append(f"0 {ZERO_SHA}\t{change.path}\n")
                    continue
                blob = (await run_git(self.path, "hash-object", "-w", "--stdin",
                                      input=change.content)).decode().strip()
                lines.append(f"100644 {blob}\t{change.path}\n")
            await run_git(self.path, "update-index", "--add", "--index-info",
                          input="".join(lines).encode(), env=env)
            tree = (await run_git(self.path, "write-tree", env=env)).decode().strip()
        finally:
            if os.path.exists(index):
                os.unlink(index)
        people = {
            "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        }
        if author.date:
            people["GIT_AUTHOR_DATE"] = author.date
        if committer.date:
            people["GIT_COMMITTER_DATE"] = committer.date
        args = ["commit-tree", tree]
        if parent:
            args += ["-p", parent]
        if not message.endswith("\n"):
            message += "\n"  # as `git commit` stores it
        sha = (await run_git(self.path, *args, input=message.encode(), env=people)).decode().strip()
        try:
            expected = ZERO_SHA if new_branch else parent or ZERO_SHA
            await run_git(self.path, "update-ref", "-m", "dockyard: commit via API",
                          f"refs/heads/{branch}", sha, expected)
        except GitError as exc:
            raise StaleRef(f"branch {branch!r} changed while committing; retry") from exc
        return sha


def _parse_commit(record: str) -> CommitInfo:
    fields = record.lstrip("\n").split("\0")
    sha, tree, parents, an, ae, ad, cn, ce, cd, message = fields[:10]
    info = CommitInfo(
        sha=sha, tree=tree, parents=parents.split(), author=Person(an, ae, ad),
        committer=Person(cn, ce, cd), message=message,
    )
    rest = [f for f in fields[10:] if f.strip("\n") != ""]
    # --name-status -z: "M", "path", "A", "path", ... (the first status has a leading newline)
    for status, path in zip(rest[0::2], rest[1::2], strict=False):
        code = status.strip()[:1]
        if code == "A":
            info.added.append(path)
        elif code == "D":
            info.removed.append(path)
        else:
            info.modified.append(path)
    return info


def _parse_tree_entry(record: str) -> TreeEntry | None:
    meta, sep, path = record.partition("\t")
    if not sep:
        return None
    parts = meta.split()
    if len(parts) != 4:
        return None
    mode, type_, sha, size = parts
    return TreeEntry(mode, type_, sha, int(size) if size.isdigit() else 0, path)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
