"""OCI image layout directories: `ImageLayout` reads and writes an OCI image layout
(`oci-layout`, `index.json`, `blobs/sha256/<hex>`), the format of `skopeo copy ... oci:DIR:TAG`
and `umoci`. The layers of an image read from a layout open through the layout's blobs
directory. Single-file archives (`--tar-path`) are `oci.tarball`.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from dockyard.atomicfile import atomic_write_bytes
from dockyard.oci import mediatypes
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.digest import DigestMismatch, digest_hex, sha256_digest
from dockyard.oci.image import Image, Layer
from dockyard.oci.models import Descriptor, ImageConfig, Index, InvalidObject, Manifest, Platform
from dockyard.oci.models import parse_manifest_or_index as _parse

REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
LAYOUT_MODE = 0o644  # a layout or archive is output for other tools (skopeo, podman, docker)
LAYOUT_FILE = json.dumps({"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}).encode()


class ImageLayout:
    """An OCI image layout directory (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.blobs = BlobCache(self.path / "blobs", mode=0o644)

    # -- reading ---------------------------------------------------------------------------------
    def index(self) -> Index:
        index_path = self.path / "index.json"
        if not (self.path / "oci-layout").is_file() or not index_path.is_file():
            raise FileNotFoundError(
                f"{self.path} is not an OCI image layout (no oci-layout/index.json)"
            )
        return Index.from_json(index_path.read_bytes())

    def read_image(self, ref_name: str | None = None, platform: Platform | None = None) -> Image:
        """The image tagged `ref_name` (or the only one), resolved to `platform` if an index."""
        entries = self.index().manifests
        if ref_name is not None:
            entries = [d for d in entries if (d.annotations or {}).get(REF_NAME) == ref_name]
            if not entries:
                raise LookupError(f"{self.path}: no image named {ref_name!r}")
        if len(entries) != 1:
            names = [(d.annotations or {}).get(REF_NAME, d.digest) for d in self.index().manifests]
            raise LookupError(
                f"{self.path} holds {len(names)} images ({', '.join(names)}): name one"
            )
        descriptor = entries[0]
        raw = self._blob(descriptor.digest)
        parsed = _parse(raw, descriptor.media_type)
        if isinstance(parsed, Index):
            descriptor = parsed.select(platform or Platform.current())
            raw = self._blob(descriptor.digest)
            parsed = _parse(raw, descriptor.media_type)
            if isinstance(parsed, Index):
                raise InvalidObject(f"{self.path}: nested index is not supported")
        return self._image(parsed, raw)

    def _blob(self, digest: str) -> bytes:
        data = self.blobs.read_bytes(digest)
        if sha256_digest(data) != digest:
            raise DigestMismatch(digest, sha256_digest(data), f"blob in {self.path}")
        return data

    def _image(self, manifest: Manifest, raw: bytes) -> Image:
        config_bytes = self._blob(manifest.config.digest)
        config = ImageConfig.from_json(config_bytes)
        if len(config.rootfs.diff_ids) != len(manifest.layers):
            raise InvalidObject(
                f"{self.path}: config and manifest disagree on the number of layers"
            )
        layers = [
            Layer(d, diff_id, self.blobs)
            for d, diff_id in zip(manifest.layers, config.rootfs.diff_ids, strict=True)
        ]
        return Image(manifest, raw, config, config_bytes, layers)

    # -- writing ---------------------------------------------------------------------------------
    def write_image(self, image: Image, ref_name: str | None = None) -> Descriptor:
        """Add the image's blobs and list it in index.json (replacing an entry of the same name)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._add_blobs(image)
        annotations = {REF_NAME: ref_name} if ref_name else None
        descriptor = image.descriptor(annotations)
        self._list(descriptor, ref_name)
        return descriptor

    def write_index(self, images: list[Image], ref_name: str | None = None) -> Descriptor:
        """Several single-platform images as one multi-platform index (`mutate.platform_index`)
        listed in index.json under `ref_name`; each image's blobs are added, unlisted."""
        from dockyard.oci.mutate import platform_index

        self.path.mkdir(parents=True, exist_ok=True)
        raw = platform_index(images).to_json()
        for image in images:
            self._add_blobs(image)
        self.blobs.put_bytes(raw)
        descriptor = Descriptor.of(mediatypes.OCI_INDEX, raw,
                                   annotations={REF_NAME: ref_name} if ref_name else None)
        self._list(descriptor, ref_name)
        return descriptor

    def _add_blobs(self, image: Image) -> None:
        for layer in image.layers:
            self._link_or_copy(layer.fetch(), layer.digest)
        self.blobs.put_bytes(image.config_bytes)
        self.blobs.put_bytes(image.manifest_bytes)

    def _list(self, descriptor: Descriptor, ref_name: str | None) -> None:
        """Adds `descriptor` to index.json (replacing an entry of the same name)."""
        with open(self.path / ".index.lock", "a") as lock:  # two writers must not lose an entry
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = self.index()
            except FileNotFoundError:
                index = Index(schema_version=2, media_type=mediatypes.OCI_INDEX, manifests=[])
            if ref_name:
                index.manifests = [
                    d for d in index.manifests if (d.annotations or {}).get(REF_NAME) != ref_name
                ]
            index.manifests.append(descriptor)
            atomic_write_bytes(self.path / "oci-layout", LAYOUT_FILE, LAYOUT_MODE)
            atomic_write_bytes(self.path / "index.json", index.to_json(), LAYOUT_MODE)

    def _link_or_copy(self, source: Path, digest: str) -> None:
        target = self.blobs.path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".link-{digest_hex(digest)}-{os.getpid()}")
        try:
            os.link(source, tmp)
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            self.blobs.add_file(source, digest)

