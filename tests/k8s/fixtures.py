"""pytest fixtures of the test Kubernetes cluster, registered for every test by tests/conftest.py.

`k8s_cluster` (session): a real single-node cluster (tests/k8s/cluster.py), built from the Go
module proxy the first time (`make deps-k8s` does it before the tests) and started once.
`k8s_namespace`: a fresh namespace per test, deleted after it. `k8s_registry` (session): a
Dockyard server on the cluster's gateway, trusted by containerd, with busybox and pause in a
private project (`PodImages`: references and `pull_secret`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.buildcache import BuildFailed
from tests.conftest import DockyardServer, start_server
from tests.k8s.build import ensure_binaries
from tests.k8s.cluster import Cluster, environment_problems, running_cluster
from tests.k8s.host import claim_slot
from tests.k8s.images import PodImages, busybox_layout, push_pod_images


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    problems = environment_problems()
    if problems:
        pytest.skip("the test Kubernetes cluster needs " + "; ".join(problems))
    try:
        binaries = ensure_binaries()
    except BuildFailed as exc:
        pytest.fail(f"the test Kubernetes could not be built: {exc}")
    cluster = running_cluster(claim_slot(), binaries)
    yield cluster
    cluster.stop()


@pytest.fixture
def k8s_namespace(k8s_cluster: Cluster) -> Iterator[str]:
    """A namespace of the test's own (with its `default` ServiceAccount, which pods need)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    created = k8s_cluster.kubectl("create", "namespace", name)
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 30
    while k8s_cluster.kubectl("get", "serviceaccount", "default", "-n", name).returncode != 0:
        assert time.monotonic() < deadline, "no default ServiceAccount: is the controller-manager up?"
        time.sleep(0.1)
    yield name
    k8s_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def k8s_registry(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodImages]:
    base = tmp_path_factory.mktemp("k8s-registry")
    server: DockyardServer = start_server(base / "data", host=k8s_cluster.gateway)
    try:
        k8s_cluster.trust_registry(server.host_port)
        yield push_pod_images(server, "k8s", busybox_layout(base))
    finally:
        server.stop()
