"""The sandbox server (dockyard.sandbox.forkserver): every CI step's supervisor is a fork of one
warm process. A forked step behaves as a cold one (output, status, stop) and carries nothing of
the server or of the sandbox server into the sandbox; a dead sandbox server costs no step."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.ci.executor import AgentSpec, LocalExecutor, StepSpec
from dockyard.ci.executor.local import _ForkedProcess
from dockyard.ci.executor.warm import WarmExecutor


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture
def warm() -> Iterator[WarmExecutor]:
    from dockyard.sandbox import support

    found = support()
    if not found.isolated:
        pytest.skip(found.problem)
    warm = WarmExecutor(enabled=False)  # no pre-warmed builder: only the sandbox server
    yield warm
    warm.close()


async def _run(executor: LocalExecutor, script: str, cwd: Path) -> tuple[int, str, object]:
    handle = await executor.start_step(StepSpec(script, {}, cwd))
    out = bytearray()
    async for chunk in executor.tail(handle):
        out += chunk
    process = executor._procs[handle.id].process
    return await executor.wait(handle), out.decode(), process


def _executor(warm: WarmExecutor, tmp_path: Path) -> tuple[LocalExecutor, Path]:
    executor = LocalExecutor(warm)
    spec = AgentSpec(tmp_path / "ws", tmp_path / "build")
    asyncio.run(executor.setup(spec, Log()))
    return executor, spec.workspace


def test_a_step_is_forked_by_the_sandbox_server_and_keeps_its_output_and_status(
    warm: WarmExecutor, tmp_path: Path
) -> None:
    executor, ws = _executor(warm, tmp_path)
    server = warm.sandboxes.process
    assert server is not None and server.poll() is None

    async def steps() -> None:
        code, out, process = await _run(executor, "echo out; echo err >&2; id -u; exit 3", ws)
        assert isinstance(process, _ForkedProcess)
        assert code == 3
        assert "out\n" in out and "err\n" in out and "\n0\n" in out  # root of its own user namespace
        code, out, _ = await _run(executor, "test -w \"$PWD\" && echo wrote > f && cat f", ws)
        assert code == 0 and "wrote" in out
        # the step's processes are in its cgroup (its limits), however early they started
        code, out, _ = await _run(executor, "grep -c dockyard-step- /proc/self/cgroup", ws)
        assert code == 0 and int(out.strip().splitlines()[-1]) >= 1, out
        # what a command of the step inherits: its output (and the script), nothing of either
        # server (`ls` lists its own: /proc/self/fd, open while it reads it, is the only other)
        code, out, _ = await _run(executor, "ls -l /proc/self/fd/", ws)
        links = ["fd: " + line for line in out.splitlines() if "->" in line]
        assert code == 0 and links, out
        assert not any("socket:" in line for line in links), out
        beyond = [line.split("->")[1].strip() for line in links
                  if int(line.split("->")[0].split()[-1]) > 2]
        assert all(target.endswith(".sh") or target.startswith("/proc/") for target in beyond), out
        await executor.destroy()

    asyncio.run(steps())


def test_stopping_a_forked_step_ends_its_sandbox(warm: WarmExecutor, tmp_path: Path) -> None:
    executor, ws = _executor(warm, tmp_path)
    marker = ws / "started"

    async def stop() -> None:
        handle = await executor.start_step(StepSpec(f"touch {marker}; sleep 600", {}, ws))
        while not marker.exists():
            await asyncio.sleep(0.05)
        pid = executor._procs[handle.id].process.pid
        await executor.kill(handle)
        code = await executor.wait(handle)
        assert code == 143  # the supervisor's SIGTERM path: sandbox killed, cgroup removed
        for _ in range(100):  # its status is its last word: it is gone a moment later
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the stopped step's supervisor {pid} is still there")
        await executor.destroy()

    asyncio.run(stop())
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "sleep 600"]
    assert not leftovers


def test_a_dead_sandbox_server_costs_no_step(warm: WarmExecutor, tmp_path: Path) -> None:
    executor, ws = _executor(warm, tmp_path)
    server = warm.sandboxes.process
    assert server is not None
    os.kill(server.pid, signal.SIGKILL)
    server.wait()

    async def cold() -> None:
        code, out, process = await _run(executor, "echo still-runs", ws)
        assert code == 0 and "still-runs" in out
        assert not isinstance(process, _ForkedProcess)  # started the cold way

    asyncio.run(cold())
    again, ws2 = _executor(warm, tmp_path / "next")  # the next build's setup starts a new one

    async def forked() -> None:
        code, out, process = await _run(again, "echo forked", ws2)
        assert code == 0 and "forked" in out and isinstance(process, _ForkedProcess)

    asyncio.run(forked())
    assert warm.sandboxes.process is not None and warm.sandboxes.process.pid != server.pid


def test_the_sandbox_server_goes_when_its_owner_closes_it(warm: WarmExecutor) -> None:
    assert warm.sandboxes.ensure()
    process = warm.sandboxes.process
    assert process is not None
    warm.close()
    assert process.poll() is not None
    assert not warm.sandboxes.ensure()  # no restart after shutdown


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""
