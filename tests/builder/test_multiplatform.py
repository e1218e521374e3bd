"""Multi-platform builds against a real `dockyard up`: `dockyard build --platform
linux/amd64,linux/arm64` (and the executor's --custom-platform) pushes ONE OCI index whose
children carry their platform; skopeo shows it, umoci + runc run the arm64 child under qemu
(binfmt_misc) and the amd64 child natively, the Harbor API lists the index as one artifact
with its children as `references`. Bases: a multi-platform base resolves per platform, a
single-platform base of another platform is refused by name; one platform stays a plain
image manifest. Offline: the arm64 base is Debian's busybox-static:arm64 (tests/builder/
multiarch.py), imported with `dockyard image import --platform linux/arm64`."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.builder.images import dockyard
from tests.builder.multiarch import ensure_qemu_binfmt, push_bases
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
APP_DOCKERFILE = """\
FROM {base}
ARG TARGETPLATFORM
ARG BUILDPLATFORM
RUN echo "built for $TARGETPLATFORM on $BUILDPLATFORM: $(uname -m)" > /built.txt
CMD ["cat", "/built.txt"]
"""


@pytest.fixture(scope="module")
def qemu() -> None:
    reason = ensure_qemu_binfmt("aarch64")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, server: DockyardServer) -> dict[str, str]:
    """A docker config.json with the admin's login (what the tutorial's harbor-auth mounts)."""
    root = tmp_path_factory.mktemp("multiarch-env")
    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    (root / "config.json").write_text(json.dumps({"auths": {server.host_port: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(root), "DOCKYARD_CACHE_DIR": str(root / "cache")}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, server: DockyardServer,
          env: dict[str, str], qemu: None) -> dict[str, str]:
    """amd64 and arm64 single-platform busybox bases, and `multi`: an index of both, made by
    a two-platform build of a FROM-only (no RUN) Dockerfile."""
    for tool in ("skopeo", "umoci", "runc"):
        require_tool(tool)
    return push_bases(server.host_port, "multiarch/base", env,
                      tmp_path_factory.mktemp("multiarch-bases"))


def skopeo_raw(server: DockyardServer, ref: str) -> dict[str, object]:
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
         f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"docker://{ref}"],
        capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def run_child(server: DockyardServer, ref: str, arch: str, tmp_path: Path) -> str:
    """The image's `arch` child pulled by skopeo, unpacked by umoci, run by runc."""
    layout = tmp_path / f"pulled-{arch}"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--src-creds",
                    f"{ADMIN_USER}:{ADMIN_PASSWORD}", "--override-arch", arch,
                    f"docker://{ref}", f"oci:{layout}:x"], capture_output=True, check=True)
    bundle = tmp_path / f"bundle-{arch}"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:x", str(bundle)],
                   capture_output=True, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    run = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "run",
                          f"dockyard-mp-{arch}-{os.getpid()}"], cwd=bundle,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_two_platforms_make_one_index_that_runs_on_both(
    server: DockyardServer, bases: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    hp = server.host_port
    (tmp_path / "Dockerfile").write_text(APP_DOCKERFILE.format(base=bases["multi"]))
    ref = f"{hp}/multiarch/app:1"
    built = dockyard("build", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push",
                     "--insecure", "--insecure-pull", str(tmp_path), env=env)
    assert "runs under" in built.stderr and "binfmt_misc" in built.stderr, built.stderr

    index = skopeo_raw(server, ref)
    assert index["mediaType"] == INDEX
    children = index["manifests"]
    assert isinstance(children, list)
    assert [(c["platform"]["os"], c["platform"]["architecture"]) for c in children] == [
        ("linux", "amd64"), ("linux", "arm64")]
    assert all(c["mediaType"] == MANIFEST for c in children)
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
                          f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"docker://{ref}"],
                         capture_output=True, check=True).stdout
    assert built.stdout.strip() == "sha256:" + hashlib.sha256(raw).hexdigest()  # the index's

    assert run_child(server, ref, "arm64", tmp_path) == \
        "built for linux/arm64 on linux/amd64: aarch64"
    assert run_child(server, ref, "amd64", tmp_path) == \
        "built for linux/amd64 on linux/amd64: x86_64"

    # Harbor: one artifact (the index), its children as references, as Harbor shows them
    http = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    repos = http.get("/api/v2.0/projects/multiarch/repositories").json()
    assert {r["name"]: r["artifact_count"] for r in repos}["multiarch/app"] == 1
    artifacts = http.get("/api/v2.0/projects/multiarch/repositories/app/artifacts").json()
    assert len(artifacts) == 1
    artifact = artifacts[0]
    assert artifact["manifest_media_type"] == INDEX
    assert [t["name"] for t in artifact["tags"]] == ["1"]
    references = artifact["references"]
    assert sorted(r["child_digest"] for r in references) == sorted(c["digest"] for c in children)
    platforms = {r["child_digest"]: r.get("platform", {}).get("architecture")
                 for r in references}
    assert platforms == {c["digest"]: c["platform"]["architecture"] for c in children}


def test_one_platform_stays_a_plain_manifest(
    server: DockyardServer, bases: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(APP_DOCKERFILE.format(base=bases["multi"]))
    ref = f"{server.host_port}/multiarch/app:arm64-only"
    dockyard("executor", f"--context={tmp_path}", f"--destination={ref}", "--insecure",
             "--insecure-pull", "--custom-platform=linux/arm64", env=env)
    manifest = skopeo_raw(server, ref)
    assert manifest["mediaType"] == MANIFEST
    assert run_child(server, ref, "arm64", tmp_path) == \
        "built for linux/arm64 on linux/amd64: aarch64"


def test_a_single_platform_base_of_another_platform_is_refused_by_name(
    server: DockyardServer, bases: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(APP_DOCKERFILE.format(base=bases["amd64"]))
    result = dockyard("executor", f"--context={tmp_path}", "--no-push", "--insecure-pull",
                      "--custom-platform=linux/amd64,linux/arm64", env=env, check=False)
    assert result.returncode == 1
    assert (f"FROM {bases['amd64']}: the base image is a single-platform linux/amd64 image, "
            "but the build is for linux/arm64") in result.stderr, result.stderr


def test_without_emulation_copy_only_builds_and_run_names_the_fix(tmp_path: Path) -> None:
    """For a platform this machine has no emulator for (s390x: qemu-user-static registers
    none unless asked), a COPY-only build needs none; a RUN fails before it starts, naming
    the platform, the missing piece and the fix."""
    from dockyard.builder import BuildError, BuildOptions, build_platforms

    if Path("/proc/sys/fs/binfmt_misc/qemu-s390x").exists():
        pytest.skip("this machine runs s390x programs through binfmt_misc")
    (tmp_path / "hello.txt").write_text("hello\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    options = BuildOptions(context=tmp_path, dockerfile=dockerfile,
                           platform="linux/amd64,linux/s390x", cache_dir=tmp_path / "cache")
    results = build_platforms(options)
    assert [str(r.image.config.platform) for r in results] == ["linux/amd64", "linux/s390x"]
    assert all(r.layers_written == 1 for r in results)

    dockerfile.write_text("FROM scratch\nCOPY hello.txt /hello.txt\nRUN true\n")
    with pytest.raises(BuildError) as caught:  # s390x first: the check comes before the RUN
        build_platforms(dataclasses.replace(options, platform="linux/s390x,linux/amd64"))
    message = str(caught.value)
    assert "RUN for platform linux/s390x" in message, message
    assert "apt install qemu-user-static" in message and "s390x" in message, message


def test_a_build_platform_stage_runs_natively_for_every_target(
    server: DockyardServer, bases: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    """BuildKit's cross-compiling pattern: `FROM --platform=$BUILDPLATFORM` runs its RUN on
    this machine's own base (no qemu) once per target, and the target stage copies the
    result; each child of the index carries its own file."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM --platform=$BUILDPLATFORM {bases['multi']} AS build\n"
        "ARG TARGETARCH\n"
        'RUN echo "made on $(uname -m) for $TARGETARCH" > /out.txt\n'
        f"FROM {bases['multi']}\n"
        "COPY --from=build /out.txt /out.txt\n"
        'CMD ["cat", "/out.txt"]\n')
    ref = f"{server.host_port}/multiarch/cross:1"
    dockyard("executor", f"--context={tmp_path}", f"--destination={ref}", "--insecure",
             "--insecure-pull", "--custom-platform=linux/amd64,linux/arm64", env=env)
    assert skopeo_raw(server, ref)["mediaType"] == INDEX
    assert run_child(server, ref, "arm64", tmp_path) == "made on x86_64 for arm64"
    assert run_child(server, ref, "amd64", tmp_path) == "made on x86_64 for amd64"
