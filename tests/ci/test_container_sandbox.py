"""`container('x') { sh }` for an ordinary image on the local agent: the image is pulled from a
registry (Dockyard's own, over loopback), and the step runs in its root filesystem inside the
builder's sandbox with the workspace mounted at the same path."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import Jenkins, inline_job_xml, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def busybox_image(server: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A public busybox image in the session server's registry."""
    from tests.builder.conftest import namespaces_available
    from tests.builder.images import busybox_context, dockyard

    reason = namespaces_available()
    if reason:
        pytest.skip(reason)
    require_tool("busybox")
    tmp = tmp_path_factory.mktemp("image")
    r = httpx.post(
        f"{server.url}/api/v2.0/projects",
        auth=(ADMIN_USER, ADMIN_PASSWORD),
        json={"project_name": "citools", "metadata": {"public": "true"}},
    )
    assert r.status_code in (201, 409), r.text
    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    (tmp / "config.json").write_text(json.dumps({"auths": {server.host_port: {"auth": auth}}}))
    image = f"{server.host_port}/citools/busybox:1"
    rootfs = busybox_context(tmp / "ctx") / "rootfs"
    (rootfs / "etc" / "image-marker").write_text("from the busybox image\n")
    dockyard(
        "image",
        "import",
        "--rootfs",
        str(rootfs),
        "--destination",
        image,
        "--insecure",
        env={"DOCKER_CONFIG": str(tmp)},
    )
    return image


def pod(image: str) -> str:
    return f"""pipeline {{
  agent {{
    kubernetes {{
      yaml '''
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: tools
    image: {image}
    command: [cat]
    tty: true
    env: [{{name: FROM_POD, value: pod-env}}]
  - name: never-used
    image: registry.invalid/nothing:1
'''
    }}
  }}
  stages {{
    stage('in container') {{
      steps {{
        container('tools') {{
          sh 'cat /etc/image-marker; hostname; echo "pod env: $FROM_POD"; echo made-inside > inside.txt'
          sh 'echo kept > /tmp/state; test "$(pwd)" = "$WORKSPACE"'
          sh 'cat /tmp/state; test ! -e {Path.home()}/.cache/definitely-not-in-image || true'
        }}
        sh 'cat inside.txt; test ! -e /etc/image-marker && echo host-step-outside-container'
      }}
    }}
  }}
}}"""


def test_container_step_runs_in_image_rootfs_with_workspace(jenkins: Jenkins, busybox_image: str) -> None:
    name = unique("sandboxed")
    jenkins.create(name, inline_job_xml(pod(busybox_image)))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "steps run in the image's root filesystem in Dockyard's sandbox" in log
    assert "from the busybox image" in log  # a file only the image has
    assert "\ndockyard\n" in log  # the sandbox's own UTS namespace
    assert "pod env: pod-env" in log
    assert "\nkept\n" in log  # what a step writes outside the workspace survives to the next step
    assert "made-inside" in log and "host-step-outside-container" in log
    assert "pulling registry.invalid" not in log  # containers no step uses are never pulled


def test_container_image_that_cannot_be_pulled_fails_naming_it(jenkins: Jenkins) -> None:
    name = unique("nopull")
    script = pod("127.0.0.1:9/none/such:1").replace("container('tools') {", "container('tools') {\n")
    jenkins.create(name, inline_job_xml(script))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "FAILURE"
    assert "container 'tools': container image 127.0.0.1:9/none/such:1" in log


def _processes_running(needle: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(proc.name))
    return found


def test_stopping_a_container_step_kills_the_sandbox(jenkins: Jenkins, busybox_image: str) -> None:
    import time

    name = unique("stopsandbox")
    script = pod(busybox_image).replace(
        "sh 'cat /etc/image-marker;", "sh 'echo sleeping; sleep 317; cat /etc/image-marker;"
    )
    jenkins.create(name, inline_job_xml(script))
    number = jenkins.number_of(jenkins.build(name))
    deadline = time.monotonic() + 60
    while "sleeping" not in jenkins.console(name, number) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_running("sleep 317")
    assert jenkins.http.post(f"/job/{name}/{number}/stop").status_code == 302
    info = jenkins.wait(name, number, timeout=30)
    assert info["result"] == "ABORTED"
    deadline = time.monotonic() + 10
    while _processes_running("sleep 317") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_running("sleep 317")


def test_container_root_owns_the_image_and_its_memory_limit_holds(
    jenkins: Jenkins, busybox_image: str
) -> None:
    """The image's files are its root's inside (id-mapped layers: the step's root may edit
    /etc), and the pod template's memory limit ends the build with the reason."""
    name = unique("limited")
    script = pod(busybox_image).replace(
        "    env: [{name: FROM_POD, value: pod-env}]",
        "    env: [{name: FROM_POD, value: pod-env}]\n    resources: {limits: {memory: 64Mi}}",
    ).replace(
        "sh 'cat /etc/image-marker;",
        "sh 'echo owner=$(stat -c %u /bin/busybox) uid=$(id -u)'\n"
        "          sh 'echo step >> /etc/passwd; tail -1 /etc/passwd'\n"
        "          sh 'x=$(head -c 400000000 /dev/zero | tr \"\\\\0\" a); echo survived ${#x}'\n"
        "          sh 'cat /etc/image-marker;",
    )
    jenkins.create(name, inline_job_xml(script))
    info, log = jenkins.run(name, timeout=120)
    assert "owner=0 uid=0\n" in log and "\nstep\n" in log, log
    if "resource limits not applied" in log:
        pytest.skip("no writable cgroup here")
    assert info["result"] == "FAILURE", log
    assert "killed: memory limit 64Mi exceeded" in log and "survived" not in log
