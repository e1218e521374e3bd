"""The doctor's cluster tests' set-up: the test cluster, a namespace, the gateway Dockyard with
its pod images, and a HOME without ~/.kube/config; helpers that run the doctor and its fixes."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.doctor.helpers import Result, doctor, login, repo_with_job, tutorial_jenkinsfile
from tests.k8s.cluster import Cluster
from tests.k8s.images import PodImages


@dataclass
class Setup:
    cluster: Cluster
    namespace: str
    images: PodImages
    home: Path

    @property
    def registry(self) -> str:
        return self.images.server.host_port

    def job(self, **template: object) -> str:
        """A job building the tutorial's Jenkinsfile (with `template` changes; the registry's pull
        secret `dockyard-pull` unless pull_secret='') on the gateway server."""
        template.setdefault("pull_secret", "dockyard-pull")
        text = tutorial_jenkinsfile(self.registry, **template)  # type: ignore[arg-type]
        return repo_with_job(self.images.server, ADMIN_USER, ADMIN_PASSWORD, text)[1]

    def secret(self, name: str = "harbor-auth", password: str = ADMIN_PASSWORD,
               server: str | None = None) -> None:
        """The tutorial's B.3, in the build namespace."""
        made = self.cluster.kubectl("create", "secret", "docker-registry", name, "-n", self.namespace,
                                    f"--docker-server={server or self.registry}",
                                    f"--docker-username={ADMIN_USER}", f"--docker-password={password}")
        assert made.returncode == 0, made.stderr

    def doctor(self, job: str, *extra: str, kubeconfig: Path | None = None,
               env: dict[str, str] | None = None) -> Result:
        return doctor("--url", self.images.server.url, *login(), "--job", job,
                      "--kubeconfig", str(kubeconfig or self.cluster.kubeconfig),
                      "--namespace", self.namespace, "--agent-image", self.images.busybox,
                      "--json", *extra, home=self.home, env=env)

    def run_fix(self, fix: str) -> None:
        """Run the kubectl lines of a finding's fix as the cluster's administrator."""
        lines = [line for line in fix.splitlines() if line.startswith("kubectl ")]
        assert lines, fix
        for line in lines:
            args = shlex.split(line.replace("USER", ADMIN_USER).replace("PASSWORD", ADMIN_PASSWORD))[1:]
            done = self.cluster.kubectl(*args)
            assert done.returncode == 0, f"{line}: {done.stderr}"


def until(run: Callable[[], Result], done: Callable[[Result], bool], wait: float = 30) -> Result:
    """`run()` again until `done` (admission policies reach the API server's cache asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        result = run()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(1)
