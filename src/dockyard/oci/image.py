"""The one image model every reader and writer shares (go-containerregistry's `v1.Image` and
`v1.Layer`): an `Image` is its manifest bytes, its config bytes and its `Layer`s; a layer is
its descriptor and diff_id, and its bytes open through a `BlobSource`: a local file (a layer
just written), a `BlobCache`, an OCI layout (`oci.layout`), a tar archive (`oci.tarball`) or a
registry repository (`oci.remote`). A layer known only by its descriptor costs nothing until
its bytes are asked for. Digests are computed over the exact bytes kept here, which are the
bytes pushed or written: nothing is re-serialised behind your back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest
from dockyard.oci.layers import LayerInfo
from dockyard.oci.models import Descriptor, ImageConfig, Manifest
from dockyard.oci.reference import Reference


class BlobSource(Protocol):
    """Where the bytes of blobs are. One source serves many blobs (a cache, a repository)."""

    def local_path(self, descriptor: Descriptor) -> Path | None:
        """The blob as a local file when it is one already (no download, no copy)."""

    def fetch(self, descriptor: Descriptor) -> Path:
        """A local, verified copy of the blob, made now if needed."""

    def stream(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """The blob's bytes as a stream (a download may be stored on the way; a digest
        mismatch raises, at the latest when the stream is closed)."""


class LocalFile:
    """A `BlobSource` of one file on disk (a layer just written, a file given by the user)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.path if self.path.is_file() else None

    def fetch(self, descriptor: Descriptor) -> Path:
        if not self.path.is_file():
            raise FileNotFoundError(f"layer {descriptor.digest}: {self.path} is gone")
        return self.path

    def stream(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        return open(self.fetch(descriptor), "rb")


@dataclass
class Layer:
    """A layer blob of an image: its descriptor, uncompressed digest and where its bytes are.

    `source` is the repository it lives in (pulled from, or stored by a remote cache): a push
    to the same registry mounts it from there instead of uploading it again.
    """

    descriptor: Descriptor
    diff_id: str | None
    blobs: BlobSource
    source: Reference | None = None

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    @property
    def path(self) -> Path | None:
        """The local file of the blob, or None while only its source has it."""
        return self.blobs.local_path(self.descriptor)

    @property
    def is_local(self) -> bool:
        return self.path is not None

    def fetch(self) -> Path:
        """The local file of the blob, downloaded (verified) first if needed."""
        return self.blobs.fetch(self.descriptor)

    def open(self) -> AbstractContextManager[BinaryIO]:
        """The blob as a stream: a local file, or a download read while it is stored."""
        return self.blobs.stream(self.descriptor)

    def with_descriptor(self, descriptor: Descriptor) -> Layer:
        """The same bytes under another descriptor (e.g. an OCI media type for a Docker one)."""
        return Layer(descriptor, self.diff_id, self.blobs, self.source)

    @classmethod
    def from_info(cls, info: LayerInfo, annotations: dict[str, str] | None = None) -> Layer:
        return cls(info.descriptor(annotations), info.diff_id, LocalFile(info.path))


def fetch_all(layers: Iterable[Layer], parallel: int = 4) -> None:
    """Makes every layer local, downloading the missing ones `parallel` at a time."""
    missing = [layer for layer in layers if not layer.is_local]
    if len(missing) == 1:
        missing[0].fetch()
    elif missing:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fetch") as pool:
            list(pool.map(Layer.fetch, missing))


@dataclass
class Image:
    """A manifest and its config, with its layers (local or not)."""

    manifest: Manifest
    manifest_bytes: bytes
    config: ImageConfig
    config_bytes: bytes
    layers: list[Layer] = field(default_factory=list)
    source: Reference | None = None

    @property
    def digest(self) -> str:
        """The manifest digest: what `image@sha256:...` names."""
        return sha256_digest(self.manifest_bytes)

    @property
    def media_type(self) -> str:
        return self.manifest.media_type or mediatypes.OCI_MANIFEST

    @property
    def config_descriptor(self) -> Descriptor:
        return self.manifest.config

    def descriptor(self, annotations: dict[str, str] | None = None) -> Descriptor:
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=len(self.manifest_bytes),
            annotations=annotations,
        )

    @classmethod
    def assemble(
        cls,
        config: ImageConfig,
        layers: Sequence[Layer | LayerInfo],
        *,
        docker: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> Image:
        """Build an image from a config and layers (bottom first).

        Sets `config.rootfs.diff_ids` from the layers, serialises the config, writes the manifest
        (OCI media types, or Docker schema 2 with `docker=True`).
        """
        items = [item if isinstance(item, Layer) else Layer.from_info(item) for item in layers]
        diff_ids = []
        for layer in items:
            if layer.diff_id is None:
                raise ValueError(f"layer {layer.digest} has no diff_id: the config needs it")
            diff_ids.append(layer.diff_id)
        config.rootfs.type = "layers"
        config.rootfs.diff_ids = diff_ids
        config_bytes = config.to_json()
        manifest_type = mediatypes.DOCKER_MANIFEST if docker else mediatypes.OCI_MANIFEST
        manifest = Manifest(
            schema_version=2,
            media_type=manifest_type,
            config=Descriptor.of(mediatypes.config_media_type_for(manifest_type), config_bytes),
            layers=[layer.descriptor for layer in items],
            annotations=annotations,
        )
        return cls(manifest, manifest.to_json(), config, config_bytes, items)
