"""Digest algorithms and references as the distribution spec's conformance suite exercises them:
sha512 content end to end (uploads, blobs, manifests, storage keyed by algorithm) next to the
sha256 default, and references that are neither tag nor digest."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.conftest import DockyardServer
from tests.registry.conftest import stored_blobs
from tests.registry.test_protocol import OCI_MANIFEST, digest_of, error_code


def sha512_of(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def manifest_of(config: bytes, layers: list[bytes]) -> bytes:
    """An image manifest whose descriptors use sha512."""
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha512_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha512_of(layer), "size": len(layer)} for layer in layers],
    }).encode()


def test_sha512_blobs_monolithic_and_chunked(server: DockyardServer, admin: httpx.Client) -> None:
    name = "algo/blobs"
    whole = b"sha512 monolithic " * 100
    posted = admin.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha512_of(whole)},
                        content=whole, headers={"Content-Type": "application/octet-stream"})
    assert posted.status_code == 201, posted.text
    assert posted.headers["docker-content-digest"] == sha512_of(whole)
    assert posted.headers["location"] == f"/v2/{name}/blobs/{sha512_of(whole)}"

    chunked = b"sha512 chunked " * 200
    started = admin.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["location"]
    patched = admin.patch(location, content=chunked[:1000], headers={
        "Content-Type": "application/octet-stream", "Content-Range": "0-999"})
    assert patched.status_code == 202
    done = admin.put(patched.headers["location"], params={"digest": sha512_of(chunked)},
                     content=chunked[1000:], headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text

    for blob in (whole, chunked):
        head = admin.head(f"/v2/{name}/blobs/{sha512_of(blob)}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(blob))
        assert head.headers["docker-content-digest"] == sha512_of(blob)
        assert admin.get(f"/v2/{name}/blobs/{sha512_of(blob)}").content == blob
        # the same bytes under sha256 were never uploaded: another address, unknown
        assert admin.head(f"/v2/{name}/blobs/{digest_of(blob)}").status_code == 404
    # storage keeps them under the algorithm's own tree, listed (for GC) with their algorithm
    assert {sha512_of(whole)[7:], sha512_of(chunked)[7:]} <= stored_blobs(server)
    if server.storage.startswith("file"):
        hexpart = sha512_of(whole)[7:]
        assert (server.data_dir / "registry" / "blobs" / "sha512" / hexpart[:2] / hexpart).is_file()

    deleted = admin.delete(f"/v2/{name}/blobs/{sha512_of(whole)}")
    assert deleted.status_code == 202
    assert admin.head(f"/v2/{name}/blobs/{sha512_of(whole)}").status_code == 404


def test_wrong_sha512_digest_stores_nothing(server: DockyardServer, admin: httpx.Client) -> None:
    before = stored_blobs(server)
    data = b"these bytes are not what the digest says"
    wrong = admin.post("/v2/algo/wrong/blobs/uploads/", params={"digest": sha512_of(b"other")},
                       content=data, headers={"Content-Type": "application/octet-stream"})
    assert wrong.status_code == 400 and error_code(wrong) == "DIGEST_INVALID"
    short = admin.post("/v2/algo/wrong/blobs/uploads/", params={"digest": "sha512:abcd"},
                       content=data)
    assert short.status_code == 400 and error_code(short) == "DIGEST_INVALID"
    other = admin.post("/v2/algo/wrong/blobs/uploads/",
                       params={"digest": "sha384:" + hashlib.sha384(data).hexdigest()}, content=data)
    assert other.status_code == 400 and "sha512" in other.json()["errors"][0]["message"]
    assert stored_blobs(server) == before


def test_sha512_manifest_by_digest_with_tag_params(server: DockyardServer, admin: httpx.Client) -> None:
    name = "algo/manifests"
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer bytes for sha512"
    for blob in (config, layer):
        assert admin.post(f"/v2/{name}/blobs/uploads/", params={"digest": sha512_of(blob)},
                          content=blob).status_code == 201
    manifest = manifest_of(config, [layer])
    digest = sha512_of(manifest)
    put = admin.put(f"/v2/{name}/manifests/{digest}", params=[("tag", "v512"), ("tag", "also")],
                    content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert put.status_code == 201, put.text
    assert put.headers["docker-content-digest"] == digest
    assert put.headers["location"] == f"/v2/{name}/manifests/{digest}"
    assert put.headers["oci-tag"] == "v512, also"
    for reference in (digest, "v512", "also"):
        head = admin.head(f"/v2/{name}/manifests/{reference}")
        assert head.status_code == 200 and head.headers["docker-content-digest"] == digest
        got = admin.get(f"/v2/{name}/manifests/{reference}")
        assert got.content == manifest
    assert digest[7:] in stored_blobs(server)
    # a mismatching sha512 reference is refused like a sha256 one
    mismatch = admin.put(f"/v2/{name}/manifests/{sha512_of(b'x')}", content=manifest,
                         headers={"Content-Type": OCI_MANIFEST})
    assert mismatch.status_code == 400 and error_code(mismatch) == "DIGEST_INVALID"

    # pushed by tag, the same manifest is addressed with sha256, the default
    by_tag = admin.put(f"/v2/{name}/manifests/plain", content=manifest,
                       headers={"Content-Type": OCI_MANIFEST})
    assert by_tag.status_code == 201
    assert by_tag.headers["docker-content-digest"] == digest_of(manifest)
    assert admin.get(f"/v2/{name}/manifests/{digest_of(manifest)}").content == manifest

    assert admin.delete(f"/v2/{name}/manifests/{digest}").status_code == 202
    assert admin.head(f"/v2/{name}/manifests/{digest}").status_code == 404
    assert admin.head(f"/v2/{name}/manifests/{digest_of(manifest)}").status_code == 200


def test_reference_neither_tag_nor_digest(server: DockyardServer, admin: httpx.Client) -> None:
    """GET/HEAD of such a reference: nothing by that name (the v1.1 suite's 404); PUT: 400."""
    name = "algo/refs"
    config = b"{}"
    assert admin.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(config)},
                      content=config).status_code == 201
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config),
        "size": len(config)}, "layers": []}).encode()
    assert admin.put(f"/v2/{name}/manifests/ok", content=manifest,
                     headers={"Content-Type": OCI_MANIFEST}).status_code == 201
    for reference in (".INVALID_MANIFEST_NAME", "-dash", "x" * 129):
        got = admin.get(f"/v2/{name}/manifests/{reference}")
        assert got.status_code == 404 and error_code(got) == "MANIFEST_UNKNOWN", reference
        assert admin.head(f"/v2/{name}/manifests/{reference}").status_code == 404
    put = admin.put(f"/v2/{name}/manifests/.INVALID_MANIFEST_NAME", content=manifest,
                    headers={"Content-Type": OCI_MANIFEST})
    assert put.status_code == 400 and error_code(put) == "TAG_INVALID"
