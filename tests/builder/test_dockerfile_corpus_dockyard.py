"""Dockyard's executor builds every corpus case (tests/fixtures/dockerfiles/corpus) from a
busybox base it made itself, and each image meets the case's expectations: config subset
and files, for every target. Together with test_dockerfile_corpus.py (buildah meets the
same expectations) this compares Dockyard with buildah on the `compare/` cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.builder.images import busybox_context, image_config, unpack
from tests.builder.test_dockerfile_corpus import CASES, case_id, check_files, targets
from tests.builder.test_dockerfile_parse import assert_subset
from tests.conftest import require_tool

# Cases the engine does not handle yet (remove the entry when it does).
KNOWN_GAPS: dict[str, str] = {}  # case id -> why Dockyard does not meet it yet (none today)
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]


def executor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard", "executor", "--no-push", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus base (see corpus/make-base.sh) built by Dockyard into an OCI layout."""
    require_tool("umoci")
    tmp = tmp_path_factory.mktemp("corpus-base")
    context = busybox_context(tmp / "context")
    (context / "rootfs" / "etc" / "group").write_text(GROUP)
    os.chmod(context / "rootfs" / "root", 0o700)
    layout = tmp / "layout"
    result = executor(f"--context={context}", f"--oci-layout-path={layout}",
                      "--destination=local/base:base", f"--cache-dir={tmp / 'cache'}")
    assert result.returncode == 0, result.stderr
    return layout


def build(case: Path, context: Path, out: Path, work: Path, args: list[str]) -> None:
    result = executor(f"--context={context}", f"--dockerfile={case / 'Dockerfile'}",
                      f"--oci-layout-path={out}", "--destination=local/test:out",
                      f"--cache-dir={work / 'cache'}", *args)
    assert result.returncode == 0, f"{case_id(case)}: {result.stderr[-2000:]}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_dockyard_meets_case_expectations(case: Path, base_layout: Path,
                                          tmp_path: Path) -> None:
    if case_id(case) in KNOWN_GAPS:
        pytest.xfail(KNOWN_GAPS[case_id(case)])
    spec = json.loads((case / "case.json").read_text())
    context = case / "context"
    if not context.is_dir():
        context = tmp_path / "empty-context"
        context.mkdir()
    args = [f"--build-arg=BASE=oci-layout://{base_layout}:base"]
    args += [f"--build-arg={k}={v}" for k, v in spec.get("build_args", {}).items()]
    for name, value in spec.get("secrets", {}).items():
        secret = tmp_path / f"secret-{name}"
        secret.write_text(value)
        args.append(f"--secret=id={name},src={secret}")
    if "parent" in spec:
        parent = spec["parent"]
        parent_layout = tmp_path / "parent"
        result = executor(f"--context={context}",
                          f"--dockerfile={case / parent['dockerfile']}",
                          f"--oci-layout-path={parent_layout}", "--destination=local/p:parent",
                          f"--cache-dir={tmp_path / 'cache'}", args[0])
        assert result.returncode == 0, result.stderr
        parent_config: dict[str, Any] = image_config(parent_layout, "parent")
        assert_subset(parent.get("config", {}), parent_config["config"])
        args.append(f"--build-arg={parent['build_arg']}=oci-layout://{parent_layout}:parent")
    for target, expect in targets(case):
        out = tmp_path / f"out-{target or 'default'}"
        build(case, context, out, tmp_path, args + ([f"--target={target}"] if target else []))
        config: dict[str, Any] = image_config(out, "out")
        wanted = dict(expect.get("config", {}))
        if "Env" in wanted:
            assert sorted(config["config"]["Env"]) == sorted(wanted.pop("Env"))
        assert_subset(wanted, config["config"])
        if "author" in expect:
            assert config.get("author") == expect["author"]
        root = unpack(out, "out", tmp_path / f"bundle-{target or 'default'}")
        check_files(root, expect)
        for secret_value in expect.get("not_in_any_layer", []):
            found = subprocess.run(["grep", "-r", "-l", "-F", secret_value, str(root)],
                                   capture_output=True, text=True)
            assert found.stdout == "", f"secret leaked into {found.stdout}"
            history = json.dumps(config.get("history", []))
            assert secret_value.strip() not in history
