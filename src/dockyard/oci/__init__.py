"""dockyard.oci: OCI images without a daemon. Imports nothing else from Dockyard.

One image model, several readers and writers (in the style of go-containerregistry's pkg/v1):

* `digest`      sha256 digests: `validate_digest`, `sha256_digest`, `HashingWriter/Reader`.
* `mediatypes`  OCI and Docker v2 media type constants and helpers.
* `reference`   `parse_reference("alpine")` -> docker.io/library/alpine:latest (Docker's rules).
* `models`      `Descriptor`, `Manifest`, `Index`, `ImageConfig` (+ `ContainerConfig`, `RootFS`,
                `History`, `HealthConfig`), `Platform`; exact JSON round trip.
* `layers`      `apply_layer` (safe untar with whiteouts: `..`/absolute names refused, parents
                resolved inside the root, device nodes skipped unless `allow_devices` as root)
                and `LayerWriter` / `write_layer*` (deterministic streaming tar -> compress ->
                hash, diff_id and digest in one pass; `add_tar` re-packs a rootfs tar safely).
* `compression` `decompressing_reader` / `compressing_writer`: gzip (isal, else zlib), zstd.
* `image`       `Image` (manifest bytes + config bytes + `Layer`s) and `Image.assemble`.
* `blobcache`   `BlobCache`: content-addressed dir, verified atomic ingest, shared by builds.
* `credentials` `CredentialStore.load()`: docker config.json (`auths`, credHelpers).
* `client`      `RegistryClient`: token/basic auth, pull (platform, parallel, verified), push
                (HEAD, mount, monolithic or chunked upload, manifest under many tags),
                `push_index`, `upload_stream`, `copy`; `RegistryOptions` mirrors Kaniko's
                flags (insecure, skip-tls-verify, registry-certificate, mirrors, registry-map).
* `layout`      `ImageLayout` (OCI layout dir) and `write_archive` (one tar that is both a
                docker-archive and an oci-archive, for `--tar-path`).

Typical use (the builder's):

    cache = BlobCache(data_dir / "cache" / "blobs")
    with RegistryClient(RegistryOptions(insecure={"127.0.0.1:5000"})) as client:
        base = client.pull("alpine:3.20", cache)                  # verified, parallel
        for layer in base.layers:
            apply_layer(layer.path, rootfs, expected_diff_id=layer.diff_id)
        with LayerWriter(tmp / "layer", "gzip", mtime=0) as writer:
            writer.add_tree(changed_dir, "app")
        image = Image.assemble(config, [*base.layers, Layer.from_info(writer.close())])
        client.push(image, ["127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:latest"])

Import from here, not from the submodules: this list is the supported surface.
"""

from __future__ import annotations

from dockyard.oci import mediatypes
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.client import (
    NotFoundError,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryOptions,
    parse_challenge,
)
from dockyard.oci.compression import compressing_writer, decompressing_reader, sniff_compression
from dockyard.oci.credentials import Credential, CredentialStore
from dockyard.oci.digest import (
    DigestMismatch,
    HashingReader,
    HashingWriter,
    InvalidDigest,
    digest_file,
    digest_hex,
    digest_stream,
    is_digest,
    sha256_digest,
    validate_digest,
)
from dockyard.oci.image import Image, Layer
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
from dockyard.oci.layout import ImageLayout, write_archive
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
from dockyard.oci.reference import DOCKER_HUB, InvalidReference, Reference, parse_reference
from dockyard.oci.timestamps import ANNOTATION_CACHE_KEY, ANNOTATION_CREATED, parse_rfc3339

__all__ = [
    "ANNOTATION_CACHE_KEY",
    "ANNOTATION_CREATED",
    "parse_rfc3339",
    "BlobCache",
    "Credential",
    "CredentialStore",
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
    "mediatypes",
    "parse_manifest_or_index",
    "parse_reference",
    "sha256_digest",
    "sniff_compression",
    "validate_digest",
    "write_layer",
    "write_layer_from_dir",
]
