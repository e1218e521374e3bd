"""The real cluster of bench/e2e.py's `--executor kubernetes` mode: tests/k8s's single-node
Kubernetes (its binaries from the test cache, `make deps-k8s` builds them), started on a slot of
the bench's own and stopped by PID at the end, with what the tutorial sets up in it: Dockyard's
registry trusted by containerd, Dockyard's own image as agent and executor image, and the
`harbor-auth` secret made with `kubectl create secret docker-registry` (B.3).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.buildcache import BuildFailed
from tests.k8s.build import binaries_dir, ensure_binaries
from tests.k8s.cluster import Cluster, environment_problems, running_cluster
from tests.k8s.host import claim_slot

NAMESPACE = "dockyard-bench"
PULL_CREDENTIAL = "dockyard-registry"  # Dockyard's credential the pods' imagePullSecret is made of


@contextmanager
def bench_cluster() -> Iterator[Cluster]:
    """A running cluster on a free slot; SystemExit naming what is missing where it cannot run."""
    problems = environment_problems()
    if problems:
        raise SystemExit(
            "bench/e2e.py --executor kubernetes runs builds on the test Kubernetes cluster"
            " (tests/k8s/README.md), which this machine cannot start; it needs "
            + "; ".join(problems)
            + ". Run it without --executor kubernetes for the local executor only."
        )
    if not binaries_dir().exists():
        print(f"building Kubernetes into {binaries_dir()} (once per machine, ~10 min;"
              " `make deps-k8s` does the same)", flush=True)
    try:
        binaries = ensure_binaries()
    except BuildFailed as exc:
        raise SystemExit(f"the test Kubernetes could not be built: {exc}") from None
    started = time.perf_counter()
    cluster = running_cluster(claim_slot(), binaries)
    print(f"cluster on slot {cluster.slot.number} (gateway {cluster.gateway}) ready in"
          f" {time.perf_counter() - started:.1f}s", flush=True)
    try:
        yield cluster
    finally:
        cluster.stop()


def server_env(cluster: Cluster) -> dict[str, str]:
    """Dockyard's settings for builds as pods (its own image as agent and executor: the default)."""
    return {
        "DOCKYARD_CI_EXECUTOR": "kubernetes",
        "DOCKYARD_K8S_KUBECONFIG": str(cluster.kubeconfig),
        "DOCKYARD_K8S_NAMESPACE": NAMESPACE,
        "DOCKYARD_K8S_PULL_CREDENTIAL": PULL_CREDENTIAL,
    }


def kubectl(cluster: Cluster, *args: str) -> str:
    done = cluster.kubectl(*args)
    if done.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def prepare(cluster: Cluster, host_port: str, docker_config: Path, password: str) -> str:
    """The build namespace, Dockyard's image in its registry (returned), harbor-auth as B.3."""
    from tests.image.fixtures import push_dockyard_image  # builds the image: mmdebstrap, once

    cluster.trust_registry(host_port)
    kubectl(cluster, "create", "namespace", NAMESPACE)
    deadline = time.monotonic() + 60
    while cluster.kubectl("get", "serviceaccount", "default", "-n", NAMESPACE).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"no default ServiceAccount in {NAMESPACE}: is the controller-manager up?")
        time.sleep(0.2)
    started = time.perf_counter()
    image = push_dockyard_image(host_port, docker_config)
    print(f"Dockyard's own image built and pushed as {image} in {time.perf_counter() - started:.1f}s",
          flush=True)
    kubectl(cluster, "create", "secret", "docker-registry", "harbor-auth", "--namespace", NAMESPACE,
            f"--docker-server={host_port}", "--docker-username=admin", f"--docker-password={password}")
    return image
