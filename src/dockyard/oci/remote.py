"""Images in a registry (OCI distribution v1.1 / Docker registry v2): read and write them.

Pull resolves a tag to a manifest (an index or manifest list to the wanted platform), and fetches
blobs verified by digest into a `BlobCache`, several at a time; registry mirrors
(`--registry-mirror`) are tried first for docker.io, `registry_map` (`--registry-map`) for any
registry, then the registry itself unless `mirror_fallback` is off. Push checks which blobs the
registry has (HEAD), mounts across repositories when it can, uploads the rest streaming from
files (monolithic PUT, or PATCH chunks above `monolithic_limit`), then PUTs the manifest under
every tag; `push_index` pushes several platforms as one OCI index; `upload_stream` sends a
blob whose digest is computed on the way (a layer while it is written) in one streamed PATCH.

Reaching a host (scheme, TLS, retries) is `oci.transport`, its token flow `oci.auth`, the
logins `oci.logins`; what fails raises `oci.errors`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from dockyard.oci import http, mediatypes
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.digest import CHUNK, DigestMismatch, sha256_digest
from dockyard.oci.errors import NotFoundError, RegistryError, error_from
from dockyard.oci.image import Image, Layer, fetch_all
from dockyard.oci.logins import Logins
from dockyard.oci.models import (
    Descriptor,
    ImageConfig,
    Index,
    InvalidObject,
    Manifest,
    Platform,
    parse_manifest_or_index,
)
from dockyard.oci.mutate import platform_index
from dockyard.oci.options import RegistryOptions
from dockyard.oci.reference import DOCKER_HUB, Reference, parse_reference
from dockyard.oci.transport import HostSession, repository_scope

log = logging.getLogger(__name__)

MANIFEST_MAX = 4 * 1024 * 1024
Progress = Callable[[str], None]
# what an upload sends: a file, bytes, a callable giving the file (fetched only if needed),
# or None (mount or fail)
BlobBytes = Path | bytes | Callable[[], Path] | None

SMALL_BLOB = 64 * 1024  # configs: uploaded without asking first whether they are there


class _PresentBlobs:
    """(registry, repository, digest) of blobs seen by HEAD, uploaded or mounted by this
    process in the last few minutes: a build checks the same layers before and while it
    pushes. Forgotten after `seconds` (a long-running server: a registry may gc them)."""

    def __init__(self, seconds: float = 300.0) -> None:
        self.seconds = seconds
        self._seen: dict[tuple[str, str, str], float] = {}

    def add(self, key: tuple[str, str, str]) -> None:
        self._seen[key] = time.monotonic()

    def __contains__(self, key: object) -> bool:
        seen = self._seen.get(key)  # type: ignore[call-overload]
        return seen is not None and time.monotonic() - seen < self.seconds


_PRESENT_BLOBS = _PresentBlobs()


class _FileRange:
    """Reads `length` bytes of an open file from `offset` (one PATCH chunk), 64 KiB at a time."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed when exhausted or by close()
        self._file.seek(offset)
        self._left = length

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            self.close()
            return b""
        size = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self.read(CHUNK):
                yield chunk
        finally:
            self.close()


class RegistryClient:
    """Talks to any number of registries; thread-safe; use as a context manager or close()."""

    def __init__(
        self,
        options: RegistryOptions | None = None,
        credentials: Logins | None = None,
    ) -> None:
        self.options = options or RegistryOptions()
        self.credentials = credentials if credentials is not None else Logins.load()
        self._sessions: dict[str, HostSession] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def _session(self, ref: Reference) -> HostSession:
        host = ref.api_host
        with self._lock:
            if host not in self._sessions:
                credential = self.credentials.lookup(ref.registry)
                self._sessions[host] = HostSession(host, self.options, credential)
            return self._sessions[host]

    @staticmethod
    def _ref(ref: Reference | str) -> Reference:
        return parse_reference(ref) if isinstance(ref, str) else ref

    # -- reading ---------------------------------------------------------------------------------
    def ping(self, registry: str) -> None:
        """Check that `registry` speaks the v2 API (and note its auth scheme)."""
        self._session(parse_reference(f"{registry}/ping-check")).ensure_base()

    def get_manifest(
        self, ref: Reference | str, accept: str = mediatypes.MANIFEST_ACCEPT
    ) -> tuple[bytes, str]:
        """Raw manifest bytes and media type; verified when `ref` has a digest."""
        ref = self._ref(ref)
        session = self._session(ref)
        response = session.request(
            "GET",
            f"/v2/{ref.repository}/manifests/{ref.identifier}",
            repository_scope(ref, "pull"),
            headers={"Accept": accept},
            stream=True,
        )
        try:
            if response.status_code != 200:
                raise error_from(response, f"manifest {ref}")
            raw = _read_limited(response, MANIFEST_MAX, f"manifest {ref}")
        finally:
            response.close()
        if ref.digest and sha256_digest(raw) != ref.digest:
            raise DigestMismatch(ref.digest, sha256_digest(raw), f"manifest {ref}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return raw, media_type

    def head_manifest(self, ref: Reference | str) -> Descriptor | None:
        """The manifest's descriptor, or None when the tag or digest does not exist."""
        ref = self._ref(ref)
        response = self._session(ref).request(
            "HEAD",
            f"/v2/{ref.repository}/manifests/{ref.identifier}",
            repository_scope(ref, "pull"),
            headers={"Accept": mediatypes.MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise error_from(response, f"manifest {ref}")
        digest = response.headers.get("docker-content-digest")
        if not digest:
            raw, media_type = self.get_manifest(ref)
            return Descriptor.of(media_type, raw)
        return Descriptor(
            media_type=response.headers.get("content-type", "").split(";")[0].strip(),
            digest=digest,
            size=int(response.headers.get("content-length", "0")),
        )

    def resolve(
        self, ref: Reference | str, platform: Platform | None = None
    ) -> tuple[Reference, Manifest, bytes]:
        """Follow a tag (and an index, to `platform`) to an image manifest; returns the reference
        pinned to the manifest digest, the manifest and its raw bytes."""
        ref = self._ref(ref)
        raw, media_type = self.get_manifest(ref)
        parsed = parse_manifest_or_index(raw, media_type)
        if isinstance(parsed, Index):
            wanted = platform or Platform.current()
            try:
                chosen = parsed.select(wanted)
            except LookupError as exc:
                raise NotFoundError(f"{ref}: {exc}") from None
            ref = ref.with_digest(chosen.digest)
            raw, media_type = self.get_manifest(ref)
            parsed = parse_manifest_or_index(raw, media_type)
            if isinstance(parsed, Index):
                raise InvalidObject(f"{ref}: an index entry points to another index")
        if parsed.media_type is None and media_type in mediatypes.IMAGE_MANIFESTS:
            parsed.media_type = media_type
        return ref.with_digest(sha256_digest(raw)), parsed, raw

    def blob_exists(self, ref: Reference | str, digest: str, actions: str = "pull") -> bool:
        """HEAD the blob; `actions` is the token scope to ask for ("pull,push" while pushing,
        so that one token serves the whole push, as Docker does). A blob this process has
        seen in, uploaded or mounted into the repository is not asked about again."""
        ref = self._ref(ref)
        if (ref.registry, ref.repository, digest) in _PRESENT_BLOBS:
            return True
        response = self._session(ref).request(
            "HEAD", f"/v2/{ref.repository}/blobs/{digest}", repository_scope(ref, actions)
        )
        if response.status_code == 200:
            _PRESENT_BLOBS.add((ref.registry, ref.repository, digest))
            return True
        if response.status_code == 404:
            return False
        raise error_from(response, f"blob {digest} in {ref.name}")

    def open_blob(self, ref: Reference | str, digest: str) -> Iterator[bytes]:
        """Stream a blob's bytes (not verified: use fetch_blob to store it verified)."""
        ref = self._ref(ref)
        response = self._session(ref).request(
            "GET",
            f"/v2/{ref.repository}/blobs/{digest}",
            repository_scope(ref, "pull"),
            stream=True,
            follow_redirects=True,
        )
        try:
            if response.status_code != 200:
                raise error_from(response, f"blob {digest} of {ref.name}")
            yield from response.iter_bytes(CHUNK)
        finally:
            response.close()

    def fetch_blob(self, ref: Reference | str, descriptor: Descriptor, cache: BlobCache) -> Path:
        """The blob in `cache`, downloading and verifying it if it is not there yet."""
        if cache.has(descriptor.digest):
            return cache.path(descriptor.digest)
        return cache.ingest(
            self.open_blob(ref, descriptor.digest), descriptor.digest, descriptor.size
        )

    def image(
        self,
        ref: Reference | str,
        cache: BlobCache,
        platform: Platform | None = None,
        progress: Progress | None = None,
    ) -> Image:
        """The image by manifest and config only (the config stored in `cache`): its layers
        download into `cache` when their bytes are first asked for (`Layer.fetch`/`open`).
        Mirrors first for docker.io (and `registry_map`), then the registry itself."""
        return self._from_candidates(
            self._ref(ref), lambda candidate: self._image_from(candidate, cache, platform, progress))

    def pull(
        self,
        ref: Reference | str,
        cache: BlobCache,
        platform: Platform | None = None,
        progress: Progress | None = None,
    ) -> Image:
        """Pull an image into `cache` (layers verified, several at a time): mirrors first for
        docker.io, then the registry itself (a mirror that fails mid-pull is left for the next)."""

        def pull_from(candidate: Reference) -> Image:
            image = self._image_from(candidate, cache, platform, progress)
            for layer in image.layers:
                if layer.is_local and progress:
                    progress(f"layer {layer.digest[:19]} cached")
            fetch_all(image.layers, max(1, self.options.parallel))
            return image

        return self._from_candidates(self._ref(ref), pull_from)

    def _from_candidates(self, ref: Reference, attempt: Callable[[Reference], Image]) -> Image:
        """`attempt` on each mirror of `ref` in turn, then on `ref` itself (see `image`)."""
        last: Exception | None = None
        for candidate in self._pull_candidates(ref):
            try:
                return attempt(candidate)
            except (RegistryError, DigestMismatch) as exc:
                if candidate.registry == ref.registry:
                    raise
                log.warning("mirror %s failed for %s: %s", candidate.registry, ref, exc)
                last = exc
        raise RegistryError(f"{ref}: every mirror failed ({last})")

    def _pull_candidates(self, ref: Reference) -> list[Reference]:
        mirrors = list(self.options.registry_map.get(ref.registry, []))
        if ref.registry == DOCKER_HUB:
            mirrors += self.options.mirrors
        out = [_mirror_reference(mirror, ref, self.options) for mirror in mirrors]
        if self.options.mirror_fallback or not out:
            out.append(ref)
        return out

    def _image_from(
        self, ref: Reference, cache: BlobCache, platform: Platform | None, progress: Progress | None
    ) -> Image:
        pinned, manifest, raw = self.resolve(ref, platform)
        if progress:
            progress(f"resolved {ref} to {pinned.digest}")
        config_path = self.fetch_blob(pinned, manifest.config, cache)
        config_bytes = config_path.read_bytes()
        config = ImageConfig.from_json(config_bytes)
        diff_ids = config.rootfs.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise InvalidObject(
                f"{pinned}: the config lists {len(diff_ids)} diff_ids"
                f" for {len(manifest.layers)} layers"
            )
        source = Reference(pinned.registry, pinned.repository)
        blobs = RemoteBlobs(self, source, cache, progress)
        layers = [Layer(descriptor, diff_id, blobs, source)
                  for descriptor, diff_id in zip(manifest.layers, diff_ids, strict=True)]
        return Image(manifest, raw, config, config_bytes, layers, source=pinned)

    def list_tags(self, ref: Reference | str) -> list[str]:
        ref = self._ref(ref)
        session = self._session(ref)
        tags: list[str] = []
        url: str | None = f"/v2/{ref.repository}/tags/list"
        while url:
            response = session.request("GET", url, repository_scope(ref, "pull"))
            if response.status_code != 200:
                raise error_from(response, f"tags of {ref.name}")
            tags.extend(response.json().get("tags") or [])
            link = response.headers.get("link", "")
            match = re.match(r"\s*<([^>]+)>", link)
            url = urljoin(session.ensure_base() + "/", match.group(1)) if match else None
        return tags

    # -- writing ---------------------------------------------------------------------------------
    def upload_blob(
        self,
        ref: Reference | str,
        digest: str,
        size: int,
        source: BlobBytes,
        mount_from: Reference | None = None,
    ) -> str:
        """Make `digest` present in `ref`'s repository: 'exists', 'mounted' or 'uploaded'.

        `source` None means "mount or fail"; a callable is called for the local file only
        when the blob is neither there nor mountable (a layer known by descriptor).
        """
        ref = self._ref(ref)
        state = self._upload_blob(ref, digest, size, source, mount_from)
        _PRESENT_BLOBS.add((ref.registry, ref.repository, digest))
        return state

    def _upload_blob(self, ref: Reference, digest: str, size: int, source: BlobBytes,
                     mount_from: Reference | None) -> str:
        session = self._session(ref)
        scope = repository_scope(ref, "pull,push")
        small = isinstance(source, bytes) and len(source) <= SMALL_BLOB
        if not small and self.blob_exists(ref, digest, "pull,push"):
            return "exists"  # (blob_exists answers from _PRESENT_BLOBS when it can)
        location = None
        uploads = f"/v2/{ref.repository}/blobs/uploads/"
        if (
            mount_from is not None
            and mount_from.registry == ref.registry
            and mount_from.repository != ref.repository
        ):
            mount_scope = f"{scope} {repository_scope(mount_from, 'pull')}"
            response = session.request(
                "POST", f"{uploads}?mount={digest}&from={mount_from.repository}", mount_scope
            )
            if response.status_code == 201:
                return "mounted"
            if response.status_code == 202:
                location = response.headers.get("location")
            elif response.status_code not in (401, 403, 404):
                raise error_from(response, f"mount of {digest} into {ref.name}")
        if callable(source):  # neither there nor mounted: the bytes are needed now
            source = source()
        if location is None and small:
            # a config: offered whole in the POST (one request where the registry supports
            # it, the spec's single-POST upload); otherwise the upload session it opens is used
            assert isinstance(source, bytes)
            response = session.request(
                "POST", f"{uploads}?digest={digest}", scope, body=source,
                headers={"Content-Type": "application/octet-stream"})
            if response.status_code == 201:
                return "uploaded"
            if response.status_code == 202:
                location = response.headers.get("location")
        if location is None:  # (also a registry that refused the single POST: start plainly)
            response = session.request("POST", uploads, scope)
            if response.status_code != 202:
                raise error_from(response, f"starting an upload to {ref.name}")
            location = response.headers.get("location")
        if not location:
            raise RegistryError(
                f"registry {ref.registry} started an upload without a Location header"
            )
        if source is None:
            raise RegistryError(
                f"blob {digest} has no local copy and {ref.registry} did not mount it"
                f" from {mount_from.repository if mount_from else 'another repository'}"
            )
        location = urljoin(session.ensure_base() + "/", location)
        if isinstance(source, bytes) or size <= self.options.monolithic_limit:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            body: Callable[[], Any] | bytes = (
                source if isinstance(source, bytes) else functools.partial(_FileRange, source, 0, size)
            )
            response = session.request(
                "PUT", _with_digest(location, digest), scope, headers=headers, body=body
            )
        else:
            response = self._upload_chunks(session, location, scope, digest, size, source)
        if response.status_code != 201:
            raise error_from(response, f"upload of {digest} to {ref.name}")
        return "uploaded"

    def upload_stream(self, ref: Reference | str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Upload bytes whose digest is not known in advance (a layer while it is written):
        POST, one streamed PATCH, then PUT with the digest computed on the way.

        Returns (digest, size). The registry verifies the digest on PUT; nothing is buffered.
        """
        ref = self._ref(ref)
        session = self._session(ref)
        scope = repository_scope(ref, "pull,push")
        response = session.request("POST", f"/v2/{ref.repository}/blobs/uploads/", scope)
        if response.status_code != 202 or not response.headers.get("location"):
            raise error_from(response, f"starting an upload to {ref.name}")
        location = urljoin(session.ensure_base() + "/", response.headers["location"])
        hasher = hashlib.sha256()
        size = 0

        def hashed() -> Iterator[bytes]:
            nonlocal size
            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                yield chunk

        started = False

        def once() -> Iterator[bytes]:
            nonlocal started
            if started:  # a stream cannot be replayed after an auth retry
                raise RegistryError(f"the registry refused the streamed upload to {ref.name}")
            started = True
            return hashed()

        response = session.request(
            "PATCH",
            location,
            scope,
            headers={"Content-Type": "application/octet-stream"},
            body=once,
        )
        if response.status_code != 202:
            raise error_from(response, f"streamed upload to {ref.name}")
        location = urljoin(location, response.headers.get("location") or location)
        digest = "sha256:" + hasher.hexdigest()
        response = session.request("PUT", _with_digest(location, digest), scope, body=b"")
        if response.status_code != 201:
            raise error_from(response, f"upload of {digest} to {ref.name}")
        return digest, size

    def _upload_chunks(
        self, session: HostSession, location: str, scope: str, digest: str, size: int, path: Path
    ) -> http.Response:
        offset = 0
        chunk = self.options.chunk_size
        while offset < size:
            length = min(chunk, size - offset)
            start = offset
            response = session.request(
                "PATCH",
                location,
                scope,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + length - 1}",
                    "Content-Length": str(length),
                },
                body=functools.partial(_FileRange, path, start, length),
            )
            if response.status_code != 202:
                raise error_from(response, f"chunk {start}-{start + length - 1} of {digest}")
            location = urljoin(location, response.headers.get("location") or location)
            offset += length
        return session.request("PUT", _with_digest(location, digest), scope, body=b"")

    def put_manifest(self, ref: Reference | str, raw: bytes, media_type: str) -> str:
        """PUT a manifest under `ref`'s tag (or digest); returns its digest."""
        ref = self._ref(ref)
        digest = sha256_digest(raw)
        response = self._session(ref).request(
            "PUT",
            f"/v2/{ref.repository}/manifests/{ref.tag or digest}",
            repository_scope(ref, "pull,push"),
            headers={"Content-Type": media_type},
            body=raw,
        )
        if response.status_code not in (200, 201):
            raise error_from(response, f"manifest {ref}")
        answered = response.headers.get("docker-content-digest")
        if answered and answered != digest:
            raise DigestMismatch(digest, answered, f"manifest stored by {ref.registry}")
        return digest

    def push(
        self,
        image: Image,
        destinations: Sequence[Reference | str],
        progress: Progress | None = None,
    ) -> str:
        """Push `image` to every destination (blobs once per repository); returns its digest."""
        refs = [self._ref(d) for d in destinations]
        if not refs:
            raise ValueError("push needs at least one destination")
        done: set[tuple[str, str]] = set()
        first_in_registry: dict[str, Reference] = {}
        for ref in refs:
            key = (ref.registry, ref.repository)
            if key not in done:
                self._push_blobs(image, ref, progress, first_in_registry.get(ref.registry))
                done.add(key)
                first_in_registry.setdefault(ref.registry, Reference(ref.registry, ref.repository))
            self.put_manifest(ref, image.manifest_bytes, image.media_type)
            if progress:
                progress(f"pushed {ref} ({image.digest})")
        return image.digest

    def push_index(
        self,
        images: Sequence[Image],
        destinations: Sequence[Reference | str],
        annotations: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Push several single-platform images as one multi-platform OCI index.

        Each image goes up by digest (no per-platform tags), then the index, whose entries carry
        the platform of each image's config, is PUT under every destination tag.
        """
        refs = [self._ref(d) for d in destinations]
        if not images or not refs:
            raise ValueError("push_index needs images and at least one destination")
        index = platform_index(images, annotations)
        for image in images:
            by_digest = {Reference(r.registry, r.repository, None, image.digest) for r in refs}
            self.push(image, sorted(by_digest, key=str), progress)
        raw = index.to_json()
        for ref in refs:
            self.put_manifest(ref, raw, mediatypes.OCI_INDEX)
            if progress:
                progress(f"pushed index {ref} ({sha256_digest(raw)})")
        return sha256_digest(raw)

    def copy(
        self,
        source: Reference | str,
        destinations: Sequence[Reference | str],
        cache: BlobCache,
        platform: Platform | None = None,
    ) -> str:
        """Copy `source` (one platform) to `destinations`; returns the digest. Layers are
        mounted where the registry allows and fetched (into `cache`) only where it does not."""
        return self.push(self.image(source, cache, platform), destinations)

    def _push_blobs(
        self, image: Image, ref: Reference, progress: Progress | None, pushed: Reference | None
    ) -> None:
        """Upload what `ref`'s repository lacks; mount from the layer's source repository or
        from `pushed` (a repository of the same registry this push already filled)."""

        def push_layer(layer: Layer) -> None:
            mount = (
                layer.source if layer.source and layer.source.registry == ref.registry else pushed
            )
            state = self.upload_blob(ref, layer.digest, layer.size, layer.path or layer.fetch,
                                     mount)
            if progress:
                progress(f"layer {layer.digest[:19]} {state}")

        config = image.manifest.config
        with ThreadPoolExecutor(max_workers=max(1, min(self.options.parallel, 3))) as pool:
            # the config goes up alongside the layers (one round trip less before the
            # manifest); the manifest waits for both
            config_done = pool.submit(self.upload_blob, ref, config.digest, config.size,
                                      image.config_bytes)
            list(pool.map(push_layer, image.layers))
            config_done.result()


class RemoteBlobs:
    """A `BlobSource`: the blobs of one registry repository, stored verified in `cache` as
    they are fetched (`RegistryClient.image` gives its layers one). The client is reused for
    every blob; after it was closed it opens new connections on demand."""

    def __init__(self, client: RegistryClient, repository: Reference, cache: BlobCache,
                 progress: Progress | None = None) -> None:
        self.client = client
        self.repository = repository
        self.cache = cache
        self.progress = progress

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.cache.local_path(descriptor)

    def fetch(self, descriptor: Descriptor) -> Path:
        if self.cache.has(descriptor.digest):
            return self.cache.path(descriptor.digest)
        path = self.client.fetch_blob(self.repository, descriptor, self.cache)
        self._pulled(descriptor)
        return path

    def stream(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """The blob while it downloads into the cache (unpacking starts with the first bytes
        instead of after the last); verified as it is stored: a mismatch raises when the
        stream is closed (the caller then throws away what it made of the bytes)."""
        if self.cache.has(descriptor.digest):
            return open(self.cache.path(descriptor.digest), "rb")
        return self._tee(descriptor)

    @contextlib.contextmanager
    def _tee(self, descriptor: Descriptor) -> Iterator[BinaryIO]:
        read_fd, write_fd = os.pipe()
        failures: list[BaseException] = []
        closing = threading.Event()  # set when the reader stops reading: EPIPE is then ours

        def download() -> None:
            def tee(chunks: Iterator[bytes]) -> Iterator[bytes]:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(write_fd, view):]
                    yield chunk

            try:
                chunks = self.client.open_blob(self.repository, descriptor.digest)
                self.cache.ingest(tee(chunks), descriptor.digest, descriptor.size)
                self._pulled(descriptor)
            except BaseException as exc:  # reported to the reader below
                if not closing.is_set():
                    failures.append(exc)
            finally:
                os.close(write_fd)

        thread = threading.Thread(target=download, name="blob-stream", daemon=True)
        thread.start()
        reader = os.fdopen(read_fd, "rb", buffering=1 << 20)

        def end() -> None:
            reader.close()  # a reader that stopped early makes the download end (EPIPE)
            thread.join()

        try:
            yield cast(BinaryIO, reader)
        except BaseException:
            closing.set()
            end()
            if failures:  # the reader saw a cut stream: the download's error is the cause
                raise _fetch_error(descriptor, failures[0]) from None
            raise
        end()
        if failures:
            raise _fetch_error(descriptor, failures[0])

    def _pulled(self, descriptor: Descriptor) -> None:
        if self.progress:
            self.progress(f"layer {descriptor.digest[:19]} pulled ({descriptor.size} bytes)")


def _fetch_error(descriptor: Descriptor, cause: BaseException) -> RegistryError:
    if isinstance(cause, RegistryError):
        return cause
    return RegistryError(f"cannot fetch blob {descriptor.digest}: {cause}")


def _with_digest(location: str, digest: str) -> str:
    """The upload URL with `digest=` set (other query parameters, e.g. a state, kept)."""
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "digest"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("digest", digest)])))


def _read_limited(response: http.Response, limit: int, what: str) -> bytes:
    chunks = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"{what} is larger than {limit} bytes; refusing it")
        chunks.append(chunk)
    return b"".join(chunks)


def _mirror_reference(mirror: str, ref: Reference, options: RegistryOptions) -> Reference:
    """`mirror:5000[/prefix]` + docker.io/library/alpine -> mirror:5000/[prefix/]library/alpine."""
    value = mirror.strip().rstrip("/")
    if value.startswith("http://"):
        value = value[len("http://") :]
        options.insecure.add(value.split("/", 1)[0])
    value = value.removeprefix("https://")
    host, _, prefix = value.partition("/")
    repository = f"{prefix}/{ref.repository}" if prefix else ref.repository
    return Reference(host, repository, ref.tag, ref.digest)
