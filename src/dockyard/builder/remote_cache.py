"""The remote layer cache (`--cache-repo`): one ordinary OCI image per cached step, tagged
`<cache-repo>:<key>`, as Kaniko stores it, so build pods on any machine share hits.

A cache image has one layer (the step's layer) or none (a step that changed nothing); its
config carries `created` (checked against `--cache-ttl`), the layer's diff_id and the
step's history line; the manifest is annotated with the key. Any registry (Dockyard's,
distribution, Harbor) stores it as it stores any image, and retention/GC removes old ones.

The cache must never fail a build: a missing entry is a miss; a garbage entry is a
warning and a miss; an unreachable registry or one that refuses our credentials is one
warning, then the remote cache is switched off for the rest of the build. Stores run in
the background while the build goes on; `finish` waits for them (and only warns).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.builder.options import BuildOptions
from dockyard.oci import ANNOTATION_CACHE_KEY, ANNOTATION_CREATED, BlobCache, Layer, parse_rfc3339

if TYPE_CHECKING:
    from dockyard.oci import Reference, RegistryClient

KEY_ANNOTATION = ANNOTATION_CACHE_KEY
# copies of the config's `created` and diff_id on the manifest: a lookup reads one object
CREATED_ANNOTATION = ANNOTATION_CREATED
DIFF_ID_ANNOTATION = "org.dockyard.cache.diff-id"
CONFIG_LIMIT = 64 * 1024  # a cache image's config is tiny; anything bigger is not ours
TAG_LENGTH = 64  # sha256 hex: a valid tag (at most 128 characters)


@dataclass
class RemoteEntry:
    """A hit: the layer (None for a step that made no layer) and the entry's image."""

    layer: Layer | None
    created: str


def default_cache_repo(destinations: list[str]) -> str | None:
    """Kaniko's default: `<first destination's repository>/cache`."""
    from dockyard.oci import InvalidReference, parse_reference

    for destination in destinations:
        try:
            ref = parse_reference(destination)
        except InvalidReference:
            continue
        return f"{ref.registry}/{ref.repository}/cache"
    return None


class RemoteCache:
    """Lookups and background stores against one cache repository."""

    def __init__(self, repo: str, options: BuildOptions, blobs: BlobCache,
                 warn: Callable[[str], None]) -> None:
        self.repo_text = repo
        self.options = options
        self.blobs = blobs
        self.warn = warn
        self.disabled: str | None = None
        self._ref: Reference | None = None
        self._client: RegistryClient | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stores: list[tuple[str, Future[None]]] = []
        from dockyard.oci import InvalidReference, parse_reference

        try:
            ref = parse_reference(repo)
        except InvalidReference as exc:
            self._off(f"--cache-repo={repo} is not a repository name ({exc})")
            return
        if ref.tag not in (None, "latest") or ref.digest:
            self._off(f"--cache-repo={repo} must name a repository, without tag or digest")
            return
        from dockyard.oci import Reference

        self._ref = Reference(ref.registry, ref.repository)

    @property
    def name(self) -> str:
        return str(self._ref) if self._ref else self.repo_text

    def _off(self, reason: str) -> None:
        if self.disabled is None:
            self.disabled = reason
            self.warn(f"warning: remote cache off for this build: {reason}; building "
                      "without it")

    def client(self) -> RegistryClient:
        with self._lock:
            if self._client is None:
                from dockyard.oci import RegistryClient, RegistryOptions

                self._client = RegistryClient(RegistryOptions(
                    insecure=set(self.options.insecure_registries),
                    insecure_all=self.options.insecure or self.options.insecure_pull,
                    skip_tls_verify=set(self.options.skip_tls_verify_registries),
                    skip_tls_verify_all=self.options.skip_tls_verify,
                    timeout=30.0,
                    retries=0,
                ))
            return self._client

    def _entry_ref(self, key: str) -> Reference:
        assert self._ref is not None
        return self._ref.with_tag(key[:TAG_LENGTH])

    # ------------------------------------------------------------------ lookup

    def lookup(self, key: str) -> RemoteEntry | None:
        """The entry for `key`, or None (miss, expired, unreadable, cache off)."""
        if self.disabled or self._ref is None:
            return None
        from dockyard.oci import NotFoundError, RegistryAuthError, RegistryError

        ref = self._entry_ref(key)
        try:
            return self._read(key, ref)
        except NotFoundError:
            return None
        except RegistryAuthError as exc:
            self._off(f"{self.name} refuses our credentials ({exc})")
        except RegistryError as exc:
            if _is_not_found(exc):
                return None
            if _is_connection_error(exc):
                self._off(f"{self.name} is unreachable ({exc})")
            elif _is_denied(exc):
                self._off(f"{self.name} refuses access ({exc})")
            else:
                self.warn(f"warning: cache entry {ref} unreadable ({exc}); treated as a miss")
        except Exception as exc:  # noqa: BLE001 - the cache must never fail a build
            self.warn(f"warning: cache entry {ref} is not a valid cache image "
                      f"({exc.__class__.__name__}: {exc}); treated as a miss")
        return None

    def _read(self, key: str, ref: Reference) -> RemoteEntry | None:
        from dockyard.oci import (
            ImageConfig,
            Manifest,
            RemoteBlobs,
            mediatypes,
            parse_manifest_or_index,
            sha256_digest,
        )

        client = self.client()
        raw, media_type = client.get_manifest(ref)
        manifest = parse_manifest_or_index(raw, media_type)
        if not isinstance(manifest, Manifest):
            raise ValueError("an index, not an image manifest")
        annotations = manifest.annotations or {}
        if annotations.get(KEY_ANNOTATION, key) != key:
            raise ValueError(f"annotated with another key {annotations[KEY_ANNOTATION]!r}")
        if len(manifest.layers) > 1:
            raise ValueError(f"{len(manifest.layers)} layers (a cache image has 0 or 1)")
        if manifest.config.size > CONFIG_LIMIT:
            raise ValueError(f"config of {manifest.config.size} bytes")
        created_text = annotations.get(CREATED_ANNOTATION)
        diff_ids = [annotations[DIFF_ID_ANNOTATION]] if DIFF_ID_ANNOTATION in annotations \
            else []
        if created_text is None or len(diff_ids) != len(manifest.layers):
            # an entry without the copies on its manifest (older Dockyard): read the config
            config_bytes = b"".join(client.open_blob(ref, manifest.config.digest))
            if sha256_digest(config_bytes) != manifest.config.digest:
                raise ValueError("config blob does not match its digest")
            config = ImageConfig.from_json(config_bytes)
            created_text = config.created
            diff_ids = list(config.rootfs.diff_ids or [])
        created = parse_rfc3339(created_text)
        if created is None:
            raise ValueError("config has no valid 'created' time")
        if time.time() - created > self.options.cache_ttl_seconds:
            return None  # expired: a miss (retention removes it from the registry)
        if len(diff_ids) != len(manifest.layers):
            raise ValueError(f"{len(diff_ids)} diff_ids for {len(manifest.layers)} layers")
        if not manifest.layers:
            return RemoteEntry(None, created_text or "")
        descriptor = manifest.layers[0]
        if descriptor.media_type not in mediatypes.LAYERS:
            raise ValueError(f"layer media type {descriptor.media_type!r}")
        if not self.blobs.has(descriptor.digest) and not client.blob_exists(ref, descriptor.digest):
            raise ValueError(f"its layer {descriptor.digest} is missing from the registry")
        assert self._ref is not None
        layer = Layer(descriptor, diff_ids[0], RemoteBlobs(client, self._ref, self.blobs),
                      self._ref)
        return RemoteEntry(layer, created_text or "")

    # ------------------------------------------------------------------ store

    def store(self, key: str, layer: Layer | None, created_by: str, platform: str,
              made: str | None = None) -> None:
        """Pushes the entry in the background; `layer.source` becomes the cache repository
        once its blob is there, so the final push mounts it instead of uploading again."""
        if self.disabled or self._ref is None:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cache-push")
        future = self._pool.submit(self._push, key, layer, created_by, platform, made)
        self._stores.append((key, future))

    def _push(self, key: str, layer: Layer | None, created_by: str, platform: str,
              made: str | None) -> None:
        if self.disabled:
            return
        from dockyard.oci import History, Image, ImageConfig, Platform

        target = Platform.parse(platform)
        # the step's own history time, which a hit on another machine repeats (it also dates
        # the entry for --cache-ttl); now under SOURCE_DATE_EPOCH, whose times are fixed
        now = made or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        config = ImageConfig(architecture=target.architecture, os=target.os,
                             variant=target.variant, created=now,
                             history=[History(created=now, created_by=created_by,
                                              comment="dockyard cache",
                                              empty_layer=None if layer else True)])
        annotations = {KEY_ANNOTATION: key, CREATED_ANNOTATION: now}
        if layer is not None:
            annotations[DIFF_ID_ANNOTATION] = str(layer.diff_id)
        image = Image.assemble(config, [layer] if layer else [], annotations=annotations)
        self.client().push(image, [self._entry_ref(key)])
        if layer is not None and layer.source is None:
            layer.source = self._ref

    def finish(self) -> dict[str, int]:
        """Waits for the background stores; failures are warnings. Returns counts."""
        from dockyard.oci import RegistryAuthError, RegistryError

        stored = failed = 0
        for key, future in self._stores:
            try:
                future.result()
                stored += 1
            except RegistryAuthError as exc:
                failed += 1
                self._off(f"{self.name} refuses our credentials for pushing ({exc})")
            except Exception as exc:  # noqa: BLE001 - a failed store only costs a future hit
                failed += 1
                if not self.disabled:
                    self.warn(f"warning: could not store cache entry {key[:12]} in "
                              f"{self.name}: {exc}")
                if isinstance(exc, RegistryError) and _is_connection_error(exc):
                    self._off(f"{self.name} is unreachable ({exc})")
        self._stores.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        return {"stored": stored, "failed": failed}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _is_connection_error(exc: Exception) -> bool:
    """No HTTP answer at all (refused, timed out, TLS failure, bad name)."""
    return getattr(exc, "status", None) is None


def _is_not_found(exc: Exception) -> bool:
    codes = getattr(exc, "codes", [])
    return getattr(exc, "status", None) == 404 or any(
        code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND") for code in codes)


def _is_denied(exc: Exception) -> bool:
    codes = getattr(exc, "codes", [])
    return getattr(exc, "status", None) in (401, 403) or "DENIED" in codes or \
        "UNAUTHORIZED" in codes
