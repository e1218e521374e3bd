"""`dockyard executor` takes Kaniko's flags with Kaniko's meaning; anything else is an error."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli import executor_cmd


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dockyard executor")
    executor_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_tutorial_flags_in_both_spellings(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    args = parse("--dockerfile=Dockerfile", f"--context={tmp_path}",
                 "--destination=reg:5000/a/b:1", "--destination", "reg:5000/a/b:latest",
                 "--insecure", "--skip-tls-verify", "--build-arg", "A=1", "--build-arg=B",
                 "--cache=true", "--cache-ttl=168h", "--label", "k=v", "--no-push=false")
    options = executor_cmd.options_from(args)
    assert options.destinations == ["reg:5000/a/b:1", "reg:5000/a/b:latest"]
    assert options.insecure and options.skip_tls_verify and not options.insecure_pull
    assert options.dockerfile == (tmp_path / "Dockerfile").resolve()
    assert options.build_args["A"] == "1" and "B" in options.build_args
    assert options.cache and options.cache_ttl_seconds == 168 * 3600
    assert options.labels == {"k": "v"} and options.no_push is False


def test_context_dir_scheme_and_dockerfile_relative_to_context(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Build.df").write_text("FROM scratch\n")
    monkeypatch.chdir("/")
    options = executor_cmd.options_from(parse(f"--context=dir://{tmp_path}", "-f",
                                              "sub/Build.df", "--no-push"))
    assert options.context == tmp_path.resolve()
    assert options.dockerfile == (tmp_path / "sub" / "Build.df").resolve()


@pytest.mark.parametrize("flag", ["--git=branch=main", "--context-sub-path=sub",
                                  "--single-snapshot"])
def test_unsupported_kaniko_flag_says_so(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(flag)
    err = capsys.readouterr().err
    assert "Kaniko flag that Dockyard does not support" in err


def test_unknown_flag_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--destinaton=x")  # typo: no abbreviations, no guessing
    assert "unrecognized arguments: --destinaton=x" in capsys.readouterr().err


def test_remote_context_is_refused_with_the_fix() -> None:
    with pytest.raises(SystemExit) as info:
        executor_cmd.options_from(parse("--context=s3://bucket/ctx.tar.gz", "--no-push"))
    assert "local directory" in str(info.value)


def test_bad_bool_and_duration() -> None:
    with pytest.raises(SystemExit):
        parse("--cache=maybe")
    with pytest.raises(SystemExit):
        parse("--cache-ttl=7days")


def test_secret_flag(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("t")
    assert executor_cmd.parse_secrets([f"id=tok,src={secret}"]) == {"tok": secret}
    with pytest.raises(SystemExit):
        executor_cmd.parse_secrets(["id=tok,src=/does/not/exist"])


def test_help_starts_without_the_engine() -> None:
    code = ("import sys; from dockyard.cli import main\n"
            "try:\n    main(['executor', '--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('httpx', 'dockyard.builder.engine', 'dockyard.oci.remote')"
            " if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_registry_map_and_certificates(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    options = executor_cmd.options_from(parse(
        f"--context={tmp_path}", "--no-push", "--registry-map=index.docker.io=m1;quay.io=m2",
        "--registry-map", "index.docker.io=m3", f"--registry-certificate=reg:5000={ca}",
        "--skip-default-registry-fallback"))
    assert options.registry_map == {"index.docker.io": ["m1", "m3"], "quay.io": ["m2"]}
    assert options.registry_certificates == {"reg:5000": ca}
    assert options.skip_default_registry_fallback
    with pytest.raises(SystemExit):
        executor_cmd.options_from(parse(f"--context={tmp_path}", "--registry-map=nomirror"))
