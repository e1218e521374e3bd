"""COPY (and the shared part of ADD): files from the context, a stage or an image into a
staging tree shaped like the rootfs; the staging tree is the layer.

Sources are globs inside the context (cleaned: `../x` is `x`), filtered by .dockerignore;
a directory source copies its contents; several sources need a directory destination
(ending in `/`). Context files belong to 0:0 unless --chown; files from another stage keep
their owner. --chmod applies to everything copied. Heredoc sources become files.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path

from dockyard.builder.context import expand_in_root
from dockyard.builder.dockerfile import AddInstruction, CopyInstruction, DockerfileError
from dockyard.builder.dockerignore import IgnoreMatcher
from dockyard.builder.fsops import Ownership, copy_entry, copy_tree, is_dir_in_root, resolve, scaffold
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState
from dockyard.builder.users import resolve_chown
from dockyard.sandbox import inside


def parse_chmod(value: str | None, line: int) -> int | None:
    if not value:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise DockerfileError(f"invalid --chmod={value}: use an octal mode like 0755",
                              line=line) from None
    if mode > 0o7777:
        raise DockerfileError(f"invalid --chmod={value}: mode out of range", line=line)
    return mode


def _skipper(ignore: object, exclude: IgnoreMatcher, prefix: str) -> Callable[[str], bool] | None:
    """What copy_tree leaves out: .dockerignore'd paths (relative to the context) and
    --exclude patterns (relative to the copied directory, as BuildKit)."""
    if not exclude.patterns and not callable(ignore):
        return None
    if not exclude.patterns:
        return ignore  # type: ignore[return-value]

    def skip(full_rel: str) -> bool:
        inner = full_rel[len(prefix) + 1:] if prefix and full_rel.startswith(prefix + "/") \
            else full_rel
        return bool(callable(ignore) and ignore(full_rel)) or exclude.matches(inner)

    return skip


def destination(stage: StageState, dest: str) -> tuple[str, bool]:
    """(absolute container path, whether it names a directory explicitly)."""
    explicit_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    if not dest.startswith("/"):
        dest = posixpath.join(stage.workdir, dest)
    return posixpath.normpath(dest), explicit_dir


class CopyStep(Step):
    keyword = "COPY"
    makes_layer = True

    def sources_and_root(self, build: BuildEnv) -> tuple[Path, bool]:
        """The directory sources are read from, and whether it is the build context."""
        i = self.instruction
        from_ = getattr(i, "from_", None)
        if not from_:
            return build.context.root, True
        root = build.stage_root(from_) or build.image_root(from_)
        return root, False

    def owner(self, stage: StageState, from_context: bool) -> Ownership:
        i = self.instruction
        assert isinstance(i, (CopyInstruction, AddInstruction))
        mode = parse_chmod(i.chmod, i.line)
        if i.chown:
            uid, gid = resolve_chown(stage.rootfs, i.chown)
            return Ownership(uid, gid, mode)
        if from_context:
            return Ownership(0, 0, mode)
        return Ownership(None, None, mode)

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        i = self.instruction
        assert isinstance(i, (CopyInstruction, AddInstruction))
        root, from_context = self.sources_and_root(build)
        owner = self.owner(stage, from_context)
        staging = build.new_dir("copy")
        dest, explicit_dir = destination(stage, i.dest)
        heredoc_names = {f"<<{h.name}" for h in i.heredocs} | {f"<<-{h.name}" for h in i.heredocs}
        sources = [s for s in i.sources if s not in heredoc_names]
        many = len(sources) + len(i.heredocs) > 1
        dest_rel = resolve(stage.rootfs, dest)
        into_dir = explicit_dir or many or is_dir_in_root(stage.rootfs, dest_rel)
        if many and not explicit_dir:
            raise DockerfileError(f"{i.keyword} with several sources needs a destination "
                                  f"ending in '/' (got {i.dest})", line=i.line)
        for doc in i.heredocs:
            target_dir = scaffold(stage.rootfs, staging, dest_rel if into_dir else
                                  posixpath.dirname(dest_rel), owner)
            target = target_dir / (doc.name if into_dir else posixpath.basename(dest_rel))
            target.write_text(doc.content)
            os.chown(target, owner.uid or 0, owner.gid or 0)
            os.chmod(target, owner.mode if owner.mode is not None else 0o644)
        skip = build.context.excluded if from_context else None
        for source in sources:
            self.copy_source(stage, build, root, source, dest_rel, into_dir, staging, owner, skip)
        return Change(upper=staging)

    def copy_source(self, stage: StageState, build: BuildEnv, root: Path, source: str,
                    dest_rel: str, into_dir: bool, staging: Path, owner: Ownership,
                    skip: object) -> None:
        i = self.instruction
        rel = posixpath.normpath("/" + source).lstrip("/")
        rel = "" if rel == "." else rel
        matches = expand_in_root(root, rel, skip)
        if not matches:
            where = "the build context" if root == build.context.root else "the source stage"
            raise DockerfileError(f"{i.keyword} failed: {source!r} not found in {where}"
                                  " (or excluded by .dockerignore)", line=i.line)
        exclude = IgnoreMatcher(list(getattr(i, "exclude", ()) or ()))
        parents = bool(getattr(i, "parents", False))
        for match in matches:
            host = Path(inside(str(root), "/" + match)) if match else root
            if not os.path.lexists(host):
                where = "the build context" if root == build.context.root else "its source"
                raise DockerfileError(
                    f"{i.keyword} failed: {match!r} is a symlink to a path outside {where} "
                    "or to a missing file (symlinks are resolved inside it)", line=i.line)
            if host.is_dir():
                target_rel = posixpath.join(dest_rel, match) if parents and match else dest_rel
                target = scaffold(stage.rootfs, staging, target_rel, owner)
                copy_tree(host, target, owner, skip=_skipper(skip, exclude, match),
                          rel_prefix=match)
                continue
            if exclude.matches(posixpath.basename(match)):
                continue
            if parents and posixpath.dirname(match):
                self.place_file(stage, host, posixpath.basename(match),
                                posixpath.join(dest_rel, posixpath.dirname(match)), True,
                                staging, owner)
                continue
            self.place_file(stage, host, posixpath.basename(match), dest_rel, into_dir,
                            staging, owner)

    def place_file(self, stage: StageState, host: Path, name: str, dest_rel: str,
                   into_dir: bool, staging: Path, owner: Ownership) -> None:
        if into_dir:
            target_dir = scaffold(stage.rootfs, staging, dest_rel, owner)
            copy_entry(host, target_dir / name, owner, follow=True)
        else:
            target_dir = scaffold(stage.rootfs, staging, posixpath.dirname(dest_rel), owner)
            copy_entry(host, target_dir / posixpath.basename(dest_rel), owner, follow=True)

    def files_used(self, stage: StageState, build: BuildEnv) -> list[Path]:
        i = self.instruction
        assert isinstance(i, (CopyInstruction, AddInstruction))
        if getattr(i, "from_", None):
            return []
        out: list[Path] = []
        for source in i.sources:
            if source.startswith(("http://", "https://")):
                continue  # ADD's download: keyed by its --checksum, not the context
            for match in build.context.expand(source):
                out.append(build.context.root / match)
        return out
