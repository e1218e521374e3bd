"""Dockyard's parser and `buildah bud` reject the same broken Dockerfiles (those buildah
1.28 checks before running anything). Where buildah is laxer than BuildKit (blank ARG
names, unknown flags on ENV, duplicate or invalid stage names, HEALTHCHECK below 1ms,
instructions before FROM) Dockyard follows BuildKit and is not compared here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.builder.dockerfile import DockerfileError, parse

BROKEN = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles" / "broken"
BOTH_REJECT = [
    "bad_escape", "copy_one_arg", "copy_url", "duplicate_directive", "empty_file",
    "env_missing_equals", "env_one_word", "expose_empty", "from_two_args",
    "healthcheck_duration", "healthcheck_no_cmd", "healthcheck_none_args", "healthcheck_type",
    "json_not_strings", "no_from", "onbuild_from", "onbuild_maintainer", "onbuild_onbuild",
    "shell_bad_json", "shell_not_json", "stopsignal_bad", "workdir_no_arg", "unknown_flag",
    "missing_flag_value",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", BOTH_REJECT)
def test_buildah_and_dockyard_both_reject(name: str, tmp_path: Path) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (make install adds it on Debian)")
    text = (BROKEN / f"{name}.Dockerfile").read_text().replace("FROM busybox", "FROM scratch")
    with pytest.raises(DockerfileError):
        parse(text)
    (tmp_path / "Dockerfile").write_text(text)
    result = subprocess.run(["buildah", "bud", "--layers=false", "--quiet", "--pull-never",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0, f"buildah accepted {name}"
    assert "Error" in result.stderr or "error" in result.stderr


@pytest.mark.slow
def test_buildah_and_dockyard_both_accept_tricky_syntax(tmp_path: Path) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (make install adds it on Debian)")
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM scratch AS base\n"
        "ENV A=1 B=\"two words\" \\\n"
        "    # comment inside a continuation\n"
        "    C='$A'\n"
        "LABEL \"quoted key\"=\"v\" k=v \\\n"
        "      other=x\n"
        "ENV legacy value with spaces\n"
        "EXPOSE 80/tcp 53/udp\n"
        "VOLUME [\"/data\"]\n"
        "USER 1000:1000\n"
        "WORKDIR /a/${A}\n"
        "STOPSIGNAL SIGTERM\n"
        "HEALTHCHECK --interval=1m30s --timeout=3s --retries=2 CMD [\"/bin/check\"]\n"
        "ONBUILD RUN echo hi\n"
        "CMD [\"/x\"]\n"
        "FROM base\n"
        "ENTRYPOINT [\"/y\"]\n"
    )
    parse(text)
    (tmp_path / "Dockerfile").write_text(text)
    iidfile = tmp_path / "iid"
    result = subprocess.run(["buildah", "bud", "--layers=false", "--quiet", "--pull-never",
                             "--iidfile", str(iidfile), str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    subprocess.run(["buildah", "rmi", iidfile.read_text().strip()], capture_output=True)
