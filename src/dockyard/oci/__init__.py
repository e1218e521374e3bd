"""dockyard.oci: OCI images without a daemon. Imports nothing else from Dockyard.

One image model, many readers and writers (go-containerregistry's pkg/v1): an `Image` is its
manifest and config bytes and its `Layer`s; a layer's bytes open through a `BlobSource`
(a local file, a `BlobCache`, an OCI layout, a tar archive, a registry repository), so an
image read from a registry costs its manifest and config until a layer is asked for.
Importing this package loads nothing: each name below loads its module on first use.

Model
* `image`       `Image`, `Layer` (`path` if local, `fetch()`, `open()`), `BlobSource`,
                `LocalFile`, `fetch_all(layers)` (parallel), `Image.assemble(config, layers)`.
* `models`      `Descriptor`, `Manifest`, `Index`, `ImageConfig` (+ `ContainerConfig`, `RootFS`,
                `History`, `HealthConfig`), `Platform`; exact JSON round trip.
* `digest`      sha256 digests: `validate_digest`, `sha256_digest`, `HashingWriter/Reader`.
* `mediatypes`  OCI and Docker v2 media type constants and helpers.
* `reference`   `parse_reference("alpine")` -> docker.io/library/alpine:latest (Docker's rules),
                `split_registry`, `check_tag`, `check_digest`: the one reference grammar.
* `timestamps`  RFC 3339 and the annotations Dockyard writes.
Sources and sinks
* `remote`      `RegistryClient`: `image` (lazy: manifest + config, layers on demand through
                `RemoteBlobs`), `pull` (verified, parallel), `push` (HEAD, mount, upload, a
                layer known by descriptor fetched only if it cannot be mounted), `push_index`,
                `upload_stream`, `copy`; mirrors and `registry_map` on reads.
* `layout`      `ImageLayout`: an OCI layout directory (read, write).
* `tarball`     `write_archive` (one tar that is both docker-archive and oci-archive, for
                `--tar-path`) and `read_archive` (either format; layers read from the tar).
* `blobcache`   `BlobCache`: content-addressed dir, verified atomic ingest, shared by builds.
* `mutate`      `append_layers`, `set_config`, `set_annotations`, `oci_layer`: derived images.
* `layers`      `apply_layer` (safe untar with whiteouts: `..`/absolute names refused, parents
                resolved inside the root, device nodes skipped unless `allow_devices` as root)
                and `LayerWriter` / `write_layer*` (deterministic streaming tar -> compress ->
                hash, diff_id and digest in one pass; `add_tar` re-packs a rootfs tar safely).
* `compression` `decompressing_reader` / `compressing_writer`: gzip (isal, else zlib), zstd.
Reaching registries (used by `remote`)
* `options`     `RegistryOptions`, Kaniko's registry flags (insecure, skip-tls-verify,
                registry-certificate, mirrors, registry-map), and the TLS contexts they mean.
* `transport`   one host's session over `http`: scheme by ping, retries, auth on 401.
* `auth`        the token flow of one host (`parse_challenge`, Bearer/Basic, tokens per scope).
* `logins`      `Logins.load()`: registry logins from docker config.json (`auths`, credHelpers).
* `errors`      `RegistryError` (+ `RegistryAuthError`, `NotFoundError`): status and error JSON.
* `http`        the standard-library HTTP client (pooled connections, bounded reads).

Typical use (the builder's):

    cache = BlobCache(data_dir / "cache" / "blobs")
    with RegistryClient(RegistryOptions(insecure={"127.0.0.1:5000"})) as client:
        base = client.image("alpine:3.20", cache)         # manifest + config only
        for layer in base.layers:
            with layer.open() as blob:                     # downloads into the cache
                apply_layer(blob, rootfs, expected_diff_id=layer.diff_id)
        with LayerWriter(tmp / "layer", "gzip", mtime=0) as writer:
            writer.add_tree(changed_dir, "app")
        image = mutate.append_layers(base, [Layer.from_info(writer.close())])
        client.push(image, ["127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:latest"])

Import from here, not from the submodules: this list is the supported surface.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.lazyimport import lazy_exports

if TYPE_CHECKING:  # the names below load on first use (`__getattr__`)
    from dockyard.oci import mediatypes, mutate
    from dockyard.oci.auth import parse_challenge
    from dockyard.oci.blobcache import BlobCache
    from dockyard.oci.compression import compressing_writer, decompressing_reader, sniff_compression
    from dockyard.oci.digest import (
        REGISTERED_ALGORITHMS,
        SHA256,
        DigestMismatch,
        HashingReader,
        HashingWriter,
        InvalidDigest,
        algorithm_of,
        compute_digest,
        digest_file,
        digest_hex,
        digest_stream,
        is_digest,
        is_registered_digest,
        new_hasher,
        sha256_digest,
        validate_digest,
    )
    from dockyard.oci.errors import NotFoundError, RegistryAuthError, RegistryError
    from dockyard.oci.image import BlobSource, Image, Layer, LocalFile, fetch_all
    from dockyard.oci.layers import (
        ApplyResult,
        LayerError,
        LayerInfo,
        LayerWriter,
        UnsafeLayerError,
        apply_layer,
        clean_entry_name,
        write_layer,
        write_layer_from_dir,
    )
    from dockyard.oci.layout import ImageLayout
    from dockyard.oci.logins import Login, Logins
    from dockyard.oci.models import (
        ContainerConfig,
        Descriptor,
        HealthConfig,
        History,
        ImageConfig,
        Index,
        InvalidObject,
        Manifest,
        Platform,
        RootFS,
        parse_manifest_or_index,
    )
    from dockyard.oci.options import RegistryOptions
    from dockyard.oci.reference import (
        DOCKER_HUB,
        REPOSITORY_PATTERN,
        TAG_PATTERN,
        InvalidReference,
        Reference,
        check_digest,
        check_tag,
        parse_reference,
        split_registry,
    )
    from dockyard.oci.remote import RegistryClient, RemoteBlobs
    from dockyard.oci.tarball import ArchiveBlobs, read_archive, write_archive
    from dockyard.oci.timestamps import ANNOTATION_CACHE_KEY, ANNOTATION_CREATED, parse_rfc3339

_EXPORTS = {
    "parse_challenge": "dockyard.oci.auth",
    "BlobCache": "dockyard.oci.blobcache",
    "compressing_writer": "dockyard.oci.compression",
    "decompressing_reader": "dockyard.oci.compression",
    "sniff_compression": "dockyard.oci.compression",
    "Login": "dockyard.oci.logins",
    "Logins": "dockyard.oci.logins",
    "DigestMismatch": "dockyard.oci.digest",
    "HashingReader": "dockyard.oci.digest",
    "HashingWriter": "dockyard.oci.digest",
    "InvalidDigest": "dockyard.oci.digest",
    "digest_file": "dockyard.oci.digest",
    "digest_hex": "dockyard.oci.digest",
    "is_registered_digest": "dockyard.oci.digest",
    "REGISTERED_ALGORITHMS": "dockyard.oci.digest",
    "SHA256": "dockyard.oci.digest",
    "algorithm_of": "dockyard.oci.digest",
    "compute_digest": "dockyard.oci.digest",
    "new_hasher": "dockyard.oci.digest",
    "digest_stream": "dockyard.oci.digest",
    "is_digest": "dockyard.oci.digest",
    "sha256_digest": "dockyard.oci.digest",
    "validate_digest": "dockyard.oci.digest",
    "NotFoundError": "dockyard.oci.errors",
    "RegistryAuthError": "dockyard.oci.errors",
    "RegistryError": "dockyard.oci.errors",
    "BlobSource": "dockyard.oci.image",
    "Image": "dockyard.oci.image",
    "LocalFile": "dockyard.oci.image",
    "fetch_all": "dockyard.oci.image",
    "Layer": "dockyard.oci.image",
    "ApplyResult": "dockyard.oci.layers",
    "LayerError": "dockyard.oci.layers",
    "LayerInfo": "dockyard.oci.layers",
    "LayerWriter": "dockyard.oci.layers",
    "UnsafeLayerError": "dockyard.oci.layers",
    "apply_layer": "dockyard.oci.layers",
    "clean_entry_name": "dockyard.oci.layers",
    "write_layer": "dockyard.oci.layers",
    "write_layer_from_dir": "dockyard.oci.layers",
    "ImageLayout": "dockyard.oci.layout",
    "mediatypes": "dockyard.oci.mediatypes",
    "mutate": "dockyard.oci.mutate",
    "ContainerConfig": "dockyard.oci.models",
    "Descriptor": "dockyard.oci.models",
    "HealthConfig": "dockyard.oci.models",
    "History": "dockyard.oci.models",
    "ImageConfig": "dockyard.oci.models",
    "Index": "dockyard.oci.models",
    "InvalidObject": "dockyard.oci.models",
    "Manifest": "dockyard.oci.models",
    "Platform": "dockyard.oci.models",
    "RootFS": "dockyard.oci.models",
    "parse_manifest_or_index": "dockyard.oci.models",
    "RegistryOptions": "dockyard.oci.options",
    "DOCKER_HUB": "dockyard.oci.reference",
    "REPOSITORY_PATTERN": "dockyard.oci.reference",
    "TAG_PATTERN": "dockyard.oci.reference",
    "InvalidReference": "dockyard.oci.reference",
    "Reference": "dockyard.oci.reference",
    "parse_reference": "dockyard.oci.reference",
    "check_digest": "dockyard.oci.reference",
    "check_tag": "dockyard.oci.reference",
    "split_registry": "dockyard.oci.reference",
    "RegistryClient": "dockyard.oci.remote",
    "RemoteBlobs": "dockyard.oci.remote",
    "ArchiveBlobs": "dockyard.oci.tarball",
    "read_archive": "dockyard.oci.tarball",
    "write_archive": "dockyard.oci.tarball",
    "ANNOTATION_CACHE_KEY": "dockyard.oci.timestamps",
    "ANNOTATION_CREATED": "dockyard.oci.timestamps",
    "parse_rfc3339": "dockyard.oci.timestamps",
}

__all__ = [
    "REPOSITORY_PATTERN",
    "TAG_PATTERN",
    "check_digest",
    "check_tag",
    "split_registry",
    "ArchiveBlobs",
    "BlobSource",
    "LocalFile",
    "RemoteBlobs",
    "fetch_all",
    "mutate",
    "read_archive",
    "ANNOTATION_CACHE_KEY",
    "ANNOTATION_CREATED",
    "parse_rfc3339",
    "BlobCache",
    "Login",
    "Logins",
    "Image",
    "ImageLayout",
    "Layer",
    "NotFoundError",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryOptions",
    "parse_challenge",
    "write_archive",
    "DOCKER_HUB",
    "ApplyResult",
    "ContainerConfig",
    "Descriptor",
    "DigestMismatch",
    "HashingReader",
    "HashingWriter",
    "HealthConfig",
    "History",
    "ImageConfig",
    "Index",
    "InvalidDigest",
    "InvalidObject",
    "InvalidReference",
    "LayerError",
    "LayerInfo",
    "LayerWriter",
    "Manifest",
    "Platform",
    "Reference",
    "RootFS",
    "UnsafeLayerError",
    "apply_layer",
    "clean_entry_name",
    "compressing_writer",
    "decompressing_reader",
    "digest_file",
    "digest_hex",
    "digest_stream",
    "is_digest",
    "is_registered_digest",
    "REGISTERED_ALGORITHMS",
    "SHA256",
    "algorithm_of",
    "compute_digest",
    "new_hasher",
    "mediatypes",
    "parse_manifest_or_index",
    "parse_reference",
    "sha256_digest",
    "sniff_compression",
    "validate_digest",
    "write_layer",
    "write_layer_from_dir",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
