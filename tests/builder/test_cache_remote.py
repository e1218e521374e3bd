"""The remote layer cache (`--cache-repo`) against a real CNCF docker-registry: rebuilds of an
unchanged context run no RUN and give the same digest; a changed file re-runs only what
follows the COPY that copies it; ignored and uncopied files invalidate nothing; a second
machine (fresh --cache-dir) hits from the registry without unpacking anything; a cache repo
that is unreachable, holds garbage or refuses auth is a warning and a correct build."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.builder.conftest import make_busybox_rootfs
from tests.builder.images import dockyard, try_build_from, unpack
from tests.conftest import free_port, require_tool
from tests.oci.peers import Registry, bcrypt_hash, start_registry

pytestmark = pytest.mark.usefixtures("needs_namespaces")

APP = """FROM {base}
COPY lib.txt /src/
RUN cat /src/lib.txt > /src/lib.out
COPY main.txt /src/
RUN cat /src/main.txt /src/lib.out > /src/all.out
CMD ["cat", "/src/all.out"]
"""


@pytest.fixture(scope="module")
def base(docker_registry: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox base in the registry, made with `dockyard image import`."""
    rootfs = make_busybox_rootfs(tmp_path_factory.mktemp("cache-base") / "rootfs")
    ref = f"{docker_registry}/cachetest/busybox:1"
    dockyard("image", "import", "--rootfs", str(rootfs), "-d", ref)
    return ref


@pytest.fixture
def app(tmp_path: Path, base: str) -> Path:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(APP.format(base=base))
    (context / "lib.txt").write_text("lib\n")
    (context / "main.txt").write_text("v1\n")
    (context / "README.md").write_text("not copied by any COPY\n")
    (context / ".dockerignore").write_text("*.log\n")
    (context / "debug.log").write_text("ignored\n")
    return context


def build(context: Path, destination: str, cache_dir: Path, cache_repo: str | None,
          *extra: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Runs `dockyard executor` with the cache on; returns (digest, build log)."""
    args = [f"--context={context}", f"--destination={destination}", "--cache=true",
            f"--cache-dir={cache_dir}", "--reproducible", *extra]
    if cache_repo:
        args.append(f"--cache-repo={cache_repo}")
    result = dockyard("executor", *args, env=env)
    return result.stdout.strip().splitlines()[-1], result.stderr


def outcomes(log: str) -> list[tuple[str, str]]:
    """(HIT|MISS, instruction) per cached step, in build order."""
    return [(m.group(1), m.group(3)) for m in
            re.finditer(r"^(?:\[[^\]]+\] )?  (?:\[\d+/\d+\] )?(HIT|MISS) ([0-9a-f]{12}) (.*?)"
                                    r"(?: \((?:cached|after a miss).*)?$",
                        log, re.M)]


def runs_executed(log: str) -> int:
    match = re.search(r"cache: \d+ hits, \d+ misses, (\d+) RUN executed", log)
    assert match, log
    return int(match.group(1))


def pulled_content(ref: str, tmp: Path, path: str) -> str:
    """Pull with skopeo, unpack with umoci, read `path` of the image's filesystem."""
    require_tool("skopeo")
    layout = tmp / f"pulled-{hashlib.sha256(ref.encode()).hexdigest()[:8]}"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}",
                    f"oci:{layout}:out"], check=True, capture_output=True)
    root = unpack(layout, "out", tmp / f"bundle-{layout.name}")
    return (root / path.lstrip("/")).read_text()


def test_rebuilds_hit_exactly_what_did_not_change(app: Path, docker_registry: str,
                                                  tmp_path: Path) -> None:
    repo = f"{docker_registry}/cachetest/app1/cache"
    dest = f"{docker_registry}/cachetest/app1:latest"
    first_digest, log = build(app, dest, tmp_path / "c1", repo)
    assert [o for o, _ in outcomes(log)] == ["MISS"] * 4
    assert runs_executed(log) == 2

    # unchanged: no RUN, same digest
    digest, log = build(app, dest, tmp_path / "c1", repo)
    assert [o for o, _ in outcomes(log)] == ["HIT"] * 4 and runs_executed(log) == 0
    assert digest == first_digest

    # an ignored file and a file no COPY copies: nothing re-runs
    (app / "debug.log").write_text("changed\n")
    (app / "README.md").write_text("changed\n")
    digest, log = build(app, dest, tmp_path / "c1", repo)
    assert runs_executed(log) == 0 and digest == first_digest

    # main.txt changes: only its COPY and what follows
    (app / "main.txt").write_text("v2\n")
    changed_digest, log = build(app, dest, tmp_path / "c1", repo)
    assert outcomes(log) == [
        ("HIT", "COPY lib.txt /src/"), ("HIT", "RUN cat /src/lib.txt > /src/lib.out"),
        ("MISS", "COPY main.txt /src/"),
        ("MISS", "RUN cat /src/main.txt /src/lib.out > /src/all.out"),
    ]
    assert runs_executed(log) == 1 and changed_digest != first_digest

    # a second machine: a fresh cache dir, the same cache repo -> every step hits, from the
    # registry, and nothing is pulled or unpacked but manifests and small configs
    fresh = tmp_path / "c2"
    dest2 = f"{docker_registry}/cachetest/app1-pod2:latest"
    digest, log = build(app, dest2, fresh, repo)
    assert [o for o, _ in outcomes(log)] == ["HIT"] * 4 and runs_executed(log) == 0
    assert "from " + repo in log
    assert digest == changed_digest
    assert not (fresh / "rootfs").exists()
    big = [p for p in (fresh / "blobs").rglob("*") if p.is_file() and p.stat().st_size > 16384]
    assert big == [], "a full hit must download no layer"
    assert pulled_content(dest2, tmp_path, "/src/all.out") == "v2\nlib\n"


def test_stage_used_by_copy_from_is_not_rebuilt(tmp_path: Path, base: str,
                                                docker_registry: str) -> None:
    context = tmp_path / "ms"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base} AS build\nWORKDIR /w\nCOPY main.txt ./\nRUN cat main.txt main.txt > out\n"
        f"FROM {base}\nCOPY --from=build /w/out /out\nCMD [\"cat\", \"/out\"]\n")
    (context / "main.txt").write_text("x\n")
    repo = f"{docker_registry}/cachetest/ms/cache"
    first, log = build(context, f"{docker_registry}/cachetest/ms:1", tmp_path / "c1", repo)
    assert runs_executed(log) == 1
    digest, log = build(context, f"{docker_registry}/cachetest/ms:2", tmp_path / "c2", repo)
    assert [o for o, _ in outcomes(log)] == ["HIT"] * 4 and runs_executed(log) == 0
    assert digest == first
    assert not (tmp_path / "c2" / "rootfs").exists()
    assert pulled_content(f"{docker_registry}/cachetest/ms:2", tmp_path, "/out") == "x\nx\n"


def test_copy_from_an_image_is_keyed_by_what_its_tag_resolves_to(
        tmp_path: Path, base: str, docker_registry: str) -> None:
    tools = f"{docker_registry}/cachetest/tools:1"
    rootfs = make_busybox_rootfs(tmp_path / "tools-v1")
    (rootfs / "tool.txt").write_text("tool v1\n")
    dockyard("image", "import", "--rootfs", str(rootfs), "-d", tools)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base}\nCOPY --from={tools} /tool.txt /tool.txt\nCMD [\"cat\", \"/tool.txt\"]\n")
    repo = f"{docker_registry}/cachetest/fromimage/cache"
    dest = f"{docker_registry}/cachetest/fromimage:1"
    build(context, dest, tmp_path / "c1", repo)
    _, log = build(context, dest, tmp_path / "c2", repo)
    assert outcomes(log) == [("HIT", f"COPY --from={tools} /tool.txt /tool.txt")]
    (rootfs / "tool.txt").write_text("tool v2\n")  # the tag moves to new content
    dockyard("image", "import", "--rootfs", str(rootfs), "-d", tools)
    _, log = build(context, dest, tmp_path / "c3", repo)
    assert [o for o, _ in outcomes(log)] == ["MISS"]
    assert pulled_content(dest, tmp_path, "/tool.txt") == "tool v2\n"


def test_add_url_is_cached_only_with_a_checksum(tmp_path: Path, base: str,
                                                docker_registry: str) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "data.txt").write_text("downloaded\n")
    digest = "sha256:" + hashlib.sha256(b"downloaded\n").hexdigest()
    port = free_port()
    server = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(served)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/data.txt", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/data.txt"
        context = tmp_path / "ctx"
        context.mkdir()
        repo = f"{docker_registry}/cachetest/addurl/cache"
        dest = f"{docker_registry}/cachetest/addurl:1"
        (context / "Dockerfile").write_text(f"FROM {base}\nADD --checksum={digest} {url} /d\n")
        build(context, dest, tmp_path / "c1", repo)
        _, log = build(context, dest, tmp_path / "c2", repo)
        assert [o for o, _ in outcomes(log)] == ["HIT"]
        assert pulled_content(dest, tmp_path, "/d") == "downloaded\n"
        (context / "Dockerfile").write_text(f"FROM {base}\nADD {url} /d\n")
        build(context, dest, tmp_path / "c3", repo)
        _, log = build(context, dest, tmp_path / "c3", repo)
        assert outcomes(log) == [] and runs_executed(log) == 0
        assert "HIT" not in log  # unknown until fetched: never looked up
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_unreachable_cache_repo_is_a_warning(app: Path, docker_registry: str,
                                             tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}/nothing/cache"
    dest = f"{docker_registry}/cachetest/dead:1"
    digest, log = build(app, dest, tmp_path / "c1", dead, "--insecure")
    assert "warning: remote cache off" in log and "unreachable" in log
    assert runs_executed(log) == 2
    assert log.count("warning: remote cache off") == 1
    assert pulled_content(dest, tmp_path, "/src/all.out") == "v1\nlib\n"


def put_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    url = httpx.URL(start.headers["location"]).copy_merge_params({"digest": digest})
    done = client.put(url, content=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    return digest


def test_garbage_in_the_cache_repo_is_a_miss(app: Path, docker_registry: str,
                                             tmp_path: Path) -> None:
    repo_path = "cachetest/garbage/cache"
    repo = f"{docker_registry}/{repo_path}"
    dest = f"{docker_registry}/cachetest/garbage:1"
    good, _ = build(app, dest, tmp_path / "c1", repo)
    with httpx.Client(base_url=f"http://{docker_registry}", timeout=30) as client:
        tags = client.get(f"/v2/{repo_path}/tags/list").json()["tags"]
        assert len(tags) == 4
        not_json = put_blob(client, repo_path, b"\x00 this is no config")
        config_bytes = json.dumps({
            "created": "2099-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}}).encode()
        config = put_blob(client, repo_path, config_bytes)
        doomed = put_blob(client, repo_path, b"a layer that will be deleted")
        for number, tag in enumerate(sorted(tags)):
            if number % 2:  # a config that is not JSON
                manifest = {"schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": not_json, "size": 20}, "layers": []}
            else:  # a layer blob the registry no longer has (deleted below)
                manifest = {"schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": config, "size": len(config_bytes)},
                            "layers": [{"mediaType":
                                        "application/vnd.oci.image.layer.v1.tar+gzip",
                                        "digest": doomed, "size": 28}]}
            answer = client.put(f"/v2/{repo_path}/manifests/{tag}", content=json.dumps(manifest),
                                headers={"Content-Type":
                                         "application/vnd.oci.image.manifest.v1+json"})
            assert answer.status_code == 201, answer.text
        assert client.delete(f"/v2/{repo_path}/blobs/{doomed}").status_code == 202
    digest, log = build(app, f"{docker_registry}/cachetest/garbage:2", tmp_path / "c2", repo)
    assert "treated as a miss" in log
    assert "HIT" not in log and runs_executed(log) == 2
    assert digest == good  # rebuilt from scratch, reproducibly
    assert pulled_content(f"{docker_registry}/cachetest/garbage:2", tmp_path,
                          "/src/all.out") == "v1\nlib\n"


def test_corrupt_layer_bytes_in_the_cache_registry_are_a_miss(
        app: Path, docker_registry: str, tmp_path: Path) -> None:
    """Manifests fine, layer bytes rotten in the cache registry's storage: found only when a
    later step needs the rootfs; the entries are forgotten and the build starts again."""
    cache_registry = start_registry(tmp_path / "cache-registry")
    try:
        repo_path = "cachetest/rotten/cache"
        repo = f"{cache_registry.host}/{repo_path}"
        good, _ = build(app, f"{docker_registry}/cachetest/rotten:1", tmp_path / "c1", repo)
        with httpx.Client(base_url=f"http://{cache_registry.host}", timeout=30) as client:
            accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
            for tag in client.get(f"/v2/{repo_path}/tags/list").json()["tags"]:
                manifest = client.get(f"/v2/{repo_path}/manifests/{tag}", headers=accept).json()
                for layer in manifest["layers"]:
                    blob = cache_registry.blob_file(layer["digest"])
                    blob.write_bytes(bytes(len(blob.read_bytes())))  # same size, all zeros
        (app / "main.txt").write_text("v2\n")  # COPY lib + RUN hit, then the rootfs is needed
        digest, log = build(app, f"{docker_registry}/cachetest/rotten:2", tmp_path / "c2",
                            repo)
        assert "is unusable" in log and "building again without that cache entry" in log
        assert pulled_content(f"{docker_registry}/cachetest/rotten:2", tmp_path,
                              "/src/all.out") == "v2\nlib\n"
        assert digest != good
    finally:
        cache_registry.stop()


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """docker-registry with htpasswd auth: our build has no credentials for it."""
    base = tmp_path_factory.mktemp("locked-registry")
    htpasswd = base / "htpasswd"
    htpasswd.write_text(f"someone:{bcrypt_hash('not-shared')}\n")
    reg = start_registry(base, f"auth:\n  htpasswd:\n    realm: cache\n    path: {htpasswd}\n")
    yield reg
    reg.stop()


def test_cache_repo_refusing_auth_is_a_warning(app: Path, docker_registry: str,
                                               locked_registry: Registry,
                                               tmp_path: Path) -> None:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"auths": {locked_registry.host: {
        "auth": "d3Jvbmc6Y3JlZGVudGlhbHM="}}}))  # wrong:credentials
    dest = f"{docker_registry}/cachetest/locked:1"
    digest, log = build(app, dest, tmp_path / "c1", f"{locked_registry.host}/x/cache",
                        env={"DOCKER_CONFIG": str(config_dir)})
    assert "warning: remote cache off" in log and "credentials" in log
    assert runs_executed(log) == 2
    assert pulled_content(dest, tmp_path, "/src/all.out") == "v1\nlib\n"


@pytest.mark.slow
def test_cache_ttl_is_checked_against_the_entry_created_time(app: Path, docker_registry: str,
                                                             tmp_path: Path) -> None:
    repo = f"{docker_registry}/cachetest/ttl/cache"
    dest = f"{docker_registry}/cachetest/ttl:1"
    build(app, dest, tmp_path / "c1", repo)
    time.sleep(1.2)
    _, log = build(app, dest, tmp_path / "c2", repo, "--cache-ttl=1s")
    assert [o for o, _ in outcomes(log)] == ["MISS"] * 4
    _, log = build(app, dest, tmp_path / "c3", repo, "--cache-ttl=1h")
    assert [o for o, _ in outcomes(log)] == ["HIT"] * 4


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_base_layer_that_cannot_be_fetched_fails_clearly(tmp_path: Path, damage: str) -> None:
    """The base layer streams into the unpacker while it downloads: a blob the registry lost
    or serves corrupt fails the build with the reason, and leaves no unpacked base behind."""
    registry = start_registry(tmp_path / "base-registry")
    try:
        ref = f"{registry.host}/broken/busybox:1"
        dockyard("image", "import", "--rootfs", str(make_busybox_rootfs(tmp_path / "rootfs")),
                 "-d", ref)
        with httpx.Client(base_url=f"http://{registry.host}", timeout=30) as client:
            manifest = client.get("/v2/broken/busybox/manifests/1", headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
        blob = registry.blob_file(manifest["layers"][0]["digest"])
        if damage == "missing":
            blob.unlink()
        else:
            blob.write_bytes(blob.read_bytes()[:-100] + bytes(100))
        result = try_build_from(tmp_path, ref)
        assert result.returncode == 1
        assert "cannot fetch layer" in result.stderr, result.stderr
        if damage == "corrupt":
            assert "blob has digest" in result.stderr, result.stderr
        assert not list((tmp_path / "cache" / "rootfs").glob("[0-9a-f]*"))
    finally:
        registry.stop()
