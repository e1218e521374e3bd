"""The local layer cache: RUN/COPY/ADD results reused across builds (--cache).

One pure function, `cache_key`, computes the key from everything that decides a step's
result; lookup and store both use it, so they cannot disagree (Kaniko's #410/#899). The
`parent` input is a chain: the base image's diff_ids, then every earlier instruction of
the stage as expanded. As Kaniko does, the first miss in a stage stops the lookups after
it (the engine's job), so a cached layer is never stacked on a parent that was rebuilt
differently. Secrets and cache-mount contents are not part of the key (as BuildKit);
context files and `COPY --from` sources are, by content.

Entries live in `CACHE_DIR/layers/<key>.json` (written atomically) and point at blobs in
the shared blob cache; with --cache-repo they are also one-layer images `<repo>:<key>` in a
registry (as Kaniko's). `--cache-ttl` bounds their age.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_VERSION = "dockyard-layer-cache-v1"


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
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_link(previous: str, item: str) -> str:
    """The next link of a stage's cache chain (pure)."""
    return hashlib.sha256(f"{previous}\n{item}".encode()).hexdigest()


def files_digest(root: Path, paths: Iterable[Path], skip: object = None) -> str:
    """sha256 over relative path, type, mode, owner-independent content of `paths`
    (directories recursively, entries `skip(rel)` drops left out), sorted."""
    is_skipped = skip if callable(skip) else (lambda _rel: False)
    digest = hashlib.sha256()
    seen: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(dirnames + filenames):
                    full = Path(dirpath) / name
                    rel = str(full.relative_to(root))
                    if not is_skipped(rel):
                        seen.append((rel, full))
        seen.append((str(path.relative_to(root)) if path != root else ".", path))
    for rel, full in sorted(seen):
        st = os.lstat(full)
        digest.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
        if stat.S_ISREG(st.st_mode):
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
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
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".entry-")
        with os.fdopen(fd, "w") as f:
            json.dump(entry.__dict__, f)
        os.replace(tmp, self._path(key))


CACHE_LABEL = "dev.dockyard.layer-cache"


class RemoteLayerCache:
    """--cache-repo: the same entries as one-layer images `<repo>:<key>` in a registry
    (Kaniko's layout), so ephemeral build pods share a cache. Failures only cost a miss."""

    def __init__(self, repository: str, ttl_seconds: float, registry_options: object,
                 log: Callable[[str], None]) -> None:
        self.repository = repository
        self.ttl = ttl_seconds
        self.registry_options = registry_options
        self.log = log

    def _client(self) -> Any:
        from dockyard.oci.client import RegistryClient

        return RegistryClient(self.registry_options)  # type: ignore[arg-type]

    def lookup(self, key: str, blobs: Any) -> CacheEntry | None:
        from dockyard.oci.client import RegistryError

        ref = f"{self.repository}:{key}"
        try:
            with self._client() as client:
                if client.head_manifest(ref) is None:
                    return None
                image = client.pull(ref, blobs)
        except (RegistryError, OSError, ValueError) as exc:
            self.log(f"    remote cache {ref}: {exc}")
            return None
        created = _parse_time(image.config.created)
        if created is None or time.time() - created > self.ttl:
            return None
        if not image.layers:
            return CacheEntry(None, None, 0, "", created)
        layer = image.layers[0]
        return CacheEntry(layer.digest, layer.diff_id, layer.size, layer.media_type, created)

    def store(self, key: str, entry: CacheEntry, layer_path: Path | None) -> None:
        from dockyard.oci import ImageConfig
        from dockyard.oci.client import RegistryError
        from dockyard.oci.image import Image, Layer
        from dockyard.oci.models import Descriptor

        config = ImageConfig(created=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                   time.gmtime(entry.created)))
        config.config.labels = {CACHE_LABEL: key}
        layers = []
        if entry.digest is not None and layer_path is not None:
            layers.append(Layer(Descriptor(media_type=entry.media_type, digest=entry.digest,
                                           size=entry.size), entry.diff_id, layer_path))
        ref = f"{self.repository}:{key}"
        try:
            with self._client() as client:
                client.push(Image.assemble(config, layers), [ref])
        except (RegistryError, OSError, ValueError) as exc:
            self.log(f"    could not store {ref} in the remote cache: {exc}")


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp()
