"""A cluster whose session dies (SIGKILL: no finalizer runs) is cleaned by the next session that
claims slots: its processes, containers, shims, mounts, network namespaces, bridge, iptables rule
and cgroups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.k8s.build import PAUSE_IMAGE
from tests.k8s.cluster import Cluster
from tests.k8s.host import Slot, claim_slot, mounts_under

pytestmark = pytest.mark.slow

# a session of its own: a cluster with a running pod (the pause image, already in containerd)
CRASHING_SESSION = f"""
import json, sys
from tests.k8s.build import ensure_binaries
from tests.k8s.cluster import running_cluster
from tests.k8s.host import claim_slot
cluster = running_cluster(claim_slot(), ensure_binaries())
pod = {{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "left"}}, "spec": {{"containers": [
    {{"name": "main", "image": "{PAUSE_IMAGE}", "imagePullPolicy": "Never"}}]}}}}
while cluster.apply(pod, "-n", "default").returncode != 0:  # until its ServiceAccount exists
    pass
cluster.wait_pod("default", "left", "Running")
print(cluster.slot.number, flush=True)
sys.stdin.read()
"""


def _leftovers(slot: Slot) -> dict[str, object]:
    socket = str(slot.containerd_socket).encode()
    processes = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and socket in (proc / "cmdline").read_bytes():
                processes.append(int(proc.name))
        except OSError:
            continue
    iptables = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING"],
                              capture_output=True, text=True).stdout
    return {
        "processes": processes,
        "mounts": mounts_under(slot.state),
        "bridge": Path(f"/sys/class/net/{slot.bridge}").exists(),
        "iptables": slot.cgroup_root in iptables,
        "cgroups": [str(d) for d in Path("/sys/fs/cgroup").glob(f"*/{slot.cgroup_root}")]
                   + [str(d) for d in Path("/sys/fs/cgroup").glob(slot.cgroup_root)],
    }


def test_a_killed_session_is_cleaned_by_the_next(k8s_cluster: Cluster) -> None:
    """Needs the cluster's requirements (k8s_cluster skips without them) and a second slot."""
    session = subprocess.Popen([sys.executable, "-c", CRASHING_SESSION], cwd=REPO_ROOT,
                               env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert session.stdout is not None
        number = int(session.stdout.readline())
    finally:
        session.send_signal(signal.SIGKILL)
        session.wait()
    with open(os.devnull) as unused:
        dead = Slot(number, unused)  # for its names and paths: its lock is not taken here
        before = _leftovers(dead)
        assert before["processes"] and before["mounts"] and before["bridge"], before
        assert before["iptables"] and before["cgroups"], before

        claim_slot().release()  # any claim cleans every abandoned slot on its way

        assert _leftovers(dead) == {"processes": [], "mounts": [], "bridge": False,
                                    "iptables": False, "cgroups": []}
        assert not dead.state.exists() or list(dead.state.iterdir()) == []
