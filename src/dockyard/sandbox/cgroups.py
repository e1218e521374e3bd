"""Resource limits for one sandboxed process tree: memory, CPU and a process count, and a
CPU weight of one process for the whole tree.

cgroup v2 where the machine has it (a child of this process's own cgroup, with the
controllers enabled in its parent), cgroup v1 otherwise (one directory per controller:
memory, cpu, pids). Where neither can be written, `create` returns None and a warning that
says so: the step runs without limits rather than not at all, and the console tells why.

After the step, `oom_killed` and `pids_exhausted` read the kernel's own counters
(memory.events / memory.oom_control, pids.events), so the console can say what ended it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
DEFAULT_PIDS = 1024
# A step's CPU weight against the processes outside its cgroup (the server): the default
# weight of one process (v1 cpu.shares, v2 cpu.weight) for the whole cgroup, so however many
# processes a busy step runs, together they weigh as much as one server thread and the API
# stays responsive. Not less: on v1 every process of the parent cgroup (the server, git, the
# registry's clients, anything else on the machine) weighs 1024 on its own, and half the
# default made each build ~1.2-1.5x slower on a loaded machine (bench/e2e.py).
CPU_SHARES, CPU_WEIGHT = 1024, 100
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


@dataclass(frozen=True)
class Limits:
    """Kubernetes' `resources.limits` meaning: memory in bytes, cpu in cores, pids a count."""

    memory: int | None = None
    cpu: float | None = None
    pids: int | None = DEFAULT_PIDS

    def describe_memory(self) -> str:
        return format_bytes(self.memory) if self.memory else "unlimited"


def parse_memory(value: object) -> int:
    """`256Mi`, `1G`, `1e9`, `512` -> bytes (Kubernetes quantity rules)."""
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kKmMgGtT]i?)?\s*", str(value))
    if not m:
        raise ValueError(f"memory limit {value!r} is not a quantity (examples: 256Mi, 1Gi, 500M)")
    unit = (m.group(2) or "").lower()
    return int(float(m.group(1)) * _UNITS[unit])


def parse_cpu(value: object) -> float:
    """`500m`, `0.5`, `2` -> cores."""
    text = str(value).strip()
    m = re.fullmatch(r"([0-9.]+)(m?)", text)
    if not m:
        raise ValueError(f"cpu limit {value!r} is not a quantity (examples: 500m, 1, 2.5)")
    cores = float(m.group(1)) / (1000 if m.group(2) else 1)
    if cores <= 0:
        raise ValueError(f"cpu limit {value!r} must be more than 0")
    return cores


def format_bytes(n: int) -> str:
    for unit, size in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n} bytes"


def version() -> str | None:
    """'v2' (unified hierarchy), 'v1' (a writable memory or pids controller), or None."""
    if (ROOT / "cgroup.controllers").exists():
        return "v2"
    if any(os.access(ROOT / c, os.W_OK) for c in ("memory", "pids")):
        return "v1"
    return None


def _own(controller: str) -> str:
    """This process's cgroup path in `controller` ('' for v2's unified hierarchy)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if names.split(",") == [controller] or (not controller and not names):
                return path
    return "/"


def _sweep(parent: Path) -> None:
    """Remove the empty cgroups of supervisors that died without removing theirs (a server
    killed with SIGKILL): their names end in the supervisor's pid and a timestamp."""
    with contextlib.suppress(OSError):
        for d in parent.iterdir():
            m = re.fullmatch(r"dockyard-.*-(\d+)-\d+", d.name)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                with contextlib.suppress(OSError):
                    d.rmdir()


class Cgroup:
    """The cgroup directories of one step (one per controller on v1, one on v2)."""

    def __init__(self, kind: str, dirs: dict[str, Path], limits: Limits) -> None:
        self.kind, self.dirs, self.limits = kind, dirs, limits

    @property
    def paths(self) -> list[str]:
        return [str(d) for d in self.dirs.values()]

    @classmethod
    def create(cls, name: str, limits: Limits) -> tuple[Cgroup | None, str]:
        """(the cgroup, "") or (None, a warning naming what could not be written)."""
        kind = version()
        try:
            if kind == "v2":
                return cls._create_v2(name, limits), ""
            if kind == "v1":
                return cls._create_v1(name, limits), ""
        except OSError as e:
            return None, (f"resource limits not applied: cannot write the {kind} cgroup"
                          f" ({e.strerror}: {e.filename}); the step runs without them")
        return None, ("resource limits not applied: no writable cgroup (v2 or v1) under"
                      f" {ROOT}; the step runs without them")

    @classmethod
    def _create_v2(cls, name: str, limits: Limits) -> Cgroup:
        parent = ROOT / _own("").lstrip("/")
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        for controller in sorted({"memory", "pids", "cpu"} - enabled):
            try:
                (parent / "cgroup.subtree_control").write_text(f"+{controller}")
            except OSError:
                if controller != "cpu" or limits.cpu:  # the weight alone is a nicety
                    raise
        _sweep(parent)
        d = parent / name
        d.mkdir()
        group = cls("v2", {"unified": d}, limits)
        try:
            if limits.memory:
                (d / "memory.max").write_text(str(limits.memory))
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text("0")
            if limits.pids:
                (d / "pids.max").write_text(str(limits.pids))
            with contextlib.suppress(OSError):
                (d / "cpu.weight").write_text(str(CPU_WEIGHT))
            if limits.cpu:
                (d / "cpu.max").write_text(f"{int(limits.cpu * 100000)} 100000")
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def _create_v1(cls, name: str, limits: Limits) -> Cgroup:
        wanted = ["pids", "memory", "cpu"]
        dirs: dict[str, Path] = {}
        group = cls("v1", dirs, limits)
        try:
            for controller in wanted:
                parent = ROOT / controller / _own(controller).lstrip("/")
                if controller == "cpu" and not limits.cpu and not os.access(parent, os.W_OK):
                    continue  # the weight alone is a nicety
                _sweep(parent)
                d = parent / name
                d.mkdir()
                dirs[controller] = d
            if limits.memory:
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(limits.memory))
                with contextlib.suppress(OSError):  # without swap accounting there is no memsw
                    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(limits.memory))
            if limits.pids:
                (dirs["pids"] / "pids.max").write_text(str(limits.pids))
            if "cpu" in dirs:
                (dirs["cpu"] / "cpu.shares").write_text(str(CPU_SHARES))
            if limits.cpu:
                (dirs["cpu"] / "cpu.cfs_period_us").write_text("100000")
                (dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(int(limits.cpu * 100000)))
        except OSError:
            group.remove()
            raise
        return group

    def add(self, pid: int) -> None:
        """Moves process `pid` into this cgroup (its children forked from then on are in it)."""
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text(str(pid))

    def _counter(self, controller: str, filename: str, key: str) -> int:
        d = self.dirs.get(controller) or self.dirs.get("unified")
        if d is None:
            return 0
        try:
            for line in (d / filename).read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for exceeding its memory."""
        if self.kind == "v2":
            return self._counter("memory", "memory.events", "oom_kill") > 0
        return self._counter("memory", "memory.oom_control", "oom_kill") > 0

    def pids_exhausted(self) -> bool:
        """Whether a fork failed because the process limit was reached."""
        return self._counter("pids", "pids.events", "max") > 0

    def kill_reason(self) -> str:
        if self.oom_killed():
            return f"killed: memory limit {self.limits.describe_memory()} exceeded"
        if self.pids_exhausted():
            return f"killed: process limit {self.limits.pids} reached (a fork bomb?)"
        return ""

    def remove(self) -> None:
        """rmdir once its processes are gone (a killed tree may take a moment to exit)."""
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    with contextlib.suppress(OSError):
                        for pid in (d / "cgroup.procs").read_text().split():
                            os.kill(int(pid), 9)
                    time.sleep(0.02)
