"""The `jnlp` agent container Dockyard adds is restricted-compatible when the template's own
containers are: a busybox template running as uid 1000 passes a PSS `restricted` namespace on
the real test cluster and runs top-level and container steps in one writable workspace; a
template with a root container (Kaniko) keeps a root agent (and needs `baseline`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.ci.executor.kubernetes_pod import AGENT_UID, RESTRICTED, PodOptions, build_pod
from tests.ci.conftest import job_xml, make_repo, unique
from tests.ci.kubernetes.test_executor_cluster import K8sCI, k8s_ci  # noqa: F401 - the fixture
from tests.ci.kubernetes.test_pod_spec import options, tutorial_yaml

RESTRICTED_CONTAINER = ("{runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false,"
                        " capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}")


def agent(yaml: str, opts: PodOptions | None = None) -> dict[str, object]:
    containers = build_pod(yaml, opts or options(), "x").manifest["spec"]["containers"]
    return next(c for c in containers if c["name"] == "jnlp")


def test_agent_runs_as_the_templates_non_root_uid_with_restricted_settings() -> None:
    yaml = f"spec:\n  containers:\n  - {{name: b, image: busybox, securityContext: {RESTRICTED_CONTAINER}}}\n"
    assert agent(yaml)["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, **RESTRICTED}
    # the pod's own securityContext counts, its group too
    pod_level = ("spec:\n  securityContext: {runAsUser: 2000, runAsGroup: 3000}\n"
                 "  containers:\n  - {name: b, image: busybox}\n")
    security = agent(pod_level)["securityContext"]
    assert security["runAsUser"] == 2000 and security["runAsGroup"] == 3000
    # runAsNonRoot without a uid: the image's non-root user is unknown, the agent takes its own
    named_none = "spec:\n  containers:\n  - {name: b, image: b, securityContext: {runAsNonRoot: true}}\n"
    assert agent(named_none)["securityContext"]["runAsUser"] == AGENT_UID


@pytest.mark.parametrize("yaml", [
    tutorial_yaml(),  # Kaniko runs as root: the pod needs baseline, the agent stays root
    "spec:\n  containers:\n  - {name: b, image: busybox}\n",  # the image's user, maybe root
    "spec:\n  securityContext: {runAsUser: 1000}\n  containers:\n"
    "  - {name: b, image: b, securityContext: {runAsUser: 0}}\n",  # one container overrides to root
    "spec:\n  containers:\n  - {name: b, image: b, securityContext: {runAsUser: 1000}}\n"
    "  - {name: c, image: c}\n",  # one of two may run as root
    "",  # no template: only the agent
])
def test_agent_keeps_its_images_user_when_a_container_may_run_as_root(yaml: str) -> None:
    assert "securityContext" not in agent(yaml)


@pytest.mark.slow
def test_restricted_template_runs_in_a_restricted_namespace(
        k8s_ci: K8sCI, tmp_path: Path) -> None:  # noqa: F811
    labelled = k8s_ci.cluster.kubectl("label", "namespace", k8s_ci.namespace,
                                      "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.returncode == 0, labelled.stderr
    template = f"""
spec:
  containers:
  - name: tools
    image: {k8s_ci.images.busybox}
    securityContext: {RESTRICTED_CONTAINER}
"""
    script = f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{template}''' }} }}
  stages {{ stage('x') {{ steps {{
    sh 'echo "top as $(id -u) in $POD_CONTAINER"; echo top > shared.txt; cat hello.txt; test -d .git'
    container('tools') {{
      sh 'echo "tools as $(id -u)"; echo tools >> shared.txt; mkdir sub; echo x > sub/f'
    }}
    sh 'echo again >> shared.txt; rm -r sub; cat shared.txt'
  }} }} }}
}}"""
    bare, _work, _commit = make_repo(tmp_path, {"Jenkinsfile": script, "hello.txt": "checked out\n"})
    name = unique("k8s")
    k8s_ci.ci.create(name, job_xml(str(bare)))
    info, log = k8s_ci.ci.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "checked out" in log  # the checkout's tar, extracted by the non-root agent
    assert "top as 1000 in jnlp" in log and "tools as 1000" in log
    assert "top\ntools\nagain\n" in log  # each container wrote to the same workspace file
    # the pod as admitted: the agent's settings are the restricted ones
    events = k8s_ci.cluster.kubectl("get", "events", "-n", k8s_ci.namespace, "-o", "json")
    assert "violates PodSecurity" not in events.stdout
    assert json.loads(events.stdout)["items"], "the pod ran, so the namespace has its events"
    k8s_ci.wait_no_pods()
