"""Digests, media types and the JSON models (exact round trip, platform matching)."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from dockyard.oci import (
    Descriptor,
    HashingReader,
    HashingWriter,
    ImageConfig,
    Index,
    InvalidDigest,
    InvalidObject,
    Manifest,
    Platform,
    mediatypes,
    parse_manifest_or_index,
    sha256_digest,
    validate_digest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_validate_digest() -> None:
    assert validate_digest(D1) == D1
    for bad in ["", "sha256:" + "A" * 64, "sha256:" + "1" * 63, "sha256:../../etc", "1" * 64]:
        with pytest.raises(InvalidDigest, match="invalid digest"):
            validate_digest(bad)
    with pytest.raises(InvalidDigest, match="unsupported digest algorithm 'sha512'"):
        validate_digest("sha512:" + "1" * 128)


def test_hashing_writer_and_reader_agree_with_hashlib() -> None:
    data = b"x" * 3_000_000
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    writer.write(data[:10])
    writer.write(data[10:])
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert (writer.digest, writer.size, sink.getvalue() == data) == (expected, len(data), True)
    reader = HashingReader(io.BytesIO(data))
    reader.read(5)
    reader.drain()
    assert (reader.digest, reader.size) == (expected, len(data))
    assert sha256_digest(data) == expected


def test_media_type_helpers() -> None:
    assert mediatypes.layer_compression(mediatypes.DOCKER_LAYER_GZIP) == "gzip"
    assert mediatypes.layer_media_type("zstd") == mediatypes.OCI_LAYER_ZSTD
    assert mediatypes.layer_media_type("none", docker=True) == mediatypes.DOCKER_LAYER
    assert mediatypes.is_index(mediatypes.DOCKER_MANIFEST_LIST)
    with pytest.raises(ValueError, match="not a layer media type"):
        mediatypes.layer_compression(mediatypes.OCI_CONFIG)


REAL_CONFIG = {
    "architecture": "amd64",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["/bin/sh"],
        "Entrypoint": None,
        "WorkingDir": "/app",
        "User": "1000:1000",
        "ExposedPorts": {"8080/tcp": {}},
        "Volumes": {"/data": {}},
        "Labels": {"org.opencontainers.image.source": "x"},
        "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
        "OnBuild": ["RUN echo hi"],
        "Shell": ["/bin/bash", "-c"],
        "ArgsEscaped": True,
        "SomethingNew": 1,
    },
    "container": "abc",
    "created": "2024-01-01T00:00:00Z",
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD x /", "empty_layer": True}],
    "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
    "variant": "v8",
}


def test_config_round_trip_is_exact() -> None:
    config = ImageConfig.from_dict(REAL_CONFIG)
    assert config.to_dict() == REAL_CONFIG
    assert ImageConfig.from_json(config.to_json()).to_dict() == REAL_CONFIG
    assert config.config.cmd == ["/bin/sh"]
    assert config.config.healthcheck is not None and config.config.healthcheck.retries == 3
    assert config.rootfs.diff_ids == [D1, D2]
    assert config.config.env_dict()["PATH"].startswith("/usr/local")
    config.config.set_env("PATH", "/bin")
    config.config.set_env("NEW", "1")
    assert config.config.env == ["PATH=/bin", "NEW=1"]


def test_manifest_and_index_round_trip() -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": D1, "size": 7},
        "layers": [
            {
                "mediaType": mediatypes.OCI_LAYER_GZIP,
                "digest": D2,
                "size": 9,
                "annotations": {"a": "b"},
            }
        ],
        "annotations": {"org.opencontainers.image.created": "now"},
    }
    raw = json.dumps(manifest).encode()
    parsed = parse_manifest_or_index(raw)
    assert isinstance(parsed, Manifest)
    assert parsed.to_dict() == manifest
    assert parsed.layers[0].digest == D2
    index = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mediatypes.DOCKER_MANIFEST,
                "digest": D1,
                "size": 1,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
            {
                "mediaType": mediatypes.DOCKER_MANIFEST,
                "digest": D2,
                "size": 1,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
        ],
    }
    parsed_index = parse_manifest_or_index(json.dumps(index).encode())
    assert isinstance(parsed_index, Index)
    assert parsed_index.to_dict() == index
    assert parsed_index.select(Platform.parse("linux/amd64")).digest == D2
    assert parsed_index.select(Platform.parse("linux/arm64")).digest == D1
    assert parsed_index.select(Platform.parse("linux/arm64/v8")).digest == D1
    with pytest.raises(LookupError, match=r"linux/s390x.*linux/arm64/v8, linux/amd64"):
        parsed_index.select(Platform.parse("linux/s390x"))


def test_bad_objects_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidObject, match="not valid JSON"):
        parse_manifest_or_index(b"{nope")
    with pytest.raises(InvalidObject, match="schema 1"):
        parse_manifest_or_index(b'{"schemaVersion": 1, "fsLayers": []}')
    with pytest.raises(InvalidObject, match="required field 'config'"):
        Manifest.from_dict({"schemaVersion": 2, "layers": []})
    with pytest.raises(InvalidDigest):
        Descriptor.from_dict({"mediaType": "x", "digest": "sha256:../../x", "size": 1})
    with pytest.raises(InvalidObject, match="size"):
        Descriptor.from_dict({"mediaType": "x", "digest": D1, "size": -1})


def test_platform_parsing() -> None:
    assert str(Platform.parse("linux/x86_64")) == "linux/amd64"
    assert str(Platform.parse("linux/arm/7")) == "linux/arm/v7"
    assert Platform.current().os == "linux"
    with pytest.raises(ValueError, match="os/arch"):
        Platform.parse("amd64")
    assert not Platform(architecture="arm", os="linux", variant="v6").matches(
        Platform.parse("linux/arm/v7")
    )


def test_descriptor_of_bytes() -> None:
    desc = Descriptor.of(mediatypes.OCI_CONFIG, b"{}")
    assert desc.size == 2 and desc.digest == sha256_digest(b"{}")


def test_minimal_objects_round_trip_without_gaining_keys() -> None:
    minimal_config = {
        "architecture": "arm64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    assert ImageConfig.from_dict(minimal_config).to_dict() == minimal_config
    no_layers = {"schemaVersion": 2, "config": {"mediaType": "x", "digest": D1, "size": 1}}
    assert Manifest.from_dict(no_layers).to_dict() == no_layers
    config = ImageConfig.from_dict(minimal_config)
    config.config.cmd = ["sh"]  # filled later: written out
    assert config.to_dict()["config"] == {"Cmd": ["sh"]}


def test_platform_variant_defaults_follow_containerd() -> None:
    arm_v6 = Platform(architecture="arm", os="linux", variant="v6")
    arm_plain = Platform(architecture="arm", os="linux")
    assert not arm_v6.matches(Platform.parse("linux/arm"))  # linux/arm means v7
    assert arm_plain.matches(Platform.parse("linux/arm/v7"))
    assert arm_v6.matches(Platform.parse("linux/arm/v6"))
    amd = Platform(architecture="amd64", os="linux")
    assert amd.matches(Platform.parse("linux/amd64"))
    assert not amd.matches(Platform.parse("linux/arm64"))
    assert not Platform(architecture="amd64", os="windows").matches(Platform.parse("linux/amd64"))
    assert Platform(architecture="arm64", os="linux", variant="v8").matches(
        Platform.parse("linux/arm64")
    )
