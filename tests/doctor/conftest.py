"""Fixtures of the doctor's tests: `agent_image`, an image in the session server's registry that
stands for the executor's agent image (Dockyard's own is built by another test), and `setup`, the
cluster tests' set-up (tests/doctor/cluster.py) with the registry's pull secret in its namespace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.doctor.cluster import Setup
from tests.k8s.cluster import Cluster
from tests.k8s.images import BUSYBOX_TAG, PodImages, busybox_layout


@pytest.fixture
def setup(k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages, tmp_path: Path) -> Setup:
    home = tmp_path / "home"
    home.mkdir()
    k8s_registry.pull_secret(k8s_cluster, k8s_namespace, "dockyard-pull")
    return Setup(k8s_cluster, k8s_namespace, k8s_registry, home)


@pytest.fixture(scope="session")
def agent_image(server: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox in a public project of the session server, as the build pod's agent image."""
    skopeo = require_tool("skopeo")
    with server.client() as client:
        made = client.post("/api/v2.0/projects",
                           json={"project_name": "doctor", "metadata": {"public": "true"}})
        assert made.status_code in (201, 409), made.text
    layout = busybox_layout(tmp_path_factory.mktemp("doctor-agent"))
    image = f"{server.host_port}/doctor/agent:{BUSYBOX_TAG}"
    subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false", "--dest-creds",
                    f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"oci:{layout}:{BUSYBOX_TAG}", f"docker://{image}"],
                   check=True, capture_output=True)
    return image
