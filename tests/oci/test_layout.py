"""OCI layout directories and the --tar-path archive, checked with skopeo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.oci import ImageLayout, apply_layer, parse_reference, write_archive
from tests.oci.peers import Registry, require_tool
from tests.oci.test_client import client, make_image


def skopeo(*args: str) -> str:
    return subprocess.run(
        [require_tool("skopeo"), *args], check=True, capture_output=True, text=True
    ).stdout


def test_layout_round_trip_through_skopeo(tmp_path: Path) -> None:
    image = make_image(tmp_path / "src", {"etc/hello": b"layout"})
    layout = ImageLayout(tmp_path / "layout")
    layout.write_image(image, "v1")
    layout.write_image(image, "v1")  # same name again replaces, not duplicates
    assert len(layout.index().manifests) == 1
    again = layout.read_image("v1")
    assert again.digest == image.digest and again.layers[0].diff_id == image.layers[0].diff_id

    skopeo("copy", f"oci:{tmp_path / 'layout'}:v1", f"oci:{tmp_path / 'copy'}:copied")
    copied = ImageLayout(tmp_path / "copy").read_image("copied")
    assert copied.layers[0].digest == image.layers[0].digest
    root = tmp_path / "root"
    root.mkdir()
    assert copied.layers[0].path is not None
    apply_layer(copied.layers[0].path, root, expected_diff_id=copied.layers[0].diff_id)
    assert (root / "etc" / "hello").read_bytes() == b"layout"
    with pytest.raises(LookupError, match="no image named 'nope'"):
        layout.read_image("nope")


def test_archive_is_docker_archive_and_oci_archive(tmp_path: Path) -> None:
    image = make_image(tmp_path / "src", {"bin/app": b"#!/bin/sh\necho archived\n"})
    archive = tmp_path / "image.tar"
    write_archive(image, archive, [parse_reference("registry.local/team/app:1.0")])

    docker = json.loads(skopeo("inspect", f"docker-archive:{archive}"))
    assert docker["Layers"] == [image.layers[0].digest] or len(docker["Layers"]) == 1
    oci = json.loads(skopeo("inspect", f"oci-archive:{archive}"))
    assert oci["Digest"] == image.digest
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'from-docker'}:x")
    skopeo("copy", f"oci-archive:{archive}", f"oci:{tmp_path / 'from-oci'}:x")
    from_oci = ImageLayout(tmp_path / "from-oci").read_image("x")
    assert from_oci.digest == image.digest
    from_docker = ImageLayout(tmp_path / "from-docker").read_image("x")
    assert from_docker.config.rootfs.diff_ids == image.config.rootfs.diff_ids


def test_read_layout_written_by_skopeo_from_registry(tmp_path: Path, registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"x": b"from registry"})
    ref = f"{registry.host}/layout/app:1"
    with client() as c:
        c.push(image, [ref])
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'l'}:1")
    assert ImageLayout(tmp_path / "l").read_image("1").digest == image.digest


def test_pull_docker_schema2_pushed_by_skopeo(tmp_path: Path, registry: Registry) -> None:
    from dockyard.oci import BlobCache, mediatypes

    image = make_image(tmp_path / "src", {"docker": b"v2s2"})
    ImageLayout(tmp_path / "layout").write_image(image, "1")
    ref = f"{registry.host}/schema2/app:1"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        f"oci:{tmp_path / 'layout'}:1",
        f"docker://{ref}",
    )
    with client() as c:
        pulled = c.pull(ref, BlobCache(tmp_path / "cache"))
    assert pulled.media_type == mediatypes.DOCKER_MANIFEST
    assert pulled.manifest.config.media_type == mediatypes.DOCKER_CONFIG
    assert pulled.layers[0].media_type == mediatypes.DOCKER_LAYER_GZIP
    assert pulled.config.rootfs.diff_ids == image.config.rootfs.diff_ids
    root = tmp_path / "root"
    root.mkdir()
    assert pulled.layers[0].path is not None
    apply_layer(pulled.layers[0].path, root, expected_diff_id=pulled.layers[0].diff_id)
    assert (root / "docker").read_bytes() == b"v2s2"
