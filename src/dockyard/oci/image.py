"""The one image model every reader and writer shares (registry, layout, tarball).

An `Image` is its manifest bytes, its config bytes and its layers; layers point at local files
(a blob cache, a layout, a freshly written layer). Digests are computed over the exact bytes
kept here, which are the bytes pushed or written: nothing is re-serialised behind your back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest
from dockyard.oci.layers import LayerInfo
from dockyard.oci.models import Descriptor, ImageConfig, Manifest
from dockyard.oci.reference import Reference


@dataclass
class Layer:
    """A layer blob of an image: its descriptor, uncompressed digest and where its bytes are.

    `source` is the repository it was pulled from: a push to the same registry mounts it from
    there instead of uploading it again.
    """

    descriptor: Descriptor
    diff_id: str | None = None
    path: Path | None = None
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

    def open(self) -> BinaryIO:
        if self.path is None:
            raise FileNotFoundError(f"layer {self.digest} has no local copy (pull it first)")
        return open(self.path, "rb")

    @classmethod
    def from_info(cls, info: LayerInfo, annotations: dict[str, str] | None = None) -> Layer:
        return cls(info.descriptor(annotations), info.diff_id, info.path)


@dataclass
class Image:
    """A manifest and its config, with the layers' files where they are local."""

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
