"""The local layer cache: RUN/COPY/ADD results reused across builds (--cache).

One pure function, `cache_key`, computes the key from everything that decides a step's
result; lookup and store both use it, so they cannot disagree (Kaniko's #410/#899). The
`parent` input is a chain: the base image's diff_ids, then every earlier instruction of
the stage (its cache key where it has one, which covers the files it copied, else its
expanded text). As Kaniko does, the first miss in a stage stops the lookups after
it (the engine's job), so a cached layer is never stacked on a parent that was rebuilt
differently. Secrets and cache-mount contents are not part of the key (as BuildKit);
context files and `COPY --from` sources are, by content.

Entries live in `CACHE_DIR/layers/<key>.json` (written atomically) and point at blobs in
the shared blob cache; with --cache-repo they are also one-layer images `<repo>:<key>` in a
registry (as Kaniko's: `remote_cache`). `--cache-ttl` bounds their age.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.atomicfile import atomic_write_text

KEY_VERSION = "dockyard-layer-cache-v2"  # v2: context files enter by their content hash


@dataclass(frozen=True)
class CacheInputs:
    """Everything a RUN/COPY/ADD result depends on."""

    parent: str  # chain_link(...) of the base and the instructions before this one
    instruction: str  # the expanded instruction, flags included
    env: Sequence[tuple[str, str]]  # the step's environment (ENV + ARG), sorted
    user: str
    workdir: str
    shell: Sequence[str]
    platform: str
    files_digest: str = ""  # context files the step reads, by content
    layer_format: str = ""  # what shapes the layer bytes: SOURCE_DATE_EPOCH, compression


def cache_key(inputs: CacheInputs) -> str:
    """The cache key: sha256 over a canonical JSON of the inputs."""
    canonical = json.dumps(
        {
            "v": KEY_VERSION,
            "parent": inputs.parent,
            "instruction": inputs.instruction,
            "env": sorted([list(pair) for pair in inputs.env]),
            "user": inputs.user,
            "workdir": inputs.workdir,
            "shell": list(inputs.shell),
            "platform": inputs.platform,
            "files": inputs.files_digest,
            "format": inputs.layer_format,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_link(previous: str, item: str) -> str:
    """The next link of a stage's cache chain (pure)."""
    return hashlib.sha256(f"{previous}\n{item}".encode()).hexdigest()


RACY_SECONDS = 2.0  # a file changed this recently may change again within its mtime tick


class ContentHashes:
    """The sha256 of context files by what lstat says of them (size, mtime, ctime, inode),
    kept in the cache dir: a rebuild in the same pod (cache dir kept) rereads only the
    files that changed; a fresh pod hashes everything, streamed. A file changed within
    RACY_SECONDS of its hashing is not remembered (git's racy-index rule)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.known: dict[str, list[int | str]] | None = None
        self.dirty = False

    def _load(self) -> dict[str, list[int | str]]:
        if self.known is None:
            self.known = {}
            if self.path is not None:
                try:
                    data = json.loads(self.path.read_text())
                    if isinstance(data, dict):
                        self.known = data
                except (OSError, ValueError):
                    pass
        return self.known

    def of(self, path: Path, st: os.stat_result) -> str:
        known = self._load()
        stamp: list[int | str] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = known.get(str(path))
        if isinstance(entry, list) and entry[:4] == stamp and isinstance(entry[-1], str):
            return entry[-1]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        value = digest.hexdigest()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_SECONDS * 1e9:
            known[str(path)] = [*stamp, value]
            self.dirty = True
        return value

    def save(self) -> None:
        if self.path is not None and self.dirty and self.known is not None:
            with contextlib.suppress(OSError):  # only a later build's speed depends on it
                atomic_write_text(self.path, json.dumps(self.known, separators=(",", ":")))
            self.dirty = False


def files_digest(root: Path, paths: Iterable[Path], skip: object = None,
                 hashes: ContentHashes | None = None) -> str:
    """sha256 over what a COPY of `paths` puts in its layer: relative path, type, mode and
    bytes (symlink targets) of each path and, for directories, of everything under it
    that `skip(rel)` lets through, sorted. A named path that is a symlink counts by what it
    points at, as COPY follows it. Owners are left out on purpose: a context file lands as
    0:0 or as `--chown` says (which is in the instruction text), and Docker's client resets
    context owners for the same reason, so two checkouts by different users share hits."""
    is_skipped = skip if callable(skip) else (lambda _rel: False)
    digest = hashlib.sha256()
    seen: dict[str, tuple[Path, bool]] = {}  # rel -> (path, follow the symlink)
    for path in paths:
        top = str(path.relative_to(root)) if path != root else "."
        seen[top] = (path, True)
        if not path.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                full = Path(dirpath) / name
                rel = str(full.relative_to(root))
                if not is_skipped(rel):
                    seen.setdefault(rel, (full, False))
    for rel in sorted(seen):
        full, follow = seen[rel]
        try:
            st = os.stat(full) if follow else os.lstat(full)
        except OSError:  # a dangling symlink named by the COPY
            st = os.lstat(full)
        digest.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
        if stat.S_ISREG(st.st_mode):  # by content hash: remembered across builds
            digest.update((hashes or ContentHashes(None)).of(full, st).encode())
        elif stat.S_ISLNK(st.st_mode):
            digest.update(os.readlink(full).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A cached step result: a layer blob, or None for a step that changed nothing."""

    digest: str | None
    diff_id: str | None
    size: int
    media_type: str
    created: float
    history_created: str = ""  # the made step's history time, repeated by a hit ("" unknown)


class LayerCache:
    def __init__(self, root: Path, ttl_seconds: float) -> None:
        self.root = root / "layers"
        self.ttl = ttl_seconds

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def lookup(self, key: str, blob_exists: object) -> CacheEntry | None:
        """The entry for `key` if present, younger than the TTL and its blob still there."""
        try:
            data = json.loads(self._path(key).read_text())
            entry = CacheEntry(**data)
        except (OSError, ValueError, TypeError):
            return None
        if time.time() - entry.created > self.ttl:
            return None
        if entry.digest is not None and callable(blob_exists) and not blob_exists(entry.digest):
            return None
        return entry

    def store(self, key: str, entry: CacheEntry) -> None:
        atomic_write_text(self._path(key), json.dumps(entry.__dict__))

