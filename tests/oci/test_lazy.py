"""Lazy images: a registry image costs its manifest and config until a layer's bytes are asked
for; layers known by descriptor are mounted on push, streamed into a tar, fetched for a layout;
archives are read back; `mutate` derives images without touching layer bytes."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from dockyard.oci import (
    BlobCache,
    DigestMismatch,
    History,
    ImageConfig,
    ImageLayout,
    Layer,
    LayerInfo,
    LayerWriter,
    apply_layer,
    fetch_all,
    mediatypes,
    mutate,
    parse_reference,
    read_archive,
    write_archive,
)
from tests.oci.peers import Registry, start_registry
from tests.oci.test_client import client, make_image, make_layered_image


def test_registry_image_reads_no_layer_until_asked(tmp_path: Path, registry: Registry) -> None:
    image = make_layered_image(tmp_path / "src", 3)
    ref = f"{registry.host}/lazy/app:1"
    with client() as c:
        c.push(image, [ref])
    cache = BlobCache(tmp_path / "cache")
    with client() as c:
        lazy = c.image(ref, cache)
    assert lazy.digest == image.digest
    assert [layer.path for layer in lazy.layers] == [None, None, None]
    assert cache.has(lazy.manifest.config.digest)
    assert not any(cache.has(layer.digest) for layer in lazy.layers)
    root = tmp_path / "root"
    root.mkdir()
    with lazy.layers[0].open() as blob:  # streams and stores at once (the client reconnects)
        apply_layer(blob, root, expected_diff_id=lazy.layers[0].diff_id)
    assert (root / "file-0").is_file()
    assert lazy.layers[0].is_local and cache.verify(lazy.layers[0].digest)
    fetch_all(lazy.layers)
    assert all(layer.path is not None and layer.path.is_file() for layer in lazy.layers)


def test_push_mounts_a_lazy_layer_and_a_layout_fetches_it(tmp_path: Path,
                                                        registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"app": b"mounted, not moved"})
    with client() as c:
        c.push(image, [f"{registry.host}/lazy/source:1"])
        lazy = c.image(f"{registry.host}/lazy/source:1", BlobCache(tmp_path / "cache"))
        messages: list[str] = []
        c.push(lazy, [f"{registry.host}/lazy/other:1"], progress=messages.append)
    assert any("mounted" in m for m in messages), messages
    assert lazy.layers[0].path is None  # nothing was downloaded for the push
    ImageLayout(tmp_path / "layout").write_image(lazy, "1")  # a layout needs the bytes
    assert lazy.layers[0].is_local
    assert ImageLayout(tmp_path / "layout").read_image("1").digest == image.digest


def test_tar_archive_round_trip_streams_lazy_layers(tmp_path: Path, registry: Registry) -> None:
    image = make_layered_image(tmp_path / "src", 2)
    ref = f"{registry.host}/lazy/archive:1"
    with client() as c:
        c.push(image, [ref])
        lazy = c.image(ref, BlobCache(tmp_path / "cache"))
        archive = tmp_path / "image.tar"
        write_archive(lazy, archive, [parse_reference(ref)])
    back = read_archive(archive, BlobCache(tmp_path / "cache2"), "1")
    assert back.digest == image.digest and back.layers[0].path is None
    assert back.layers[1].fetch().read_bytes() == image.layers[1].fetch().read_bytes()


def test_archive_member_that_lies_about_its_digest_is_refused(tmp_path: Path) -> None:
    image = make_image(tmp_path / "src", {"a": b"honest"})
    archive = tmp_path / "image.tar"
    write_archive(image, archive)
    with tarfile.open(archive) as tar:
        member = tar.getmember(f"blobs/sha256/{image.layers[0].digest.split(':')[1]}")
    with open(archive, "r+b") as f:  # flip one byte of the layer inside the tar
        f.seek(member.offset_data + member.size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    read = read_archive(archive, BlobCache(tmp_path / "cache"))
    with pytest.raises(DigestMismatch):
        read.layers[0].fetch()
    assert read.layers[0].path is None


def test_mutate_appends_layers_and_sets_config(tmp_path: Path) -> None:
    base = make_image(tmp_path / "base", {"base": b"1"})
    top = Layer.from_info(_info(tmp_path / "top", {"top": b"2"}))
    grown = mutate.append_layers(base, [top], [History(created_by="add top")])
    assert [layer.digest for layer in grown.layers] == [base.layers[0].digest, top.digest]
    assert grown.config.rootfs.diff_ids == [base.layers[0].diff_id, top.diff_id]
    assert grown.config.history is not None and grown.config.history[-1].created_by == "add top"
    assert base.config.history is None  # the base is untouched
    config = ImageConfig(architecture="arm64", os="linux")
    moved = mutate.set_config(grown, config)
    assert moved.config.architecture == "arm64" and moved.layers == grown.layers
    assert moved.digest != grown.digest
    docker = Layer(base.layers[0].descriptor, base.layers[0].diff_id, base.layers[0].blobs)
    docker.descriptor.media_type = mediatypes.DOCKER_LAYER_GZIP
    assert mutate.oci_layer(docker).media_type == mediatypes.OCI_LAYER_GZIP
    assert mutate.oci_layer(docker).path == docker.path
    annotated = mutate.set_annotations(base, {"a": "b"})
    assert annotated.manifest.annotations == {"a": "b"}


def _info(tmp: Path, files: dict[str, bytes]) -> LayerInfo:
    tmp.mkdir(parents=True, exist_ok=True)
    with LayerWriter(tmp / "layer", "gzip", mtime=0) as writer:
        for name, data in files.items():
            writer.add_bytes(name, data)
    return writer.close()


def test_push_to_another_registry_fetches_what_it_cannot_mount(tmp_path: Path,
                                                               registry: Registry) -> None:
    image = make_layered_image(tmp_path / "src", 2)
    with client() as c:
        c.push(image, [f"{registry.host}/lazy/far:1"])
        lazy = c.image(f"{registry.host}/lazy/far:1", BlobCache(tmp_path / "cache"))
    other = start_registry(tmp_path / "other")
    try:
        messages: list[str] = []
        with client() as c:
            c.push(lazy, [f"{other.host}/copied/far:1"], progress=messages.append)
            again = c.pull(f"{other.host}/copied/far:1", BlobCache(tmp_path / "cache2"))
    finally:
        other.stop()
    assert sum("uploaded" in m for m in messages) == 2, messages
    assert all(layer.is_local for layer in lazy.layers)  # fetched on the way, verified
    assert again.digest == image.digest
