"""Images for the test cluster's pods, served by a Dockyard registry (nothing from the internet).

busybox is the machine's static busybox (Debian's busybox-static) made into an image with
`dockyard image import`; pause is the cached archive of tests/k8s/build.py. Both are pushed with
skopeo into a project of a Dockyard server that listens on the cluster's gateway.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.k8s.build import KUBERNETES_VERSION, ensure_pause_archive
from tests.k8s.cluster import Cluster

BUSYBOX_TAG = "1"


@dataclass
class PodImages:
    """Image references pods use, in `project` of `server`'s registry."""

    server: DockyardServer
    project: str
    busybox: str
    pause: str
    user: str = ADMIN_USER
    password: str = ADMIN_PASSWORD

    def pull_secret(self, cluster: Cluster, namespace: str, name: str = "dockyard-pull") -> str:
        """A `kubernetes.io/dockerconfigjson` secret for this registry, made as the tutorial
        does (`kubectl create secret docker-registry`); its name."""
        result = cluster.kubectl(
            "create", "secret", "docker-registry", name, "-n", namespace,
            f"--docker-server={self.server.host_port}", f"--docker-username={self.user}",
            f"--docker-password={self.password}")
        assert result.returncode == 0, result.stderr
        return name


def busybox_layout(directory: Path) -> Path:
    """An OCI layout (tag BUSYBOX_TAG) of a busybox root filesystem with every applet linked."""
    from dockyard.demo.baseimage import make_rootfs

    rootfs = make_rootfs(directory / "busybox-rootfs")
    layout = directory / "busybox-layout"
    subprocess.run(
        [sys.executable, "-m", "dockyard", "image", "import", "--rootfs", str(rootfs),
         "--oci-layout", str(layout), "--no-push", "--destination", f"local/busybox:{BUSYBOX_TAG}",
         "--reproducible", "--owner", "0:0", "--cmd", '["sh"]'],
        check=True, capture_output=True)
    return layout


def push_pod_images(server: DockyardServer, project: str, busybox: Path, *,
                    public: bool = False) -> PodImages:
    """Create `project` (private unless `public`) on `server` and push busybox and pause into it.

    `busybox`: a layout from busybox_layout (made once per session)."""
    skopeo = require_tool("skopeo")
    with server.client() as client:
        created = client.post("/api/v2.0/projects", json={
            "project_name": project, "metadata": {"public": "true" if public else "false"}})
        assert created.status_code in (201, 409), created.text
    images = PodImages(server, project, f"{server.host_port}/{project}/busybox:{BUSYBOX_TAG}",
                       f"{server.host_port}/{project}/pause:{KUBERNETES_VERSION}")
    for source, target in ((f"oci:{busybox}:{BUSYBOX_TAG}", images.busybox),
                           (f"oci-archive:{ensure_pause_archive()}", images.pause)):
        subprocess.run([skopeo, "copy", "-q", "--dest-tls-verify=false", "--dest-creds",
                        f"{ADMIN_USER}:{ADMIN_PASSWORD}", source, f"docker://{target}"],
                       check=True, capture_output=True)
    return images
