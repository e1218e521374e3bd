"""dockyard.sandbox on its own: the isolated host view CI steps get, limits, what it refuses."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dockyard.ci.executor import AgentSpec, ExecutorError, LocalExecutor
from dockyard.ci.podtemplate import parse_pod_template
from dockyard.sandbox import (
    HostView,
    Limits,
    RunFailed,
    RunRequest,
    SandboxMount,
    parse_cpu,
    parse_memory,
    run_in_sandbox,
    support,
)


@pytest.fixture(scope="module")
def isolated() -> None:
    found = support()
    if not found.isolated:
        pytest.skip(found.problem)


def run(script: str, tmp: Path, **kw: object) -> str:
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    out = bytearray()
    request = RunRequest(
        argv=["/bin/sh", "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(work),
        host_view=HostView(hide=(str(tmp / "secret"),)),
        isolate=True,
        mounts=[SandboxMount("bind", str(work), work, readonly=False, idmap=True)],
        **kw,  # type: ignore[arg-type]
    )
    try:
        run_in_sandbox(request, output=out.extend)
    except RunFailed as e:
        return out.decode() + f"\nFAILED {e.exit_code} {e.reason}"
    return out.decode()


def test_quantities() -> None:
    assert parse_memory("256Mi") == 256 * 1024**2
    assert parse_memory("1G") == 10**9
    assert parse_memory(512) == 512
    assert parse_cpu("500m") == 0.5 and parse_cpu("2") == 2.0
    for bad in ("lots", "12Qi", ""):
        with pytest.raises(ValueError, match="not a quantity"):
            parse_memory(bad)
    with pytest.raises(ValueError, match="more than 0"):
        parse_cpu("0")


def test_request_travels_as_json() -> None:
    request = RunRequest(argv=["true"], rootfs=Path("/r"), upper=Path("/u"), host_view=HostView(hide=("/x",)),
                         mounts=[SandboxMount("bind", "/w", Path("/w"), False, idmap=True)],
                         limits=Limits(memory=1, cpu=0.5, pids=9), isolate=True)
    assert RunRequest.from_json(request.to_json()) == request


def test_isolated_step_sees_a_read_only_host_without_its_secrets(isolated: None, tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("k")
    text = run(
        "id -u; echo ws > ws-file; ls /root /home 2>&1; cat " + str(tmp_path / "secret/key") + " 2>&1;"
        " touch /etc/x 2>&1; echo pids=$(ls /proc | grep -c '^[0-9]'); env | sed 's/^/env:/'",
        tmp_path,
    )
    lines = text.splitlines()
    assert lines[0] == "0"
    assert "No such file or directory" in text and "/root" in text and "/home" in text
    assert "Read-only file system" in text
    assert int(next(x for x in lines if x.startswith("pids="))[5:]) < 8  # own PID namespace
    names = {x[4:].split("=")[0] for x in lines if x.startswith("env:")}
    assert names <= {"PATH", "PWD", "SHLVL", "OLDPWD", "_"}  # the given environment, the shell's own
    assert (tmp_path / "work" / "ws-file").stat().st_uid == os.geteuid()  # id-mapped workspace


def test_network_none_is_an_empty_namespace(isolated: None, tmp_path: Path) -> None:
    text = run("cat /proc/net/dev", tmp_path, network="none")
    assert {line.split(":")[0].strip() for line in text.splitlines()[2:]} == {"lo"}


def test_memory_limit_kills_with_a_reason(isolated: None, tmp_path: Path) -> None:
    text = run("python3 -c 'x = bytearray(1 << 30)'; sleep 30", tmp_path,
               limits=Limits(memory=parse_memory("64Mi")))
    if "resource limits not applied" in text:
        pytest.skip(text)
    assert "killed: memory limit 64Mi exceeded" in text


def test_fork_bomb_is_ended_by_the_pids_limit(isolated: None, tmp_path: Path) -> None:
    text = run("bomb() { bomb | bomb & }; bomb; sleep 30", tmp_path, limits=Limits(pids=64))
    if "resource limits not applied" in text:
        pytest.skip(text)
    assert "killed: process limit 64 reached" in text
    assert text.rstrip().endswith("process limit 64 reached (a fork bomb?)")


def test_pod_template_limits_and_network_are_checked() -> None:
    template = """
kind: Pod
metadata:
  annotations: {dockyard.io/network.tools: none}
spec:
  containers:
  - {name: tools, image: busybox, resources: {limits: {memory: 256Mi, cpu: 500m, dockyard.io/pids: "64"}}}
  - {name: other, image: busybox}
"""
    containers, _ = parse_pod_template(template, None)
    assert containers["tools"].network == "none" and containers["other"].network == "default"
    assert containers["tools"].limits["memory"] == "256Mi"
    with pytest.raises(ExecutorError, match="container tools: memory limit 'lots' is not a quantity"):
        parse_pod_template(template.replace("256Mi", "lots"), None)
    with pytest.raises(ExecutorError, match="network"):
        parse_pod_template(template.replace("network.tools: none", "network: bridge"), None)


def test_steps_are_refused_where_no_isolated_sandbox_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dockyard.sandbox

    class Log:
        def line(self, text: str) -> None:
            raise AssertionError(f"nothing is logged before the refusal: {text}")

    missing = dockyard.sandbox.Support(False, "user namespaces are disabled (test)", None)
    monkeypatch.setattr(dockyard.sandbox, "support", lambda *_: missing)
    spec = AgentSpec(tmp_path / "ws", tmp_path)
    with pytest.raises(ExecutorError, match="steps cannot run: user namespaces are disabled"):
        asyncio.run(LocalExecutor().setup(spec, Log()))
