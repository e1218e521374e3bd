"""The Kubernetes executor on the real test cluster (tests/k8s): a Dockyard with
DOCKYARD_CI_EXECUTOR=kubernetes runs builds as pods made from their Jenkinsfile's pod template,
with busybox (from a private project of a Dockyard registry) as agent and tool image.

No fakes: the API server, scheduler, kubelet and containerd are the real ones, pods pull through
an imagePullSecret made from Dockyard's credential store (DOCKYARD_K8S_PULL_CREDENTIAL), and
every assertion about pods reads them back through the API.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ci.conftest import Jenkins, api_token, inline_job_xml, job_xml, make_repo, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, start_server
from tests.k8s.cluster import Cluster
from tests.k8s.images import PodImages

pytestmark = pytest.mark.slow

PULL = "dockyard-registry"  # the build server's credential for the registry the images are in


@dataclass
class K8sCI:
    cluster: Cluster
    namespace: str
    images: PodImages
    data_dir: Path
    env: dict[str, str]
    server: DockyardServer | None = None
    jenkins: Jenkins | None = None
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.server = start_server(self.data_dir, self.port or None, env=self.env, host=self.cluster.gateway)
        self.port = int(self.server.host_port.rsplit(":", 1)[1])
        self.jenkins = Jenkins(self.server, api_token(self.server))

    @property
    def ci(self) -> Jenkins:
        assert self.jenkins is not None
        return self.jenkins

    def pods(self) -> list[dict[str, Any]]:
        out = self.cluster.kubectl("get", "pods", "-n", self.namespace, "-l",
                                   "app.kubernetes.io/managed-by=dockyard", "-o", "json")
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout)["items"])

    def job(self, script: str, name: str | None = None) -> str:
        name = name or unique("k8s")
        self.ci.create(name, inline_job_xml(script))
        return name

    def wait_for_log(self, name: str, number: int, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        log = ""
        while time.monotonic() < deadline:
            log = self.ci.console(name, number)
            if text in log:
                return log
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared in the log:\n{log}")

    def wait_no_pods(self, timeout: float = 60) -> float:
        """Seconds until this namespace has no build pods left."""
        started = time.monotonic()
        while self.pods():
            assert time.monotonic() - started < timeout, [p["metadata"]["name"] for p in self.pods()]
            time.sleep(0.1)
        return time.monotonic() - started


@pytest.fixture
def k8s_ci(k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages,
           tmp_path: Path) -> Iterator[K8sCI]:
    env = {
        "DOCKYARD_CI_EXECUTOR": "kubernetes",
        "DOCKYARD_K8S_KUBECONFIG": str(k8s_cluster.kubeconfig),
        "DOCKYARD_K8S_NAMESPACE": k8s_namespace,
        "DOCKYARD_K8S_AGENT_IMAGE": k8s_registry.busybox,
        "DOCKYARD_K8S_PULL_CREDENTIAL": PULL,
        "DOCKYARD_K8S_POD_TIMEOUT": "60",
    }
    setup = K8sCI(k8s_cluster, k8s_namespace, k8s_registry, tmp_path / "data", env)
    setup.start()
    assert setup.server is not None
    registry = k8s_registry.server
    subprocess.run(
        [sys.executable, "-m", "dockyard", "credentials", "--url", setup.server.url, "--user", ADMIN_USER,
         "--password", ADMIN_PASSWORD, "add-docker-registry", PULL, "--server", registry.host_port,
         "--username", k8s_registry.user, "--password", k8s_registry.password],
        check=True, capture_output=True, text=True)
    try:
        yield setup
    finally:
        if setup.server is not None:
            setup.server.stop()


def template(busybox: str, extra: str = "") -> str:
    return f"""
spec:
  containers:
  - name: tools
    image: {busybox}
    command: [cat]
    tty: true
  - name: plain
    image: {busybox}
{extra}"""


def one_step_pipeline(busybox: str, extra: str = "") -> str:
    """A pipeline whose pod (the busybox template plus `extra`) runs one `echo` step."""
    return f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{template(busybox, extra)}''' }} }}
  stages {{ stage('x') {{ steps {{ sh 'echo never' }} }} }}
}}"""


def test_pod_template_build_runs_steps_in_its_containers_with_live_output(
        k8s_ci: K8sCI, tmp_path: Path) -> None:
    busybox = k8s_ci.images.busybox
    jenkinsfile = f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{template(busybox)}''' }} }}
  environment {{ GREETING = "it's hi" }}
  stages {{
    stage('top') {{ steps {{ sh 'echo "top in $POD_CONTAINER at $(pwd)"; test -d .git && cat hello.txt' }} }}
    stage('tools') {{ steps {{ container('tools') {{
      sh 'echo "tools: $GREETING in $POD_CONTAINER"; echo marker-live; sleep 4; echo after-sleep'
    }} }} }}
    stage('plain') {{ steps {{ container('plain') {{ sh 'echo plain here; exit 3' }} }} }}
  }}
}}
"""
    bare, _work, commit = make_repo(tmp_path, {"Jenkinsfile": jenkinsfile, "hello.txt": "checked out\n"})
    name = unique("k8s")
    k8s_ci.ci.create(name, job_xml(str(bare)))
    number = k8s_ci.ci.number_of(k8s_ci.ci.build(name))
    # live: the step's first line is in the console while the step still sleeps
    live = k8s_ci.wait_for_log(name, number, "marker-live")
    assert "after-sleep" not in live
    info = k8s_ci.ci.wait(name, number, timeout=120)
    log = k8s_ci.ci.console(name, number)
    assert info["result"] == "FAILURE", log
    workspace = f"/home/jenkins/agent/workspace/{name}"
    assert f"top in jnlp at {workspace}" in log and "checked out" in log  # the tar of the checkout
    assert "tools: it's hi in tools" in log
    assert "plain here" in log and "script returned exit code 3" in log
    # the pod's events are build log lines, in Jenkins' format
    assert f"[Normal][{k8s_ci.namespace}/dockyard-{name}-{number}-" in log
    for reason in ("[Scheduled]", "[Pulled]", "[Started]"):
        assert reason in log, log
    assert k8s_ci.wait_no_pods() < 60


def test_missing_secret_fails_with_failedmount_in_the_log(k8s_ci: K8sCI) -> None:
    extra = """    volumeMounts: [{name: docker-config, mountPath: /kaniko/.docker}]
  volumes:
  - name: docker-config
    secret:
      secretName: harbor-auth
      items: [{key: .dockerconfigjson, path: config.json}]
"""
    script = one_step_pipeline(k8s_ci.images.busybox, extra)
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
    assert info["result"] == "FAILURE", log
    assert "[Warning]" in log and "[FailedMount]" in log and 'secret "harbor-auth" not found' in log
    assert "the build pod could not start: FailedMount:" in log
    assert "never" not in log.replace("echo never", "")
    k8s_ci.wait_no_pods()


def test_default_container_and_a_passing_build(k8s_ci: K8sCI) -> None:
    script = f"""pipeline {{
  agent {{ kubernetes {{
    defaultContainer 'tools'
    yaml '''{template(k8s_ci.images.busybox)}'''
  }} }}
  stages {{ stage('x') {{ steps {{
    sh 'echo "in $POD_CONTAINER"; echo made > out.txt'
    container('plain') {{ sh 'cat out.txt; echo "then $POD_CONTAINER"' }}
  }} }} }}
}}"""
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "in tools" in log and "+ cat out.txt\nmade\n" in log  # one workspace for every container
    assert "then plain" in log
    k8s_ci.wait_no_pods()


def _running_pod(k8s_ci: K8sCI, name: str, number: int) -> str:
    k8s_ci.wait_for_log(name, number, "step-started")
    pods = k8s_ci.pods()
    assert len(pods) == 1
    return str(pods[0]["metadata"]["name"])


def test_abort_deletes_the_pod(k8s_ci: K8sCI) -> None:
    name = k8s_ci.job("pipeline { agent any\n stages { stage('x') { steps {"
                      " sh 'echo step-started; sleep 300' } } } }")
    number = k8s_ci.ci.number_of(k8s_ci.ci.build(name))
    _running_pod(k8s_ci, name, number)
    stopped = time.monotonic()
    r = k8s_ci.ci.http.post(f"/job/{name}/{number}/stop")
    assert r.status_code in (200, 302), r.text
    gone = k8s_ci.wait_no_pods(timeout=30)
    info = k8s_ci.ci.wait(name, number, timeout=60)
    print(f"abort -> pod gone in {time.monotonic() - stopped:.2f} s ({gone:.2f} s after the stop answered)")
    assert info["result"] == "ABORTED"
    log = k8s_ci.ci.console(name, number)
    assert "exit code 143" in log or "Finished: ABORTED" in log
    assert "deleting pod" in log


def test_timeout_deletes_the_pod(k8s_ci: K8sCI) -> None:
    name = k8s_ci.job("pipeline { agent any\n options { timeout(time: 8, unit: 'SECONDS') }\n"
                      " stages { stage('x') { steps { sh 'echo step-started; sleep 300' } } } }")
    number = k8s_ci.ci.number_of(k8s_ci.ci.build(name))
    _running_pod(k8s_ci, name, number)
    k8s_ci.wait_for_log(name, number, "Timeout has been exceeded")
    noticed = time.monotonic()
    k8s_ci.wait_no_pods(timeout=30)
    print(f"timeout -> pod gone {time.monotonic() - noticed:.2f} s after the log said so")
    info = k8s_ci.ci.wait(name, number, timeout=60)
    assert info["result"] == "ABORTED"


def test_killed_dockyard_leaves_no_pod_after_restart(k8s_ci: K8sCI) -> None:
    name = k8s_ci.job("pipeline { agent any\n stages { stage('x') { steps {"
                      " sh 'echo step-started; sleep 300' } } } }")
    number = k8s_ci.ci.number_of(k8s_ci.ci.build(name))
    pod = _running_pod(k8s_ci, name, number)
    assert k8s_ci.server is not None
    k8s_ci.server.stop(signal.SIGKILL)
    assert [p["metadata"]["name"] for p in k8s_ci.pods()] == [pod]  # nobody cleaned up yet
    k8s_ci.start()  # same data directory, host and port
    restarted = time.monotonic()
    k8s_ci.wait_no_pods(timeout=30)
    print(f"restart -> orphan pod gone in {time.monotonic() - restarted:.2f} s")
    info = k8s_ci.ci.wait(name, number, timeout=30)
    assert info["result"] == "ABORTED"


def test_ten_builds_with_a_cap_of_four_never_have_more_than_four_pods(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages, tmp_path: Path) -> None:
    from kubernetes import client, config, watch

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(k8s_cluster.kubeconfig)))
    seen: set[str] = set()
    alive: set[str] = set()
    peak = [0]
    stop = threading.Event()

    selector = "app.kubernetes.io/managed-by=dockyard"

    def watcher() -> None:
        """A list, then a watch from its resourceVersion: every pod that ever existed is seen."""
        while not stop.is_set():
            listed = api.list_namespaced_pod(k8s_namespace, label_selector=selector)
            alive.clear()
            alive.update(p.metadata.name for p in listed.items)
            seen.update(alive)
            peak[0] = max(peak[0], len(alive))
            try:
                for ev in watch.Watch().stream(api.list_namespaced_pod, k8s_namespace, timeout_seconds=2,
                                               label_selector=selector,
                                               resource_version=listed.metadata.resource_version):
                    pod = ev["object"].metadata.name
                    if ev["type"] == "DELETED":
                        alive.discard(pod)
                    else:
                        alive.add(pod)
                        seen.add(pod)
                    peak[0] = max(peak[0], len(alive))
                    if stop.is_set():
                        break
            except client.ApiException:
                continue

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    env = {
        "DOCKYARD_CI_EXECUTOR": "kubernetes",
        "DOCKYARD_K8S_KUBECONFIG": str(k8s_cluster.kubeconfig),
        "DOCKYARD_K8S_NAMESPACE": k8s_namespace,
        "DOCKYARD_K8S_AGENT_IMAGE": k8s_registry.busybox,
        "DOCKYARD_K8S_CONTAINER_CAP": "4",
        "DOCKYARD_CI_EXECUTORS": "10",  # the scheduler would start all ten: the cap must hold them
    }
    setup = K8sCI(k8s_cluster, k8s_namespace, k8s_registry, tmp_path / "data", env)
    setup.start()
    try:
        secret = k8s_registry.pull_secret(k8s_cluster, k8s_namespace)
        yaml = f"spec:\n  imagePullSecrets: [{{name: {secret}}}]\n  containers: []\n"
        script = f"pipeline {{ agent {{ kubernetes {{ yaml '''{yaml}''' }} }}\n" \
                 " stages { stage('x') { steps { sh 'sleep 2; echo done' } } } }"
        names = [setup.job(script) for _ in range(10)]
        numbers = [setup.ci.number_of(setup.ci.build(n), timeout=120) for n in names]
        builds = list(zip(names, numbers, strict=True))
        results = [setup.ci.wait(n, num, timeout=300)["result"] for n, num in builds]
        waited = [setup.ci.console(n, num) for n, num in builds]
        setup.wait_no_pods()
    finally:
        stop.set()
        thread.join(timeout=10)
        if setup.server is not None:
            setup.server.stop()
    assert results == ["SUCCESS"] * 10, waited
    assert len(seen) == 10 and peak[0] <= 4, (len(seen), peak[0])
    assert any("waiting for a Kubernetes slot" in log for log in waited)


def test_admission_denial_fails_the_build_with_the_policys_message(k8s_ci: K8sCI) -> None:
    labelled = k8s_ci.cluster.kubectl("label", "namespace", k8s_ci.namespace,
                                      "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.returncode == 0, labelled.stderr
    script = one_step_pipeline(k8s_ci.images.busybox)
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=60)
    assert info["result"] == "FAILURE", log
    assert "the cluster refused the build pod:" in log
    assert 'violates PodSecurity "restricted:latest"' in log and "runAsNonRoot" in log
    assert not k8s_ci.pods()


def test_credentials_resolve_to_the_namespaces_secrets(k8s_ci: K8sCI) -> None:
    ns = k8s_ci.namespace
    for args in (["generic", "api-token", "--from-literal=text=s3cret-token"],
                 ["generic", "deploy-login", "--type=kubernetes.io/basic-auth",
                  "--from-literal=username=deployer", "--from-literal=password=pw-123-456"],
                 ["docker-registry", "harbor", "--docker-server=r.example:5000", "--docker-username=u",
                  "--docker-password=p-789-xyz"]):
        made = k8s_ci.cluster.kubectl("create", "secret", *args, "-n", ns)
        assert made.returncode == 0, made.stderr
    script = """pipeline { agent any
  environment { TOKEN = credentials('api-token'); CFG = credentials('harbor') }
  stages { stage('x') { steps {
    withCredentials([usernamePassword(credentialsId: 'deploy-login',
                                      usernameVariable: 'U', passwordVariable: 'P')]) {
      sh 'test "$P" = pw-123-456 && echo pw-ok; test "$TOKEN" = s3cret-token && echo token-ok; echo "p=$P"'
      sh 'grep -q p-789-xyz "$CFG" || grep -q "$(echo -n u:p-789-xyz | base64)" "$CFG"; echo file-ok'
    }
  } } }
}"""
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "pw-ok" in log and "token-ok" in log and "file-ok" in log
    assert "pw-123-456" not in log and "s3cret-token" not in log and "p=****" in log  # masked
    assert f"credential 'api-token': the Secret of namespace {ns}" in log


def restart_with(k8s_ci: K8sCI, **env: str) -> None:
    """The same server (data, credentials) restarted with other settings."""
    assert k8s_ci.server is not None
    k8s_ci.server.stop()
    k8s_ci.env.update(env)
    k8s_ci.start()


def test_unschedulable_pod_fails_at_the_pod_timeout_with_the_schedulers_reason(k8s_ci: K8sCI) -> None:
    restart_with(k8s_ci, DOCKYARD_K8S_POD_TIMEOUT="6")
    extra = "  nodeSelector: {disk: nvme-that-no-node-has}\n"
    script = one_step_pipeline(k8s_ci.images.busybox, extra)
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
    assert info["result"] == "FAILURE", log
    assert "the build pod did not start within 6 s (DOCKYARD_K8S_POD_TIMEOUT)" in log
    assert "node affinity/selector" in log  # the scheduler's own words
    k8s_ci.wait_no_pods()


def test_image_that_cannot_be_pulled_fails_after_the_back_offs(k8s_ci: K8sCI) -> None:
    missing = k8s_ci.images.busybox.rsplit("/", 1)[0] + "/no-such-image:1"
    yaml = f"spec:\n  containers:\n  - {{name: tools, image: '{missing}'}}\n"
    script = f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{yaml}''' }} }}
  stages {{ stage('x') {{ steps {{ container('tools') {{ sh 'echo never' }} }} }} }}
}}"""
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=180)
    assert info["result"] == "FAILURE", log
    assert "[Failed]" in log and "[BackOff]" in log
    assert "the build pod could not start: container 'tools': " in log and "not found" in log
    k8s_ci.wait_no_pods()


def test_local_default_and_a_pipeline_that_asks_for_kubernetes(k8s_ci: K8sCI) -> None:
    restart_with(k8s_ci, DOCKYARD_CI_EXECUTOR="local")
    yaml = "metadata:\n  annotations: {dockyard.io/executor: kubernetes}\n" + template(k8s_ci.images.busybox)
    script = f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{yaml}''' }} }}
  stages {{ stage('x') {{ steps {{ container('tools') {{ sh 'echo "on $POD_CONTAINER"' }} }} }} }}
}}"""
    info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "[dockyard] Kubernetes: build pod" in log and "on tools" in log
    k8s_ci.wait_no_pods()


def test_abort_while_waiting_for_a_slot_or_for_the_pod_to_start(k8s_ci: K8sCI) -> None:
    restart_with(k8s_ci, DOCKYARD_K8S_CONTAINER_CAP="1", DOCKYARD_CI_EXECUTORS="4")
    extra = "  nodeSelector: {disk: nvme-that-no-node-has}\n"
    pending = one_step_pipeline(k8s_ci.images.busybox, extra)
    first = k8s_ci.job(pending)
    n1 = k8s_ci.ci.number_of(k8s_ci.ci.build(first))
    k8s_ci.wait_for_log(first, n1, "[FailedScheduling]")  # holds the only slot, Pending
    second = k8s_ci.job("pipeline { agent any\n stages { stage('x') { steps { sh 'echo never' } } } }")
    n2 = k8s_ci.ci.number_of(k8s_ci.ci.build(second))
    k8s_ci.wait_for_log(second, n2, "waiting for a Kubernetes slot")
    for name, number in ((second, n2), (first, n1)):
        r = k8s_ci.ci.http.post(f"/job/{name}/{number}/stop")
        assert r.status_code in (200, 302), r.text
        info = k8s_ci.ci.wait(name, number, timeout=30)
        assert info["result"] == "ABORTED", k8s_ci.ci.console(name, number)
    k8s_ci.wait_no_pods(timeout=30)
    assert "never" not in k8s_ci.ci.console(second, n2).replace("echo never", "")


def test_file_steps_see_the_pods_workspace(k8s_ci: K8sCI) -> None:
    script = """pipeline { agent any
  stages { stage('x') { steps {
    sh 'mkdir -p dist && echo built-in-pod > dist/app.txt && echo gone > old.txt'
    script {
      def text = readFile('dist/app.txt').trim()
      echo "readFile says ${text}"
    }
    writeFile file: 'from-dockyard.txt', text: 'written by writeFile'
    sh 'cat from-dockyard.txt; echo; rm old.txt'
    archiveArtifacts artifacts: 'dist/*.txt'
    script { echo "old.txt exists: ${fileExists('old.txt')}" }
  } } }
}"""
    name = k8s_ci.job(script)
    info, log = k8s_ci.ci.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "readFile says built-in-pod" in log
    assert "written by writeFile" in log.replace("writeFile file", "")
    assert "old.txt exists: false" in log and "Archiving 1 artifact(s)" in log
    artifact = k8s_ci.ci.http.get(f"/job/{name}/1/artifact/dist/app.txt")
    assert artifact.status_code == 200 and artifact.text == "built-in-pod\n"


def test_validating_admission_policy_denial_is_the_builds_error(k8s_ci: K8sCI) -> None:
    name = f"{k8s_ci.namespace}-team-label"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{
                     "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                     "resources": ["pods"]}]},
                 "validations": [{
                     "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels",
                     "message": "build pods need a team label (metadata.labels.team)"}]}}
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": k8s_ci.namespace}}}}}
    try:
        for manifest in (policy, binding):
            applied = k8s_ci.cluster.apply(manifest)
            assert applied.returncode == 0, applied.stderr
        probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
                 "spec": {"containers": [{"name": "c", "image": "example.invalid/x:1"}]}}
        deadline = time.monotonic() + 30
        while k8s_ci.cluster.apply(probe, "-n", k8s_ci.namespace, "--dry-run=server").returncode == 0:
            assert time.monotonic() < deadline, "the policy never took effect"
            time.sleep(0.2)  # the API server compiles a new policy a moment after it is stored
        script = one_step_pipeline(k8s_ci.images.busybox)
        info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=60)
        assert info["result"] == "FAILURE", log
        assert "the cluster refused the build pod:" in log
        assert "build pods need a team label (metadata.labels.team)" in log
        labelled = "metadata:\n  labels: {team: web}\n" + template(k8s_ci.images.busybox)
        script = f"""pipeline {{
  agent {{ kubernetes {{ yaml '''{labelled}''' }} }}
  stages {{ stage('x') {{ steps {{ sh 'echo admitted' }} }} }}
}}"""
        info, log = k8s_ci.ci.run(k8s_ci.job(script), timeout=120)
        assert info["result"] == "SUCCESS" and "admitted" in log, log
    finally:
        k8s_ci.cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                               name, "--ignore-not-found")


def _drop_connections(pid: int, api_url: str) -> int:
    """Aborts every TCP connection process `pid` has to the API server (`ss -K`, the kernel's
    socket destroy): a real network failure under Dockyard's exec streams. Returns how many."""
    port = api_url.rsplit(":", 1)[1].rstrip("/")
    listed = subprocess.run(["ss", "-tnpH", "state", "established", "dport", "=", f":{port}"],
                            capture_output=True, text=True, check=True).stdout
    dropped = 0
    for line in listed.splitlines():
        if f"pid={pid}," not in line:
            continue
        local = line.split()[2].rsplit(":", 1)[1]
        subprocess.run(["ss", "-K", "-t", "sport", "=", f":{local}", "dport", "=", f":{port}"],
                       capture_output=True, check=True)
        dropped += 1
    return dropped


def test_dropped_exec_connections_lose_no_output_and_give_no_false_result(k8s_ci: K8sCI) -> None:
    if subprocess.run(["ss", "-V"], capture_output=True).returncode != 0:
        pytest.skip("ss (iproute2) is needed to drop connections")
    script = """pipeline { agent any
  stages { stage('x') { steps {
    sh 'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line-$i; sleep 0.25; done; exit 4'
  } } }
}"""
    name = k8s_ci.job(script)
    number = k8s_ci.ci.number_of(k8s_ci.ci.build(name))
    assert k8s_ci.server is not None
    dropped = 0
    for marker in ("line-5", "line-15", "line-25"):
        k8s_ci.wait_for_log(name, number, f"{marker}\n")
        dropped += _drop_connections(k8s_ci.server.process.pid, k8s_ci.cluster.api_url)
    info = k8s_ci.ci.wait(name, number, timeout=120)
    log = k8s_ci.ci.console(name, number)
    assert dropped >= 3, dropped
    assert "exec connection to container 'jnlp' failed (the connection dropped" in log, log
    lines = [line for line in log.splitlines() if line.startswith("line-")]
    assert lines == [f"line-{i}" for i in range(1, 41)], log  # each once, in order
    assert info["result"] == "FAILURE" and "script returned exit code 4" in log, log
