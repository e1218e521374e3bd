"""dockyard.oci: OCI images without a daemon. Imports nothing else from Dockyard.

One image model, several readers and writers (in the style of go-containerregistry's pkg/v1):

* `digest`      sha256 digests: `validate_digest`, `sha256_digest`, `HashingWriter/Reader`.
* `mediatypes`  OCI and Docker v2 media type constants and helpers.
* `reference`   `parse_reference("alpine")` -> docker.io/library/alpine:latest (Docker's rules).
* `models`      `Descriptor`, `Manifest`, `Index`, `ImageConfig` (+ `ContainerConfig`, `RootFS`,
                `History`, `HealthConfig`), `Platform`; exact JSON round trip.
* `layers`      `apply_layer` (safe untar with whiteouts) and `LayerWriter` / `write_layer*`
                (deterministic streaming tar -> compress -> hash in one pass).

Import from here, not from the submodules: this list is the supported surface.
"""

from __future__ import annotations

from dockyard.oci import mediatypes
from dockyard.oci.compression import decompressing_reader, sniff_compression
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

__all__ = [
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
