"""Reference parsing follows Docker's normalisation (distribution/reference)."""

from __future__ import annotations

import pytest

from dockyard.oci import InvalidReference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20", None),
        ("library/alpine", "docker.io", "library/alpine", "latest", None),
        ("user/app:v1", "docker.io", "user/app", "v1", None),
        ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", None),
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", None),
        ("harbor.local/ci/app", "harbor.local", "ci/app", "latest", None),
        ("Registry/app", "Registry", "app", "latest", None),
        (f"alpine@{DIGEST}", "docker.io", "library/alpine", None, DIGEST),
        (f"host:5000/app:tag@{DIGEST}", "host:5000", "app", "tag", DIGEST),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("a/b-c__d.e/f--g", "docker.io", "a/b-c__d.e/f--g", "latest", None),
    ],
)
def test_parse_normalises_like_docker(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_docker_hub_is_served_by_registry_1() -> None:
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    assert parse_reference("localhost:5000/x").api_host == "localhost:5000"


def test_str_and_familiar_forms() -> None:
    ref = parse_reference("alpine:3.20")
    assert str(ref) == "docker.io/library/alpine:3.20"
    assert ref.familiar() == "alpine:3.20"
    assert ref.identifier == "3.20"
    pinned = ref.with_digest(DIGEST)
    assert pinned.identifier == DIGEST
    assert str(pinned) == f"docker.io/library/alpine:3.20@{DIGEST}"
    assert parse_reference("h:1/a", default_tag=None).tag is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Alpine", "must be lowercase"),
        ("host:5000/App", "must be lowercase"),
        ("alpine:", "invalid tag"),
        ("alpine:-x", "invalid tag"),
        ("alpine:" + "a" * 129, "invalid tag"),
        ("alpine@sha256:abc", "invalid digest"),
        ("alpine@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("a//b", "empty path component"),
        ("/alpine", "empty path component"),
        ("al pine", "whitespace"),
        ("a/b_-c", "lowercase letters"),
        ("host_name:5000/a", "not a valid registry host"),
        ("x.io/" + "a" * 260, "255"),
    ],
)
def test_invalid_references_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(text)
