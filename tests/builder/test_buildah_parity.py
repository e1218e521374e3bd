"""Every Dockerfile of tests/fixtures/build-corpus builds with Dockyard and with
`buildah bud` from the same busybox base; image config and file tree must be equal
(timestamps and buildah's own `io.buildah.version` label aside)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builder.images import Buildah, dockyard_build, image_config, make_base_layout, tree, unpack
from tests.conftest import FIXTURES, require_tool

CORPUS = FIXTURES / "build-corpus"
CASES = sorted(p.name for p in CORPUS.iterdir()
               if (p / "Dockerfile").exists() and not (p / "buildah-skip").exists())
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "User", "WorkingDir", "ExposedPorts", "Labels",
               "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell")
BUILDAH_ONLY_LABELS = {"io.buildah.version"}
# Mount points buildah's RUN leaves behind as empty files/dirs; Dockyard removes its own.
BUILDAH_RUN_LEFTOVERS = {"dev", "proc", "sys", "run", "etc/hostname", "etc/hosts",
                         "etc/resolv.conf"}

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]


@pytest.fixture(scope="module")
def parity_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    for tool in ("buildah", "umoci", "busybox"):
        require_tool(tool)
    tmp = tmp_path_factory.mktemp("parity")
    cache = tmp / "cache"
    return {"tmp": tmp, "cache": cache, "base": make_base_layout(tmp, cache)}


def normalised_config(config: dict[str, object]) -> dict[str, object]:
    inner = dict(config.get("config") or {})  # type: ignore[call-overload]
    out = {key: inner.get(key) or None for key in CONFIG_KEYS}
    labels = {k: v for k, v in (out["Labels"] or {}).items() if k not in BUILDAH_ONLY_LABELS}
    out["Labels"] = labels or None
    return out


@pytest.mark.parametrize("case", CASES)
def test_same_image_as_buildah(case: str, parity_env: dict[str, Path]) -> None:
    tmp = parity_env["tmp"] / case
    tmp.mkdir()
    context = CORPUS / case
    ours, theirs = tmp / "dockyard", tmp / "buildah"
    dockyard_build(context, parity_env["base"], ours, parity_env["cache"])
    buildah = Buildah(tmp / "buildah-store")
    try:
        buildah.build(context, parity_env["base"], theirs)
    finally:
        buildah.cleanup()
    their_config = buildah.config
    assert normalised_config(image_config(ours, "out")) == normalised_config(their_config)
    our_tree = tree(unpack(ours, "out", tmp / "b1"))
    their_tree = tree(unpack(theirs, "out", tmp / "b2"))
    differing = {p: (our_tree.get(p), their_tree.get(p))
                 for p in sorted(set(our_tree) | set(their_tree))
                 if our_tree.get(p) != their_tree.get(p)
                 and not (p in BUILDAH_RUN_LEFTOVERS and p not in our_tree)}
    assert differing == {}
