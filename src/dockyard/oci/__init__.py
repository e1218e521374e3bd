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
* `errors`      `RegistryError` (+ `RegistryAuthError`, `NotFoundError`): status and error JSON.
* `options`     `RegistryOptions`, Kaniko's registry flags (insecure, skip-tls-verify,
                registry-certificate, mirrors, registry-map), and the TLS contexts they mean.
* `auth`        the token flow of one host (`parse_challenge`, Bearer/Basic, tokens per scope).
* `transport`   one host's session over `http`: scheme by ping, retries, auth on 401.
* `remote`      `RegistryClient`: pull (platform, parallel, verified), push (HEAD, mount,
                monolithic or chunked upload, manifest under many tags), `push_index`,
                `upload_stream`, `copy`.
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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use (`__getattr__`)
    from dockyard.oci import mediatypes
    from dockyard.oci.auth import parse_challenge
    from dockyard.oci.blobcache import BlobCache
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
    from dockyard.oci.errors import NotFoundError, RegistryAuthError, RegistryError
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
    from dockyard.oci.options import RegistryOptions
    from dockyard.oci.reference import DOCKER_HUB, InvalidReference, Reference, parse_reference
    from dockyard.oci.remote import RegistryClient
    from dockyard.oci.timestamps import ANNOTATION_CACHE_KEY, ANNOTATION_CREATED, parse_rfc3339

_EXPORTS = {
    "parse_challenge": "dockyard.oci.auth",
    "BlobCache": "dockyard.oci.blobcache",
    "compressing_writer": "dockyard.oci.compression",
    "decompressing_reader": "dockyard.oci.compression",
    "sniff_compression": "dockyard.oci.compression",
    "Credential": "dockyard.oci.credentials",
    "CredentialStore": "dockyard.oci.credentials",
    "DigestMismatch": "dockyard.oci.digest",
    "HashingReader": "dockyard.oci.digest",
    "HashingWriter": "dockyard.oci.digest",
    "InvalidDigest": "dockyard.oci.digest",
    "digest_file": "dockyard.oci.digest",
    "digest_hex": "dockyard.oci.digest",
    "digest_stream": "dockyard.oci.digest",
    "is_digest": "dockyard.oci.digest",
    "sha256_digest": "dockyard.oci.digest",
    "validate_digest": "dockyard.oci.digest",
    "NotFoundError": "dockyard.oci.errors",
    "RegistryAuthError": "dockyard.oci.errors",
    "RegistryError": "dockyard.oci.errors",
    "Image": "dockyard.oci.image",
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
    "write_archive": "dockyard.oci.layout",
    "mediatypes": "dockyard.oci.mediatypes",
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
    "InvalidReference": "dockyard.oci.reference",
    "Reference": "dockyard.oci.reference",
    "parse_reference": "dockyard.oci.reference",
    "RegistryClient": "dockyard.oci.remote",
    "ANNOTATION_CACHE_KEY": "dockyard.oci.timestamps",
    "ANNOTATION_CREATED": "dockyard.oci.timestamps",
    "parse_rfc3339": "dockyard.oci.timestamps",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.oci' has no attribute {name!r}")
    value = importlib.import_module(module) if module.endswith(f".{name}") else \
        getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
