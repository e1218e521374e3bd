"""The registry client against a real CNCF distribution (docker-registry), plain and with
htpasswd and token auth; skopeo checks what we pushed."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.oci import (
    BlobCache,
    DigestMismatch,
    Image,
    ImageConfig,
    Index,
    LayerWriter,
    Login,
    Logins,
    NotFoundError,
    Platform,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryOptions,
    mediatypes,
    parse_reference,
)
from tests.oci.peers import PASSWORD, USER, Registry, TokenServer, docker_config, require_tool


def make_image(
    tmp: Path, files: dict[str, bytes], arch: str = "amd64", compression: str = "gzip"
) -> Image:
    tmp.mkdir(parents=True, exist_ok=True)
    with LayerWriter(tmp / f"layer-{len(os.listdir(tmp))}", compression, mtime=0) as writer:
        for name, data in sorted(files.items()):
            writer.add_bytes(name, data)
    config = ImageConfig(architecture=arch, os="linux")
    config.config.cmd = ["/bin/sh"]
    return Image.assemble(config, [writer.close()])


def make_layered_image(tmp: Path, count: int) -> Image:
    """An image of `count` layers, each adding one file (and the last deleting the first)."""
    tmp.mkdir(parents=True, exist_ok=True)
    infos = []
    for n in range(count):
        with LayerWriter(tmp / f"layer-{n}", "gzip", mtime=0) as writer:
            writer.add_bytes(f"file-{n}", os.urandom(50_000))
            if n == count - 1:
                writer.add_whiteout("file-0")
        infos.append(writer.close())
    return Image.assemble(ImageConfig(architecture="amd64", os="linux"), infos)


def client(**options: object) -> RegistryClient:
    return RegistryClient(RegistryOptions(**options), Logins())  # type: ignore[arg-type]


def skopeo_inspect(ref: str, *extra: str) -> dict[str, object]:
    skopeo = require_tool("skopeo")
    out = subprocess.run(
        [skopeo, "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def test_push_then_pull_round_trip(tmp_path: Path, registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"hello.txt": b"hello", "bin/tool": b"#!/bin/sh\n"})
    ref = f"{registry.host}/roundtrip/app"
    messages: list[str] = []
    with client() as c:
        digest = c.push(image, [f"{ref}:v1", f"{ref}:latest"], progress=messages.append)
        assert digest == image.digest
        assert sorted(c.list_tags(ref)) == ["latest", "v1"]
        pulled = c.pull(f"{ref}:v1", BlobCache(tmp_path / "cache"))
        assert pulled.digest == image.digest
        assert pulled.manifest_bytes == image.manifest_bytes
        assert pulled.config.rootfs.diff_ids == image.config.rootfs.diff_ids
        assert pulled.layers[0].path is not None and pulled.layers[0].path.read_bytes() == (
            image.layers[0].path.read_bytes()  # type: ignore[union-attr]
        )
        # second push: every blob is already there
        messages.clear()
        c.push(image, [f"{ref}:v2"], progress=messages.append)
        assert any("exists" in m for m in messages)
        head = c.head_manifest(f"{ref}:v2")
        assert head is not None and head.digest == image.digest
        assert c.head_manifest(f"{ref}:missing") is None
    inspected = skopeo_inspect(f"{ref}:v1")
    assert inspected["Digest"] == image.digest
    assert inspected["Layers"] == [image.layers[0].digest]


def test_chunked_upload_and_cross_repository_mount(tmp_path: Path, registry: Registry) -> None:
    payload = os.urandom(300_000)  # random: does not compress, so the blob spans many chunks
    image = make_image(tmp_path / "src", {"blob.bin": payload}, compression="none")
    source = f"{registry.host}/chunked/source:1"
    with client(monolithic_limit=50_000, chunk_size=64 * 1024) as c:
        c.push(image, [source])
        pulled = c.pull(source, BlobCache(tmp_path / "cache"))
        messages: list[str] = []
        c.push(pulled, [f"{registry.host}/chunked/copy:1"], progress=messages.append)
    assert any("mounted" in m for m in messages), messages
    assert skopeo_inspect(f"{registry.host}/chunked/copy:1")["Digest"] == image.digest


def test_index_resolves_to_the_platform(tmp_path: Path, registry: Registry) -> None:
    amd = make_image(tmp_path / "amd", {"arch": b"amd64"}, "amd64")
    arm = make_image(tmp_path / "arm", {"arch": b"arm64"}, "arm64")
    repo = f"{registry.host}/multi/app"
    with client() as c:
        c.push(amd, [f"{repo}:amd64"])
        c.push(arm, [f"{repo}:arm64"])
        amd_desc = amd.descriptor()
        amd_desc.platform = Platform.parse("linux/amd64")
        arm_desc = arm.descriptor()
        arm_desc.platform = Platform.parse("linux/arm64")
        index = Index(
            schema_version=2, media_type=mediatypes.OCI_INDEX, manifests=[arm_desc, amd_desc]
        )
        c.put_manifest(f"{repo}:multi", index.to_json(), mediatypes.OCI_INDEX)
        cache = BlobCache(tmp_path / "cache")
        assert c.pull(f"{repo}:multi", cache, Platform.parse("linux/amd64")).digest == amd.digest
        assert c.pull(f"{repo}:multi", cache, Platform.parse("linux/arm64")).digest == arm.digest
        pinned, _, _ = c.resolve(f"{repo}@{index_digest(index)}", Platform.parse("linux/arm64"))
        assert pinned.digest == arm.digest
        with pytest.raises(NotFoundError, match="no image for platform linux/s390x"):
            c.pull(f"{repo}:multi", cache, Platform.parse("linux/s390x"))


def index_digest(index: Index) -> str:
    from dockyard.oci import sha256_digest

    return sha256_digest(index.to_json())


def test_multi_layer_pull_in_parallel_then_unpack(tmp_path: Path, registry: Registry) -> None:
    from dockyard.oci import apply_layer

    image = make_layered_image(tmp_path / "src", 5)
    ref = f"{registry.host}/layers/app:1"
    with client(parallel=4) as c:
        c.push(image, [ref])
        pulled = c.pull(ref, BlobCache(tmp_path / "cache"))
    assert [layer.digest for layer in pulled.layers] == [layer.digest for layer in image.layers]
    root = tmp_path / "root"
    root.mkdir()
    for layer in pulled.layers:
        assert layer.path is not None
        apply_layer(layer.path, root, expected_diff_id=layer.diff_id)
    assert sorted(os.listdir(root)) == ["file-1", "file-2", "file-3", "file-4"]


def test_corrupt_blob_is_refused_and_not_cached(tmp_path: Path, registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"x": b"original content " * 100})
    ref = f"{registry.host}/corrupt/app:1"
    with client() as c:
        c.push(image, [ref])
        layer = image.layers[0]
        stored = registry.blob_file(layer.digest)
        stored.write_bytes(bytes(b ^ 0xFF for b in stored.read_bytes()))
        cache = BlobCache(tmp_path / "cache")
        with pytest.raises(DigestMismatch, match=layer.digest):
            c.pull(ref, cache)
        assert not cache.has(layer.digest)
        assert [p.name for p in (tmp_path / "cache" / "sha256").iterdir()] == [
            image.manifest.config.digest.split(":")[1]
        ]


def test_missing_things_give_not_found(tmp_path: Path, registry: Registry) -> None:
    with (
        client() as c,
        pytest.raises(NotFoundError, match=r"HTTP 404.*(MANIFEST_UNKNOWN|NAME_UNKNOWN)"),
    ):
        c.pull(f"{registry.host}/nothing/here:1", BlobCache(tmp_path))


def test_pinned_digest_is_verified(tmp_path: Path, registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"pin": b"1"})
    ref = f"{registry.host}/pinned/app"
    with client() as c:
        c.push(image, [f"{ref}:1"])
        assert c.pull(f"{ref}@{image.digest}", BlobCache(tmp_path / "c")).digest == image.digest
        with pytest.raises(NotFoundError):
            c.pull(f"{ref}@sha256:{'0' * 64}", BlobCache(tmp_path / "c"))
        copied = c.copy(
            f"{ref}@{image.digest}", [f"{registry.host}/pinned/copy:1"], BlobCache(tmp_path / "c")
        )
    assert copied == image.digest
    assert skopeo_inspect(f"{registry.host}/pinned/copy:1")["Digest"] == image.digest


def test_docker_hub_mirror_is_used(tmp_path: Path, registry: Registry) -> None:
    image = make_image(tmp_path / "src", {"etc/os-release": b"ID=mirror\n"})
    with client() as c:
        c.push(image, [f"{registry.host}/library/mirrored:latest"])
    with client(mirrors=[registry.host]) as c:
        pulled = c.pull("mirrored", BlobCache(tmp_path / "cache"))
    assert pulled.digest == image.digest
    assert pulled.source is not None and pulled.source.registry == registry.host
    # --registry-map works for any registry; without fallback, a dead mirror is an error
    with client(registry_map={"private.example": [f"{registry.host}/library"]}) as c:
        mapped = c.pull("private.example/mirrored", BlobCache(tmp_path / "cache"))
    assert mapped.digest == image.digest
    from tests.oci.peers import free_port

    dead = f"127.0.0.1:{free_port()}"
    with (
        client(mirrors=[dead], mirror_fallback=False, timeout=5) as c,
        pytest.raises(RegistryError, match="every mirror failed.*cannot reach registry"),
    ):
        c.pull("mirrored", BlobCache(tmp_path / "cache"))


# ------------------------------------------------------------------------------------- auth


def test_htpasswd_registry_with_config_json(tmp_path: Path, htpasswd_registry: Registry) -> None:
    host = htpasswd_registry.host
    image = make_image(tmp_path / "src", {"auth": b"basic"})
    store = Logins.load([docker_config(tmp_path / "docker", host)])
    with RegistryClient(RegistryOptions(), store) as c:
        c.push(image, [f"{host}/basic/app:1"])
        assert c.pull(f"{host}/basic/app:1", BlobCache(tmp_path / "cache")).digest == image.digest

    with (
        RegistryClient(RegistryOptions(), Logins()) as c,
        pytest.raises(RegistryAuthError, match="requires a user name and password.*config.json"),
    ):
        c.pull(f"{host}/basic/app:1", BlobCache(tmp_path / "c2"))

    wrong = Logins.load(
        [docker_config(tmp_path / "wrong", host, USER, "not-the-password")]
    )
    with (
        RegistryClient(RegistryOptions(), wrong) as c,
        pytest.raises(RegistryAuthError, match="HTTP 401") as info,
    ):
        c.push(image, [f"{host}/basic/app:2"])
    assert "not-the-password" not in str(info.value) and PASSWORD not in str(info.value)


def test_token_auth_flow(
    tmp_path: Path, token_registry: tuple[Registry, TokenServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registry, tokens = token_registry
    host = registry.host
    image = make_image(tmp_path / "src", {"auth": b"token"})
    store = Logins()
    store.add(host, Login(USER, PASSWORD))
    tokens.scopes_seen.clear()
    with RegistryClient(RegistryOptions(), store) as c:
        c.push(image, [f"{host}/tok/app:1"])
        # one token, asked for once, serves the whole push (HEAD, uploads, manifest)
        assert tokens.scopes_seen == ["repository:tok/app:pull,push"]
        pulled = c.pull(f"{host}/tok/app:1", BlobCache(tmp_path / "cache"))
    assert pulled.digest == image.digest
    assert tokens.scopes_seen[1:] == ["repository:tok/app:pull"]
    messages: list[str] = []
    with RegistryClient(RegistryOptions(), store) as c:
        c.push(pulled, [f"{host}/tok/other:1"], progress=messages.append)
    assert any("mounted" in m for m in messages), messages
    assert {"repository:tok/other:pull,push", "repository:tok/app:pull"} <= set(tokens.scopes_seen)
    assert (
        skopeo_inspect(f"{host}/tok/app:1", "--creds", f"{USER}:{PASSWORD}")["Digest"]
        == image.digest
    )

    with (
        RegistryClient(RegistryOptions(), Logins()) as c,
        pytest.raises(RegistryAuthError, match="refused anonymous access"),
    ):
        c.pull(f"{host}/tok/app:1", BlobCache(tmp_path / "c2"))
    bad = Logins()
    bad.add(host, Login(USER, "wrong-password-123"))
    with (
        RegistryClient(RegistryOptions(), bad) as c,
        pytest.raises(RegistryAuthError, match=f"refused user '{USER}'") as info,
    ):
        c.pull(f"{host}/tok/app:1", BlobCache(tmp_path / "c3"))
    assert "wrong-password-123" not in str(info.value)
    secrets = [
        PASSWORD,
        "wrong-password-123",
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ]
    logged = caplog.text
    assert "tok/app" in logged  # requests were logged ...
    assert not any(secret in logged for secret in secrets)  # ... without credentials


def test_unreachable_registry_says_so(tmp_path: Path) -> None:
    from tests.oci.peers import free_port

    with client(timeout=5) as c, pytest.raises(Exception, match="cannot reach registry 127.0.0.1"):
        c.pull(f"127.0.0.1:{free_port()}/x/y:1", BlobCache(tmp_path))


def test_plain_http_only_when_allowed() -> None:
    options = RegistryOptions(insecure={"reg.example:5000"})
    assert options.allows_http("reg.example:5000")
    assert not options.allows_http("other.example")
    assert options.allows_http("localhost:5000") and options.allows_http("127.0.0.1:5000")
    assert options.allows_http("[::1]:5000")
    assert RegistryOptions(insecure_all=True).allows_http("any.example")
    assert parse_reference("docker.io/library/alpine").api_host == "registry-1.docker.io"


def test_transient_errors_are_retried(tmp_path: Path, registry: Registry) -> None:
    """A front that answers 503 to every other request (docker-registry cannot be made flaky
    on purpose, so this small forwarding proxy is the one stand-in here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    from tests.oci.peers import free_port

    image = make_image(tmp_path / "src", {"flaky": b"1"})
    with client() as c:
        c.push(image, [f"{registry.host}/flaky/app:1"])
    calls = {"n": 0}

    class Flaky(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            calls["n"] += 1
            if calls["n"] % 2 == 0:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            upstream = httpx.get(
                f"http://{registry.host}{self.path}",
                headers={"Accept": self.headers.get("Accept", "*/*")},
            )
            self.send_response(upstream.status_code)
            for key in ("Content-Type", "Docker-Content-Digest"):
                if key in upstream.headers:
                    self.send_header(key, upstream.headers[key])
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with client(parallel=1, retry_backoff=0.01) as c:
            pulled = c.pull(f"127.0.0.1:{port}/flaky/app:1", BlobCache(tmp_path / "cache"))
        assert pulled.digest == image.digest
        with client(retries=0) as c, pytest.raises(RegistryError, match="HTTP 503"):
            for _ in range(3):
                c.pull(f"127.0.0.1:{port}/flaky/app:1", BlobCache(tmp_path / "cache2"))
    finally:
        server.shutdown()
        server.server_close()


def test_tls_registry_with_its_certificate_or_without_verification(
    tmp_path: Path, tls_registry: tuple[Registry, Path]
) -> None:
    registry, cert = tls_registry
    image = make_image(tmp_path / "src", {"tls": b"1"})
    ref = f"{registry.host}/tls/app:1"
    with (
        client() as c,
        pytest.raises(RegistryError, match="certificate is not trusted.*--registry-certificate"),
    ):
        c.push(image, [ref])
    with client(ca_certificates={registry.host: cert}) as c:
        c.push(image, [ref])
    with client(skip_tls_verify={registry.host}) as c:
        assert c.pull(ref, BlobCache(tmp_path / "cache")).digest == image.digest


def test_identity_token_from_config_json(
    tmp_path: Path, token_registry: tuple[Registry, TokenServer]
) -> None:
    from tests.oci.peers import REFRESH_TOKEN

    registry, _ = token_registry
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {registry.host: {"identitytoken": REFRESH_TOKEN}}}))
    image = make_image(tmp_path / "src", {"oauth": b"1"})
    with RegistryClient(RegistryOptions(), Logins.load([config])) as c:
        c.push(image, [f"{registry.host}/oauth/app:1"])
        assert (
            c.pull(f"{registry.host}/oauth/app:1", BlobCache(tmp_path / "c")).digest == image.digest
        )


def test_push_index_of_two_platforms(tmp_path: Path, registry: Registry) -> None:
    amd = make_image(tmp_path / "amd", {"arch": b"amd64"}, "amd64")
    arm = make_image(tmp_path / "arm", {"arch": b"arm64"}, "arm64")
    ref = f"{registry.host}/pushed-index/app:1"
    with client() as c:
        digest = c.push_index([amd, arm], [ref])
        assert sorted(c.list_tags(ref)) == ["1"]  # the platform images have no tags
        cache = BlobCache(tmp_path / "cache")
        assert c.pull(ref, cache, Platform.parse("linux/arm64")).digest == arm.digest
        with pytest.raises(ValueError, match="two images for platform linux/amd64"):
            c.push_index([amd, amd], [ref])
    raw = json.loads(
        subprocess.run(
            [require_tool("skopeo"), "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert raw["mediaType"] == mediatypes.OCI_INDEX
    assert [(m["digest"], m["platform"]["architecture"]) for m in raw["manifests"]] == [
        (amd.digest, "amd64"),
        (arm.digest, "arm64"),
    ]
    assert digest.startswith("sha256:")


def test_upload_stream_of_unknown_length(tmp_path: Path, registry: Registry) -> None:
    from dockyard.oci import sha256_digest

    parts = [os.urandom(100_000) for _ in range(30)]
    ref = f"{registry.host}/streamed/blob"
    with client() as c:
        digest, size = c.upload_stream(ref, iter(parts))
        assert (digest, size) == (sha256_digest(b"".join(parts)), 3_000_000)
        assert c.blob_exists(ref, digest)
        assert b"".join(c.open_blob(ref, digest)) == b"".join(parts)
