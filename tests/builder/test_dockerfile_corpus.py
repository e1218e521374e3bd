"""The buildable corpus (tests/fixtures/dockerfiles/corpus): Dockyard's parser accepts every
case and computes the stages each target needs; for the `compare/` cases, `buildah bud`
(the real peer) builds them and its image must meet each case's expectations, which keeps
the expectations honest for the engine's own Dockyard-vs-buildah comparison."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.builder.dockerfile import parse, stages_needed
from tests.builder.test_dockerfile_parse import assert_subset

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles" / "corpus"
CASES = sorted(p.parent for p in CORPUS.glob("*/*/case.json"))
COMPARE = [c for c in CASES if json.loads((c / "case.json").read_text()).get("buildah")]
BASE_IMAGE = "localhost/dockyard-corpus/busybox:latest"


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def targets(case: Path) -> list[tuple[str | None, dict[str, Any]]]:
    spec = json.loads((case / "case.json").read_text())
    out: list[tuple[str | None, dict[str, Any]]] = [(None, spec["expect"])]
    out.extend(spec.get("targets", {}).items())
    return out


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_corpus_case_parses(case: Path) -> None:
    dockerfile = parse((case / "Dockerfile").read_text(), "Dockerfile")
    for target, expect in targets(case):
        if "stages_needed" in expect:
            assert stages_needed(dockerfile, target) == expect["stages_needed"], target


@pytest.fixture(scope="module")
def base_image() -> str:
    for tool in ("buildah", "podman"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make install adds it on Debian)")
    if os.geteuid() != 0:
        pytest.skip("the buildah comparison runs as root (podman image mount)")
    subprocess.run([str(CORPUS / "make-base.sh"), BASE_IMAGE], check=True,
                   capture_output=True)
    return BASE_IMAGE


def buildah(*args: str) -> str:
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"buildah {' '.join(args)}:\n{result.stderr}"
    return result.stdout.strip()


@pytest.fixture
def mounted() -> Iterator[Any]:
    """Mount images read-only with `podman image mount` (`buildah from` would run ONBUILD
    triggers); unmount and remove them afterwards."""
    images: list[str] = []

    def mount(image: str) -> Path:
        images.append(image)
        result = subprocess.run(["podman", "image", "mount", image], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return Path(result.stdout.strip())

    yield mount
    for image in reversed(images):
        subprocess.run(["podman", "image", "unmount", image], capture_output=True)
        subprocess.run(["buildah", "rmi", "-f", image], capture_output=True)


def check_files(root: Path, expect: dict[str, Any]) -> None:
    for path, want in expect.get("files", {}).items():
        target = root / path.lstrip("/")
        assert target.exists() or target.is_symlink(), f"{path} is missing"
        info = target.lstat()
        if "content" in want:
            assert target.read_text() == want["content"], path
        if "mode" in want:
            assert f"{info.st_mode & 0o7777:04o}" == want["mode"], path
        if "uid" in want:
            assert info.st_uid == want["uid"], path
        if "gid" in want:
            assert info.st_gid == want["gid"], path
    for path in expect.get("dirs", []):
        assert (root / path.lstrip("/")).is_dir(), path
    for path in expect.get("absent", []):
        assert not (root / path.lstrip("/")).exists(), f"{path} should not be in the image"


@pytest.mark.slow
@pytest.mark.parametrize("case", COMPARE, ids=[case_id(c) for c in COMPARE])
def test_buildah_meets_case_expectations(case: Path, base_image: str, mounted: Any,
                                         tmp_path: Path) -> None:
    spec = json.loads((case / "case.json").read_text())
    context = case / "context"
    if not context.is_dir():
        context = tmp_path / "empty-context"
        context.mkdir()
    parent_args: list[str] = []
    if "parent" in spec:
        parent = spec["parent"]
        buildah("bud", "--layers=false", "--quiet", "--format", "docker", "--build-arg",
                f"BASE={base_image}", "-f", str(case / parent["dockerfile"]), "-t", parent["tag"],
                str(context))
        mounted(parent["tag"])  # removed with the test's images
        parent_config = json.loads(buildah("inspect", "--type", "image", parent["tag"]))
        assert_subset(parent.get("config", {}), parent_config["Docker"]["config"])
        parent_args = ["--build-arg", f"{parent['build_arg']}={parent['tag']}"]
    for target, expect in targets(case):
        tag = f"localhost/dockyard-corpus-test/{case.name}-{uuid.uuid4().hex[:8]}"
        args = ["bud", "--layers=false", "--quiet", "--format", "docker",
                "--build-arg", f"BASE={base_image}", "-f", str(case / "Dockerfile"), "-t", tag,
                *parent_args]
        for name, value in spec.get("build_args", {}).items():
            args += ["--build-arg", f"{name}={value}"]
        for name, value in spec.get("secrets", {}).items():
            secret = tmp_path / f"secret-{name}"
            secret.write_text(value)
            args += ["--secret", f"id={name},src={secret}"]
        if target:
            args += ["--target", target]
        buildah(*args, str(context))
        root = mounted(tag)
        inspected = json.loads(buildah("inspect", "--type", "image", tag))
        docker = inspected["Docker"]
        config_expect = dict(expect.get("config", {}))
        if "Env" in config_expect:  # buildah moves a redefined variable to the end
            assert sorted(docker["config"]["Env"]) == sorted(config_expect.pop("Env"))
        assert_subset(config_expect, docker["config"])
        if "author" in expect:
            assert docker.get("author") == expect["author"]
        check_files(root, expect)
        for secret_value in expect.get("not_in_any_layer", []):
            found = subprocess.run(["grep", "-r", "-l", "-F", secret_value, str(root)],
                                   capture_output=True, text=True)
            assert found.stdout == "", f"secret leaked into {found.stdout}"
