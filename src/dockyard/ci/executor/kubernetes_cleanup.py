"""No build pod outlives its build (research/k8s-executor.md, complaint 6: orphaned pods).

Layers: each pod carries this Dockyard's instance label and the cluster kills it at
`activeDeadlineSeconds` (the build's timeout + grace) even if Dockyard never comes back; the
executor deletes its pod when the build ends (abort and timeout included); and the sweep below
deletes every pod of this instance that no running build owns - at start-up (after a crash or
`kill -9` no build is running, so every such pod is an orphan) and then periodically (a build
discarded or a delete that failed).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Collection
from pathlib import Path

from dockyard.ci.executor.kubernetes_client import KubeClient, api_message, api_status
from dockyard.ci.executor.kubernetes_pod import LABEL_INSTANCE, LABEL_MANAGED

SWEEP_INTERVAL = 60.0  # seconds between two sweeps


def instance_id(data_dir: Path) -> str:
    """This Dockyard among others using the same namespace: its host name and data directory
    (stable across restarts, and for a StatefulSet's pod across rescheduling)."""
    where = f"{socket.gethostname()}:{os.path.realpath(data_dir)}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def selector(instance: str) -> str:
    return f"{LABEL_MANAGED}=dockyard,{LABEL_INSTANCE}={instance}"


async def sweep(kube: KubeClient, instance: str, live: Collection[str]) -> list[str]:
    """Deletes this instance's pods that are not in `live` (names of pods running builds own);
    returns the names deleted. API errors are returned in the names' place, never raised: the
    sweep must not stop Dockyard from starting."""
    namespace = await kube.ready()  # ExecutorError without a configuration: the caller says it
    try:
        pods = await kube.call("list_namespaced_pod", namespace, label_selector=selector(instance))
    except Exception as e:
        return [f"(cannot list build pods: {api_message(e)})"]
    deleted = []
    for pod in pods.items:
        name = pod.metadata.name
        if name in live or pod.metadata.deletion_timestamp is not None:
            continue
        try:
            await kube.call("delete_namespaced_pod", name, namespace, grace_period_seconds=0)
            deleted.append(name)
        except Exception as e:
            if api_status(e) != 404:
                deleted.append(f"(cannot delete {name}: {api_message(e)})")
    return deleted
