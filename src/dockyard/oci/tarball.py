"""Single-file image archives, read and written (go-containerregistry's `tarball`).

`write_archive` writes one tar that is BOTH an OCI layout archive and a docker-archive (the
format `docker save` has written since Docker 25): `oci-layout`, `index.json` and `blobs/` for
`skopeo copy oci-archive:FILE` / `podman load`, plus `manifest.json` (Config, RepoTags, Layers
pointing into `blobs/`) for `skopeo copy docker-archive:FILE` / `docker load`. This is what
`--tar-path` produces. Layers stay compressed as pushed, so the archive's image digest is the
registry's.

`read_archive` reads an oci-archive (`index.json`), or a docker-archive (`manifest.json`, also
the older `<id>/layer.tar` form of `docker save`); the layers open straight from their tar
members (`ArchiveBlobs`), verified when they are copied out.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from dockyard.atomicfile import atomic_writer
from dockyard.oci import mediatypes
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.compression import sniff_compression
from dockyard.oci.digest import DigestMismatch, HashingReader, digest_hex, sha256_digest
from dockyard.oci.image import Image, Layer
from dockyard.oci.layout import IMAGE_NAME, LAYOUT_FILE, LAYOUT_MODE, REF_NAME
from dockyard.oci.models import Descriptor, ImageConfig, Index, InvalidObject, Manifest, Platform
from dockyard.oci.models import parse_manifest_or_index as _parse
from dockyard.oci.reference import Reference

METADATA_MAX = 4 * 1024 * 1024  # index, manifests, configs: small JSON, read whole
Read = Callable[[str], bytes]  # a member of the archive by name, read whole


class ArchiveBlobs:
    """A `BlobSource`: the members of one tar archive, by digest; `fetch` copies a member into
    `cache`, verified (an archive is not trusted)."""

    def __init__(self, path: Path, members: dict[str, tarfile.TarInfo], cache: BlobCache) -> None:
        self.path = Path(path)
        self.members = members
        self.cache = cache

    def _member(self, descriptor: Descriptor) -> tarfile.TarInfo:
        member = self.members.get(descriptor.digest)
        if member is None:
            raise FileNotFoundError(f"{self.path} has no blob {descriptor.digest}")
        return member

    def local_path(self, descriptor: Descriptor) -> Path | None:
        return self.cache.local_path(descriptor)

    def fetch(self, descriptor: Descriptor) -> Path:
        if self.cache.has(descriptor.digest):
            return self.cache.path(descriptor.digest)
        with self.stream(descriptor) as f:
            return self.cache.ingest(iter(lambda: f.read(1 << 20), b""), descriptor.digest,
                                     descriptor.size)

    def stream(self, descriptor: Descriptor) -> BinaryIO:
        member = self._member(descriptor)
        f = open(self.path, "rb")  # noqa: SIM115 - the caller closes the section
        f.seek(member.offset_data)
        return cast(BinaryIO, io.BufferedReader(_Section(f, member.size), 1 << 20))


class _Section(io.RawIOBase):
    """`length` bytes of an open file from its current position; closing closes the file
    when the section `owns` it."""

    def __init__(self, f: BinaryIO, length: int, owns: bool = True) -> None:
        self._f = f
        self._left = length
        self._owns = owns

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        data = self._f.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if self._owns:
            self._f.close()
        super().close()


def read_archive(path: Path, cache: BlobCache, ref_name: str | None = None,
                 platform: Platform | None = None) -> Image:
    """The image in an oci-archive or docker-archive; `ref_name` picks one of several (a tag
    or a docker RepoTag), an index resolves to `platform`. Layers are read from the archive
    when asked for (and copied into `cache` by `fetch`)."""
    path = Path(path)
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by the `with` below
    except tarfile.ReadError as exc:
        raise InvalidObject(f"{path} is not an uncompressed tar archive ({exc})") from None
    with tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

        def read(name: str) -> bytes:
            member = members.get(name)
            if member is None:
                raise InvalidObject(f"{path}: no {name} in the archive")
            if member.size > METADATA_MAX:
                raise InvalidObject(f"{path}: {name} is larger than {METADATA_MAX} bytes")
            f = tar.extractfile(member)
            assert f is not None
            return f.read()

        if "index.json" in members:
            return _read_oci(path, members, read, cache, ref_name, platform)
        if "manifest.json" in members:
            return _read_docker(path, members, read, cache, ref_name)
    raise InvalidObject(f"{path} is neither an oci-archive (index.json) nor a docker-archive "
                        "(manifest.json)")


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest_hex(digest)}"


def _verified(read: Read, digest: str, what: str) -> bytes:
    data = read(_blob_name(digest))
    if sha256_digest(data) != digest:
        raise DigestMismatch(digest, sha256_digest(data), what)
    return data


def _read_oci(path: Path, members: dict[str, tarfile.TarInfo], read: Read, cache: BlobCache,
              ref_name: str | None, platform: Platform | None) -> Image:
    index = Index.from_json(read("index.json"))
    entries = index.manifests
    if ref_name is not None:
        entries = [d for d in entries if (d.annotations or {}).get(REF_NAME) == ref_name
                   or (d.annotations or {}).get(IMAGE_NAME) == ref_name]
    if len(entries) != 1:
        raise LookupError(f"{path} holds {len(index.manifests)} images"
                          f"{'' if ref_name is None else f' ({ref_name!r} matches {len(entries)})'}"
                          ": name one")
    descriptor = entries[0]
    raw = _verified(read, descriptor.digest, f"manifest in {path}")
    parsed = _parse(raw, descriptor.media_type)
    if isinstance(parsed, Index):
        descriptor = parsed.select(platform or Platform.current())
        raw = _verified(read, descriptor.digest, f"manifest in {path}")
        parsed = _parse(raw, descriptor.media_type)
        if isinstance(parsed, Index):
            raise InvalidObject(f"{path}: nested index is not supported")
    config_bytes = _verified(read, parsed.config.digest, f"config in {path}")
    config = ImageConfig.from_json(config_bytes)
    if len(config.rootfs.diff_ids) != len(parsed.layers):
        raise InvalidObject(f"{path}: config and manifest disagree on the number of layers")
    blobs = ArchiveBlobs(path, {d.digest: members[_blob_name(d.digest)] for d in parsed.layers
                                if _blob_name(d.digest) in members}, cache)
    layers = [Layer(d, diff_id, blobs)
              for d, diff_id in zip(parsed.layers, config.rootfs.diff_ids, strict=True)]
    return Image(parsed, raw, config, config_bytes, layers)


def _read_docker(path: Path, members: dict[str, tarfile.TarInfo], read: Read,
                 cache: BlobCache, ref_name: str | None) -> Image:
    """A docker-archive: its layer files are hashed here (the archive names no digests)."""
    entries = json.loads(read("manifest.json"))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidObject(f"{path}: manifest.json is not a list of images")
    if ref_name is not None:
        entries = [e for e in entries if ref_name in (e.get("RepoTags") or [])]
    if len(entries) != 1:
        raise LookupError(f"{path} holds {len(entries)} images matching: name one by its tag")
    entry = entries[0]
    config_bytes = read(str(entry.get("Config", "")))
    config = ImageConfig.from_json(config_bytes)
    layer_names = [str(name) for name in entry.get("Layers") or []]
    if len(config.rootfs.diff_ids) != len(layer_names):
        raise InvalidObject(f"{path}: config and manifest.json disagree on the number of layers")
    by_digest: dict[str, tarfile.TarInfo] = {}
    descriptors = []
    with open(path, "rb") as archive:
        for name in layer_names:
            member = members.get(name)
            if member is None:
                raise InvalidObject(f"{path}: no layer {name} in the archive")
            archive.seek(member.offset_data)
            section = cast(BinaryIO, io.BufferedReader(_Section(archive, member.size, owns=False)))
            compression, stream = sniff_compression(section)
            hashing = HashingReader(stream)
            hashing.drain()
            by_digest[hashing.digest] = member
            descriptors.append(Descriptor(
                media_type=mediatypes.layer_media_type(compression, docker=True),
                digest=hashing.digest, size=member.size))
    manifest = Manifest(
        schema_version=2, media_type=mediatypes.DOCKER_MANIFEST,
        config=Descriptor.of(mediatypes.DOCKER_CONFIG, config_bytes), layers=descriptors)
    blobs = ArchiveBlobs(path, by_digest, cache)
    layers = [Layer(d, diff_id, blobs)
              for d, diff_id in zip(descriptors, config.rootfs.diff_ids, strict=True)]
    return Image(manifest, manifest.to_json(), config, config_bytes, layers)


def write_archive(image: Image, path: Path, names: list[Reference] | None = None) -> None:
    """Write `image` as one tar readable as oci-archive and docker-archive (see module doc).

    `names` become the docker RepoTags and the OCI ref names; written to a temp file and renamed.
    """
    names = names or []
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tags = [str(n) for n in names if n.tag]
    manifest_annotations = {}
    if names:
        manifest_annotations = {
            IMAGE_NAME: str(names[0]),
            REF_NAME: names[0].tag or names[0].identifier,
        }
    index = Index(
        schema_version=2,
        media_type=mediatypes.OCI_INDEX,
        manifests=[image.descriptor(manifest_annotations or None)],
    )
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{digest_hex(image.manifest.config.digest)}",
            "RepoTags": tags,
            "Layers": [f"blobs/sha256/{digest_hex(layer.digest)}" for layer in image.layers],
        }
    ]
    with atomic_writer(path, LAYOUT_MODE) as out, tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT
    ) as tar:
        _add_bytes(tar, "oci-layout", LAYOUT_FILE)
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        written: set[str] = set()
        for layer in image.layers:
            if layer.digest in written:
                continue
            written.add(layer.digest)
            info = tarfile.TarInfo(f"blobs/sha256/{digest_hex(layer.digest)}")
            info.size, info.mode = layer.size, 0o644
            with layer.open() as f:  # a registry layer streams in (and into its cache)
                tar.addfile(info, f)
        for data in (image.config_bytes, image.manifest_bytes):
            digest = sha256_digest(data)
            if digest not in written:
                written.add(digest)
                _add_bytes(tar, f"blobs/sha256/{digest_hex(digest)}", data)
        _add_bytes(tar, "index.json", index.to_json())
        _add_bytes(
            tar, "manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode()
        )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)
