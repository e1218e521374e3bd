"""The `setup` fixture of the doctor's cluster tests (tests/doctor/cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doctor.cluster import Setup
from tests.k8s.cluster import Cluster
from tests.k8s.images import PodImages


@pytest.fixture
def setup(k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages, tmp_path: Path) -> Setup:
    home = tmp_path / "home"
    home.mkdir()
    return Setup(k8s_cluster, k8s_namespace, k8s_registry, home)
