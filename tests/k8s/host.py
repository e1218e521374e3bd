"""The host side of a test cluster: its slot (bridge, subnet, cgroup root, state directory), the
processes it started and everything they leave behind (mounts, network namespaces, cgroups).

Several test sessions may run clusters at once on one machine, so each claims a numbered slot
with a lock held for the session. A slot whose lock is free but whose state directory exists was
left by a session that died: whoever finds it stops its recorded processes and cleans it.
Processes are found by the PIDs (and start times) recorded at start, by the PID files containerd
writes into its own state directory, by the cgroups under the slot's own cgroup root, and by
the slot's own containerd socket path on a shim's command line - never by a program's name.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

STATE_ROOT = Path(os.environ.get("DOCKYARD_K8S_STATE") or "/var/tmp/dockyard-k8s")
MAX_SLOTS = 16
_CGROUP = Path("/sys/fs/cgroup")
_MNT_DETACH = 2


@dataclass
class Slot:
    """One cluster's share of the machine, held (by its lock) for a test session."""

    number: int
    lock: IO[str]

    @property
    def state(self) -> Path:
        return STATE_ROOT / f"slot-{self.number}"

    @property
    def bridge(self) -> str:
        return f"dkyk8s{self.number}"

    @property
    def subnet(self) -> str:
        return f"127.100.{self.number}.0/24"

    @property
    def gateway(self) -> str:
        """The bridge's address: pods reach the host here (the routes need it inside 127/8)."""
        return f"127.100.{self.number}.1"

    @property
    def cgroup_root(self) -> str:
        return f"dockyard-k8s-{self.number}"

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    def release(self) -> None:
        self.lock.close()


def _try_lock(number: int) -> IO[str] | None:
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    lock = open(STATE_ROOT / f"slot-{number}.lock", "w")  # noqa: SIM115 - held for the session
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def claim_slot() -> Slot:
    """The first free slot, with every abandoned slot cleaned on the way."""
    claimed: Slot | None = None
    for number in range(MAX_SLOTS):
        lock = _try_lock(number)
        if lock is None:
            continue
        slot = Slot(number, lock)
        if claimed is None:
            claimed = slot
        elif slot.state.exists():
            clean_slot(slot)
            slot.release()
        else:
            slot.release()
    if claimed is None:
        raise RuntimeError(f"all {MAX_SLOTS} test cluster slots under {STATE_ROOT} are in use")
    clean_slot(claimed)
    return claimed


# --- processes -------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def start_time(pid: int) -> int:
    found = _stat(pid)
    return found[1] if found else -1


def _alive(pid: int, started: int | None = None) -> bool:
    found = _stat(pid)
    if found is None or found[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
        return False
    return started is None or found[1] == started


def stop_pids(pids: Iterable[tuple[int, int | None]], timeout: float = 10,
              first: signal.Signals = signal.SIGTERM) -> None:
    """Send `first` to each (pid, start time) still alive, SIGKILL what is left after `timeout`."""
    targets = [(pid, started) for pid, started in pids if pid > 1 and _alive(pid, started)]
    for pid, _ in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, first)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        targets = [(pid, started) for pid, started in targets if _alive(pid, started)]
        if not targets:
            return
        time.sleep(0.05)
    for pid, _ in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid, started) for pid, started in targets):
        time.sleep(0.05)


class ProcessRecord:
    """`pids.json` in the state directory: name -> [pid, start time] of what the session started."""

    def __init__(self, state: Path) -> None:
        self.path = state / "pids.json"

    def read(self) -> dict[str, tuple[int, int]]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {name: (int(pid), int(started)) for name, (pid, started) in raw.items()}

    def add(self, name: str, pid: int) -> None:
        records = self.read()
        records[name] = (pid, start_time(pid))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(records))
        os.replace(tmp, self.path)


def _task_dirs(slot: Slot) -> list[Path]:
    """containerd's per-task bundle directories (they hold shim.pid, init.pid and config.json)."""
    runtime = slot.state / "containerd" / "state" / "io.containerd.runtime.v2.task"
    return [task for ns in runtime.glob("*") if ns.is_dir() for task in ns.iterdir() if task.is_dir()]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _unified() -> bool:
    """True on a cgroup v2 only machine (one hierarchy at /sys/fs/cgroup)."""
    return (_CGROUP / "cgroup.controllers").exists()


def _cgroup_dirs(slot: Slot) -> list[Path]:
    """The slot's cgroup root in every hierarchy, where it exists."""
    if _unified():
        candidates = [_CGROUP / slot.cgroup_root]
    else:
        candidates = [h / slot.cgroup_root for h in _CGROUP.iterdir()] if _CGROUP.is_dir() else []
    return [c for c in candidates if c.is_dir()]


def _container_pids(slot: Slot) -> set[int]:
    pids: set[int] = set()
    for root in _cgroup_dirs(slot):
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    for task in _task_dirs(slot):
        pid = _read_pid(task / "init.pid")
        if pid:
            pids.add(pid)
    return pids


def _shim_pids(slot: Slot) -> set[int]:
    """Shims of the slot's containerd: its PID files, and processes naming its socket."""
    pids = {pid for task in _task_dirs(slot) if (pid := _read_pid(task / "shim.pid"))}
    socket = str(slot.containerd_socket).encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if socket in (proc / "cmdline").read_bytes().split(b"\0"):
                    pids.add(int(proc.name))
    return pids


def _network_namespaces(slot: Slot) -> set[Path]:
    """The pods' network namespaces (bind mounts under /run/netns), from their OCI specs."""
    found: set[Path] = set()
    for task in _task_dirs(slot):
        with contextlib.suppress(OSError, ValueError):
            spec = json.loads((task / "config.json").read_text())
            for ns in spec.get("linux", {}).get("namespaces", []):
                if ns.get("type") == "network" and ns.get("path"):
                    found.add(Path(ns["path"]))
    return found


def stop_slot_processes(slot: Slot, order: list[str]) -> None:
    """Stop the recorded processes in `order` (the rest after), with the kubelet's containers
    and containerd's shims stopped right after the kubelet so nothing restarts them."""
    records = slot.state.exists() and ProcessRecord(slot.state).read() or {}
    names = [n for n in order if n in records] + [n for n in records if n not in order]
    for name in names:
        if name == "containerd":
            stop_pids(((pid, None) for pid in _container_pids(slot)), timeout=0,
                      first=signal.SIGKILL)
        stop_pids([records[name]])
        if name == "containerd":
            stop_pids((pid, None) for pid in _shim_pids(slot))
    stop_pids(((pid, None) for pid in _container_pids(slot)), timeout=0, first=signal.SIGKILL)
    stop_pids((pid, None) for pid in _shim_pids(slot))


# --- mounts, network, cgroups ----------------------------------------------------------------

def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    prefix = str(directory)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def _umount(point: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(point.encode(), _MNT_DETACH)


def unmount_all(directory: Path) -> None:
    for _ in range(10):
        points = mounts_under(directory)
        if not points:
            return
        for point in points:
            _umount(point)
    left = mounts_under(directory)
    if left:
        raise RuntimeError(f"could not unmount {left[:5]} under {directory}")


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def create_bridge(slot: Slot) -> None:
    """The slot's bridge with the gateway address and route_localnet, before any pod exists
    (the bridge CNI plugin finds it and adds the pods' veths)."""
    _ip("link", "del", slot.bridge)
    for args in (("link", "add", slot.bridge, "type", "bridge"),
                 ("addr", "add", f"{slot.gateway}/24", "dev", slot.bridge),
                 ("link", "set", slot.bridge, "up")):
        result = _ip(*args)
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    Path(f"/proc/sys/net/ipv4/conf/{slot.bridge}/route_localnet").write_text("1\n")


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)


def forward_service(slot: Slot, service: str, port: int, target: str) -> None:
    """Pods' connections to `service`:`port` go to `target` (HOST:PORT on the gateway): the one
    rule of kube-proxy the tests need, for the `kubernetes` Service in-cluster clients use."""
    result = _iptables("-t", "nat", "-A", "PREROUTING", "-i", slot.bridge, "-d", f"{service}/32",
                       "-p", "tcp", "--dport", str(port), "-m", "comment", "--comment",
                       slot.cgroup_root, "-j", "DNAT", "--to-destination", target)
    if result.returncode != 0:
        raise RuntimeError(f"iptables could not forward {service}:{port}: {result.stderr.strip()}")


def _remove_forwards(slot: Slot) -> None:
    listed = _iptables("-t", "nat", "-S", "PREROUTING")
    for rule in listed.stdout.splitlines():
        words = shlex.split(rule)
        if words[:1] == ["-A"] and slot.cgroup_root in words:
            _iptables("-t", "nat", "-D", *words[1:])


def create_cgroup_root(slot: Slot) -> None:
    """The slot's cgroup root (in every v1 hierarchy); the kubelet puts its pods below it."""
    if _unified():
        root = _CGROUP / slot.cgroup_root
        root.mkdir(exist_ok=True)
        controllers = (_CGROUP / "cgroup.subtree_control").read_text().split()
        (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in controllers))
        return
    for hierarchy in _CGROUP.iterdir():
        if not (hierarchy / "cgroup.procs").exists() or hierarchy.name == "unified":
            continue
        root = hierarchy / slot.cgroup_root
        root.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):  # a new cpuset is empty until given these
            if (root / name).exists() and not (root / name).read_text().strip():
                (root / name).write_text((hierarchy / name).read_text())


def _remove_cgroups(slot: Slot) -> None:
    for root in _cgroup_dirs(slot):
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()),
                                key=lambda p: len(p.parts), reverse=True) + [root]:
            for _ in range(20):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)  # processes that were just killed leave it a moment later


def clean_slot(slot: Slot, order: list[str] | None = None, keep: tuple[str, ...] = ()) -> None:
    """Stop a cluster of this slot (its processes in `order`, the kubelet first) and remove what
    it leaves: mounts, network namespaces, the bridge, its iptables rule, cgroups and the state
    directory (but the entries named in `keep`)."""
    namespaces = _network_namespaces(slot)  # before containerd deletes the task directories
    stop_slot_processes(slot, order or ["kubelet", "containerd"])
    unmount_all(slot.state)
    for ns in namespaces:
        _umount(str(ns))
        with contextlib.suppress(OSError):
            ns.unlink()
    _ip("link", "del", slot.bridge)
    if shutil.which("iptables"):
        _remove_forwards(slot)
    _remove_cgroups(slot)
    if slot.state.exists():
        for entry in slot.state.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
