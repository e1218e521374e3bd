"""OCI distribution v1.1 endpoints under /v2/, dispatched from one route.

Names may contain slashes (`a/b/c`), so the path is split from the right on the spec's
fixed suffixes (`/manifests/<ref>`, `/blobs/uploads/<id>`, ...) rather than by a router.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from dockyard.auth import NamespaceTaken
from dockyard.http import read_body, small_int
from dockyard.oci import SHA256, algorithm_of, compute_digest
from dockyard.registry.access import Access, Caller, create_project, realm_for
from dockyard.registry.blob_response import BlobResponse
from dockyard.registry.errors import RegistryError
from dockyard.registry.manifests import MAX_MANIFEST_BYTES, OCI_INDEX, parse_manifest
from dockyard.registry.metadata import Manifest, RegistryMetadata, Repository
from dockyard.registry.names import (
    looks_like_digest,
    project_of,
    valid_digest,
    valid_name,
    valid_tag,
)
from dockyard.registry.storage import (
    WRITE_BUFFER,
    BlobStorage,
    BlobWriter,
    DigestMismatch,
    StorageError,
    UploadUnknown,
)

log = logging.getLogger(__name__)
API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), "upload_start"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), "referrers"),
]


class DistributionAPI:
    def __init__(
        self,
        store: BlobStorage,
        metadata: RegistryMetadata,
        access: Access,
        public_url: str | None,
    ) -> None:
        self.store = store
        self.metadata = metadata
        self.access = access
        self.public_url = public_url

    # entry point ------------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        try:
            response = await self._dispatch(request)
        except RegistryError as exc:
            response = exc.response()
        except StorageError as exc:
            log.error("storage failed during %s %s: %s", request.method, request.url.path, exc)
            response = RegistryError(
                "UNAVAILABLE", "the registry's storage backend failed; the server log says why",
                status=503,
            ).response()
        response.headers.update(API_VERSION_HEADER)
        return response

    async def _dispatch(self, request: Request) -> Response:
        rest = request.path_params.get("rest", "")
        # off the loop: a wrong password costs a scrypt (~150 ms)
        caller = await asyncio.to_thread(self.access.identify, request.headers.get("authorization"))
        if caller is None:
            raise RegistryError(
                "UNAUTHORIZED",
                "invalid username, password or token",
                headers={"WWW-Authenticate": self.access.challenge(self._realm(request))},
            )
        if rest in ("", "/"):
            return self._base(request, caller)
        if rest.rstrip("/") == "_catalog":
            return self._catalog(request, caller)
        for pattern, kind in _ROUTES:
            match = pattern.match(rest)
            if match:
                params = match.groupdict()
                name = params.pop("name")
                if not valid_name(name):
                    raise RegistryError(
                        "NAME_INVALID",
                        f"invalid repository name {name!r}: lowercase letters, digits and"
                        " separators (. _ __ -) in path components joined by '/'",
                    )
                handler: Callable[..., Awaitable[Response]] = getattr(self, f"_{kind}")
                return await handler(request, caller, name, **params)
        raise RegistryError("NAME_UNKNOWN", f"no such endpoint /v2/{rest}", status=404)

    def _realm(self, request: Request) -> str:
        return realm_for(self.public_url or f"{request.url.scheme}://{request.headers.get('host')}")

    def _require(self, request: Request, caller: Caller, name: str, *actions: str) -> None:
        self.access.require(caller, name, actions, self._realm(request))

    def _repository(self, name: str) -> Repository:
        repository = self.metadata.get_repository(name)
        if repository is None:
            raise RegistryError("NAME_UNKNOWN", f"repository {name!r} is not known to this registry")
        return repository

    def _repository_for_push(self, caller: Caller, name: str) -> Repository:
        project = self.metadata.get_project(project_of(name))
        if project is None:
            # access.require already established that only an administrator gets here.
            try:
                project = create_project(self.access.auth, self.metadata, project_of(name),
                                         public=project_of(name) == "library",  # as Harbor's
                                         owner_id=caller.principal.user_id)
            except NamespaceTaken as exc:  # a user or org took the name meanwhile
                raise RegistryError("DENIED", str(exc)) from None
        return self.metadata.ensure_repository(name, project)

    # base and catalog --------------------------------------------------------------------------
    def _base(self, request: Request, caller: Caller) -> Response:
        if caller.principal.is_anonymous and caller.bearer_grants is None:
            raise RegistryError(
                "UNAUTHORIZED",
                "authentication required",
                headers={"WWW-Authenticate": self.access.challenge(self._realm(request))},
            )
        return JSONResponse({})

    def _catalog(self, request: Request, caller: Caller) -> Response:
        everything = caller.principal.is_admin and caller.principal.scopes is None
        names = [
            r.name
            for r in self.metadata.list_repositories()
            if everything or "pull" in self.access.permitted(caller.principal, r.name)
        ]
        page, link = _paginate(names, request, "/v2/_catalog")
        return JSONResponse({"repositories": page}, headers=link)

    # tags ------------------------------------------------------------------------------------
    async def _tags(self, request: Request, caller: Caller, name: str) -> Response:
        self._require(request, caller, name, "pull")
        repository = self._repository(name)
        tags = self.metadata.list_tags(repository.id)
        page, link = _paginate(tags, request, f"/v2/{name}/tags/list")
        return JSONResponse({"name": name, "tags": page}, headers=link)

    # manifests -------------------------------------------------------------------------------
    async def _manifest(self, request: Request, caller: Caller, name: str, reference: str) -> Response:
        method = request.method
        if method in ("GET", "HEAD"):
            self._require(request, caller, name, "pull")
            return await self._get_manifest(request, name, reference)
        if method == "PUT":
            self._require(request, caller, name, "pull", "push")
            return await self._put_manifest(request, caller, name, reference)
        if method == "DELETE":
            self._require(request, caller, name, "delete")
            return self._delete_manifest(name, reference)
        raise RegistryError("UNSUPPORTED", f"{method} is not supported here", status=405)

    def _lookup(self, repository: Repository, reference: str) -> Manifest | None:
        """The manifest a GET/HEAD reference names; None when there is none. A reference that
        is neither a tag nor a digest names nothing (404, as the conformance suite requires);
        only an unsupported digest algorithm is the client's error."""
        if looks_like_digest(reference):
            if not valid_digest(reference):
                raise invalid_digest(reference)
            return self.metadata.get_manifest(repository.id, reference)
        if not valid_tag(reference):
            return None
        return self.metadata.resolve_tag(repository.id, reference)

    async def _get_manifest(self, request: Request, name: str, reference: str) -> Response:
        repository = self._repository(name)
        manifest = self._lookup(repository, reference)
        if manifest is None:
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference!r} not found in {name}")
        headers = {
            "Docker-Content-Digest": manifest.digest,
            "Content-Type": manifest.media_type,
            "Content-Length": str(manifest.size),
            "ETag": f'"{manifest.digest}"',
        }
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        body = await asyncio.to_thread(self.store.read_blob, manifest.digest)
        self.metadata.record_pull(
            repository.id, manifest.id, None if looks_like_digest(reference) else reference
        )
        return Response(body, status_code=200, headers=headers, media_type=manifest.media_type)

    async def _put_manifest(self, request: Request, caller: Caller, name: str, reference: str) -> Response:
        body = await read_body(request, MAX_MANIFEST_BYTES)
        tags: list[str] = []
        # Pushed by digest, the manifest is addressed with the reference's algorithm (sha512
        # when the client chose it); pushed by tag, with sha256, the canonical one.
        algorithm = SHA256
        if looks_like_digest(reference):
            if not valid_digest(reference):
                raise invalid_digest(reference)
            algorithm = algorithm_of(reference)
        digest = compute_digest(body, algorithm)
        if looks_like_digest(reference):
            if reference != digest:
                raise RegistryError(
                    "DIGEST_INVALID",
                    f"manifest digest {digest} does not match the reference {reference}",
                )
        else:
            tags.append(reference)
        tags += request.query_params.getlist("tag")
        for tag in tags:
            if not valid_tag(tag):
                raise RegistryError(
                    "TAG_INVALID", f"invalid tag {tag!r}: [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
                )
        parsed = parse_manifest(body, request.headers.get("content-type"))
        repository = self._repository_for_push(caller, name)
        # Harbor's immutable tag rules: a covered tag is pushed once, never replaced
        self.access.immutable.refuse(name, [t for t in tags if self.metadata.resolve_tag(repository.id, t)])
        missing = self.metadata.missing_blobs(repository.id, [d for d, _s in parsed.blobs])
        if missing:
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                f"manifest references blobs that were not pushed to {name}: {', '.join(missing)}",
                [{"digest": d} for d in missing],
            )
        for blob_digest, size in parsed.blobs:
            stored = self.metadata.linked_blob_size(repository.id, blob_digest)
            if stored is not None and stored != size:
                raise RegistryError(
                    "MANIFEST_INVALID",
                    f"descriptor of {blob_digest} says {size} bytes but the blob has {stored}",
                )
        children_missing = [
            d for d, _s in parsed.children if self.metadata.get_manifest(repository.id, d) is None
        ]
        if children_missing:
            raise RegistryError(
                "MANIFEST_BLOB_UNKNOWN",
                f"index references manifests not in {name}: {', '.join(children_missing)}",
                [{"digest": d} for d in children_missing],
            )
        await asyncio.to_thread(self.store.put_blob, body, algorithm)
        references = [(d, "blob") for d, _s in parsed.blobs] + [(d, "manifest") for d, _s in parsed.children]
        self.metadata.put_manifest(
            repository.id,
            digest=digest,
            media_type=parsed.media_type,
            size=len(body),
            artifact_type=parsed.artifact_type,
            subject=parsed.subject,
            annotations=parsed.annotations,
            total_size=parsed.total_size,
            references=references,
            tag=tags[0] if tags else None,
        )
        for extra in tags[1:]:
            manifest = self.metadata.get_manifest(repository.id, digest)
            assert manifest is not None
            self.metadata.delete_tag(repository.id, extra)
            self.metadata.add_tag(repository.id, manifest.id, extra)
        headers = {
            "Location": f"/v2/{name}/manifests/{digest}",
            "Docker-Content-Digest": digest,
        }
        if parsed.subject:
            headers["OCI-Subject"] = parsed.subject
        if tags:  # the spec's answer to `?tag=` parameters: which tags now point here
            headers["OCI-Tag"] = ", ".join(tags)
        return Response(status_code=201, headers=headers)

    def _delete_manifest(self, name: str, reference: str) -> Response:
        repository = self._repository(name)
        if looks_like_digest(reference):
            if not valid_digest(reference):
                raise invalid_digest(reference)
            manifest = self.metadata.get_manifest(repository.id, reference)
            if manifest is not None:  # nor deleted, with its artifact (immutable tag rules)
                self.access.immutable.refuse(name, [t.name for t in self.metadata.tags_of(manifest.id)])
            if not self.metadata.delete_manifest(repository.id, reference):
                raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} not found in {name}")
        else:
            if not valid_tag(reference):
                raise RegistryError("TAG_INVALID", f"invalid tag {reference!r}")
            self.access.immutable.refuse(name, [reference])
            if not self.metadata.delete_tag(repository.id, reference):
                raise RegistryError("MANIFEST_UNKNOWN", f"tag {reference!r} not found in {name}")
        return Response(status_code=202)

    # blobs ------------------------------------------------------------------------------------
    async def _blob(self, request: Request, caller: Caller, name: str, digest: str) -> Response:
        if not valid_digest(digest):
            raise invalid_digest(digest)
        if request.method == "DELETE":
            self._require(request, caller, name, "delete")
            repository = self._repository(name)
            if not self.metadata.unlink_blob(repository.id, digest):
                raise RegistryError("BLOB_UNKNOWN", f"blob {digest} not found in {name}")
            return Response(status_code=202)
        if request.method not in ("GET", "HEAD"):
            raise RegistryError("UNSUPPORTED", f"{request.method} is not supported here", status=405)
        self._require(request, caller, name, "pull")
        repository = self._repository(name)
        size = self.metadata.linked_blob_size(repository.id, digest)
        if size is None or not await asyncio.to_thread(self.store.exists, digest):
            raise RegistryError("BLOB_UNKNOWN", f"blob {digest} not found in {name}")
        headers = {"Docker-Content-Digest": digest, "ETag": f'"{digest}"', "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(size)
            headers["Content-Type"] = "application/octet-stream"
            return Response(status_code=200, headers=headers)
        return BlobResponse(self.store, digest, size, request.headers, headers)

    # uploads ----------------------------------------------------------------------------------
    async def _upload_start(self, request: Request, caller: Caller, name: str) -> Response:
        if request.method != "POST":
            raise RegistryError("UNSUPPORTED", f"{request.method} is not supported here", status=405)
        self._require(request, caller, name, "pull", "push")
        query = request.query_params
        mount, source = query.get("mount"), query.get("from")
        if mount:
            mounted = await self._try_mount(caller, name, mount, source)
            if mounted is not None:
                return mounted
        repository = self._repository_for_push(caller, name)
        digest = query.get("digest")
        if digest is not None and not valid_digest(digest):
            raise invalid_digest(digest)
        state = await asyncio.to_thread(self.store.start_upload, name)
        if digest is None:
            return self._upload_accepted(name, state.id, 0)
        try:
            async with self._writer(state.id) as writer:
                await self._receive(request, writer)
                return await self._finish(writer, repository, name, state.id, digest)
        except BaseException:
            await asyncio.to_thread(self.store.cancel_upload, state.id)
            raise

    async def _try_mount(self, caller: Caller, name: str, digest: str, source: str | None) -> Response | None:
        """Link a blob from another repository the caller can read; None to fall back to upload."""
        if not valid_digest(digest) or not source or not valid_name(source):
            return None
        if not self.access.allowed(caller, source, "pull") and "pull" not in (
            self.access.permitted(caller.principal, source)
        ):
            return None
        from_repo = self.metadata.get_repository(source)
        if from_repo is None:
            return None
        size = self.metadata.linked_blob_size(from_repo.id, digest)
        if size is None or not await asyncio.to_thread(self.store.exists, digest):
            return None
        repository = self._repository_for_push(caller, name)
        self.metadata.link_blob(repository.id, digest, size)
        return Response(
            status_code=201,
            headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest},
        )

    async def _upload(self, request: Request, caller: Caller, name: str, upload_id: str) -> Response:
        self._require(request, caller, name, "pull", "push")
        try:
            state = await asyncio.to_thread(self.store.upload_state, upload_id)
        except UploadUnknown:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} is not known") from None
        if state.repository != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} belongs elsewhere")
        method = request.method
        if method == "GET":
            return Response(status_code=204, headers=self._upload_headers(name, upload_id, state.offset))
        if method == "DELETE":
            await asyncio.to_thread(self.store.cancel_upload, upload_id)
            return Response(status_code=204)
        if method == "PATCH":
            self._check_range(request, state.offset, name, upload_id)
            async with self._writer(upload_id) as writer:
                offset = await self._receive(request, writer)
            return self._upload_accepted(name, upload_id, offset)
        if method == "PUT":
            digest = request.query_params.get("digest")
            if not digest or not valid_digest(digest):
                raise invalid_digest(digest, "the final PUT needs ?digest=")
            if request.headers.get("content-range"):
                self._check_range(request, state.offset, name, upload_id)
            async with self._writer(upload_id) as writer:
                await self._receive(request, writer)
                repository = self._repository_for_push(caller, name)
                return await self._finish(writer, repository, name, upload_id, digest)
        raise RegistryError("UNSUPPORTED", f"{method} is not supported here", status=405)

    def _check_range(self, request: Request, offset: int, name: str, upload_id: str) -> None:
        header = request.headers.get("content-range")
        if not header:
            return
        match = re.match(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?$", header.strip())
        if not match:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                f"malformed Content-Range {header!r}",
                status=416,
                headers=self._upload_headers(name, upload_id, offset),
            )
        start, end = int(match.group(1)), int(match.group(2))
        length = request.headers.get("content-length")
        if start != offset or end < start or (length is not None and int(length) != end - start + 1):
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                f"chunk {start}-{end} is out of order: the upload has {offset} bytes, so the next"
                f" chunk must start at {offset}",
                status=416,
                headers=self._upload_headers(name, upload_id, offset),
            )

    @contextlib.asynccontextmanager
    async def _writer(self, upload_id: str) -> AsyncIterator[BlobWriter]:
        """The session's writer, opened and closed in a worker thread: a remote backend does
        network I/O there, which must not stall the event loop."""
        try:
            writer = await asyncio.to_thread(self.store.open_upload, upload_id)
        except UploadUnknown:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} is not known") from None
        failed = True
        try:
            yield writer
            failed = False
        finally:
            await asyncio.to_thread(writer.close, failed)

    async def _receive(self, request: Request, appender: BlobWriter) -> int:
        """Stream the request body onto the session; a broken connection keeps what arrived.

        Network chunks are batched into WRITE_BUFFER blocks, and each block is hashed and
        written in a worker thread while the event loop receives the next one.
        """
        expected = request.headers.get("content-length")
        pending: asyncio.Future[None] | None = None
        start = appender.offset
        try:
            try:
                batch: list[bytes] = []
                batched = 0
                async for chunk in request.stream():
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= WRITE_BUFFER:
                        if pending is not None:
                            await pending
                        block = b"".join(batch)
                        pending = asyncio.ensure_future(asyncio.to_thread(appender.write, block))
                        batch, batched = [], 0
                if pending is not None:
                    await pending
                    pending = None
                if batch:
                    await asyncio.to_thread(appender.write, b"".join(batch))
            finally:
                if pending is not None:
                    await asyncio.wait([pending])
        except ClientDisconnect:
            raise RegistryError("BLOB_UPLOAD_INVALID", "client disconnected during upload") from None
        received = appender.offset - start
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise RegistryError("SIZE_INVALID", f"Content-Length was {expected} but {received} bytes arrived")
        return appender.offset

    async def _finish(
        self, writer: BlobWriter, repository: Repository, name: str, upload_id: str, digest: str
    ) -> Response:
        try:
            size = await asyncio.to_thread(writer.commit, digest)
        except DigestMismatch as exc:
            raise RegistryError(
                "DIGEST_INVALID",
                f"uploaded content does not match digest {exc.expected} (it is {exc.actual});"
                " nothing was stored",
            ) from None
        except UploadUnknown:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} is not known") from None
        self.metadata.link_blob(repository.id, digest, size)
        return Response(
            status_code=201,
            headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest},
        )

    def _upload_headers(self, name: str, upload_id: str, offset: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Docker-Upload-UUID": upload_id,
            "Range": f"0-{max(offset - 1, 0)}",
        }

    def _upload_accepted(self, name: str, upload_id: str, offset: int) -> Response:
        headers = self._upload_headers(name, upload_id, offset)
        headers["OCI-Chunk-Min-Length"] = "0"
        return Response(status_code=202, headers=headers)

    # referrers --------------------------------------------------------------------------------
    async def _referrers(self, request: Request, caller: Caller, name: str, digest: str) -> Response:
        if not valid_digest(digest):
            raise invalid_digest(digest)
        self._require(request, caller, name, "pull")
        repository = self.metadata.get_repository(name)
        wanted = request.query_params.get("artifactType")
        descriptors: list[dict[str, Any]] = []
        if repository is not None:
            for manifest in self.metadata.referrers(repository.id, digest):
                if wanted and manifest.artifact_type != wanted:
                    continue
                descriptor: dict[str, Any] = {
                    "mediaType": manifest.media_type,
                    "digest": manifest.digest,
                    "size": manifest.size,
                }
                if manifest.artifact_type:
                    descriptor["artifactType"] = manifest.artifact_type
                if manifest.annotations:
                    descriptor["annotations"] = manifest.annotations
                descriptors.append(descriptor)
        headers = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
        return Response(body, media_type=OCI_INDEX, headers=headers)


def invalid_digest(value: str | None, context: str = "") -> RegistryError:
    """DIGEST_INVALID naming the forms a digest may take here."""
    return RegistryError(
        "DIGEST_INVALID",
        f"{context}invalid or unsupported digest {value!r}: expected sha256:<64 lowercase hex>"
        " or sha512:<128 lowercase hex>",
    )


def _paginate(items: list[str], request: Request, path: str) -> tuple[list[str], dict[str, str]]:
    """Apply `n`/`last` to a sorted list; a Link header points at the next page if there is one."""
    items = sorted(items)
    last = request.query_params.get("last")
    if last:
        items = [i for i in items if i > last]
    n = small_int(request.query_params.get("n") or "")
    if n is None:
        return items, {}
    page = items[:n]
    if n and len(items) > n:
        query = urlencode({"n": n, "last": page[-1]})
        return page, {"Link": f'<{path}?{query}>; rel="next"'}
    return page, {}
