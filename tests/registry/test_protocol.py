"""The distribution spec at the HTTP level: uploads, errors, discovery, deletion, tokens.

httpx and curl speak to a real server; each bad-input test checks that storage is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import httpx

from tests.conftest import ADMIN_PASSWORD, DockyardServer
from tests.registry.conftest import stored_blobs

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = b"{}"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_monolithic(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post(
        f"/v2/{name}/blobs/uploads/",
        params={"digest": digest_of(data)},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def image_manifest(config: bytes, layers: list[bytes], **extra: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest_of(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(doc).encode()


def push_image(client: httpx.Client, name: str, tag: str, layer: bytes) -> str:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    for blob in (config, layer):
        assert upload_monolithic(client, name, blob).status_code == 201
    manifest = image_manifest(config, [layer])
    response = client.put(
        f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return digest_of(manifest)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def test_base_endpoint_challenges_then_accepts(server: DockyardServer) -> None:
    anonymous = httpx.get(server.url + "/v2/")
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="') and "/service/token" in challenge
    assert httpx.get(server.url + "/v2/", auth=("admin", ADMIN_PASSWORD)).status_code == 200
    assert httpx.get(server.url + "/v2/", auth=("admin", "wrong")).status_code == 401


def test_token_flow_grants_only_permitted_scope(server: DockyardServer, admin: httpx.Client) -> None:
    push_image(admin, "tokens/app", "v1", b"layer-token")
    server.add_user("reader1", "readerpw")
    token = httpx.get(
        server.url + "/service/token",
        params={"service": "dockyard-registry", "scope": "repository:tokens/app:pull,push"},
        auth=("reader1", "readerpw"),
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    # reader1 has no role in the private project: the token grants nothing.
    assert httpx.get(f"{server.url}/v2/tokens/app/tags/list", headers=bearer).status_code in (401, 403)
    admin_token = httpx.get(
        server.url + "/service/token",
        params={"service": "dockyard-registry", "scope": "repository:tokens/app:pull"},
        auth=("admin", ADMIN_PASSWORD),
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {admin_token}"}
    assert httpx.get(f"{server.url}/v2/tokens/app/tags/list", headers=bearer).json()["tags"] == ["v1"]
    # A pull-only token of a user who may push: 401 insufficient_scope with a challenge naming
    # the scope to ask for (distribution's answer); the same token sent again for it gets
    # RFC 6750's 403 with the same challenge (what oras-py waits for to fetch a new token).
    denied = httpx.post(f"{server.url}/v2/tokens/app/blobs/uploads/", headers=bearer)
    assert denied.status_code == 401 and denied.json()["errors"][0]["code"] == "UNAUTHORIZED"
    again = httpx.post(f"{server.url}/v2/tokens/app/blobs/uploads/", headers=bearer)
    assert again.status_code == 403 and again.json()["errors"][0]["code"] == "DENIED"
    for answer in (denied, again):
        assert 'scope="repository:tokens/app:pull,push"' in answer.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    forged = admin_token[:-4] + ("AAAA" if not admin_token.endswith("AAAA") else "BBBB")
    assert (
        httpx.get(
            f"{server.url}/v2/tokens/app/tags/list", headers={"Authorization": f"Bearer {forged}"}
        ).status_code
        == 401
    )
    assert httpx.get(server.url + "/service/token", auth=("admin", "wrong")).status_code == 401


def test_monolithic_post_put_and_chunked_uploads(server: DockyardServer, admin: httpx.Client) -> None:
    data = b"x" * 100_000
    assert upload_monolithic(admin, "uploads/app", data).status_code == 201
    # POST then PUT with the body
    start = admin.post("/v2/uploads/app/blobs/uploads/")
    assert start.status_code == 202
    other = b"post-put" * 1000
    put = admin.put(start.headers["location"], params={"digest": digest_of(other)}, content=other)
    assert put.status_code == 201 and put.headers["docker-content-digest"] == digest_of(other)
    # chunked with Content-Range, status in between
    chunked = bytes(range(256)) * 1000
    location = admin.post("/v2/uploads/app/blobs/uploads/").headers["location"]
    first, second = chunked[:100_000], chunked[100_000:]
    r1 = admin.patch(location, content=first, headers={"Content-Range": f"0-{len(first) - 1}"})
    assert r1.status_code == 202 and r1.headers["range"] == f"0-{len(first) - 1}"
    status = admin.get(r1.headers["location"])
    assert status.status_code == 204 and status.headers["range"] == f"0-{len(first) - 1}"
    r2 = admin.patch(
        r1.headers["location"],
        content=second,
        headers={"Content-Range": f"{len(first)}-{len(chunked) - 1}"},
    )
    assert r2.status_code == 202
    done = admin.put(r2.headers["location"], params={"digest": digest_of(chunked)})
    assert done.status_code == 201
    fetched = admin.get(f"/v2/uploads/app/blobs/{digest_of(chunked)}")
    assert fetched.content == chunked and fetched.headers["docker-content-digest"] == digest_of(chunked)


def test_out_of_order_chunk_gets_416_and_changes_nothing(server: DockyardServer, admin: httpx.Client) -> None:
    location = admin.post("/v2/uploads/ooo/blobs/uploads/").headers["location"]
    assert admin.patch(location, content=b"abcd", headers={"Content-Range": "0-3"}).status_code == 202
    bad = admin.patch(location, content=b"efgh", headers={"Content-Range": "10-13"})
    assert bad.status_code == 416
    assert bad.headers["range"] == "0-3"
    retried = admin.patch(location, content=b"abcd", headers={"Content-Range": "0-3"})
    assert retried.status_code == 416
    assert admin.get(location).headers["range"] == "0-3"


def test_range_requests_on_blobs(server: DockyardServer, admin: httpx.Client) -> None:
    data = bytes(range(256)) * 10
    upload_monolithic(admin, "ranges/app", data)
    part = admin.get(f"/v2/ranges/app/blobs/{digest_of(data)}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    head = admin.head(f"/v2/ranges/app/blobs/{digest_of(data)}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_wrong_digest_stores_nothing(server: DockyardServer, admin: httpx.Client) -> None:
    before = stored_blobs(server)
    wrong = "sha256:" + "0" * 64
    response = admin.post("/v2/bad/app/blobs/uploads/", params={"digest": wrong}, content=b"payload")
    assert response.status_code == 400 and error_code(response) == "DIGEST_INVALID"
    invalid = admin.post("/v2/bad/app/blobs/uploads/", params={"digest": "sha256:xyz"}, content=b"payload")
    assert error_code(invalid) == "DIGEST_INVALID"
    assert stored_blobs(server) == before


def test_truncated_upload_stores_nothing(server: DockyardServer) -> None:
    before = stored_blobs(server)
    data = b"t" * 50_000
    # curl sends a Content-Length larger than the body it has: the server must refuse it.
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-u",
            f"admin:{ADMIN_PASSWORD}",
            "-X",
            "POST",
            "--max-time",
            "2",
            "-H",
            "Content-Length: 100000",
            "--data-binary",
            "@-",
            f"{server.url}/v2/bad/trunc/blobs/uploads/?digest={digest_of(data + data)}",
        ],
        input=data,
        capture_output=True,
    )
    assert b"DIGEST_INVALID" not in result.stdout  # never reached digest verification
    assert stored_blobs(server) == before


def test_invalid_names_and_tags(server: DockyardServer, admin: httpx.Client) -> None:
    for name in ("UPPER/case", "a//b", "-lead/x", "a/b_"):
        response = admin.get(f"/v2/{name}/tags/list")
        assert response.status_code == 400 and error_code(response) == "NAME_INVALID", name
    response = admin.put("/v2/good/name/manifests/bad:tag!", content=b"{}")
    assert error_code(response) in ("TAG_INVALID", "DIGEST_INVALID", "MANIFEST_INVALID")
    assert admin.get("/v2/a/b/c/tags/list").status_code == 404  # nested name is valid, just unknown


def test_manifest_with_missing_blob_is_refused(server: DockyardServer, admin: httpx.Client) -> None:
    config = b'{"rootfs":{"type":"layers","diff_ids":[]}}'
    upload_monolithic(admin, "missing/app", config)
    manifest = image_manifest(config, [b"never uploaded"])
    response = admin.put(
        "/v2/missing/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 400 and error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert admin.get("/v2/missing/app/manifests/v1").status_code == 404
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(b"nope"), "size": 4}],
        }
    ).encode()
    response = admin.put("/v2/missing/app/manifests/idx", content=index, headers={"Content-Type": OCI_INDEX})
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_blob_of_another_repository_is_not_visible_without_mount(
    server: DockyardServer, admin: httpx.Client
) -> None:
    data = b"only in repo a"
    upload_monolithic(admin, "isolation/a", data)
    assert admin.head(f"/v2/isolation/b/blobs/{digest_of(data)}").status_code == 404
    mounted = admin.post(
        "/v2/isolation/b/blobs/uploads/", params={"mount": digest_of(data), "from": "isolation/a"}
    )
    assert mounted.status_code == 201
    assert admin.head(f"/v2/isolation/b/blobs/{digest_of(data)}").status_code == 200
    unknown = admin.post(
        "/v2/isolation/b/blobs/uploads/", params={"mount": digest_of(b"zzz"), "from": "isolation/a"}
    )
    assert unknown.status_code == 202  # falls back to a regular upload session


def test_oversized_and_invalid_manifests(server: DockyardServer, admin: httpx.Client) -> None:
    before = stored_blobs(server)
    big = b'{"schemaVersion":2,"padding":"' + b"a" * (4 * 1024 * 1024) + b'"}'
    response = admin.put("/v2/big/app/manifests/v1", content=big, headers={"Content-Type": OCI_MANIFEST})
    assert response.status_code == 413 and error_code(response) == "SIZE_INVALID"
    garbage = admin.put(
        "/v2/big/app/manifests/v1", content=b"not json", headers={"Content-Type": OCI_MANIFEST}
    )
    assert garbage.status_code == 400 and error_code(garbage) == "MANIFEST_INVALID"
    schema1 = admin.put(
        "/v2/big/app/manifests/v1", content=b'{"schemaVersion":1}', headers={"Content-Type": OCI_MANIFEST}
    )
    assert error_code(schema1) == "MANIFEST_INVALID"
    assert stored_blobs(server) == before


def test_manifest_by_digest_must_match(server: DockyardServer, admin: httpx.Client) -> None:
    config = b'{"a":1}'
    upload_monolithic(admin, "bydigest/app", config)
    manifest = image_manifest(config, [])
    wrong = admin.put(
        f"/v2/bydigest/app/manifests/{digest_of(b'other')}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert error_code(wrong) == "DIGEST_INVALID"
    right = admin.put(
        f"/v2/bydigest/app/manifests/{digest_of(manifest)}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert right.status_code == 201
    got = admin.get(f"/v2/bydigest/app/manifests/{digest_of(manifest)}")
    assert got.content == manifest and got.headers["content-type"] == OCI_MANIFEST


def test_tags_and_catalog_pagination(server: DockyardServer, admin: httpx.Client) -> None:
    for tag in ("c", "a", "b", "d"):
        push_image(admin, "paging/app", tag, b"layer-" + tag.encode())
    first = admin.get("/v2/paging/app/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["a", "b"]
    assert first.headers["link"] == '</v2/paging/app/tags/list?n=2&last=b>; rel="next"'
    second = admin.get("/v2/paging/app/tags/list", params={"n": 2, "last": "b"})
    assert second.json()["tags"] == ["c", "d"] and "link" not in second.headers
    push_image(admin, "paging/other", "x", b"other")
    catalog = admin.get("/v2/_catalog", params={"n": 1, "last": "paging/app"})
    assert catalog.json()["repositories"] == ["paging/other"]


def test_referrers_with_subject_and_artifact_type_filter(server: DockyardServer, admin: httpx.Client) -> None:
    subject_digest = push_image(admin, "refs/app", "v1", b"subject-layer")
    subject_size = len(admin.get(f"/v2/refs/app/manifests/{subject_digest}").content)
    assert admin.get(f"/v2/refs/app/referrers/{subject_digest}").json()["manifests"] == []
    upload_monolithic(admin, "refs/app", EMPTY)
    signature = b"signature bytes"
    upload_monolithic(admin, "refs/app", signature)
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": digest_of(EMPTY),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/octet-stream",
                    "digest": digest_of(signature),
                    "size": len(signature),
                }
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject_size},
            "annotations": {"org.example.signer": "ci"},
        }
    ).encode()
    response = admin.put(
        f"/v2/refs/app/manifests/{digest_of(artifact)}",
        content=artifact,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201
    assert response.headers["oci-subject"] == subject_digest
    listing = admin.get(f"/v2/refs/app/referrers/{subject_digest}")
    assert listing.headers["content-type"].startswith(OCI_INDEX)
    entries = listing.json()["manifests"]
    assert [e["digest"] for e in entries] == [digest_of(artifact)]
    assert entries[0]["artifactType"] == "application/vnd.example.signature"
    assert entries[0]["annotations"] == {"org.example.signer": "ci"}
    filtered = admin.get(
        f"/v2/refs/app/referrers/{subject_digest}", params={"artifactType": "application/other"}
    )
    assert filtered.json()["manifests"] == [] and filtered.headers["oci-filters-applied"] == "artifactType"


def test_delete_tag_manifest_and_blob(server: DockyardServer, admin: httpx.Client) -> None:
    digest = push_image(admin, "deleting/app", "v1", b"delete-me")
    admin.put(
        "/v2/deleting/app/manifests/v2",
        content=admin.get(f"/v2/deleting/app/manifests/{digest}").content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert admin.delete("/v2/deleting/app/manifests/v2").status_code == 202
    assert admin.get("/v2/deleting/app/tags/list").json()["tags"] == ["v1"]
    assert admin.delete(f"/v2/deleting/app/manifests/{digest}").status_code == 202
    assert admin.get(f"/v2/deleting/app/manifests/{digest}").status_code == 404
    assert admin.get("/v2/deleting/app/tags/list").json()["tags"] == []
    layer_digest = digest_of(b"delete-me")
    assert admin.delete(f"/v2/deleting/app/blobs/{layer_digest}").status_code == 202
    assert admin.head(f"/v2/deleting/app/blobs/{layer_digest}").status_code == 404


def test_api_token_works_as_password_and_refresh_tokens(server: DockyardServer, admin: httpx.Client) -> None:
    push_image(admin, "apitoken/app", "v1", b"token layer")
    token = subprocess.run(
        server.command("user", "token", "admin", "--name", "ci"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert len(token) == 40
    assert httpx.get(f"{server.url}/v2/apitoken/app/tags/list", auth=("admin", token)).json()["tags"] == [
        "v1"
    ]
    gitea_style = httpx.get(
        f"{server.url}/v2/apitoken/app/tags/list", headers={"Authorization": f"token {token}"}
    )
    assert gitea_style.status_code == 200
    # docker login's OAuth2 path: password grant gives a refresh token, which gives access tokens.
    granted = httpx.post(
        f"{server.url}/service/token",
        data={
            "grant_type": "password",
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "service": "dockyard-registry",
            "scope": "repository:apitoken/app:pull",
        },
    ).json()
    refreshed = httpx.post(
        f"{server.url}/service/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": granted["refresh_token"],
            "service": "dockyard-registry",
            "scope": "repository:apitoken/app:pull",
        },
    ).json()
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert httpx.get(f"{server.url}/v2/apitoken/app/tags/list", headers=bearer).status_code == 200
    bad = httpx.post(
        f"{server.url}/service/token", data={"grant_type": "refresh_token", "refresh_token": "junk"}
    )
    assert bad.status_code == 401


def test_index_and_manifest_list_content_types(server: DockyardServer, admin: httpx.Client) -> None:
    amd = push_image(admin, "multi/app", "amd64", b"amd64 layer")
    arm = push_image(admin, "multi/app", "arm64", b"arm64 layer")
    sizes = {d: len(admin.get(f"/v2/multi/app/manifests/{d}").content) for d in (amd, arm)}
    for media_type, child_type in (
        (OCI_INDEX, OCI_MANIFEST),
        ("application/vnd.docker.distribution.manifest.list.v2+json", OCI_MANIFEST),
    ):
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "manifests": [
                    {
                        "mediaType": child_type,
                        "digest": d,
                        "size": sizes[d],
                        "platform": {"architecture": arch, "os": "linux"},
                    }
                    for d, arch in ((amd, "amd64"), (arm, "arm64"))
                ],
            }
        ).encode()
        put = admin.put("/v2/multi/app/manifests/multi", content=index, headers={"Content-Type": media_type})
        assert put.status_code == 201, put.text
        got = admin.get("/v2/multi/app/manifests/multi")
        assert got.headers["content-type"] == media_type and got.content == index
    repos = admin.get("/api/v2.0/projects/multi/repositories").json()
    assert repos[0]["artifact_count"] == 2  # the two indexes; their children are not counted
